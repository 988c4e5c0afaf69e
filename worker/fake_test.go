package worker_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/config"
	"github.com/release-engineering/pubtools-sign-go/internal/pyjson"
	"github.com/release-engineering/pubtools-sign-go/internal/testenv"
	"github.com/release-engineering/pubtools-sign-go/signers"
	"github.com/release-engineering/pubtools-sign-go/worker"
)

// fakeSigner stands in for the signing server in tests of the daemon's
// JetStream semantics (ack, nak, term, grace, redelivery, dedup), which
// need RabbitMQ only incidentally: they run anywhere, and fast. Like the
// emulator it holds every answer back by delay and counts one request per
// reference or input. A task cancelled (a shutdown past its grace) fails
// as the messaging signer does, with the context's error.
type fakeSigner struct {
	delay    time.Duration
	requests atomic.Uint64
	// gate, when set (holdUntilReleased), holds every signing until
	// release: a task that only a shutdown can end.
	gate    chan struct{}
	release func()
}

// holdUntilReleased makes every signing wait until release (or its
// task's cancellation); call it before starting replicas.
func (f *fakeSigner) holdUntilReleased() {
	f.gate = make(chan struct{})
	var once sync.Once
	f.release = func() { once.Do(func() { close(f.gate) }) }
}

// newFakeStack is newStack without RabbitMQ: an embedded NATS server of the
// test's own and replicas signing with a fakeSigner.
func newFakeStack(t *testing.T, delay time.Duration) *stack {
	t.Helper()
	emb, err := worker.StartEmbedded(testenv.Addr(t), t.TempDir())
	require.NoError(t, err)
	t.Cleanup(emb.Stop)
	s := &stack{t: t, url: emb.URL, log: quiet(), fake: &fakeSigner{delay: delay}}
	cfg := config.Defaults()
	cfg.Worker.Concurrency = 32
	cfg.Worker.ShutdownGrace = 10 * time.Second
	cfg.NATS.AckWait = 3 * time.Second
	s.cfg = cfg
	s.nc, err = nats.Connect(s.url)
	require.NoError(t, err)
	t.Cleanup(s.nc.Close)
	s.js, err = jetstream.New(s.nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = worker.EnsureStreams(ctx, s.js, &cfg.NATS)
	require.NoError(t, err)
	return s
}

// signers are the replica's signers; each answered request is observed
// on metrics like the messaging signer's replies.
func (f *fakeSigner) signers(metrics *worker.Metrics) worker.Signers {
	sign := func(ctx context.Context, items []string, op pyjson.Object, keys []string) (*signers.Result, error) {
		f.requests.Add(uint64(len(items)))
		start := time.Now()
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for signing replies: %w", ctx.Err())
		}
		if f.gate != nil {
			select {
			case <-f.gate:
			case <-ctx.Done():
				return nil, fmt.Errorf("waiting for signing replies: %w", ctx.Err())
			}
		}
		res := &signers.Result{SignerResult: signers.SignerResult{Status: signers.StatusOK}, Operation: op, SigningKeys: keys}
		for _, item := range items {
			metrics.Replied(time.Since(start))
			res.OperationResults = append(res.OperationResults, "signed "+item)
		}
		return res, nil
	}
	return worker.Signers{
		worker.SignerMsgContainer: worker.Typed(func(ctx context.Context, op *signers.ContainerSign) (*signers.Result, error) {
			return sign(ctx, op.Digests, op.Dict(), op.SigningKeys)
		}),
		worker.SignerMsgClear: worker.Typed(func(ctx context.Context, op *signers.ClearSign) (*signers.Result, error) {
			return sign(ctx, op.Inputs, op.Dict(), op.SigningKeys)
		}),
		worker.SignerMsgBlob: worker.Typed(func(ctx context.Context, op *signers.BlobSign) (*signers.Result, error) {
			return sign(ctx, op.Blobs, op.Dict(), op.SigningKeys)
		}),
	}
}

// requests is how many signing requests reached the signing server (the
// emulator or the fake).
func (s *stack) requests() uint64 {
	if s.fake != nil {
		return s.fake.requests.Load()
	}
	return s.emu.Stats().Requests
}

// settled waits until every consumer of the tasks stream has nothing
// pending and nothing unacknowledged: each task was acked or terminated,
// so none can be delivered again. It returns the consumers' final state.
func (s *stack) settled(within time.Duration) []*jetstream.ConsumerInfo {
	s.t.Helper()
	ctx := context.Background()
	stream, err := s.js.Stream(ctx, s.cfg.NATS.TasksStream)
	require.NoError(s.t, err)
	var infos []*jetstream.ConsumerInfo
	require.Eventually(s.t, func() bool {
		infos = nil
		list := stream.ListConsumers(ctx)
		for info := range list.Info() {
			infos = append(infos, info)
		}
		if list.Err() != nil || len(infos) == 0 {
			return false
		}
		for _, info := range infos {
			if info.NumAckPending != 0 || info.NumPending != 0 {
				return false
			}
		}
		return true
	}, within, 20*time.Millisecond, "every task acknowledged or terminated")
	return infos
}

// stopWithin is stop with a bound: a replica that has not ended within d
// fails the test instead of hanging it.
func (s *stack) stopWithin(r *replica, d time.Duration) {
	s.t.Helper()
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(d):
		if s.fake != nil && s.fake.release != nil {
			s.fake.release() // let the cleanup finish
		}
		s.t.Fatalf("replica %s did not stop within %v", r.id, d)
	}
}
