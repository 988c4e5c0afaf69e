package worker

import (
	"testing"
)

// FuzzDecodeTask: any bytes give either a task or a TaskError, never a
// panic, and an accepted task id is always usable in a subject.
func FuzzDecodeTask(f *testing.F) {
	f.Add([]byte(`{"schema": "pubtools-sign.task.v1", "task_id": "t-1", "signer": "msg-container", "signing_keys": ["K"], "references": ["r.io/ns/a:1"], "digests": ["sha256:00"]}`))
	f.Add([]byte(`{"schema": "pubtools-sign.task.v1", "task_id": "t.2", "signer": "msg-clear", "signing_keys": ["K"], "inputs": ["\u00e9"]}`))
	f.Add([]byte(`{"task_id": "x", "task_id": "y"}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, data []byte) {
		task, err := DecodeTask(data, 1<<16)
		if task == nil {
			t.Fatal("nil task")
		}
		if task.TaskID != "" && !taskIDPattern.MatchString(task.TaskID) {
			t.Fatalf("unusable task id %q accepted", task.TaskID)
		}
		if err == nil && task.Signer == "" {
			t.Fatal("valid task without signer")
		}
	})
}
