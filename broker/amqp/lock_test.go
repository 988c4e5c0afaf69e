package amqp_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/broker/amqp"
	"github.com/release-engineering/pubtools-sign-go/internal/testenv"
)

// stallProxy forwards TCP connections to a broker and can hold every byte
// in either direction: the broker then looks alive but never answers.
type stallProxy struct {
	ln      net.Listener
	target  string
	mu      sync.Mutex
	resume  chan struct{} // nil while forwarding; closed by Release
	fromApp atomic.Int64  // bytes the client wrote
	wrote   chan struct{} // signalled on every client write
	conns   []net.Conn    // both ends of every proxied connection
}

func newStallProxy(t *testing.T, target string) *stallProxy {
	t.Helper()
	ln := testenv.Listen(t)
	p := &stallProxy{ln: ln, target: target, wrote: make(chan struct{}, 1)}
	t.Cleanup(func() { p.Release(); ln.Close() })
	go p.serve()
	return p
}

func (p *stallProxy) URL() string { return "amqp://" + p.ln.Addr().String() }

func (p *stallProxy) serve() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		go p.pipe(out, in, true)
		go p.pipe(in, out, false)
	}
}

// pipe copies src to dst, waiting before each write while the proxy holds.
func (p *stallProxy) pipe(dst, src net.Conn, fromApp bool) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if fromApp {
				p.fromApp.Add(int64(n))
				select {
				case p.wrote <- struct{}{}:
				default:
				}
			}
			p.mu.Lock()
			resume := p.resume
			p.mu.Unlock()
			if resume != nil {
				<-resume
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				return
			}
			return
		}
	}
}

// Hold stops forwarding (in both directions) until Release.
func (p *stallProxy) Hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.resume == nil {
		p.resume = make(chan struct{})
	}
}

// Reset cuts every connection made so far, as a broker restart would.
func (p *stallProxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// Release forwards again, held bytes first.
func (p *stallProxy) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.resume != nil {
		close(p.resume)
		p.resume = nil
	}
}

// waitClientWrite waits until the client wrote past mark (bounded).
func (p *stallProxy) waitClientWrite(t *testing.T, mark int64) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for p.fromApp.Load() <= mark {
		select {
		case <-p.wrote:
		case <-deadline:
			t.Fatal("the client sent nothing to the broker")
		}
	}
}

// within fails the test unless f returns within d: not a speed assertion
// but a deadlock bound (f would wait for the held broker forever).
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s waited on a receiver attach held up at the broker", what)
	}
}

// proxiedListener dials the broker through a stallProxy and attaches a
// reusable receiver to a fresh topic address, whose messages sink counts.
func proxiedListener(t *testing.T) (*amqp.Client, *stallProxy, *collector, string) {
	t.Helper()
	b := testenv.RabbitMQ(t, "main")
	proxy := newStallProxy(t, strings.TrimPrefix(b.AMQPURL, "amqp://"))
	sink := newCollector(10)
	c := dial(t, b, sink, proxy.URL())
	shared := "/topic/pubtools.proxied." + uuid.NewString()
	release, err := c.Listen(context.Background(), shared, true)
	require.NoError(t, err)
	t.Cleanup(release)
	return c, proxy, sink, shared
}

// No client-wide lock is held across a broker round trip: while one
// Listen's attach gets no answer, readiness, Reconnected and a Listen on an
// address already attached all answer; the held attach completes once the
// broker answers again.
func TestABrokerRoundTripHoldsUpNoOtherCaller(t *testing.T) {
	c, proxy, sink, shared := proxiedListener(t)
	ctx := context.Background()

	proxy.Hold()
	mark := proxy.fromApp.Load()
	held := "/topic/pubtools.lock.held." + uuid.NewString()
	heldDone := make(chan error, 1)
	go func() {
		r, err := c.Listen(ctx, held, false)
		if err == nil {
			defer r()
		}
		heldDone <- err
	}()
	proxy.waitClientWrite(t, mark) // the attach is on the wire, unanswered

	within(t, 5*time.Second, "Connected (readiness)", func() { require.True(t, c.Connected()) })
	within(t, 5*time.Second, "Reconnected", func() { _ = c.Reconnected() })
	within(t, 5*time.Second, "Listen on an attached address", func() {
		r, err := c.Listen(ctx, shared, true)
		require.NoError(t, err)
		r()
	})
	select {
	case err := <-heldDone:
		t.Fatalf("the held attach returned (%v) while the broker was held", err)
	default:
	}

	proxy.Release()
	select {
	case err := <-heldDone:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("the held attach never completed after the broker answered")
	}
	require.NoError(t, c.Publish(ctx, requests(shared, 2)))
	sink.waitFor(t, 2, 10*time.Second)
}

// While the reconnection's dial gets no answer from the broker, readiness
// says not ready and a new Listen gives up with its own context, both at
// once; once the broker answers, receivers are attached again before
// Reconnected is announced.
func TestAHeldReconnectHoldsUpNoOtherCaller(t *testing.T) {
	c, proxy, sink, shared := proxiedListener(t)
	ctx := context.Background()
	reconnected := c.Reconnected()

	proxy.Hold()
	proxy.Reset()
	require.Eventually(t, func() bool { return !c.Connected() }, 10*time.Second, 10*time.Millisecond,
		"the client never noticed the connection was cut")
	within(t, 5*time.Second, "Reconnected", func() { require.Equal(t, reconnected, c.Reconnected()) })
	within(t, 5*time.Second, "Listen with a short context", func() {
		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		_, err := c.Listen(short, "/topic/pubtools.reconnect.new."+uuid.NewString(), false)
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})

	proxy.Release()
	select {
	case <-reconnected:
	case <-time.After(30 * time.Second):
		t.Fatal("no reconnection after the broker answered again")
	}
	require.True(t, c.Connected())
	require.NoError(t, c.Publish(ctx, requests(shared, 2)))
	sink.waitFor(t, 2, 10*time.Second)
}

// Close waits for every goroutine the client started; receivers detached
// by their last user at the same moment must not add to it meanwhile.
func TestCloseRacesReleases(t *testing.T) {
	b := testenv.RabbitMQ(t, "main")
	c, err := amqp.Dial(context.Background(), amqp.Options{URLs: []string{b.AMQPURL}, Sink: newCollector(1), Log: quiet(),
		ListenerLinger: time.Millisecond})
	require.NoError(t, err)
	var releases []func()
	for i := range 20 {
		r, err := c.Listen(context.Background(), fmt.Sprintf("/topic/pubtools.close.%s.%d", uuid.NewString(), i), i%2 == 0)
		require.NoError(t, err)
		releases = append(releases, r)
	}
	var wg sync.WaitGroup
	for _, r := range releases {
		wg.Add(1)
		go func() { defer wg.Done(); r() }()
	}
	require.NoError(t, c.Close())
	wg.Wait()
}

// A Listen after Close ends at once instead of waiting for a connection
// that will never come back.
func TestListenAfterCloseEnds(t *testing.T) {
	b := testenv.RabbitMQ(t, "main")
	c, err := amqp.Dial(context.Background(), amqp.Options{URLs: []string{b.AMQPURL}, Sink: newCollector(1), Log: quiet()})
	require.NoError(t, err)
	require.NoError(t, c.Close())
	within(t, 5*time.Second, "Listen after Close", func() {
		_, err := c.Listen(context.Background(), "/topic/pubtools.closed."+uuid.NewString(), false)
		require.ErrorContains(t, err, "closed")
	})
}
