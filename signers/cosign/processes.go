package cosign

import (
	"context"
	"slices"
	"sync"
)

// processBound shares a replica's cosign processes
// (worker.max_cosign_processes) among the operations that want them. A
// slot that frees up goes to the waiting operation running the fewest
// processes (the oldest waiter among equals), so a one-image task gets
// the next free slot instead of queueing behind every image of a large
// task, and two large tasks share the slots evenly.
type processBound struct {
	mu      sync.Mutex
	max     int
	running int
	// waiters in arrival order. Whenever one waits, every slot is taken.
	waiters []*processWaiter
}

// opShare is what one operation runs: guarded by its bound's mu.
type opShare struct{ running int }

type processWaiter struct {
	op    *opShare
	ready chan struct{} // closed when the slot is granted
}

// ProcessStats is a moment of the cosign process bound.
type ProcessStats struct {
	// Running cosign processes, Waiting tries queued for one, Max the
	// bound (0: none).
	Running, Waiting, Max int
}

func newProcessBound(max int) *processBound { return &processBound{max: max} }

// acquire waits for a slot for op; it gives up when ctx ends.
func (b *processBound) acquire(ctx context.Context, op *opShare) error {
	b.mu.Lock()
	if b.running < b.max && len(b.waiters) == 0 {
		b.grantLocked(op)
		b.mu.Unlock()
		return nil
	}
	w := &processWaiter{op: op, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		defer b.mu.Unlock()
		select {
		case <-w.ready: // granted meanwhile: pass it on
			b.releaseLocked(op)
		default:
			b.waiters = slices.DeleteFunc(b.waiters, func(x *processWaiter) bool { return x == w })
		}
		return ctx.Err()
	}
}

// release frees op's slot for the waiter that runs the fewest.
func (b *processBound) release(op *opShare) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.releaseLocked(op)
}

func (b *processBound) grantLocked(op *opShare) {
	b.running++
	op.running++
}

func (b *processBound) releaseLocked(op *opShare) {
	b.running--
	op.running--
	if len(b.waiters) == 0 {
		return
	}
	next := 0
	for i, w := range b.waiters {
		if w.op.running < b.waiters[next].op.running {
			next = i
		}
	}
	w := b.waiters[next]
	b.waiters = slices.Delete(b.waiters, next, next+1)
	b.grantLocked(w.op)
	close(w.ready)
}

func (b *processBound) stats() ProcessStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return ProcessStats{Running: b.running, Waiting: len(b.waiters), Max: b.max}
}
