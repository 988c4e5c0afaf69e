// Package emulator plays the signing server on a real AMQP 1.0 broker for
// development, tests and benchmarks: it takes requests from the request
// address, signs the claim/data with a real OpenPGP key and replies as the
// signing server does ({"msg": {<message_id_key>: id, "errors": [...],
// "signed_claim" | "signed_data" | "signed_payload": ...}}), echoing the
// request's fields beside the signature.
// Faults (delay, drop, duplicate, stray, error and malformed replies) are
// knobs.
//
// Stability: v0. The package is a documented Go API, but its exported
// identifiers may change between minor versions; each change is listed in
// CHANGELOG.md.
package emulator

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/release-engineering/pubtools-sign-go/broker"
	"github.com/release-engineering/pubtools-sign-go/broker/amqp"
	"github.com/release-engineering/pubtools-sign-go/config"
	"github.com/release-engineering/pubtools-sign-go/internal/jsonobj"
)

// Options configure a Server.
type Options struct {
	URLs []string
	TLS  *tls.Config
	// RequestAddress is where requests arrive.
	RequestAddress string
	// ReplyAddress is where replies go, a str.format template over the
	// request's string fields and headers (e.g. "{requested_by}").
	ReplyAddress config.Template
	// MessageIDKey is the reply's id field (default request_id).
	MessageIDKey string
	// TaskIDAttribute is the request field holding the task id (default
	// pub_task_id; batch requests use pipeline_run_id). The reply address
	// sees it as {task_id}.
	TaskIDAttribute string
	Faults          Faults
	// Username is the reply wrapper's "username" (default DefaultUsername).
	Username string
	// TopicExchange sends replies to /topic/ addresses through one link to
	// this RabbitMQ exchange (amqp.Options.TopicExchange): a reply address
	// per task then costs the broker no link attach. Empty: one link per
	// reply address, as a server that knows nothing of the broker does.
	TopicExchange string
	// Capacity bounds the serving rate (zero: as fast as it can).
	Capacity Capacity
	// Key signs; nil generates one.
	Key *Key
	Log *slog.Logger
}

// Stats count what the emulator did.
type Stats struct {
	Requests, Replies, Dropped, Errors, Malformed, Strays uint64
}

// Server is a running emulator.
type Server struct {
	opts   Options
	key    *Key
	client *amqp.Client
	dice   *dice
	log    *slog.Logger

	out    chan *broker.Request
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	requests, replies, dropped, errs, malformed, strays atomic.Uint64

	gate     *gate // nil: no capacity limit
	arrivals *arrivals
}

// Start connects, attaches to the request address and serves until Close.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.MessageIDKey == "" {
		opts.MessageIDKey = "request_id"
	}
	if opts.TaskIDAttribute == "" {
		opts.TaskIDAttribute = "pub_task_id"
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if _, err := opts.ReplyAddress.Fields(); err != nil {
		return nil, fmt.Errorf("reply address: %w", err)
	}
	key := opts.Key
	if key == nil {
		var err error
		if key, err = NewKey(); err != nil {
			return nil, err
		}
	}
	s := &Server{opts: opts, key: key, dice: newDice(opts.Faults), log: opts.Log, out: make(chan *broker.Request, 4096)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.arrivals = newArrivals(opts.Capacity.StaleAfter)
	if opts.Capacity.Limited() {
		s.gate = newGate(opts.Capacity)
	}
	client, err := amqp.Dial(ctx, amqp.Options{URLs: opts.URLs, TLS: opts.TLS, Sink: s, Log: opts.Log, CreditWindow: opts.Capacity.creditWindow(), TopicExchange: opts.TopicExchange, ContainerID: "pubtools-sign-emulator-" + uuid.NewString()[:8]})
	if err != nil {
		s.cancel()
		return nil, err
	}
	s.client = client
	if _, err := client.Listen(ctx, opts.RequestAddress, true); err != nil {
		client.Close()
		s.cancel()
		return nil, fmt.Errorf("listen for requests on %s: %w", opts.RequestAddress, err)
	}
	for i := 0; i < 4; i++ {
		s.wg.Add(1)
		go s.publishLoop()
	}
	s.log.Info("signing-server emulator serving", "requests", opts.RequestAddress, "replies", string(opts.ReplyAddress), "key_id", key.KeyID())
	return s, nil
}

// Key is the signing key.
func (s *Server) Key() *Key { return s.key }

// Close stops serving.
func (s *Server) Close() {
	s.cancel()
	if s.gate != nil {
		s.gate.close() // before the client: its receive loop may wait on the gate
	}
	s.wg.Wait()
	s.client.Close()
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{Requests: s.requests.Load(), Replies: s.replies.Load(), Dropped: s.dropped.Load(),
		Errors: s.errs.Load(), Malformed: s.malformed.Load(), Strays: s.strays.Load()}
}

// Route implements amqp.Sink: one request arrived.
func (s *Server) Route(_ string, body []byte, props map[string]any) {
	s.admit(body, func() { s.serveRequest(body, props) })
}

// serveRequest answers one request.
func (s *Server) serveRequest(body []byte, props map[string]any) {
	s.requests.Add(1)
	replies, err := s.handle(body, props)
	if err != nil {
		s.log.Warn("cannot answer request", "error", err)
		return
	}
	if s.opts.Faults.Delay > 0 {
		s.wg.Add(1)
		time.AfterFunc(s.opts.Faults.Delay, func() {
			defer s.wg.Done()
			s.enqueue(replies)
		})
		return
	}
	s.enqueue(replies)
}

func (s *Server) enqueue(replies []*broker.Request) {
	for _, r := range replies {
		select {
		case s.out <- r:
		case <-s.ctx.Done():
			return
		}
	}
}

// publishLoop sends queued replies in pipelined batches.
func (s *Server) publishLoop() {
	defer s.wg.Done()
	for {
		var batch []*broker.Request
		select {
		case r := <-s.out:
			batch = append(batch, r)
		case <-s.ctx.Done():
			return
		}
	more:
		for len(batch) < 256 {
			select {
			case r := <-s.out:
				batch = append(batch, r)
			default:
				break more
			}
		}
		if err := s.client.Publish(s.ctx, broker.RequestList(batch)); err != nil && s.ctx.Err() == nil {
			s.log.Warn("publish replies failed", "error", err, "count", len(batch))
		}
	}
}

// handle builds the replies (possibly none) for one request.
func (s *Server) handle(body []byte, props map[string]any) ([]*broker.Request, error) {
	received := time.Now()
	var req map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("request is not a JSON object: %w", err)
	}
	fields := map[string]string{}
	for k, v := range props {
		if str, ok := v.(string); ok {
			fields[k] = str
		}
	}
	order := jsonobj.Keys(body)
	for k, raw := range req {
		var str string
		if json.Unmarshal(raw, &str) == nil {
			fields[k] = str
		}
	}
	fields["task_id"] = fields[s.opts.TaskIDAttribute]
	if fields["task_id"] == "" {
		fields["task_id"] = fields["pipeline_run_id"]
	}
	id := fields["request_id"]
	address, err := s.opts.ReplyAddress.Format(fields)
	if err != nil {
		return nil, fmt.Errorf("reply address for request %s: %w", id, err)
	}
	mtype, _ := props["mtype"].(string)
	headers := map[string]any{"mtype": mtype, "source": "signing-server-emulator"}
	if tp, ok := props["traceparent"].(string); ok {
		headers["traceparent"] = tp // lets tests see the trace crossed AMQP
	}

	var out []*broker.Request
	reply := func(b []byte) {
		out = append(out, &broker.Request{ID: id, Address: address, Body: b, Headers: headers})
	}
	r := s.newReply(req, order, id, address, mtype, received)
	switch s.dice.roll() {
	case drop:
		s.dropped.Add(1)
	case answerMalformed:
		s.malformed.Add(1)
		reply(r.malformed())
	case answerError:
		s.errs.Add(1)
		reply(r.failure([]string{"emulated signing failure for request " + id}))
	default:
		body, signed := r.success()
		if !signed {
			s.errs.Add(1)
		}
		reply(body)
		if s.opts.Faults.Duplicate {
			reply(out[len(out)-1].Body)
		}
	}
	s.replies.Add(uint64(len(out)))
	for i := 0; i < s.opts.Faults.Stray; i++ {
		s.strays.Add(1)
		stray := uuid.NewString()
		out = append(out, &broker.Request{ID: stray, Address: address, Headers: headers, Body: r.stray(stray)})
	}
	return out, nil
}
