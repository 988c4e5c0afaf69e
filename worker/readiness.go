package worker

import "sync"

// Readiness is the set of checks behind /readyz. It grows while serve
// starts: /readyz answers from the first moment and names what is still
// missing (NATS, JetStream, a broker, the worker itself).
type Readiness struct {
	mu     sync.Mutex
	checks []ReadinessCheck
}

// Add appends checks.
func (r *Readiness) Add(c ...ReadinessCheck) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checks = append(r.checks, c...)
}

// Checks returns the checks added so far.
func (r *Readiness) Checks() []ReadinessCheck {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ReadinessCheck(nil), r.checks...)
}
