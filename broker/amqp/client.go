// Package amqp implements broker.Bus over AMQP 1.0 with github.com/Azure/go-amqp.
//
// One Client holds one connection (to the first reachable broker of a
// failover list) shared by every operation of the process: a session for
// senders, one sender link per target address, and a session for reply
// receivers. A supervisor goroutine owns reconnection: when the connection
// drops it dials the next broker, attaches every reply receiver again and
// then announces the reconnection so operations can re-send what is unanswered.
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
	// ConnectTimeout bounds one broker dial (TLS and SASL included).
	ConnectTimeout time.Duration
	// SendWindow bounds unsettled deliveries per Publish call.
	SendWindow int
	// CreditWindow is the link credit a reply receiver issues at a time.
	CreditWindow int
	// ListenerLinger keeps an unused reply receiver attached this long
	// (default 30s), so operations on one address share it.
	ListenerLinger time.Duration
	// ContainerID names this process to the broker.
	ContainerID string
	// Sink gets the replies.
	Sink Sink
	// Log receives connection events.
	Log *slog.Logger
}

// Client is a shared AMQP 1.0 connection with failover. It implements
// broker.Bus.
type Client struct {
	opts Options
	log  *slog.Logger

	ctx    context.Context // lifetime of the client
	cancel context.CancelFunc
	wg     sync.WaitGroup // supervisor and receive loops

	mu          sync.Mutex
	state       *connState    // nil while reconnecting
	connected   chan struct{} // closed while state != nil
	reconnected chan struct{} // closed at the next reconnection
	listeners   map[string]*listener
	reconnects  atomic.Uint64
}

var _ broker.Bus = (*Client)(nil)

// Dial connects to the first broker of opts.URLs that answers and starts
// the supervisor. The error names every broker tried.
func Dial(ctx context.Context, opts Options) (*Client, error) {
	if len(opts.URLs) == 0 {
		return nil, errors.New("amqp: no broker URLs")
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	if opts.SendWindow <= 0 {
		opts.SendWindow = 256
	}
	if opts.CreditWindow <= 0 {
		opts.CreditWindow = 500
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.ListenerLinger <= 0 {
		opts.ListenerLinger = 30 * time.Second
	}
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

// Close detaches everything and closes the connection.
func (c *Client) Close() error {
	c.cancel()
	c.wg.Wait()
	return nil
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

	sendersMu sync.Mutex
	senders   map[string]*goamqp.Sender
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
		sendSess: sendSess, recvSess: recvSess, senders: make(map[string]*goamqp.Sender),
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
		c.mu.Lock()
		c.attachAllLocked(next)
		c.setStateLocked(next)
		close(c.reconnected)
		c.reconnected = make(chan struct{})
		c.mu.Unlock()
		c.reconnects.Add(1)
	}
}

// reconnect dials with back-off until it succeeds or the client closes.
func (c *Client) reconnect(prev *connState) (*connState, bool) {
	backoff := 100 * time.Millisecond
	start := prev.index + 1
	for {
		st, err := c.connect(c.ctx, start, prev.gen+1)
		if err == nil {
			return st, true
		}
		if c.ctx.Err() != nil {
			return nil, false
		}
		c.log.Warn("reconnect failed, retrying", "error", err, "in", backoff)
		select {
		case <-c.ctx.Done():
			return nil, false
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

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
			return nil, errors.New("amqp client closed")
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
