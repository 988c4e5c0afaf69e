package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/release-engineering/pubtools-sign-go/internal/retry"
	"github.com/release-engineering/pubtools-sign-go/worker"
)

// natsRetry is how long submit keeps retrying one NATS call through a
// leader election or a lost node before it gives up.
const natsRetry = 30 * time.Second

// retryNATS runs op with the project's jittered back-off until it
// succeeds, ctx ends or within passes; every attempt is bounded.
func retryNATS[T any](ctx context.Context, within time.Duration, op func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	return retry.Do(ctx, retry.Policy{First: 200 * time.Millisecond, Max: 3 * time.Second}, func() (T, error) {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return op(actx)
	}, nil)
}

// lookUpStored asks the results stream for a stored envelope, asking again
// while the stream cannot answer. An error means it still could not tell.
func lookUpStored(ctx context.Context, results jetstream.Stream, subject string) ([]byte, error) {
	return retryNATS(ctx, natsRetry, func(actx context.Context) ([]byte, error) {
		return worker.StoredEnvelope(actx, results, subject)
	})
}

// publishTask publishes a task, publishing again (same Nats-Msg-Id, so
// never twice) while the tasks stream elects a leader.
func publishTask(ctx context.Context, js jetstream.JetStream, m *nats.Msg) (*jetstream.PubAck, error) {
	return retryNATS(ctx, natsRetry, func(actx context.Context) (*jetstream.PubAck, error) {
		return js.PublishMsg(actx, m)
	})
}

// waitEnvelope waits up to timeout for the task's envelope (one a worker
// stored): from the ordered consumer watching its subject, and by looking the stored
// envelope up again every couple of seconds, so an envelope stored while
// this client was reconnecting (or its consumer was being recreated after
// a node loss) is found too.
func waitEnvelope(ctx context.Context, envelopes jetstream.Consumer, results jetstream.Stream, subject string, timeout time.Duration) ([]byte, error) {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		left := time.Until(deadline)
		if left <= 0 {
			if last == nil {
				last = errors.New("timeout")
			}
			return nil, last
		}
		m, err := envelopes.Next(jetstream.FetchMaxWait(min(2*time.Second, left)))
		if err == nil {
			// Another tenant can have nats-server store a message on this
			// subject (worker.StoredByWorker): only a worker's envelope is
			// the answer.
			if worker.StoredByWorker(m.Subject(), m.Headers()) {
				return m.Data(), nil
			}
			continue
		}
		last = err
		lctx, cancel := context.WithTimeout(ctx, min(2*time.Second, max(time.Until(deadline), time.Millisecond)))
		data, lerr := worker.StoredEnvelope(lctx, results, subject)
		cancel()
		if lerr == nil && data != nil {
			return data, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w", ctx.Err())
		}
	}
}
