package retry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/internal/retry"
)

var errFlaky = errors.New("flaky")

func TestTriesUntilSuccess(t *testing.T) {
	n := 0
	v, err := retry.Do(context.Background(), retry.Policy{First: time.Millisecond, Max: time.Millisecond}, func() (int, error) {
		n++
		if n < 3 {
			return 0, errFlaky
		}
		return n, nil
	}, nil)
	require.NoError(t, err)
	assert.Equal(t, 3, v)
}

func TestTriesAreBoundedAndPausesCappedWithJitter(t *testing.T) {
	var pauses []time.Duration
	n := 0
	_, err := retry.Do(context.Background(), retry.Policy{First: time.Millisecond, Max: 4 * time.Millisecond, Tries: 6},
		func() (struct{}, error) { n++; return struct{}{}, errFlaky },
		func(_ error, next time.Duration) { pauses = append(pauses, next) })
	require.ErrorIs(t, err, errFlaky)
	assert.Equal(t, 6, n, "tries include the first")
	require.Len(t, pauses, 5)
	for _, p := range pauses {
		// ±50% jitter around at most the 4ms cap.
		assert.LessOrEqual(t, p, 6*time.Millisecond)
		assert.GreaterOrEqual(t, p, 500*time.Microsecond)
	}
}

func TestPermanentStopsAtOnce(t *testing.T) {
	n := 0
	_, err := retry.Do(context.Background(), retry.Policy{First: time.Millisecond, Max: time.Millisecond},
		func() (int, error) { n++; return 0, retry.Permanent(errFlaky) }, nil)
	require.ErrorIs(t, err, errFlaky)
	assert.Equal(t, 1, n)
}

func TestAnEndedContextKeepsTheLastFailure(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	_, err := retry.Do(ctx, retry.Policy{First: time.Hour, Max: time.Hour}, func() (int, error) {
		cancel()
		return 0, errFlaky
	}, nil)
	require.ErrorIs(t, err, errFlaky)
	require.ErrorIs(t, err, context.Canceled)
}

// With finish set, a try under way when ctx ends runs to its own bound and
// no further try starts; without it the try is cut short with ctx.
func TestWithinLetsATryUnderWayFinish(t *testing.T) {
	for _, finish := range []bool{true, false} {
		ctx, cancel := context.WithCancel(context.Background())
		tries := 0
		started := make(chan struct{})
		go func() { <-started; cancel() }()
		_, err := retry.Within(ctx, retry.Policy{First: time.Millisecond, Max: time.Millisecond}, time.Minute, 200*time.Millisecond, finish,
			func(actx context.Context) (int, error) {
				tries++
				if tries == 1 {
					close(started)
				}
				<-actx.Done()
				return 0, actx.Err()
			}, nil)
		require.Error(t, err)
		assert.Equal(t, 1, tries, "finish=%v: no try starts after ctx ended", finish)
		if finish {
			assert.ErrorIs(t, err, context.DeadlineExceeded, "the try ran to its own bound")
		} else {
			assert.ErrorIs(t, err, context.Canceled, "the try was cut short with ctx")
		}
	}
}
