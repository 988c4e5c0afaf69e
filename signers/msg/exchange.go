package msg

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/release-engineering/pubtools-sign-go/broker"
)

// TimeoutError is the MessagingTimeout of the Python tool: send cycles ran
// out with requests still unanswered.
type TimeoutError struct {
	Received, Total int
}

// Error is the Python tool's message, counts included.
func (e *TimeoutError) Error() string {
	return fmt.Sprintf("MessagingTimeout : Out of time when receiving messages (%d/%d)", e.Received, e.Total)
}

// Observer is told what requests do, for metrics. All methods must be
// cheap and safe for concurrent use.
type Observer interface {
	// Replied is one request's time from (last) send to reply.
	Replied(time.Duration)
	// Resent counts requests sent again.
	Resent(int)
	// TimedOut counts requests still unanswered when the exchange gave up.
	TimedOut(int)
}

type noObserver struct{}

func (noObserver) Replied(time.Duration) {}
func (noObserver) Resent(int)            {}
func (noObserver) TimedOut(int)          {}

// timing is the receive/re-send policy of one exchange.
type timing struct {
	// timeout is the inactivity timeout of one receive round; every
	// expected reply restarts it.
	timeout time.Duration
	// rounds is how many timed-out rounds end a send cycle (retries).
	rounds int
	// cycles is how many send cycles run (send_retries).
	cycles int
}

// outgoing is an operation's requests by index. Build encodes request i
// when it is sent (again): a 10,000-reference operation keeps ids, not
// 10,000 bodies and header maps, in memory.
type outgoing interface {
	Len() int
	// IDs are the request ids, by index.
	IDs() []string
	Build(i int) *broker.Request
}

// exchange sends out's requests and hands each first reply to onReply with
// the index of its request. The reply receiver is attached before the
// first send. A cycle sends every unanswered request, with its original
// request_id so a late reply still counts, then receives until all are
// answered or `rounds` inactivity timeouts pass. A reconnection re-sends
// the unanswered at once: replies published while the connection was down
// are gone from a pub/sub topic. This is the second re-sending layer: the
// bus's Publish already resumes its own call after a reconnection (from the
// first request the broker had not confirmed), and the re-send here waits
// for that call to end, then sends every request still unanswered once
// more; a reply that comes twice counts once (answered[i]).
func exchange(ctx context.Context, bus broker.Bus, pending *broker.PendingRequests, listenAddr string, reusable bool,
	out outgoing, t timing, obs Observer, log *slog.Logger, onReply func(int, *broker.Reply)) error {
	n := out.Len()
	ids := out.IDs()
	release, err := bus.Listen(ctx, listenAddr, reusable)
	if err != nil {
		return fmt.Errorf("listen for replies on %s: %w", listenAddr, err)
	}
	defer release()
	// Room for one reply per id: the router never blocks on us.
	ch := make(chan *broker.Reply, n)
	pending.Add(ch, ids...)
	defer pending.Remove(ids...)

	s := &session{bus: bus, out: out, answered: make([]bool, n), ch: ch, t: t, obs: obs, log: log, onReply: onReply}
	for cycle := 1; cycle <= t.cycles; cycle++ {
		done, err := s.cycle(ctx, cycle)
		if err != nil || done {
			return err
		}
		log.Warn("signing requests unanswered after receive retries", "cycle", cycle, "of", t.cycles,
			"unanswered", s.unanswered(), "total", n)
	}
	obs.TimedOut(s.unanswered())
	return &TimeoutError{Received: n - s.unanswered(), Total: n}
}

// session is the state of one exchange across its cycles.
type session struct {
	bus      broker.Bus
	out      outgoing
	answered []bool
	ch       chan *broker.Reply
	t        timing
	obs      Observer
	log      *slog.Logger
	onReply  func(int, *broker.Reply)
	received int
	sentAt   time.Time // start of the latest send
}

func (s *session) unanswered() int { return len(s.answered) - s.received }

// unansweredRequests is what the next send carries, built as it is sent.
func (s *session) unansweredRequests() broker.Requests {
	v := &pick{out: s.out, index: make([]int, 0, s.unanswered())}
	for i, done := range s.answered {
		if !done {
			v.index = append(v.index, i)
		}
	}
	return v
}

// pick is a subset of an operation's requests.
type pick struct {
	out   outgoing
	index []int
}

func (p *pick) Len() int                 { return len(p.index) }
func (p *pick) At(i int) *broker.Request { return p.out.Build(p.index[i]) }

// cycle sends the unanswered requests and receives; it reports whether all
// are answered.
func (s *session) cycle(ctx context.Context, n int) (bool, error) {
	sendCtx, cancelSend := context.WithCancel(ctx)
	defer cancelSend()
	sendDone := make(chan error, 1)
	sending := false
	resend := false
	startSend := func() {
		sending = true
		batch := s.unansweredRequests()
		if n > 1 || resend {
			s.log.Info("re-sending unanswered signing requests", "count", batch.Len(), "cycle", n)
			s.obs.Resent(batch.Len())
		}
		s.sentAt = time.Now()
		go func() { sendDone <- s.bus.Publish(sendCtx, batch) }()
	}
	// Whatever happens, the publisher goroutine ends before we return.
	defer func() {
		if sending {
			cancelSend()
			<-sendDone
		}
	}()
	startSend()

	timer := time.NewTimer(s.t.timeout)
	defer timer.Stop()
	reconnected := s.bus.Reconnected()
	rounds := 0
	for s.unanswered() > 0 {
		select {
		case r := <-s.ch:
			if !s.answered[r.Index] {
				s.answered[r.Index] = true
				s.received++
				s.obs.Replied(time.Since(s.sentAt))
				s.onReply(r.Index, r)
			}
			resetTimer(timer, s.t.timeout)
		case err := <-sendDone:
			sending = false
			if err != nil {
				return false, fmt.Errorf("send signing requests: %w", err)
			}
			if resend {
				resend = false
				startSend()
			}
		case <-reconnected:
			reconnected = s.bus.Reconnected()
			s.log.Warn("messaging broker reconnected; re-sending unanswered requests", "unanswered", s.unanswered())
			if sending {
				resend = true
			} else {
				startSend()
			}
			resetTimer(timer, s.t.timeout)
		case <-timer.C:
			rounds++
			s.log.Info("no reply within timeout", "round", rounds, "of", s.t.rounds, "unanswered", s.unanswered())
			if rounds >= s.t.rounds {
				return false, nil
			}
			timer.Reset(s.t.timeout)
		case <-ctx.Done():
			return false, fmt.Errorf("waiting for signing replies: %w", ctx.Err())
		}
	}
	return true, nil
}

func resetTimer(t *time.Timer, d time.Duration) {
	t.Stop()
	select {
	case <-t.C:
	default:
	}
	t.Reset(d)
}
