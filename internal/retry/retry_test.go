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
