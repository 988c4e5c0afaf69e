package worker

import (
	"context"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/singleflight"
)

// envelopeBuckets opens (creating it if missing) each bucket of large
// envelopes once per worker. Opening is a JetStream round trip (up to the
// API timeout), so no lock is held across it: one tenant's slow bucket
// does not hold up another's, and concurrent first uses share one open.
type envelopeBuckets struct {
	mu      sync.Mutex
	stores  map[string]jetstream.ObjectStore
	opening singleflight.Group
}

// openBucket opens or creates one bucket.
type openBucket func(ctx context.Context, bucket string) (jetstream.ObjectStore, error)

func (b *envelopeBuckets) get(ctx context.Context, bucket string, open openBucket) (jetstream.ObjectStore, error) {
	b.mu.Lock()
	s, ok := b.stores[bucket]
	b.mu.Unlock()
	if ok {
		return s, nil
	}
	ch := b.opening.DoChan(bucket, func() (any, error) {
		store, err := open(ctx, bucket)
		if err != nil {
			return nil, err
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.stores == nil {
			b.stores = make(map[string]jetstream.ObjectStore)
		}
		b.stores[bucket] = store
		return store, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		store, _ := r.Val.(jetstream.ObjectStore)
		return store, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("object store %s: %w", bucket, ctx.Err())
	}
}

// openEnvelopeBucket opens the bucket, creating it when missing with the
// results stream's retention and placement.
func (w *Worker) openEnvelopeBucket(ctx context.Context, bucket string) (jetstream.ObjectStore, error) {
	n := &w.cfg.NATS
	store, err := w.js.ObjectStore(ctx, bucket)
	if err == nil {
		return store, nil
	}
	store, err = w.js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: bucket, Description: "pubtools-sign envelopes too large for one NATS message",
		TTL: resultsMaxAge(n), Storage: jetstream.FileStorage, Compression: true,
		Replicas: n.StreamReplicas, Placement: placement(n),
	})
	if err != nil { // another replica may have won the race
		if s, err2 := w.js.ObjectStore(ctx, bucket); err2 == nil {
			return s, nil
		}
		return nil, fmt.Errorf("object store %s: %w", bucket, err)
	}
	return store, nil
}
