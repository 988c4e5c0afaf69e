package emulator

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestGateServesAtMostWorkersAtOnce(t *testing.T) {
	order, peak := serveThroughGate(Capacity{Workers: 2, Work: time.Millisecond}, 40)
	assert.LessOrEqual(t, peak, int32(2))
	assert.Len(t, order, 40)
}

// One worker hands requests over strictly in arrival order. (With two, a
// worker descheduled between taking a request and running it lets the
// other run any number ahead of it, so only the bound is checked there.)
func TestGateWithOneWorkerServesInArrivalOrder(t *testing.T) {
	order, peak := serveThroughGate(Capacity{Workers: 1, Work: time.Millisecond}, 40)
	assert.Equal(t, int32(1), peak)
	for k, i := range order {
		assert.Equal(t, k, i)
	}
}

// serveThroughGate runs n jobs through a gate of c and returns the order
// they ran in and the most that ran at once.
func serveThroughGate(c Capacity, n int) ([]int, int32) {
	g := newGate(c)
	defer g.close()
	var running, peak atomic.Int32
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := range n {
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
	return order, peak.Load()
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
