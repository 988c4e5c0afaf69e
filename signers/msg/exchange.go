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
	// rounds is how many timed-out rounds in a row (no expected reply
	// between them) end a send cycle (retries).
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

// exchange sends out's requests as the window grants slots and hands each
// first reply to onReply with the index of its request. The reply receiver
// is attached before the first send.
//
// A request waits for a slot of the process's window before it is sent,
// and only a sent request waits for a reply: the inactivity timeout runs
// only while requests are in flight, restarted by every expected reply, so
// it measures the server, never our own queue. When `rounds` timeouts pass
// in a row the send cycle ends: the requests in flight are given up on
// (their slots freed, the window halved) and, while cycles remain, sent
// again first, with their original request_id so a late reply still
// counts. A reconnection re-sends the requests in flight at once: replies
// published while the connection was down are gone from a pub/sub topic.
// This is the second re-sending layer: the bus's Publish already resumes
// its own call after a reconnection (from the first request the broker had
// not confirmed); the re-send here waits for that call to end, then sends
// every request still in flight once more; a reply that comes twice counts
// once.
func exchange(ctx context.Context, bus broker.Bus, pending *broker.PendingRequests, win *broker.Window, listenAddr string, reusable bool,
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
	flow := win.Open()
	defer flow.Close()

	s := &session{bus: bus, out: out, flow: flow, ch: ch, t: t, obs: obs, log: log, onReply: onReply,
		state: make([]reqState, n), sentAt: make([]time.Duration, n), everSent: make([]bool, n), resent: make([]bool, n), todo: make([]int, n), start: time.Now()}
	for i := range s.todo {
		s.todo[i] = i
	}
	return s.run(ctx)
}

// reqState is where one request is.
type reqState uint8

const (
	// queued: waiting for a window slot (never sent, or given up on).
	queued reqState = iota
	// held: has a slot, waits for the publisher to be free.
	held
	// sent: handed to the publisher; awaiting its reply.
	sent
	answered
)

// session is the state of one exchange. Only run's goroutine touches it;
// the publisher goroutine only calls Bus.Publish.
type session struct {
	bus     broker.Bus
	out     outgoing
	flow    *broker.Flow
	ch      chan *broker.Reply
	t       timing
	obs     Observer
	log     *slog.Logger
	onReply func(int, *broker.Reply)

	state []reqState
	// sentAt is each request's latest send, from start (8 bytes a
	// request: 20,000 references stay small).
	start  time.Time
	sentAt []time.Duration
	// everSent marks requests sent at least once (a second send is a
	// re-send); resent those sent more than once.
	everSent, resent []bool
	// todo are the queued requests in sending order, from head.
	todo []int
	head int
	// batch are the held requests, sent as soon as the publisher is free.
	batch    []int
	inFlight int // requests in state sent
	received int
}

// publication is one Publish call's outcome.
type publication struct{ err error }

// publishJob is one Publish call: its own context, so a call that hangs
// can be abandoned without ending the exchange.
type publishJob struct {
	ctx  context.Context
	reqs broker.Requests
}

func (s *session) run(ctx context.Context) error {
	n := len(s.state)
	toPublisher := make(chan publishJob)
	published := make(chan publication, 1)
	publishing, abandoned := false, false
	cancelPublish := context.CancelFunc(func() {})
	go func() {
		for j := range toPublisher {
			published <- publication{err: s.bus.Publish(j.ctx, j.reqs)}
		}
	}()
	// The publisher goroutine ends before we return.
	defer func() {
		close(toPublisher)
		if publishing {
			cancelPublish()
			<-published
		}
		cancelPublish()
	}()
	s.flow.Want(n)

	// The inactivity timer runs while requests are in flight or being
	// handed to the broker (a Publish that hangs must time out too), never
	// while requests only wait for a window slot.
	timer := time.NewTimer(s.t.timeout)
	timer.Stop()
	timerOn := false
	arm := func(restart bool) {
		switch {
		case s.inFlight == 0 && !publishing:
			timer.Stop()
			timerOn = false
		case restart || !timerOn:
			resetTimer(timer, s.t.timeout)
			timerOn = true
		}
	}
	// flush hands the held requests to the publisher.
	flush := func() {
		if publishing || len(s.batch) == 0 {
			return
		}
		now := time.Since(s.start)
		p := &pick{out: s.out, index: make([]int, 0, len(s.batch))}
		resent := 0
		for _, i := range s.batch {
			if s.state[i] != held {
				continue
			}
			s.state[i], s.sentAt[i] = sent, now
			if s.everSent[i] {
				resent++
				s.resent[i] = true
			}
			s.everSent[i] = true
			p.index = append(p.index, i)
		}
		s.batch = s.batch[:0]
		if p.Len() == 0 {
			return
		}
		if resent > 0 {
			s.obs.Resent(resent)
		}
		s.inFlight += p.Len()
		publishing = true
		var pctx context.Context
		pctx, cancelPublish = context.WithCancel(ctx)
		toPublisher <- publishJob{ctx: pctx, reqs: p}
		// Requests are in flight (again): the inactivity timeout starts
		// now, not while they waited for a slot.
		arm(false)
	}
	reconnected := s.bus.Reconnected()
	rounds, cycle := 0, 1
	for s.received < n {
		select {
		case <-s.flow.Ready():
			for g := s.flow.Take(); g > 0; g-- {
				i, ok := s.nextQueued()
				if !ok {
					s.flow.Release(g)
					break
				}
				s.state[i] = held
				s.batch = append(s.batch, i)
			}
			flush()
		case r := <-s.ch:
			s.reply(r)
			rounds = 0
			arm(true)
		case p := <-published:
			publishing = false
			cancelPublish()
			switch {
			case p.err != nil && abandoned:
				s.log.Debug("abandoned send ended", "error", p.err)
			case p.err != nil && ctx.Err() != nil:
				return fmt.Errorf("waiting for signing replies: %w", ctx.Err())
			case p.err != nil:
				return fmt.Errorf("send signing requests: %w", p.err)
			}
			abandoned = false
			flush()
			arm(false)
		case <-reconnected:
			reconnected = s.bus.Reconnected()
			s.log.Warn("messaging broker reconnected; re-sending requests in flight", "in_flight", s.inFlight, "unanswered", n-s.received)
			for i, st := range s.state {
				if st == sent {
					s.state[i] = held // keeps its slot
					s.inFlight--
					s.batch = append(s.batch, i)
				}
			}
			flush()
			arm(true)
		case <-timer.C:
			timerOn = false
			rounds++
			s.log.Info("no reply within timeout", "round", rounds, "of", s.t.rounds, "in_flight", s.inFlight, "unanswered", n-s.received)
			if rounds < s.t.rounds {
				arm(true)
				continue
			}
			rounds = 0
			s.log.Warn("signing requests unanswered after receive retries", "cycle", cycle, "of", s.t.cycles,
				"in_flight", s.inFlight, "unanswered", n-s.received, "total", n)
			if cycle >= s.t.cycles {
				s.obs.TimedOut(n - s.received)
				return &TimeoutError{Received: s.received, Total: n}
			}
			cycle++
			if publishing {
				// A send that has not finished in all this time is stuck:
				// give it up with the requests it carries.
				abandoned = true
				cancelPublish()
			}
			lost := s.giveUp()
			s.log.Info("re-sending unanswered signing requests", "count", lost, "cycle", cycle, "not_sent_yet", len(s.todo)-s.head-lost)
			arm(false)
		case <-ctx.Done():
			return fmt.Errorf("waiting for signing replies: %w", ctx.Err())
		}
	}
	return nil
}

// nextQueued pops the next queued request.
func (s *session) nextQueued() (int, bool) {
	for s.head < len(s.todo) {
		i := s.todo[s.head]
		s.head++
		if s.state[i] == queued {
			return i, true
		}
	}
	return 0, false
}

// reply records the first reply to a request.
func (s *session) reply(r *broker.Reply) {
	i := r.Index
	switch s.state[i] {
	case answered:
		return
	case sent:
		rtt := time.Since(s.start) - s.sentAt[i]
		s.inFlight--
		if s.resent[i] {
			// Karn's rule: the reply may answer an earlier send, so its
			// round trip says nothing (a reply held up by a broker restart
			// and arriving just after the re-send would look instant and
			// make every later round trip look queued).
			s.flow.Done(0)
		} else {
			s.flow.Done(rtt)
		}
		s.obs.Replied(rtt)
	case held:
		// A late reply (to an earlier send) while it waits for the
		// publisher: it needs no send now.
		s.flow.Release(1)
	case queued:
		s.flow.Want(-1)
	}
	s.state[i] = answered
	s.received++
	s.onReply(i, r)
}

// giveUp ends a send cycle: the requests in flight are given up on and
// queued again ahead of those never sent. It returns how many.
func (s *session) giveUp() int {
	var lost []int
	for i, st := range s.state {
		if st == sent {
			s.state[i] = queued
			lost = append(lost, i)
		}
	}
	s.inFlight = 0
	s.flow.Lost(len(lost))
	rest := s.todo[s.head:]
	s.todo = append(lost, rest...)
	s.head = 0
	s.flow.Want(len(lost))
	return len(lost)
}

// pick is a subset of an operation's requests.
type pick struct {
	out   outgoing
	index []int
}

func (p *pick) Len() int                 { return len(p.index) }
func (p *pick) At(i int) *broker.Request { return p.out.Build(p.index[i]) }

func resetTimer(t *time.Timer, d time.Duration) {
	t.Stop()
	select {
	case <-t.C:
	default:
	}
	t.Reset(d)
}
