package emulator

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"
)

// Capacity models a signing server's throughput: Workers requests are
// worked on at once, each for Work (the signature itself included), taken
// in arrival order. Requests beyond that wait in the broker, where their
// TTL runs, as they would in front of a real server: the emulator takes
// only max(50, 2 × Workers) requests off the link ahead of its workers.
// The zero value is no limit.
type Capacity struct {
	Workers int
	Work    time.Duration
	// StaleAfter counts requests served later than this after their
	// "created" time (set it to the client's TTL: such a request would
	// have expired in the broker had the server not prefetched it).
	StaleAfter time.Duration
}

// Limited reports whether the capacity is bounded.
func (c Capacity) Limited() bool { return c.Workers > 0 && c.Work > 0 }

// PerSecond is the requests per second the capacity serves.
func (c Capacity) PerSecond() float64 {
	if !c.Limited() {
		return 0
	}
	return float64(c.Workers) / c.Work.Seconds()
}

// CapacityPerSecond is the Capacity serving rate requests per second, one
// at a time.
func CapacityPerSecond(rate float64) Capacity {
	if rate <= 0 {
		return Capacity{}
	}
	return Capacity{Workers: 1, Work: time.Duration(float64(time.Second) / rate)}
}

// creditWindow is the link credit of the request receiver: under a
// capacity limit only a small prefetch beyond the workers, so the backlog
// stays in the broker (50 requests at 200/s are 250 ms of work).
func (c Capacity) creditWindow() int {
	if !c.Limited() {
		return 0 // the client's default
	}
	return max(50, 2*c.Workers)
}

// gate runs requests through the capacity's workers.
type gate struct {
	// idle sums the time workers waited for a request (nanoseconds),
	// overrun the time they fell behind their clock beyond catchUp.
	idle, overrun atomic.Int64
	work          chan func()
	wg            sync.WaitGroup
	done          chan struct{}
}

func newGate(c Capacity) *gate {
	g := &gate{work: make(chan func()), done: make(chan struct{})}
	for range c.Workers {
		g.wg.Add(1)
		go g.worker(c.Work)
	}
	return g
}

// serve blocks until a worker takes job: the receive loop stops taking
// requests off the link while every worker is busy.
func (g *gate) serve(job func()) {
	select {
	case g.work <- job:
	case <-g.done:
	}
}

// catchUp bounds how far a backlogged worker that fell behind its clock
// (descheduled on a busy machine) catches up by running jobs back to back.
const catchUp = 250 * time.Millisecond

// worker runs one job per period. Its clock advances by Work per job,
// not by however long the sleep really took, so the rate holds while
// requests are waiting, even on a loaded machine (up to catchUp behind).
func (g *gate) worker(work time.Duration) {
	defer g.wg.Done()
	var free time.Time
	for {
		var job func()
		select {
		case job = <-g.work:
			// Waiting already: starts when the last one ended.
		default:
			waitFrom := time.Now()
			if !free.IsZero() && waitFrom.Sub(free) > 0 {
				// Woke up late and nothing is waiting now: whether the
				// time lost was needed is unknown; count it as lost.
				g.overrun.Add(int64(waitFrom.Sub(free)))
			}
			select {
			case job = <-g.work:
				free = time.Time{} // idle: starts now
				g.idle.Add(int64(time.Since(waitFrom)))
			case <-g.done:
				return
			}
		}
		start := time.Now()
		if !free.IsZero() {
			// Backlogged: this job's period starts where the last ended.
			if behind := start.Sub(free); behind > catchUp {
				g.overrun.Add(int64(behind - catchUp))
				start = start.Add(-catchUp)
			} else {
				start = free
			}
		}
		job()
		free = start.Add(work)
		if d := time.Until(free); d > 0 {
			select {
			case <-time.After(d):
			case <-g.done:
				return
			}
		}
	}
}

func (g *gate) close() {
	close(g.done)
	g.wg.Wait()
}

// arrivals counts what the server saw by request_id: duplicates are
// requests that arrived more than once (re-sent), stale ones arrived
// later than StaleAfter after they were created.
type arrivals struct {
	mu          sync.Mutex
	seen        map[string]struct{}
	duplicates  uint64
	stale       uint64
	maxAge      time.Duration
	staleAfter  time.Duration
	first, last time.Time
}

func newArrivals(staleAfter time.Duration) *arrivals {
	return &arrivals{seen: make(map[string]struct{}), staleAfter: staleAfter}
}

// note records one request as its service starts.
func (a *arrivals) note(body []byte) {
	var req struct {
		RequestID string `json:"request_id"`
		Created   string `json:"created"`
	}
	_ = json.Unmarshal(body, &req)
	var age time.Duration
	if t, err := time.Parse("2006-01-02T15:04:05.999999Z", req.Created); err == nil {
		age = time.Since(t)
	}
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.first.IsZero() {
		a.first = now
	}
	a.last = now
	if req.RequestID != "" {
		if _, dup := a.seen[req.RequestID]; dup {
			a.duplicates++
		}
		a.seen[req.RequestID] = struct{}{}
	}
	a.maxAge = max(a.maxAge, age)
	if a.staleAfter > 0 && age > a.staleAfter {
		a.stale++
	}
}

// ArrivalStats are what the server saw of its requests.
type ArrivalStats struct {
	// Distinct request ids served; Duplicates arrived again (re-sends);
	// Stale were served more than Capacity.StaleAfter after their
	// "created" time; MaxAge is the oldest request served, from created.
	Distinct, Duplicates, Stale uint64
	MaxAge                      time.Duration
	// Busy is the time from the first request served to the last; Idle
	// the time workers waited for requests (the client did not keep the
	// server busy), Overrun the time workers fell behind their clock
	// for good (this machine could not keep the rate).
	Busy, Idle, Overrun time.Duration
}

// Arrivals returns what the server saw of its requests.
func (s *Server) Arrivals() ArrivalStats {
	a := s.arrivals
	a.mu.Lock()
	defer a.mu.Unlock()
	st := ArrivalStats{Distinct: uint64(len(a.seen)), Duplicates: a.duplicates, Stale: a.stale, MaxAge: a.maxAge, Busy: a.last.Sub(a.first)}
	if s.gate != nil {
		st.Idle, st.Overrun = time.Duration(s.gate.idle.Load()), time.Duration(s.gate.overrun.Load())
	}
	return st
}

// admit runs serve for one request within the capacity (at once without a
// limit), noting its arrival as its service starts.
func (s *Server) admit(body []byte, serve func()) {
	if s.gate == nil {
		s.arrivals.note(body)
		serve()
		return
	}
	s.gate.serve(func() {
		s.arrivals.note(body)
		serve()
	})
}
