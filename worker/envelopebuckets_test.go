package worker

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

// A bucket whose open hangs (a slow or partitioned JetStream) holds up
// only the tasks that need that bucket: another tenant's bucket opens, and
// a cached bucket is returned, meanwhile.
func TestASlowBucketHoldsUpNoOtherTenantsBucket(t *testing.T) {
	var b envelopeBuckets
	release := make(chan struct{})
	defer close(release)
	var fast jetstream.ObjectStore
	open := func(ctx context.Context, bucket string) (jetstream.ObjectStore, error) {
		if bucket == "ENVELOPES_slow" {
			select {
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return fast, nil
	}
	slowCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _, _ = b.get(slowCtx, "ENVELOPES_slow", open) }()

	done := make(chan error, 1)
	go func() {
		_, err := b.get(context.Background(), "ENVELOPES_other", open)
		done <- err
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("another tenant's bucket waited for the slow one")
	}

	// A waiter on the slow bucket gives up with its own context.
	ctx, stop := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer stop()
	_, err := b.get(ctx, "ENVELOPES_slow", open)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

// Concurrent first uses of one bucket open it once.
func TestABucketIsOpenedOnce(t *testing.T) {
	var b envelopeBuckets
	opens := make(chan struct{}, 10)
	gate := make(chan struct{})
	open := func(ctx context.Context, bucket string) (jetstream.ObjectStore, error) {
		opens <- struct{}{}
		<-gate
		return nil, nil
	}
	errs := make(chan error, 3)
	for range 3 {
		go func() { _, err := b.get(context.Background(), "ENVELOPES_a", open); errs <- err }()
	}
	<-opens
	close(gate)
	for range 3 {
		require.NoError(t, <-errs)
	}
	_, err := b.get(context.Background(), "ENVELOPES_a", open)
	require.NoError(t, err)
	require.Len(t, opens, 0, "opened more than once")
}
