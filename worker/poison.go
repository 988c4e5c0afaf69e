package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/release-engineering/pubtools-sign-go/internal/pyjson"
	"github.com/release-engineering/pubtools-sign-go/signers"
)

// A task must end with an envelope even when no delivery of it can: its
// envelope cannot be published, or every replica that takes it dies or
// runs past ack_wait. After max_deliver deliveries it gets a small error
// envelope, "gave up after N deliveries: <last error>", and leaves the
// tasks stream, instead of sitting there unanswered forever.

// giveUpQueue is the queue group of the max-deliveries advisories: one
// replica answers each.
const giveUpQueue = "pubtools-sign-max-deliveries"

// giveUpEnvelope is the final error envelope of tenant's task taskID,
// which ran out of deliveries.
func (w *Worker) giveUpEnvelope(tenant, taskID string, deliveries int, lastErr string) *Envelope {
	now := time.Now()
	return &Envelope{
		Tenant: tenant, TaskID: taskID, WorkerID: w.cfg.Worker.ID, Attempt: deliveries, Started: now, Finished: now,
		Result: &signers.Result{
			SignerResult: signers.SignerResult{Status: signers.StatusError,
				ErrorMessage: clip(fmt.Sprintf("gave up after %d deliveries: %s", deliveries, lastErr), maxEchoProblem)},
			Operation: pyjson.Object{},
		},
	}
}

// giveUp ends a task on its last delivery whose envelope could not be
// published: a small error envelope instead, then the task is terminated.
// If even that fails, the task is handed back and the max-deliveries
// advisory ends it.
func (w *Worker) giveUp(ctx context.Context, msg jetstream.Msg, env *Envelope, deliveries int, cause error) {
	final := w.giveUpEnvelope(env.Tenant, env.TaskID, deliveries, "publish envelope: "+cause.Error())
	if err := w.publish(ctx, final); err != nil {
		w.log.Error("publish final error envelope failed; the task is handed back", "task_id", env.TaskID, "error", err)
		_ = msg.Nak()
		return
	}
	w.log.Warn("task gave up after its last delivery", "task_id", env.TaskID, "deliveries", deliveries, "error", cause)
	_ = msg.TermWithReason(fmt.Sprintf("gave up after %d deliveries", deliveries))
}

// maxDeliveriesAdvisory is the part of JetStream's
// io.nats.jetstream.advisory.v1.max_deliver advisory we read.
type maxDeliveriesAdvisory struct {
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries int    `json:"deliveries"`
}

// watchMaxDeliveries answers the max-deliveries advisories of the tasks
// stream (any consumer of it) until the returned stop is called.
func (w *Worker) watchMaxDeliveries() (stop func(), err error) {
	subject := fmt.Sprintf("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.%s.*", w.cfg.NATS.TasksStream)
	sub, err := w.nc.QueueSubscribe(subject, giveUpQueue, func(m *nats.Msg) {
		var a maxDeliveriesAdvisory
		if err := json.Unmarshal(m.Data, &a); err != nil || a.StreamSeq == 0 {
			w.log.Warn("unreadable max-deliveries advisory", "error", err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		w.endExhausted(ctx, a)
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", subject, err)
	}
	return func() { _ = sub.Unsubscribe() }, nil
}

// endExhausted gives a task that ran out of deliveries its final envelope
// (unless an earlier delivery stored one) and removes it from the stream.
func (w *Worker) endExhausted(ctx context.Context, a maxDeliveriesAdvisory) {
	tasks, err := w.js.Stream(ctx, w.cfg.NATS.TasksStream)
	if err != nil {
		w.log.Error("max deliveries: open tasks stream", "error", err)
		return
	}
	raw, err := tasks.GetMsg(ctx, a.StreamSeq)
	if err != nil { // already gone: another replica ended it
		return
	}
	id := peekTaskID(raw.Data)
	tenant := ParseTaskSubject(w.cfg.NATS.TasksSubject, raw.Subject).Tenant
	log := w.log.With("tenant", tenant, "task_id", id, "stream_seq", a.StreamSeq, "deliveries", a.Deliveries)
	if id != "" {
		stored, err := StoredEnvelope(ctx, w.results, ResultSubject(w.cfg.NATS.ResultsPrefix, tenant, id))
		if err != nil {
			log.Warn("max deliveries: cannot tell whether the task has an envelope; the task stays in the stream", "error", err)
			return
		}
		if stored == nil {
			final := w.giveUpEnvelope(tenant, id, a.Deliveries,
				"no delivery finished (each replica that took the task stopped or ran past nats.ack_wait)")
			if err := w.publish(ctx, final); err != nil {
				log.Error("max deliveries: publish final error envelope failed; the task stays in the stream", "error", err)
				return
			}
		}
	}
	if err := tasks.DeleteMsg(ctx, a.StreamSeq); err != nil {
		log.Warn("max deliveries: remove task from the stream failed", "error", err)
		return
	}
	log.Warn("task gave up after max deliveries and left the tasks stream")
}
