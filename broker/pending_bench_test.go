package broker

import (
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
)

// BenchmarkPendingRequests100k measures what 100,000 pending requests cost
// the map: the heap held (MiB/100k: uuid ids, map entries and one reply
// channel with room for 100 replies per 100 requests, as 1,000 operations
// of 100 requests have) and the time to add and resolve them all (ns/op is
// for 100,000 of each).
func BenchmarkPendingRequests100k(b *testing.B) {
	const n, perOp = 100_000, 100
	b.ReportAllocs()
	var heapMiB float64
	for b.Loop() {
		b.StopTimer()
		before := heapInUse()
		ids := make([]string, n)
		for i := range ids {
			ids[i] = uuid.NewString()
		}
		b.StartTimer()
		p := NewPendingRequests()
		chans := make([]chan *Reply, n/perOp)
		for op := range chans {
			chans[op] = make(chan *Reply, perOp)
			p.Add(chans[op], ids[op*perOp:(op+1)*perOp]...)
		}
		heapMiB = float64(heapInUse()-before) / (1 << 20)
		for _, id := range ids {
			p.Resolve(&Reply{RequestID: id})
		}
		if p.Len() != 0 {
			b.Fatal("requests left pending")
		}
	}
	b.ReportMetric(heapMiB, "MiB/100k")
}

// BenchmarkPendingRequestsContended adds and resolves from every core at
// once: the lock's cost under the daemon's load shape.
func BenchmarkPendingRequestsContended(b *testing.B) {
	p := NewPendingRequests()
	var worker atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		prefix := strconv.FormatInt(worker.Add(1), 10) + "-"
		ch := make(chan *Reply, 1)
		for n := 0; pb.Next(); n++ {
			id := prefix + strconv.Itoa(n)
			p.Add(ch, id)
			p.Resolve(&Reply{RequestID: id})
			<-ch
		}
	})
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
