package worker

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/release-engineering/pubtools-sign-go/internal/pyjson"
	"github.com/release-engineering/pubtools-sign-go/signers"
)

// recovering turns a panic in signing into an error envelope naming it:
// one bad task (a signer bug it triggers) must not take the replica down
// with every other task it holds. The envelope says "error", so the task
// is acknowledged rather than redelivered into the same panic.
func (w *Worker) recovering(next Handler) Handler {
	return func(ctx context.Context, d *Delivery) (env *Envelope, err error) {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			w.metrics.TaskPanics.Inc()
			w.log.Error("signer panicked; the task gets an error envelope", "task_id", d.Task.TaskID, "signer", d.Task.Signer,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			d.env.Result = panicResult(d.Task, p)
			env, err = d.env, nil
		}()
		return next(ctx, d)
	}
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
