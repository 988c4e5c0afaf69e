package worker

// warnTask logs what is signed as given but worth a look: digests whose
// length is not their algorithm's (test digests such as sha256:0000, or
// a truncated real one). The CLI prints the same warnings on stderr.
func (w *Worker) warnTask(t *Task) {
	switch t.Signer {
	case SignerMsgContainer, SignerMsgBatchContainer, SignerCosignContainer:
		for _, warning := range t.containerSign().DigestWarnings() {
			w.log.Warn("unusual digest", "task_id", t.TaskID, "warning", warning)
		}
	}
}
