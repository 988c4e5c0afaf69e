package broker

import "sync"

// PendingRequests maps every request_id awaiting a reply to the channel of
// the operation that sent it. One map serves all operations of a process,
// so a reply is routed to its operation whichever receiver got it.
type PendingRequests struct {
	mu      sync.Mutex
	waiting map[string]waiter
}

// waiter is where one pending request's reply goes.
type waiter struct {
	ch    chan<- *Reply
	index int // the request's position in its Add call
}

// NewPendingRequests returns an empty map.
func NewPendingRequests() *PendingRequests {
	return &PendingRequests{waiting: make(map[string]waiter)}
}

// Add registers ids; the reply to ids[i] goes to ch with Index i. ch must
// have room for one reply per id: Resolve never blocks the receiver that
// calls it.
func (p *PendingRequests) Add(ch chan<- *Reply, ids ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, id := range ids {
		p.waiting[id] = waiter{ch: ch, index: i}
	}
}

// Remove forgets ids; a later reply for them is unknown.
func (p *PendingRequests) Remove(ids ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		delete(p.waiting, id)
	}
}

// Resolve hands r to the operation waiting for it and forgets its id, so a
// duplicate reply is unknown. It reports whether anyone was waiting.
func (p *PendingRequests) Resolve(r *Reply) bool {
	p.mu.Lock()
	w, ok := p.waiting[r.RequestID]
	if ok {
		delete(p.waiting, r.RequestID)
	}
	p.mu.Unlock()
	if !ok {
		return false
	}
	r.Index = w.index
	select {
	case w.ch <- r:
		return true
	default:
		// Cannot happen while callers size ch as Add asks; never block a
		// receiver shared by every operation.
		return false
	}
}

// Len is the number of requests awaiting a reply.
func (p *PendingRequests) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.waiting)
}
