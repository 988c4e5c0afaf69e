package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/release-engineering/pubtools-sign-go/internal/retry"
)

// ErrAskLater is a question the results stream could not answer (no
// leader during an election, a timeout, a lost node): the task goes back
// for later; it is neither signed again nor acked.
var ErrAskLater = errors.New("the results stream cannot answer now")

// storeAttempt bounds one publish or lookup; the next attempt follows
// with jittered backoff until nats.store_timeout.
const storeAttempt = 3 * time.Second

// retryStore runs op until it succeeds, fails for good (retry.Permanent),
// ctx ends or nats.store_timeout passes, with the project's jittered
// back-off. Each attempt gets its own bounded context that shutdown does
// not cut short, so a publish in progress completes.
func retryStore[T any](ctx context.Context, w *Worker, what, taskID string, op func(context.Context) (T, error)) (T, error) {
	return retry.Within(ctx, retry.NATS, w.cfg.NATS.StoreTimeout, storeAttempt, true, op, func(err error, next time.Duration) {
		w.log.Warn(what+" failed; retrying", "task_id", taskID, "error", err, "in", next.Round(time.Millisecond))
	})
}

// ack acknowledges a task whose envelope is stored, retrying while the
// consumer elects a leader. A lost ack is harmless (the redelivery finds
// the envelope) but costs a redelivery.
func (w *Worker) ack(ctx context.Context, msg jetstream.Msg, taskID string) error {
	// After ack_wait the task is redelivered anyway.
	ctx, cancel := context.WithTimeout(ctx, w.cfg.NATS.AckWait)
	defer cancel()
	_, err := retryStore(ctx, w, "ack task", taskID, func(actx context.Context) (struct{}, error) {
		return struct{}{}, msg.DoubleAck(actx)
	})
	return err
}

// LeaderStoredEnvelope is StoredEnvelope answered by the stream leader
// ($JS.API.STREAM.MSG.GET, not a direct get): a follower that lags, or is
// still catching up after a restart, would answer "no envelope" for one
// just stored and get its task signed twice.
func LeaderStoredEnvelope(ctx context.Context, nc *nats.Conn, stream, subject string) ([]byte, error) {
	req, _ := json.Marshal(map[string]string{"last_by_subj": subject})
	resp, err := nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+stream, req)
	if err != nil {
		return nil, fmt.Errorf("look up envelope on %s: %w", subject, err)
	}
	var r struct {
		Message *struct {
			Header []byte `json:"hdrs"`
			Data   []byte `json:"data"`
		} `json:"message"`
		Error *jetstream.APIError `json:"error"`
	}
	if err := json.Unmarshal(resp.Data, &r); err != nil {
		return nil, fmt.Errorf("look up envelope on %s: %w", subject, err)
	}
	if r.Error != nil {
		if r.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound {
			return nil, nil
		}
		return nil, fmt.Errorf("look up envelope on %s: %w", subject, r.Error)
	}
	if r.Message == nil {
		return nil, fmt.Errorf("look up envelope on %s: empty answer", subject)
	}
	h := nats.Header{}
	if len(r.Message.Header) > 0 {
		if h, err = nats.DecodeHeadersMsg(r.Message.Header); err != nil {
			return nil, fmt.Errorf("look up envelope on %s: %w", subject, err)
		}
	}
	if h.Get(OutcomeHeader) == "invalid" || !StoredByWorker(subject, h) {
		return nil, nil
	}
	if r.Message.Data == nil {
		return []byte{}, nil
	}
	return r.Message.Data, nil
}
