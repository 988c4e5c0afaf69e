package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/release-engineering/pubtools-sign-go/config"
	"github.com/release-engineering/pubtools-sign-go/signers"
)

// Options build a Worker.
type Options struct {
	Config  *config.File
	Conn    *nats.Conn
	Signers *Signers
	Metrics *Metrics
	Log     *slog.Logger
}

// Worker consumes tasks from the shared durable consumer.
type Worker struct {
	cfg     *config.File
	nc      *nats.Conn
	js      jetstream.JetStream
	results jetstream.Stream
	signers *Signers
	policy  *Policy
	metrics *Metrics
	log     *slog.Logger
	slots   chan struct{} // one per task in flight
}

// New connects to JetStream and creates the streams and consumer if they
// are missing.
func New(ctx context.Context, o Options) (*Worker, error) {
	js, err := jetstream.New(o.Conn)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	w := &Worker{cfg: o.Config, nc: o.Conn, js: js, signers: o.Signers, metrics: o.Metrics, log: o.Log,
		policy: NewPolicy(o.Config), slots: make(chan struct{}, o.Config.Worker.Concurrency)}
	if w.results, err = EnsureStreams(ctx, js, &o.Config.NATS); err != nil {
		return nil, err
	}
	return w, nil
}

// EnsureStreams creates the tasks and results streams if they are missing
// (an operator's own stream settings, such as replication, are left
// alone), creates or updates the shared consumer, and returns the results
// stream.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, n *config.NATS) (jetstream.Stream, error) {
	if _, err := ensureStream(ctx, js, jetstream.StreamConfig{
		Name: n.TasksStream, Subjects: []string{n.TasksSubject}, Retention: jetstream.WorkQueuePolicy,
		Storage: jetstream.FileStorage, Duplicates: 10 * time.Minute,
	}); err != nil {
		return nil, fmt.Errorf("tasks stream %s: %w", n.TasksStream, err)
	}
	results, err := ensureStream(ctx, js, jetstream.StreamConfig{
		Name: n.ResultsStream, Subjects: []string{n.ResultsPrefix + ".>"}, Storage: jetstream.FileStorage,
		// Direct get names the subject in the API subject, so NATS
		// permissions can let a tenant look up only its own envelopes.
		AllowDirect: true,
		// One envelope per task id even when a task is redelivered late.
		Duplicates: time.Hour, MaxAge: 7 * 24 * time.Hour,
	})
	if err != nil {
		return nil, fmt.Errorf("results stream %s: %w", n.ResultsStream, err)
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, n.TasksStream, jetstream.ConsumerConfig{
		Durable: n.Consumer, AckPolicy: jetstream.AckExplicitPolicy, AckWait: n.AckWait,
		MaxDeliver: n.MaxDeliver, MaxAckPending: -1,
	}); err != nil {
		return nil, fmt.Errorf("create consumer %s: %w", n.Consumer, err)
	}
	return results, nil
}

// ensureStream returns the stream, creating it with cfg if it is missing.
func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	s, err := js.Stream(ctx, cfg.Name)
	if err == nil {
		return s, nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, err
	}
	s, err = js.CreateStream(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) { // another replica won the race
		return js.Stream(ctx, cfg.Name)
	}
	return s, err
}

// Run takes tasks until ctx is cancelled, then stops fetching and gives
// in-flight tasks worker.shutdown_grace to finish; those that cannot are
// handed back (nak) for another replica.
func (w *Worker) Run(ctx context.Context) error {
	cons, err := w.js.Consumer(ctx, w.cfg.NATS.TasksStream, w.cfg.NATS.Consumer)
	if err != nil {
		return fmt.Errorf("consumer %s: %w", w.cfg.NATS.Consumer, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(cap(w.slots)))
	if err != nil {
		return fmt.Errorf("consume tasks: %w", err)
	}
	// Tasks run on work, which outlives ctx by the grace period.
	work, cancelWork := context.WithCancel(context.Background())
	defer cancelWork()
	var wg sync.WaitGroup
	go func() {
		<-ctx.Done()
		it.Drain()
	}()
	w.log.Info("taking tasks", "stream", w.cfg.NATS.TasksStream, "consumer", w.cfg.NATS.Consumer, "concurrency", cap(w.slots))
take:
	for {
		// A free slot first, unless shutdown comes first: with every slot
		// busy a replica must still notice SIGTERM.
		select {
		case w.slots <- struct{}{}:
		case <-ctx.Done():
			break take
		}
		msg, err := it.Next()
		if err != nil {
			<-w.slots
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || ctx.Err() != nil {
				break
			}
			w.log.Warn("fetch task failed", "error", err)
			time.Sleep(200 * time.Millisecond)
			continue
		}
		if ctx.Err() != nil { // buffered after shutdown began: hand back
			_ = msg.Nak()
			<-w.slots
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-w.slots }()
			w.handleJetStream(work, msg)
		}()
	}
	// Tasks fetched but never started go back at once, not after ack_wait.
	handedBack := make(chan struct{})
	go func() {
		defer close(handedBack)
		for {
			msg, err := it.Next()
			if err != nil {
				return
			}
			_ = msg.Nak()
		}
	}()
	select {
	case <-handedBack:
	case <-time.After(2 * time.Second):
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		w.log.Info("drained: every in-flight task finished")
	case <-time.After(w.cfg.Worker.ShutdownGrace):
		w.log.Warn("shutdown grace over: handing back unfinished tasks", "grace", w.cfg.Worker.ShutdownGrace)
		cancelWork()
		<-done
	}
	return nil
}

// handleJetStream runs one task message: envelope first, ack after the
// envelope is stored, terminate bad tasks, nak what shutdown interrupted.
func (w *Worker) handleJetStream(ctx context.Context, msg jetstream.Msg) {
	attempt := 1
	if meta, err := msg.Metadata(); err == nil {
		attempt = int(meta.NumDelivered)
	}
	if attempt > 1 {
		w.metrics.Redeliveries.Inc()
	}
	stopProgress := w.keepAlive(msg)
	route := ParseTaskSubject(w.cfg.NATS.TasksSubject, msg.Subject())
	env, err := w.execute(ctx, route, msg.Data(), msg.Headers(), attempt)
	stopProgress()
	if err != nil { // interrupted by shutdown
		w.log.Warn("task interrupted, handing it back", "task_id", env.TaskID, "error", err)
		_ = msg.Nak()
		return
	}
	if err := w.publish(ctx, env); err != nil {
		w.log.Error("publish envelope failed; task will be redelivered", "task_id", env.TaskID, "error", err)
		_ = msg.NakWithDelay(5 * time.Second)
		return
	}
	if env.Invalid {
		_ = msg.TermWithReason("invalid task")
		return
	}
	ackCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := msg.DoubleAck(ackCtx); err != nil {
		w.log.Warn("ack failed; the task may be redelivered, its envelope is deduplicated", "task_id", env.TaskID, "error", err)
	}
}

// keepAlive sends in-progress acks so a long task is not redelivered.
func (w *Worker) keepAlive(msg jetstream.Msg) func() {
	every := w.cfg.NATS.AckWait / 3
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				_ = msg.InProgress()
			case <-stop:
				return
			}
		}
	}()
	return func() { close(stop); <-done }
}

// execute decodes and runs a task. It returns an error only when ctx ended
// the work (the task goes back to the queue); everything else, bad input
// included, becomes an envelope.
func (w *Worker) execute(ctx context.Context, route Route, data []byte, headers nats.Header, attempt int) (*Envelope, error) {
	start := time.Now()
	env := &Envelope{Tenant: route.Tenant, WorkerID: w.cfg.Worker.ID, Attempt: attempt, Started: start}
	if headers != nil {
		env.TraceParent = headers.Get("traceparent")
	}
	w.metrics.InFlight.Inc()
	defer w.metrics.InFlight.Dec()
	task, err := DecodeTask(data, w.cfg.Worker.MaxTaskBytes)
	if rerr := relayedTask(headers); rerr != nil {
		task, err = &Task{}, rerr
	}
	env.TaskID = task.TaskID
	log := w.log.With("tenant", route.Tenant, "task_id", task.TaskID, "signer", task.Signer, "attempt", attempt)
	signer := task.Signer
	if signer == "" || err != nil {
		signer = "invalid"
	}
	if err == nil {
		// Nothing is sent anywhere for a task outside its tenant's rights.
		err = w.policy.Admit(route, task)
	}
	if err == nil {
		if done, ok := w.alreadyDone(ctx, route.Tenant, task); ok {
			log.Info("task already has an envelope; not signing again")
			return done, nil
		}
		ctx = signers.WithTrace(ctx, signers.Trace{Parent: env.TraceParent, State: headerOf(headers, "tracestate")})
		log.Info("signing")
		env.Result, err = w.signRecovering(ctx, task)
		if ctx.Err() != nil {
			return env, ctx.Err()
		}
	}
	if err != nil {
		log.Warn("task rejected", "error", err)
		env.Result, env.Invalid = invalidResult(err), true
	}
	env.Finished = time.Now()
	w.metrics.Tasks.WithLabelValues(signer, env.Outcome()).Inc()
	w.metrics.TaskDuration.WithLabelValues(signer).Observe(env.Finished.Sub(start).Seconds())
	log.Info("task finished", "outcome", env.Outcome(), "duration_ms", env.Finished.Sub(start).Milliseconds())
	return env, nil
}

func headerOf(h nats.Header, key string) string {
	if h == nil {
		return ""
	}
	return h.Get(key)
}

// subject is where an envelope goes: always the tenant's own results
// subject (ResultSubject); a task's reply_to cannot point elsewhere.
func (w *Worker) subject(env *Envelope) string {
	return ResultSubject(w.cfg.NATS.ResultsPrefix, env.Tenant, env.TaskID)
}

// publish stores the envelope in the results stream, deduplicated by task
// id, so a redelivered task never yields a second envelope.
func (w *Worker) publish(ctx context.Context, env *Envelope) error {
	if env.stored != nil {
		return nil
	}
	data, err := env.Encode()
	if err != nil {
		return fmt.Errorf("encode envelope: %w", err)
	}
	m := &nats.Msg{Subject: w.subject(env), Data: data, Header: nats.Header{}}
	m.Header.Set(OutcomeHeader, env.Outcome())
	msgID := envelopeMsgID(env.Tenant, env.TaskID)
	if env.Invalid {
		// A corrected task may come with the same id: the refusal of the
		// bad one must neither swallow its envelope (dedup) nor stand in
		// for it (alreadyDone).
		msgID = "invalid-" + msgID + "-" + strconv.FormatInt(env.Started.UnixNano(), 36)
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, err = w.js.PublishMsg(pctx, m, jetstream.WithMsgID(msgID))
	if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
		return w.nc.PublishMsg(m)
	}
	return err
}

// OutcomeHeader on a stored envelope says how the task ended (ok, failed,
// error, invalid), so readers can filter without parsing.
const OutcomeHeader = "Pubtools-Sign-Outcome"

// alreadyDone finds an envelope stored by an earlier delivery (a replica
// that crashed after publishing but before acking) so the task is not
// signed twice.
func (w *Worker) alreadyDone(ctx context.Context, tenant string, t *Task) (*Envelope, bool) {
	data, ok := StoredEnvelope(ctx, w.results, ResultSubject(w.cfg.NATS.ResultsPrefix, tenant, t.TaskID))
	if !ok {
		return nil, false
	}
	return &Envelope{Tenant: tenant, TaskID: t.TaskID, stored: data}, true
}

// StoredEnvelope returns the envelope the results stream holds on
// subject, unless there is none, it is a refusal (a corrected task may
// follow under the id of a refused one) or no worker stored it
// (StoredByWorker).
func StoredEnvelope(ctx context.Context, results jetstream.Stream, subject string) ([]byte, bool) {
	m, err := results.GetLastMsgForSubject(ctx, subject)
	if err != nil || m == nil || m.Header.Get(OutcomeHeader) == "invalid" || !StoredByWorker(subject, m.Header) {
		return nil, false
	}
	return m.Data, true
}
