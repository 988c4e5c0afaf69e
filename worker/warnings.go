package worker

// warnTask logs what is signed as given but worth a look: digests whose
// length is not their algorithm's (test digests such as sha256:0000, or
// a truncated real one). The CLI prints the same warnings on stderr.
func (w *Worker) warnTask(t *Task) {
	op, err := t.operation()
	if err != nil {
		return
	}
	if d, ok := op.(interface{ DigestWarnings() []string }); ok {
		for _, warning := range d.DigestWarnings() {
			w.log.Warn("unusual digest", "task_id", t.TaskID, "warning", warning)
		}
	}
}
