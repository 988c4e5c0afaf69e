package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/release-engineering/pubtools-sign-go/config"
	"github.com/release-engineering/pubtools-sign-go/internal/retry"
	"github.com/release-engineering/pubtools-sign-go/worker"
)

// natsRetry is how long submit keeps retrying one NATS call through a
// leader election or a lost node before it gives up.
const natsRetry = 30 * time.Second

// recheckEvery is how often submit --wait looks the stored envelope up
// again besides watching its subject: an envelope stored while this
// client was reconnecting never reaches the subscription.
const recheckEvery = 2 * time.Second

// retryNATS runs op with the project's jittered back-off until it
// succeeds, ctx ends or within passes; every attempt is bounded.
func retryNATS[T any](ctx context.Context, within time.Duration, op func(context.Context) (T, error)) (T, error) {
	return retry.Within(ctx, retry.NATS, within, 5*time.Second, false, op, nil)
}

// lookUpStored finds the last message a worker stored on the task's
// results subject (an envelope or a refusal; nil for none) by a direct
// get, the one JetStream call a tenant's account may make on the
// daemon's streams, asking again while the stream cannot answer. An error
// means it still could not tell.
//
// When no results stream answers at all, this may be the first submit
// before any worker ran: a user with JetStream rights (the single-account
// setup) creates the streams; a tenant's account has none, and its daemon
// will.
func lookUpStored(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, n *config.NATS, subject string) (*nats.Msg, error) {
	created := false
	return retryNATS(ctx, natsRetry, func(actx context.Context) (*nats.Msg, error) {
		m, err := worker.DirectStored(actx, nc, n.ResultsStream, subject)
		if errors.Is(err, nats.ErrNoResponders) && !created {
			created = true
			if _, serr := worker.EnsureStreams(actx, js, n); serr == nil {
				return worker.DirectStored(actx, nc, n.ResultsStream, subject)
			}
		}
		return m, err
	})
}

// isEnvelope says whether a stored message makes its task done: an
// envelope, not a refusal (a refused task id may be submitted again).
func isEnvelope(m *nats.Msg) bool { return m != nil && m.Header.Get(worker.OutcomeHeader) != "invalid" }

// storedSeq is the results stream sequence of a direct get answer.
func storedSeq(m *nats.Msg) uint64 {
	seq, _ := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
	return seq
}

// publishTask publishes a task, publishing again (same Nats-Msg-Id, so
// never twice) while the tasks stream elects a leader.
func publishTask(ctx context.Context, js jetstream.JetStream, m *nats.Msg) (*jetstream.PubAck, error) {
	return retryNATS(ctx, natsRetry, func(actx context.Context) (*jetstream.PubAck, error) {
		return js.PublishMsg(actx, m)
	})
}

// waitEnvelope waits up to timeout for the task's envelope or refusal
// (one a worker stored): from live, the core subscription to its results
// subject made before the task was published, and by looking it up again
// (direct get) every recheckEvery, so one stored while this client was
// reconnecting is found too. The lookup takes a message stored after
// sequence since (the last one on the subject before publishing), so an
// earlier refusal of the same task id is not taken for this answer; since
// < 0 (unknown) takes envelopes only.
func waitEnvelope(ctx context.Context, nc *nats.Conn, live *nats.Subscription, stream, subject string, since int64, timeout time.Duration) ([]byte, error) {
	deadline := time.Now().Add(timeout)
	recheck := time.Now().Add(recheckEvery)
	var last error
	for {
		left := time.Until(deadline)
		if left <= 0 {
			if last == nil {
				last = errors.New("timeout")
			}
			return nil, last
		}
		wctx, cancel := context.WithTimeout(ctx, max(min(time.Until(recheck), left), time.Millisecond))
		m, err := live.NextMsgWithContext(wctx)
		cancel()
		// Only a worker's envelope is the answer (worker.StoredByWorker):
		// with a shared NATS account another tenant can have nats-server
		// publish on this subject.
		if err == nil && worker.StoredByWorker(m.Subject, m.Header) {
			return m.Data, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w", ctx.Err())
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			// The subscription is gone (the connection closed): only the
			// lookups are left, at their pace.
			last = err
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("%w", ctx.Err())
			case <-time.After(max(min(time.Until(recheck), time.Until(deadline)), 0)):
			}
		}
		if time.Now().Before(recheck) {
			continue
		}
		recheck = time.Now().Add(recheckEvery)
		lctx, cancel := context.WithTimeout(ctx, min(recheckEvery, max(time.Until(deadline), time.Millisecond)))
		stored, lerr := worker.DirectStored(lctx, nc, stream, subject)
		cancel()
		switch {
		case lerr != nil:
			last = lerr
		case stored == nil:
		case since >= 0 && storedSeq(stored) > uint64(since), isEnvelope(stored):
			return stored.Data, nil
		}
	}
}
