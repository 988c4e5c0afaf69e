package msg

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/release-engineering/pubtools-sign-go/broker"
)

// BenchmarkPendingOperations measures everything a process holds for
// 100,000 unanswered requests: 1,000 concurrent 100-reference operations
// (request plans, ids, reply channels, the shared pending map, goroutines)
// waiting on a server that never answers. MiB/100k is the heap growth once
// all are pending; ns/op is the time to prepare and send them all.
func BenchmarkPendingOperations(b *testing.B) {
	const ops, refs = 1000, 100
	cfg := testConfig()
	cfg.Timeout = 1000 // nobody times out during the measurement
	var heapMiB float64
	for b.Loop() {
		b.StopTimer()
		before := heapAlloc()
		b.StartTimer()
		pending := broker.NewPendingRequests()
		s := New(Options{Config: cfg, Bus: silentBus{}, Pending: pending, Creator: "bench", Log: discardLog})
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for range ops {
			wg.Go(func() { _, _ = s.ContainerSign(ctx, containerOp(refs)) })
		}
		for pending.Len() < ops*refs {
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		heapMiB = float64(heapAlloc()-before) / (1 << 20)
		cancel()
		wg.Wait()
		b.StartTimer()
	}
	b.ReportMetric(heapMiB, "MiB/100k")
}

var discardLog = slog.New(slog.NewTextHandler(io.Discard, nil))

func heapAlloc() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// silentBus takes every request (building it, as a real send does) and
// never answers.
type silentBus struct{}

func (silentBus) Listen(context.Context, string, bool) (func(), error) { return func() {}, nil }
func (silentBus) Reconnected() <-chan struct{}                         { return nil }
func (silentBus) Publish(_ context.Context, reqs broker.Requests) error {
	for i := range reqs.Len() {
		_ = reqs.At(i)
	}
	return nil
}
