package worker

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/release-engineering/pubtools-sign-go/signers"
)

// Delivery is one task as it arrived, from the work queue or as a micro
// request; the middleware fill in the rest on its way to the signer.
type Delivery struct {
	Route   Route
	Data    []byte
	Headers nats.Header
	// Attempt is the delivery count (1 for micro requests).
	Attempt int

	// Task is the decoded task (decode).
	Task *Task
	// label is the signer metrics name: "invalid" when the task could not
	// be read.
	label string
	env   *Envelope
	log   *slog.Logger
}

// Handler turns a delivery into its envelope. An error means the task was
// not run and must go back to the queue: ctx ended (shutdown), or the
// results stream could not tell whether it already has an envelope
// (ErrAskLater). Everything else, bad input included, is an envelope.
type Handler func(context.Context, *Delivery) (*Envelope, error)

// Middleware wraps a Handler with one concern.
type Middleware func(Handler) Handler

// handler is the chain both paths (work queue and micro) run, outermost
// first: metrics and the finishing log line, decoding, tenant policy
// admission, the stored-envelope check (dedupe), panic recovery, signing.
func (w *Worker) handler() Handler {
	chain := []Middleware{w.observe, w.decode, w.admit, w.dedupe, w.recovering}
	h := Handler(w.sign)
	for i := len(chain) - 1; i >= 0; i-- {
		h = chain[i](h)
	}
	return h
}

// execute runs one delivery through the handler chain.
func (w *Worker) execute(ctx context.Context, route Route, data []byte, headers nats.Header, attempt int) (*Envelope, error) {
	return w.handler()(ctx, &Delivery{Route: route, Data: data, Headers: headers, Attempt: attempt})
}

// observe counts tasks in flight and finished (by signer and outcome),
// times them and logs how each ended. An envelope stored by an earlier
// delivery was counted then.
func (w *Worker) observe(next Handler) Handler {
	return func(ctx context.Context, d *Delivery) (*Envelope, error) {
		w.metrics.InFlight.Inc()
		defer w.metrics.InFlight.Dec()
		d.env = &Envelope{Tenant: d.Route.Tenant, WorkerID: w.cfg.Worker.ID, Attempt: d.Attempt, Started: time.Now(),
			TraceParent: headerOf(d.Headers, "traceparent")}
		d.log, d.label = w.log.With("tenant", d.Route.Tenant, "attempt", d.Attempt), "invalid"
		env, err := next(ctx, d)
		if err != nil {
			return d.env, err
		}
		if env.stored != nil {
			return env, nil
		}
		env.Finished = time.Now()
		took := env.Finished.Sub(env.Started)
		w.metrics.Tasks.WithLabelValues(d.label, env.Outcome()).Inc()
		w.metrics.TaskDuration.WithLabelValues(d.label).Observe(took.Seconds())
		d.log.Info("task finished", "outcome", env.Outcome(), "duration_ms", took.Milliseconds())
		return env, nil
	}
}

// decode reads the task; a task that cannot be read gets a refusal.
func (w *Worker) decode(next Handler) Handler {
	return func(ctx context.Context, d *Delivery) (*Envelope, error) {
		task, err := DecodeTaskWithin(d.Data, LimitsOf(&w.cfg.Worker))
		if rerr := relayedTask(d.Headers); rerr != nil {
			task, err = &Task{}, rerr
		}
		d.Task, d.env.TaskID = task, task.TaskID
		d.log = d.log.With("task_id", task.TaskID, "signer", clip(task.Signer, maxEchoField))
		if err != nil {
			return d.refuse(err), nil
		}
		if task.Signer != "" {
			d.label = task.Signer
		}
		return next(ctx, d)
	}
}

// admit applies the tenant policy: nothing is sent anywhere for a task
// outside its tenant's rights.
func (w *Worker) admit(next Handler) Handler {
	return func(ctx context.Context, d *Delivery) (*Envelope, error) {
		if err := w.policy.Admit(d.Route, d.Task); err != nil {
			return d.refuse(err), nil
		}
		return next(ctx, d)
	}
}

// dedupe answers with the envelope an earlier delivery stored, so a task
// is signed at most once; when the stream cannot tell, the task waits
// (ErrAskLater) rather than risk a second signature.
func (w *Worker) dedupe(next Handler) Handler {
	return func(ctx context.Context, d *Delivery) (*Envelope, error) {
		done, err := w.alreadyDone(ctx, d.Route.Tenant, d.Task)
		if err != nil {
			return d.env, err
		}
		if done != nil {
			d.log.Info("task already has an envelope; not signing again")
			return done, nil
		}
		return next(ctx, d)
	}
}

// sign runs the task's signer. A signer's refusal (not configured here)
// is a refusal envelope; an interrupted signing goes back to the queue.
func (w *Worker) sign(ctx context.Context, d *Delivery) (*Envelope, error) {
	ctx = signers.WithTrace(ctx, signers.Trace{Parent: d.env.TraceParent, State: headerOf(d.Headers, "tracestate")})
	d.log.Info("signing")
	w.warnTask(d.Task)
	res, err := w.signers.Sign(ctx, d.Task)
	if ctx.Err() != nil {
		return d.env, ctx.Err()
	}
	if err != nil {
		return d.refuse(err), nil
	}
	d.env.Result = res
	return d.env, nil
}

// refuse makes the delivery's envelope a refusal naming err.
func (d *Delivery) refuse(err error) *Envelope {
	d.log.Warn("task rejected", "error", err)
	d.env.Result, d.env.Invalid = invalidResult(err), true
	return d.env
}

func headerOf(h nats.Header, key string) string {
	if h == nil {
		return ""
	}
	return h.Get(key)
}
