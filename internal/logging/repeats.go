package logging

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// LimitRepeats wraps h so that at most limit records with the same level
// and message are written per interval; further repeats are dropped, and
// the first record of that message in a later interval carries
// "repeats_dropped" with their count. A task that makes the same warning
// thousands of times (a flapping broker, a stream of bad tasks) cannot
// fill the disk. limit <= 0 returns h unchanged.
func LimitRepeats(h slog.Handler, limit int, interval time.Duration) slog.Handler {
	if limit <= 0 || interval <= 0 {
		return h
	}
	return &repeatLimiter{next: h, state: &repeatState{limit: limit, interval: interval, now: time.Now,
		windows: make(map[repeatKey]*repeatWindow)}}
}

// maxTrackedMessages bounds the state: messages are mostly constants, but
// one built from input must not grow the map without end.
const maxTrackedMessages = 10_000

type repeatKey struct {
	level slog.Level
	msg   string
}

type repeatWindow struct {
	start   time.Time
	written int
	dropped int
}

// repeatState is shared by a handler and its WithAttrs/WithGroup copies:
// a repeat is a repeat whatever logger it came through.
type repeatState struct {
	mu       sync.Mutex
	limit    int
	interval time.Duration
	now      func() time.Time
	windows  map[repeatKey]*repeatWindow
}

// admit says whether a record may be written and how many of its repeats
// were dropped before it.
func (s *repeatState) admit(level slog.Level, msg string) (ok bool, dropped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	k := repeatKey{level, msg}
	w := s.windows[k]
	if w == nil {
		if len(s.windows) >= maxTrackedMessages {
			for old, ow := range s.windows {
				if now.Sub(ow.start) >= s.interval {
					delete(s.windows, old)
				}
			}
			if len(s.windows) >= maxTrackedMessages {
				clear(s.windows)
			}
		}
		w = &repeatWindow{start: now}
		s.windows[k] = w
	}
	if now.Sub(w.start) >= s.interval {
		dropped = w.dropped
		*w = repeatWindow{start: now}
	}
	if w.written >= s.limit {
		w.dropped++
		return false, 0
	}
	w.written++
	return true, dropped
}

type repeatLimiter struct {
	next  slog.Handler
	state *repeatState
}

func (h *repeatLimiter) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *repeatLimiter) Handle(ctx context.Context, r slog.Record) error {
	ok, dropped := h.state.admit(r.Level, r.Message)
	if !ok {
		return nil
	}
	if dropped > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("repeats_dropped", dropped))
	}
	return h.next.Handle(ctx, r)
}

func (h *repeatLimiter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &repeatLimiter{next: h.next.WithAttrs(attrs), state: h.state}
}

func (h *repeatLimiter) WithGroup(name string) slog.Handler {
	return &repeatLimiter{next: h.next.WithGroup(name), state: h.state}
}
