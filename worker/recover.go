package worker

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/release-engineering/pubtools-sign-go/internal/pyjson"
	"github.com/release-engineering/pubtools-sign-go/signers"
)

// signRecovering runs the task's signer and turns a panic into an error
// result naming it: one bad task (a signer bug it triggers) must not take
// the replica down with every other task it holds. Both the JetStream and
// the micro paths sign through here. The envelope says "error", so the
// task is acknowledged rather than redelivered into the same panic.
func (w *Worker) signRecovering(ctx context.Context, t *Task) (res *signers.Result, err error) {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		w.metrics.TaskPanics.Inc()
		w.log.Error("signer panicked; the task gets an error envelope", "task_id", t.TaskID, "signer", t.Signer,
			"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		res, err = panicResult(t, p), nil
	}()
	w.warnTask(t)
	return w.signers.Sign(ctx, t)
}

func panicResult(t *Task, p any) *signers.Result {
	op := pyjson.Object{}
	if v, err := t.operation(); err == nil {
		op = v.Dict()
	}
	return &signers.Result{
		SignerResult: signers.SignerResult{Status: signers.StatusError, ErrorMessage: fmt.Sprintf("signer %s panicked: %v", t.Signer, p)},
		Operation:    op,
		SigningKeys:  t.SigningKeys,
	}
}

func newPanicCounter() prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{
		Name: "pubtools_sign_task_panics_total", Help: "Tasks whose signer panicked (each got an error envelope; the replica kept serving).",
	})
}
