package emulator

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestGateServesAtMostWorkersAtOnceInOrder(t *testing.T) {
	g := newGate(Capacity{Workers: 2, Work: time.Millisecond})
	defer g.close()
	var running, peak atomic.Int32
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		g.serve(func() {
			defer wg.Done()
			n := running.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			running.Add(-1)
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, peak.Load(), int32(2))
	assert.Len(t, order, 40)
	for k, i := range order {
		// Handed over in arrival order; two workers may swap neighbours.
		assert.InDelta(t, k, i, 1)
	}
}

func TestArrivalsCountDuplicatesAndStaleRequests(t *testing.T) {
	a := newArrivals(time.Minute)
	fresh := []byte(`{"request_id": "a", "created": "` + time.Now().UTC().Format("2006-01-02T15:04:05.000000") + `Z"}`)
	old := []byte(`{"request_id": "b", "created": "2020-01-01T00:00:00Z"}`)
	a.note(fresh)
	a.note(old)
	a.note(fresh)
	s := &Server{arrivals: a}
	st := s.Arrivals()
	assert.Equal(t, uint64(2), st.Distinct)
	assert.Equal(t, uint64(1), st.Duplicates)
	assert.Equal(t, uint64(1), st.Stale)
	assert.Greater(t, st.MaxAge, 24*time.Hour)
	assert.InDelta(t, 3.0, CapacityPerSecond(3).PerSecond(), 1e-6, "one worker at 1/3 s")
}
