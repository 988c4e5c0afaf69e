// Package retry is the project's one retry policy: exponential back-off
// with jitter and a cap, on github.com/cenkalti/backoff/v5. AMQP
// reconnection and cosign runs use it; so can anything else that waits for
// something to come up.
package retry

import (
	"context"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Policy says how long to pause between tries and how many to make.
type Policy struct {
	// First is the pause after the first failure; each further pause
	// doubles, up to Max.
	First time.Duration
	// Max caps every pause.
	Max time.Duration
	// Tries bounds the attempts, the first included; 0 tries until the
	// operation succeeds, fails permanently or the context ends.
	Tries int
}

// jitter spreads each pause over ±50% so that replicas restarted together
// do not retry in lockstep against the same broker or registry.
const jitter = 0.5

// Do runs op until it succeeds, returns an error made by Permanent, the
// tries run out or ctx ends, and returns op's last result. notify (may be
// nil) hears of each failure that will be retried and of the pause before
// the next try. When ctx ends after a failed try the error wraps both that
// failure and ctx's error.
func Do[T any](ctx context.Context, p Policy, op func() (T, error), notify func(err error, next time.Duration)) (T, error) {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     p.First,
		RandomizationFactor: jitter,
		Multiplier:          2,
		MaxInterval:         p.Max,
	}
	var last error
	tries := func() (T, error) {
		v, err := op()
		last = err
		return v, err
	}
	opts := []backoff.RetryOption{backoff.WithBackOff(b), backoff.WithMaxElapsedTime(0)}
	if p.Tries > 0 {
		opts = append(opts, backoff.WithMaxTries(uint(p.Tries)))
	}
	if notify != nil {
		opts = append(opts, backoff.WithNotify(notify))
	}
	v, err := backoff.Retry(ctx, tries, opts...)
	if err != nil && ctx.Err() != nil && last != nil && err != last {
		// backoff returns only the context's error; the failure matters more.
		err = fmt.Errorf("%w (cancelled: %w)", last, ctx.Err())
	}
	return v, err
}

// Permanent marks err as not worth another try: Do returns err itself.
func Permanent(err error) error { return backoff.Permanent(err) }

// NATS is the policy for a JetStream call during an election or a node's
// loss: a leader is usually back within a few seconds.
var NATS = Policy{First: 200 * time.Millisecond, Max: 3 * time.Second}

// Within runs op as Do does for at most `within`, each try with a context
// of its own bounded by attempt. With finish set a try under way is not
// cut short when ctx ends (its context keeps only ctx's values): a store
// that reached the server is let to answer; no new try starts.
func Within[T any](ctx context.Context, p Policy, within, attempt time.Duration, finish bool,
	op func(context.Context) (T, error), notify func(err error, next time.Duration)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	return Do(ctx, p, func() (T, error) {
		parent := ctx
		if finish {
			parent = context.WithoutCancel(ctx)
		}
		actx, cancel := context.WithTimeout(parent, attempt)
		defer cancel()
		return op(actx)
	}, notify)
}
