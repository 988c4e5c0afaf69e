package broker

import (
	"math"
	"sync"
	"time"
)

// Window is the flow control of one process toward one signing server: it
// bounds the requests sent and not yet answered (in flight) and hands free
// slots, one at a time, to the operations that wait for them. Most go to
// the operation with the fewest requests left to send (the oldest among
// equals): a one-request operation that starts behind a 10,000-request
// one gets the next free slot, and operations of equal size finish one
// after another rather than all together at the end (a replica's tasks
// then complete, and free their worker slots, at a steady pace). Every
// RoundRobinEvery-th slot goes round robin over all waiting operations
// instead, so a large operation progresses even while smaller ones keep
// arriving.
//
// The limit adapts to what is observed, AIMD on latency: the lowest round
// trip seen is the server's base latency, anything above it is time spent
// queued (in the broker, or in the server's own backlog). While the queued
// part stays under half of TargetDelay the limit grows (doubling per round
// trip until the first decrease, then by one per round trip); once it
// passes TargetDelay the limit is cut by a quarter, at most once per round
// trip; requests given up on halve it. The limit never exceeds Max.
// Little's law makes this a bound on waiting: at a server rate C, W
// requests in flight wait about W/C, so a window that keeps the queued
// time under TargetDelay keeps every request far from its TTL, however
// many operations and replicas share the server.
type Window struct {
	mu     sync.Mutex
	opts   WindowOptions
	limit  float64
	thresh float64 // slow start ends here (after the first decrease)
	// inFlight counts granted slots not yet released.
	inFlight int
	// ring holds the flows that want slots; next is the one served next
	// in round robin.
	ring   []*Flow
	next   int
	grants uint64
	opened uint64
	// base is the lowest round trip seen.
	base    time.Duration
	lastCut time.Time
	// queued is the sum of the flows' want.
	queued int

	replies, cuts, lost uint64
	// rate is the reply rate, averaged over rateEvery periods.
	rate      float64
	rateStart time.Time
	rateCount uint64
}

// WindowOptions configure a Window.
type WindowOptions struct {
	// Max is the most requests in flight (max_in_flight); at least 1.
	Max int
	// Initial is the starting limit (default min(Max, 32)).
	Initial int
	// TargetDelay is how long requests may wait queued, above the lowest
	// round trip seen, before the window shrinks.
	TargetDelay time.Duration
	// Now is replaced by tests.
	Now func() time.Time
}

// rateEvery is the period over which the reply rate is measured.
const rateEvery = time.Second

// NewWindow returns an empty window.
func NewWindow(opts WindowOptions) *Window {
	if opts.Max < 1 {
		opts.Max = 1
	}
	if opts.Initial < 1 {
		opts.Initial = min(opts.Max, 32)
	}
	if opts.TargetDelay <= 0 {
		opts.TargetDelay = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Window{opts: opts, limit: float64(min(opts.Initial, opts.Max)), thresh: math.Inf(1), rateStart: opts.Now()}
}

// Flow is one operation's share of a Window. Its methods are safe for
// concurrent use.
type Flow struct {
	w *Window
	// want is how many more slots the flow asks for; granted how many it
	// got and has not taken; held how many it holds (taken or not).
	want, granted, held int
	inRing              bool
	seq                 uint64 // order of Open: older first among equals
	ready               chan struct{}
}

// Open starts a flow. Close it when the operation ends.
func (w *Window) Open() *Flow {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.opened++
	return &Flow{w: w, ready: make(chan struct{}, 1), seq: w.opened}
}

// Want asks for delta more slots (negative: fewer; a request answered
// before it was sent needs none).
func (f *Flow) Want(delta int) {
	w := f.w
	w.mu.Lock()
	defer w.mu.Unlock()
	old := f.want
	f.want = max(0, f.want+delta)
	w.queued += f.want - old
	if f.want > 0 && !f.inRing {
		// A newcomer joins the round robin last in the current round (a
		// small one is served earlier anyway, as the shortest).
		w.ring = append(w.ring, nil)
		copy(w.ring[w.next+1:], w.ring[w.next:])
		w.ring[w.next] = f
		w.next++
		f.inRing = true
	}
	w.dispatch()
}

// Ready is signalled when slots were granted; Take them.
func (f *Flow) Ready() <-chan struct{} { return f.ready }

// Take returns the number of slots granted since the last Take. Each is
// one request the flow may send now.
func (f *Flow) Take() int {
	f.w.mu.Lock()
	defer f.w.mu.Unlock()
	g := f.granted
	f.granted = 0
	return g
}

// Done releases the slot of a request answered after rtt (from its send);
// rtt <= 0 means the round trip is unknown (a re-sent request's reply may
// answer an earlier send) and only counts the reply.
func (f *Flow) Done(rtt time.Duration) {
	w := f.w
	w.mu.Lock()
	defer w.mu.Unlock()
	f.releaseLocked(1)
	w.observeLocked(rtt)
	w.dispatch()
}

// Lost releases the slots of n requests given up on (no reply within the
// timeout) and halves the limit: the server is not keeping up.
func (f *Flow) Lost(n int) {
	if n <= 0 {
		return
	}
	w := f.w
	w.mu.Lock()
	defer w.mu.Unlock()
	f.releaseLocked(n)
	w.lost += uint64(n)
	w.limit = max(1, w.limit/2)
	w.thresh = w.limit
	w.lastCut = w.opts.Now()
	w.cuts++
	w.dispatch()
}

// Release gives back n slots without saying anything about the server
// (slots granted for requests that needed no send after all).
func (f *Flow) Release(n int) {
	if n <= 0 {
		return
	}
	w := f.w
	w.mu.Lock()
	defer w.mu.Unlock()
	f.releaseLocked(n)
	w.dispatch()
}

// Close ends the flow: it wants nothing more and every slot it holds is
// free again.
func (f *Flow) Close() {
	w := f.w
	w.mu.Lock()
	defer w.mu.Unlock()
	w.queued -= f.want
	f.want = 0
	f.granted = 0
	f.releaseLocked(f.held)
	w.removeLocked(f)
	w.dispatch()
}

func (f *Flow) releaseLocked(n int) {
	n = min(n, f.held)
	f.held -= n
	f.w.inFlight -= n
}

func (w *Window) removeLocked(f *Flow) {
	if !f.inRing {
		return
	}
	for i, g := range w.ring {
		if g == f {
			w.ring = append(w.ring[:i], w.ring[i+1:]...)
			if i < w.next {
				w.next--
			}
			break
		}
	}
	if w.next >= len(w.ring) {
		w.next = 0
	}
	f.inRing = false
}

// RoundRobinEvery: one slot in this many goes round robin; the others to
// the operation with the fewest requests left.
const RoundRobinEvery = 4

// dispatch grants free slots one at a time.
func (w *Window) dispatch() {
	for w.inFlight < int(w.limit) && len(w.ring) > 0 {
		if w.next >= len(w.ring) {
			w.next = 0
		}
		i := w.next
		w.grants++
		if w.grants%RoundRobinEvery != 0 {
			i = w.shortestLocked()
		}
		f := w.ring[i]
		f.want--
		w.queued--
		f.granted++
		f.held++
		w.inFlight++
		select {
		case f.ready <- struct{}{}:
		default:
		}
		switch {
		case f.want == 0:
			w.removeLocked(f) // keeps next on the flow after f
		case i == w.next:
			w.next++
		}
	}
}

// shortestLocked is the index of the flow with the fewest requests left,
// the oldest among equals.
func (w *Window) shortestLocked() int {
	best := 0
	for i, f := range w.ring {
		b := w.ring[best]
		if f.want < b.want || (f.want == b.want && f.seq < b.seq) {
			best = i
		}
	}
	return best
}

// observeLocked is AIMD on one round trip.
func (w *Window) observeLocked(rtt time.Duration) {
	now := w.opts.Now()
	w.replies++
	w.rateCount++
	if d := now.Sub(w.rateStart); d >= rateEvery {
		w.rate = float64(w.rateCount) / d.Seconds()
		w.rateStart, w.rateCount = now, 0
	}
	if rtt <= 0 {
		return
	}
	if w.base == 0 || rtt < w.base {
		w.base = rtt
	}
	queued := rtt - w.base
	switch {
	case queued > w.opts.TargetDelay:
		// Once per round trip: the replies of one round all carry the
		// same news.
		if now.Sub(w.lastCut) >= rtt {
			w.limit = max(1, w.limit*0.75)
			w.thresh = w.limit
			w.lastCut = now
			w.cuts++
		}
	case queued <= w.opts.TargetDelay/2:
		if w.limit < w.thresh {
			w.limit++ // slow start: doubles per round trip
		} else {
			w.limit += 1 / w.limit
		}
		w.limit = min(w.limit, float64(w.opts.Max))
	}
}

// WindowStats are a window's state and counters.
type WindowStats struct {
	// Limit is the current window size; InFlight the requests sent and
	// unanswered; Queued the requests waiting for a slot.
	Limit, InFlight, Queued int
	// Max is the configured bound.
	Max int
	// Base is the lowest round trip seen.
	Base time.Duration
	// ReplyRate is replies per second over the last period of a second
	// or more (falling towards 0 when replies stop).
	ReplyRate float64
	// Replies, Cuts and Lost count answered requests, decreases of the
	// limit and requests given up on.
	Replies, Cuts, Lost uint64
}

// Stats returns the window's state.
func (w *Window) Stats() WindowStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	rate := w.rate
	if d := w.opts.Now().Sub(w.rateStart); d >= 2*rateEvery {
		// Replies slowed down or stopped since the last full period.
		rate = float64(w.rateCount) / d.Seconds()
	}
	return WindowStats{Limit: int(w.limit), InFlight: w.inFlight, Queued: w.queued, Max: w.opts.Max, Base: w.base,
		ReplyRate: rate, Replies: w.replies, Cuts: w.cuts, Lost: w.lost}
}
