package emulator

import (
	"math/rand/v2"
	"sync"
	"time"
)

// Faults make the emulator misbehave the ways a real signing server or
// network can. The zero value answers every request once, at once.
type Faults struct {
	// Delay holds every reply back this long.
	Delay time.Duration
	// DropFirst leaves the first N requests unanswered.
	DropFirst int
	// DropRate leaves this fraction of requests unanswered.
	DropRate float64
	// Duplicate sends every reply twice.
	Duplicate bool
	// Stray sends this many replies with unknown request ids per request.
	Stray int
	// ErrorRate answers this fraction with an error reply (no signature).
	ErrorRate float64
	// MalformedRate answers this fraction with a body that is not JSON.
	MalformedRate float64
	// Seed makes the random choices repeatable (0: random).
	Seed uint64
}

// outcome is what the emulator does with one request.
type outcome int

const (
	answer outcome = iota
	drop
	answerError
	answerMalformed
)

// dice decides outcomes; safe for concurrent use.
type dice struct {
	mu   sync.Mutex
	f    Faults
	rng  *rand.Rand
	seen int
}

func newDice(f Faults) *dice {
	seed := f.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &dice{f: f, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

func (d *dice) roll() outcome {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seen++
	switch {
	case d.seen <= d.f.DropFirst:
		return drop
	case d.f.DropRate > 0 && d.rng.Float64() < d.f.DropRate:
		return drop
	case d.f.ErrorRate > 0 && d.rng.Float64() < d.f.ErrorRate:
		return answerError
	case d.f.MalformedRate > 0 && d.rng.Float64() < d.f.MalformedRate:
		return answerMalformed
	}
	return answer
}
