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
	"github.com/prometheus/client_golang/prometheus"

	"github.com/release-engineering/pubtools-sign-go/config"
	"github.com/release-engineering/pubtools-sign-go/internal/retry"
)

// Options build a Worker.
type Options struct {
	Config  *config.File
	Conn    *nats.Conn
	Signers Signers
	Metrics *Metrics
	Log     *slog.Logger
}

// Worker consumes tasks from the durable consumers of its signers.
type Worker struct {
	cfg       *config.File
	nc        *nats.Conn
	js        jetstream.JetStream
	results   jetstream.Stream
	signers   Signers
	policy    *Policy
	metrics   *Metrics
	log       *slog.Logger
	slots     chan struct{} // one per task in flight
	consumers []jetstream.Consumer
	// bigEnvelopes holds envelopes over the NATS max payload.
	bigEnvelopes envelopeBuckets
}

// New connects to JetStream, creates the streams if they are missing and
// the consumers of this replica's signers if they are missing.
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
	if err := RetireSharedConsumer(ctx, js, &o.Config.NATS, o.Log); err != nil {
		return nil, err
	}
	if w.consumers, err = EnsureConsumers(ctx, js, &o.Config.NATS, o.Signers.Names()); err != nil {
		return nil, err
	}
	return w, nil
}

// Run takes tasks until ctx is cancelled, then stops fetching and gives
// in-flight tasks worker.shutdown_grace to finish; those that cannot are
// handed back (nak) for another replica. It pulls from the consumer of
// each signer this replica has (tasks of other signers stay queued for
// replicas that have them); the signers share the worker.concurrency
// slots.
func (w *Worker) Run(ctx context.Context) error {
	stopGiveUps, err := w.watchMaxDeliveries()
	if err != nil {
		return err
	}
	defer stopGiveUps()
	names := w.signers.Names()
	w.servedMetric(names)
	if len(names) == 0 {
		w.log.Warn("no signer configured: taking no tasks")
	}
	// Tasks run on work, which outlives ctx by the grace period.
	work, cancelWork := context.WithCancel(context.Background())
	defer cancelWork()
	tasks := make(chan jetstream.Msg)
	feeders := w.startFeeders(ctx, names, tasks)
	w.log.Info("taking tasks", "stream", w.cfg.NATS.TasksStream, "signers", names, "concurrency", cap(w.slots))
	var running sync.WaitGroup
	for {
		msg, ok := w.take(ctx, tasks)
		if !ok {
			break
		}
		running.Add(1)
		go func() {
			defer running.Done()
			defer func() { <-w.slots }()
			w.handleJetStream(work, msg)
		}()
	}
	w.drain(feeders, &running, cancelWork)
	return nil
}

// startFeeders pulls from the consumer of each signer; the signers share
// the slots.
func (w *Worker) startFeeders(ctx context.Context, names []string, tasks chan<- jetstream.Msg) *sync.WaitGroup {
	var feeders sync.WaitGroup
	for i, cons := range w.consumers {
		feeders.Add(1)
		go func() {
			defer feeders.Done()
			w.feed(ctx, names[i], cons, max(1, cap(w.slots)/len(names)), tasks)
		}()
	}
	return &feeders
}

// take waits for a free slot, then for a task, and returns the task with
// the slot taken; false once shutdown began. A free slot first, unless
// shutdown comes first: with every slot busy a replica must still notice
// SIGTERM.
func (w *Worker) take(ctx context.Context, tasks <-chan jetstream.Msg) (jetstream.Msg, bool) {
	select {
	case w.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, false
	}
	select {
	case msg := <-tasks:
		return msg, true
	case <-ctx.Done():
		<-w.slots
		return nil, false
	}
}

// drain hands back tasks pulled but never started at once, not after
// ack_wait (the feeders nak what their pulls still bring), then gives the
// running tasks worker.shutdown_grace and interrupts the rest (handed
// back too).
func (w *Worker) drain(feeders, running *sync.WaitGroup, cancelWork context.CancelFunc) {
	waitAtMost(feeders, 2*time.Second)
	if waitAtMost(running, w.cfg.Worker.ShutdownGrace) {
		w.log.Info("drained: every in-flight task finished")
		return
	}
	w.log.Warn("shutdown grace over: handing back unfinished tasks", "grace", w.cfg.Worker.ShutdownGrace)
	cancelWork()
	running.Wait()
}

// waitAtMost waits for wg for at most d and says whether it finished.
func waitAtMost(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// feed pulls one signer's tasks and hands them to Run as slots free up.
// It pulls only about as many tasks as there are free slots (at most
// batch), and only after the previous pull's tasks were all taken: every
// task this replica pulled but has not started sits in handOver, which
// keeps it alive with in-progress acks, so no task waits unseen in a
// subscription buffer until ack_wait redelivers it to be signed twice.
// A pull the server lost (consumer leader change, node loss) is noticed by
// missing idle heartbeats and replaced; a consumer that went away is made
// again.
func (w *Worker) feed(ctx context.Context, signer string, cons jetstream.Consumer, batch int, tasks chan<- jetstream.Msg) {
	log := w.log.With("signer", signer)
	for ctx.Err() == nil {
		free := cap(w.slots) - len(w.slots)
		err := w.pull(ctx, cons, min(batch, max(1, free)), tasks)
		if err == nil || ctx.Err() != nil {
			continue
		}
		// What elections and lost nodes look like: pull again soon (not at
		// once: without a stream leader a pull fails at once).
		interrupted := errors.Is(err, jetstream.ErrNoHeartbeat) || errors.Is(err, jetstream.ErrConsumerLeadershipChanged) ||
			errors.Is(err, jetstream.ErrServerShutdown) || errors.Is(err, nats.ErrNoResponders)
		pause := time.Second
		if interrupted {
			log.Info("pull for tasks interrupted; pulling again", "error", err)
			pause = 250 * time.Millisecond
		} else {
			log.Warn("pulling tasks stopped; pulling again", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		if !interrupted {
			// The consumer may be gone: make it again if it is missing.
			if c, err := EnsureConsumers(ctx, w.js, &w.cfg.NATS, []string{signer}); err == nil {
				cons = c[0]
			}
		}
	}
}

// pull asks for up to n tasks for at most nats.pull_expiry and hands each
// over as it arrives; it returns once all of them were taken (or handed
// back at shutdown).
func (w *Worker) pull(ctx context.Context, cons jetstream.Consumer, n int, tasks chan<- jetstream.Msg) error {
	fctx, cancel := context.WithTimeout(ctx, w.cfg.NATS.PullExpiry)
	defer cancel()
	b, err := cons.Fetch(n, jetstream.FetchContext(fctx), jetstream.FetchHeartbeat(w.cfg.NATS.PullExpiry/4))
	if err != nil {
		return err
	}
	var handing sync.WaitGroup
	for msg := range b.Messages() {
		handing.Add(1)
		go func() {
			defer handing.Done()
			w.handOver(ctx, msg, tasks)
		}()
	}
	handing.Wait()
	if err := b.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// handOver passes a pulled task to Run once a slot is free, keeping it
// ours meanwhile; after shutdown began it hands the task back.
func (w *Worker) handOver(ctx context.Context, msg jetstream.Msg, tasks chan<- jetstream.Msg) {
	stop := w.keepAlive(msg)
	defer stop()
	select {
	case tasks <- msg:
	case <-ctx.Done():
		_ = msg.NakWithDelay(handBackDelay)
	}
}

// handBackDelay keeps a task handed back at shutdown from coming straight
// back to the draining replica's outstanding pull: each such round trip
// is a delivery, and a task could burn its nats.max_deliver (and be given
// up) without ever being tried.
const handBackDelay = 2 * time.Second

// servedMetric says which signers this replica takes tasks for.
func (w *Worker) servedMetric(names []string) {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "pubtools_sign_signer_served",
		Help: "1 for each signer whose tasks this replica takes (tasks of other signers are left to replicas that have them)."},
		[]string{"signer"})
	if err := w.metrics.Registry.Register(g); err != nil {
		return // Run called again on the same metrics
	}
	for _, n := range names {
		g.WithLabelValues(n).Set(1)
	}
}

// handleJetStream runs one task message: envelope first, ack after the
// envelope is stored, terminate bad tasks, nak what shutdown interrupted
// or what the results stream could not answer for. In-progress acks keep
// the task ours until it is acked, elections included.
func (w *Worker) handleJetStream(ctx context.Context, msg jetstream.Msg) {
	attempt := 1
	if meta, err := msg.Metadata(); err == nil {
		attempt = int(meta.NumDelivered)
	}
	if attempt > 1 {
		w.metrics.Redeliveries.Inc()
	}
	stopProgress := w.keepAlive(msg)
	defer stopProgress()
	route := ParseTaskSubject(w.cfg.NATS.TasksSubject, msg.Subject())
	env, err := w.execute(ctx, route, msg.Data(), msg.Headers(), attempt)
	if errors.Is(err, ErrAskLater) {
		w.log.Warn("cannot tell whether the task has an envelope; handing it back for later", "task_id", env.TaskID, "error", err)
		_ = msg.NakWithDelay(5 * time.Second)
		return
	}
	if err != nil { // interrupted by shutdown
		w.log.Warn("task interrupted, handing it back", "task_id", env.TaskID, "error", err)
		_ = msg.Nak()
		return
	}
	if err := w.publish(ctx, env); err != nil {
		if attempt >= w.cfg.NATS.MaxDeliver {
			w.giveUp(ctx, msg, env, attempt, err)
			return
		}
		w.log.Error("store envelope failed; task will be redelivered", "task_id", env.TaskID, "error", err)
		_ = msg.NakWithDelay(5 * time.Second)
		return
	}
	if env.Invalid {
		_ = msg.TermWithReason("invalid task")
		return
	}
	if err := w.ack(ctx, msg, env.TaskID); err != nil {
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

// subject is where an envelope goes: always the tenant's own results
// subject (ResultSubject); a task's reply_to cannot point elsewhere.
func (w *Worker) subject(env *Envelope) string {
	return ResultSubject(w.cfg.NATS.ResultsPrefix, env.Tenant, env.TaskID)
}

// publish stores the envelope in the results stream, deduplicated by task
// id, so a redelivered task never yields a second envelope. It returns
// only once the stream stored it (the ack may then follow): while the
// stream has no leader it retries the same message id.
func (w *Worker) publish(ctx context.Context, env *Envelope) error {
	if env.stored != nil {
		return nil
	}
	subject := w.subject(env)
	data, err := w.encodeFitting(ctx, env, subject)
	if err != nil {
		return fmt.Errorf("encode envelope: %w", err)
	}
	m := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	m.Header.Set(OutcomeHeader, env.Outcome())
	msgID := envelopeMsgID(env.Tenant, env.TaskID)
	if env.Invalid {
		// A corrected task may come with the same id: the refusal of the
		// bad one must neither swallow its envelope (dedup) nor stand in
		// for it (alreadyDone).
		msgID = "invalid-" + msgID + "-" + strconv.FormatInt(env.Started.UnixNano(), 36)
	}
	_, err = retryStore(ctx, w, "store envelope", env.TaskID, func(actx context.Context) (*jetstream.PubAck, error) {
		ack, err := w.js.PublishMsg(actx, m, jetstream.WithMsgID(msgID))
		if errors.Is(err, jetstream.ErrStreamMessageExceedsMaximum) || errors.Is(err, nats.ErrMaxPayload) {
			return nil, retry.Permanent(err)
		}
		return ack, err
	})
	if err == nil {
		env.published = data // what was stored is what a second Encode returns
	}
	return err
}

// OutcomeHeader on a stored envelope says how the task ended (ok, failed,
// error, invalid), so readers can filter without parsing.
const OutcomeHeader = "Pubtools-Sign-Outcome"

// alreadyDone finds an envelope stored by an earlier delivery (a replica
// that crashed after publishing but before acking) so the task is not
// signed twice. It asks the stream leader (LeaderStoredEnvelope), never a
// follower that may lag. An error (wrapping ErrAskLater) means the stream
// could not tell even after retrying: the task must not be signed now.
func (w *Worker) alreadyDone(ctx context.Context, tenant string, t *Task) (*Envelope, error) {
	subject := ResultSubject(w.cfg.NATS.ResultsPrefix, tenant, t.TaskID)
	data, err := retryStore(ctx, w, "look up stored envelope", t.TaskID, func(actx context.Context) ([]byte, error) {
		return LeaderStoredEnvelope(actx, w.nc, w.cfg.NATS.ResultsStream, subject)
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAskLater, err)
	}
	if data == nil {
		return nil, nil
	}
	return &Envelope{Tenant: tenant, TaskID: t.TaskID, stored: data}, nil
}

// StoredEnvelope returns the envelope the results stream holds on
// subject, or nil when there is none, it is a refusal (a corrected task
// may follow under the id of a refused one) or no worker stored it
// (StoredByWorker). Only the stream saying
// "message not found" means none: any other error (no leader, timeout,
// no responders) is returned, and the caller must ask again later rather
// than take it for "not done". With direct get on (tenants' lookups) a
// follower may answer, so the worker asks the leader instead.
func StoredEnvelope(ctx context.Context, results jetstream.Stream, subject string) ([]byte, error) {
	m, err := results.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up envelope on %s: %w", subject, err)
	}
	if m == nil || m.Header.Get(OutcomeHeader) == "invalid" || !StoredByWorker(subject, m.Header) {
		return nil, nil
	}
	return m.Data, nil
}
