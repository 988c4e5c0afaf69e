package msg

import (
	"time"

	"github.com/release-engineering/pubtools-sign-go/broker"
	"github.com/release-engineering/pubtools-sign-go/config"
)

// NewWindow is the in-flight window of one signing-server section, shared
// by every operation of the process: at most max_in_flight requests, and
// requests may queue (above the lowest round trip seen) for
// target_queue_delay, but never for more than a tenth of their TTL
// (timeout × retries): at that point a request is still nine tenths of its
// life away from expiring unread in the broker.
func NewWindow(cfg *config.MsgSigner, unit time.Duration) *broker.Window {
	if unit == 0 {
		unit = time.Second
	}
	target := cfg.TargetQueueDelay
	if ttl := time.Duration(cfg.Timeout*cfg.Retries) * unit; target <= 0 || (ttl > 0 && ttl/10 < target) {
		target = ttl / 10
	}
	limit := cfg.MaxInFlight
	if limit <= 0 { // a section built in code, not loaded
		limit = 1000
	}
	return broker.NewWindow(broker.WindowOptions{Max: limit, TargetDelay: target})
}

// Window is the signer's in-flight window (for metrics).
func (s *Signer) Window() *broker.Window { return s.opts.Window }
