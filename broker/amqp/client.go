// Package amqp implements broker.Bus over AMQP 1.0 with github.com/Azure/go-amqp.
//
// One Client holds one connection (to the first reachable broker of a
// failover list) shared by every operation of the process: a session for
// senders, one sender link per target address (at most MaxIdleSenders kept
// while unused), and a session for reply
// receivers. A supervisor goroutine owns reconnection: when the connection
// drops it dials the next broker, attaches every reply receiver again and
// then announces the reconnection so operations can re-send what is unanswered.
//
// Stability: v0. The package is a documented Go API, but its exported
// identifiers may change between minor versions; each change is listed in
// CHANGELOG.md.
package amqp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"github.com/release-engineering/pubtools-sign-go/broker"
	"github.com/release-engineering/pubtools-sign-go/internal/retry"
)

// Sink receives every message a reply receiver gets.
type Sink interface {
	Route(address string, body []byte, props map[string]any)
}

// Options configure a Client.
type Options struct {
	// URLs is the failover list of amqp:// and amqps:// brokers.
	URLs []string
	// TLS is used for amqps:// URLs (client certificate, CA).
	TLS *tls.Config
	// ConnectTimeout bounds one broker dial (TLS and SASL included) and
	// one receiver attach.
	ConnectTimeout time.Duration
	// SendWindow bounds unsettled deliveries per Publish call.
	SendWindow int
	// CreditWindow is the link credit a reply receiver issues at a time.
	CreditWindow int
	// WriteCoalesce is how long a frame may wait to go out with the
	// frames that follow it when the connection wrote less than this ago
	// (coalescingConn); 0 writes every frame at once.
	WriteCoalesce time.Duration
	// ListenerLinger keeps an unused reply receiver attached this long
	// (default 30s), so operations on one address share it.
	ListenerLinger time.Duration
	// TopicExchange, when set, sends every request for a /topic/<key>
	// address on one link to /exchange/<TopicExchange> with subject <key>,
	// "to" unchanged (RabbitMQ's AMQP 1.0 addressing routes it exactly as
	// /topic/<key>): a publisher to many topic addresses, as a signing
	// server replying per task, then holds one link instead of one per
	// address. RabbitMQ only; empty: one link per address.
	TopicExchange string
	// MaxIdleSenders bounds the sender links kept attached while unused
	// (default DefaultMaxIdleSenders); the least recently used go first.
	MaxIdleSenders int
	// ContainerID names this process to the broker.
	ContainerID string
	// Sink gets the replies.
	Sink Sink
	// Log receives connection events.
	Log *slog.Logger
}

// Defaults for the Options left zero. The configuration's defaults for
// the msg signer sections (package config) are these same constants.
const (
	DefaultConnectTimeout = 10 * time.Second
	DefaultSendWindow     = 256
	DefaultCreditWindow   = 500
	// DefaultWriteCoalesce batches a busy connection's frames per
	// millisecond: a quarter less CPU per daemon task for the broker and
	// the worker, for at most 1 ms more per frame (bench/, README).
	DefaultWriteCoalesce = time.Millisecond
	// MaxWriteCoalesce bounds write_coalesce: beyond it the wait would
	// show in every round trip.
	MaxWriteCoalesce      = 100 * time.Millisecond
	DefaultListenerLinger = 30 * time.Second
)

func (o *Options) applyDefaults() {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.SendWindow <= 0 {
		o.SendWindow = DefaultSendWindow
	}
	if o.CreditWindow <= 0 {
		o.CreditWindow = DefaultCreditWindow
	}
	if o.ListenerLinger <= 0 {
		o.ListenerLinger = DefaultListenerLinger
	}
	if o.MaxIdleSenders <= 0 {
		o.MaxIdleSenders = DefaultMaxIdleSenders
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
}

// Client is a shared AMQP 1.0 connection with failover. It implements
// broker.Bus.
type Client struct {
	opts Options
	log  *slog.Logger

	ctx    context.Context // lifetime of the client
	cancel context.CancelFunc
	wg     sync.WaitGroup // supervisor and receive loops

	// mu guards the fields below and is never held across network I/O:
	// readiness, Reconnected and Listen on an attached address answer at
	// once while a dial or an attach waits on the broker.
	mu          sync.Mutex
	state       *connState    // nil while reconnecting
	connected   chan struct{} // closed while state != nil
	reconnected chan struct{} // closed at the next reconnection
	listeners   map[string]*listener
	closed      bool // set by Close; no goroutine is added to wg after it
	reconnects  atomic.Uint64
	detached    atomic.Uint64 // receivers detached (or given up on) since Dial
	wire        wireCounts    // frames and socket writes (coalescingConn)
	refused     refusals      // addresses the broker would not attach
}

var _ broker.Bus = (*Client)(nil)

// Dial connects to the first broker of opts.URLs that answers and starts
// the supervisor. The error names every broker tried.
func Dial(ctx context.Context, opts Options) (*Client, error) {
	if len(opts.URLs) == 0 {
		return nil, errors.New("amqp: no broker URLs")
	}
	opts.applyDefaults()
	c := &Client{
		opts:        opts,
		log:         opts.Log,
		connected:   make(chan struct{}),
		reconnected: make(chan struct{}),
		listeners:   make(map[string]*listener),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	st, err := c.connect(ctx, 0, 1)
	if err != nil {
		c.cancel()
		return nil, err
	}
	c.mu.Lock()
	c.setStateLocked(st)
	c.mu.Unlock()
	c.wg.Add(1)
	go c.supervise()
	return c, nil
}

// Close stops lingering receivers, closes the connection and waits for
// the supervisor and every receive loop to end.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	for _, l := range c.listeners {
		if l.idle != nil {
			l.idle.Stop()
			l.idle = nil
		}
	}
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	return nil
}

// goLocked runs f on the client's wait group unless the client is closed;
// c.mu must be held, so no goroutine is added once Close waits.
func (c *Client) goLocked(f func()) bool {
	if c.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}

// Connected reports whether a connection is up now.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state != nil
}

// Reconnects counts reconnections since Dial.
func (c *Client) Reconnects() uint64 { return c.reconnects.Load() }

// Reconnected implements broker.Bus.
func (c *Client) Reconnected() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reconnected
}

// connState is one live connection and what hangs off it.
type connState struct {
	gen      uint64
	url      string
	index    int
	conn     *goamqp.Conn
	sendSess *goamqp.Session
	recvSess *goamqp.Session
	ctx      context.Context // cancelled when this connection is given up
	cancel   context.CancelFunc

	senders *senderCache
}

// connect dials (starting at broker index start) and opens the sessions.
func (c *Client) connect(ctx context.Context, start int, gen uint64) (*connState, error) {
	conn, idx, err := c.dialAny(ctx, start)
	if err != nil {
		return nil, err
	}
	sendSess, err := conn.NewSession(ctx, nil)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("open sender session on %s: %w", Redact(c.opts.URLs[idx]), err)
	}
	// Replies get their own session so a busy sender never holds up a
	// receiver's flow control.
	recvSess, err := conn.NewSession(ctx, nil)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("open receiver session on %s: %w", Redact(c.opts.URLs[idx]), err)
	}
	st := &connState{
		gen: gen, url: Redact(c.opts.URLs[idx]), index: idx, conn: conn,
		sendSess: sendSess, recvSess: recvSess, senders: newSenderCache(c.opts.MaxIdleSenders),
	}
	st.ctx, st.cancel = context.WithCancel(c.ctx)
	c.log.Info("connected to messaging broker", "broker", st.url)
	return st, nil
}

func (c *Client) setStateLocked(st *connState) {
	c.state = st
	close(c.connected)
}

// supervise waits for the connection to drop, then reconnects (failing over
// to the next broker), attaches the receivers again and announces it.
func (c *Client) supervise() {
	defer c.wg.Done()
	for {
		c.mu.Lock()
		st := c.state
		c.mu.Unlock()
		select {
		case <-c.ctx.Done():
			st.cancel()
			_ = st.conn.Close()
			st.senders.wait()
			return
		case <-st.conn.Done():
		}
		c.log.Warn("lost messaging broker connection", "broker", st.url, "error", st.conn.Err())
		st.cancel()
		c.mu.Lock()
		c.state = nil
		c.connected = make(chan struct{})
		c.mu.Unlock()

		next, ok := c.reconnect(st)
		if !ok {
			return
		}
		// Receivers are attached again before the connection is published,
		// without c.mu: Connected says false meanwhile, Reconnected and
		// Listen (which waits for the connection, within its context) are
		// not held up behind a broker round trip per receiver.
		c.attachAll(next)
		c.mu.Lock()
		c.setStateLocked(next)
		close(c.reconnected)
		c.reconnected = make(chan struct{})
		c.mu.Unlock()
		c.reconnects.Add(1)
	}
}

// reconnect dials with jittered, capped back-off until it succeeds or the
// client closes.
func (c *Client) reconnect(prev *connState) (*connState, bool) {
	st, err := retry.Do(c.ctx, reconnectPolicy, func() (*connState, error) {
		return c.connect(c.ctx, prev.index+1, prev.gen+1)
	}, func(err error, next time.Duration) {
		c.log.Warn("reconnect failed, retrying", "error", err, "in", next)
	})
	return st, err == nil
}

// reconnectPolicy: brokers usually come back within seconds; a short cap
// keeps the outage seen by operations close to the broker's own.
var reconnectPolicy = retry.Policy{First: 100 * time.Millisecond, Max: 2 * time.Second}

// errClosed is returned by calls made after Close.
var errClosed = errors.New("amqp client closed")

// waitConnected returns the live connection, waiting while reconnecting.
func (c *Client) waitConnected(ctx context.Context) (*connState, error) {
	for {
		c.mu.Lock()
		st, ready := c.state, c.connected
		c.mu.Unlock()
		if st != nil {
			select {
			case <-st.conn.Done(): // ended; the supervisor has not swapped it yet
				select {
				case <-time.After(10 * time.Millisecond):
					continue
				case <-ctx.Done():
					return nil, fmt.Errorf("waiting for messaging broker connection: %w", ctx.Err())
				case <-c.ctx.Done():
					return nil, errClosed
				}
			default:
				return st, nil
			}
		}
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for messaging broker connection: %w", ctx.Err())
		case <-c.ctx.Done():
			return nil, errClosed
		}
	}
}

// abandon ends st's connection after a session failed under it, so the
// supervisor reconnects: RabbitMQ can end a session (an internal error in
// its AMQP 1.0 plugin) and keep the connection, and nothing else would
// ever notice that no more sends or replies go through it.
func (c *Client) abandon(st *connState, err error) {
	select {
	case <-st.conn.Done():
		return
	default:
	}
	c.log.Warn("AMQP session ended on a live connection; reconnecting", "broker", st.url, "error", err)
	_ = st.conn.Close()
}

// lost reports whether err means st's connection is gone (so retrying on
// the next connection makes sense) rather than a problem with the request.
func lost(st *connState, err error) bool {
	var connErr *goamqp.ConnError
	var sessErr *goamqp.SessionError
	if errors.As(err, &connErr) || errors.As(err, &sessErr) {
		return true
	}
	select {
	case <-st.conn.Done():
		return true
	default:
		return false
	}
}
