package amqp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	goamqp "github.com/Azure/go-amqp"
)

// listener is one reply address with its users and current receiver.
// Client.mu guards every field but attach.
type listener struct {
	address string
	refs    int
	gen     uint64 // connection generation the receiver belongs to; 0: none
	recv    *goamqp.Receiver
	idle    *time.Timer // detaches after ListenerLinger without users
	// reusable receivers linger after their last user.
	reusable bool
	// attach is held across one attach of this address (a broker round
	// trip), so concurrent users attach it once; Client.mu is not held.
	attach sync.Mutex
}

// Listen implements broker.Bus: the receiver is attached (on the live
// connection) before Listen returns. An address already attached is shared
// at once, whatever attach of another address is waiting on the broker.
func (c *Client) Listen(ctx context.Context, address string, reusable bool) (func(), error) {
	if err := c.refused.check(address); err != nil {
		return nil, err
	}
	c.mu.Lock()
	l := c.listeners[address]
	if l == nil {
		l = &listener{address: address}
		c.listeners[address] = l
	}
	if l.idle != nil {
		l.idle.Stop()
		l.idle = nil
	}
	// Counted as a user before attaching, so detachIdle leaves it alone.
	l.refs++
	l.reusable = reusable
	c.mu.Unlock()
	var once sync.Once
	release := func() { once.Do(func() { c.release(l) }) }
	if err := c.ensureAttached(ctx, l); err != nil {
		release()
		return nil, err
	}
	return release, nil
}

// ensureAttached attaches l to the live connection unless it already is,
// waiting for a reconnection if the connection drops meanwhile. Each
// attach is bounded (attachTimeout); an address the broker refuses fails
// (attachFailed).
func (c *Client) ensureAttached(ctx context.Context, l *listener) error {
	for tries := 0; ; {
		st, err := c.waitConnected(ctx)
		if err != nil {
			return err
		}
		actx, cancel := context.WithTimeout(ctx, c.attachTimeout())
		err = c.attachOnce(actx, st, l)
		cancel()
		if err == nil {
			return nil
		}
		if errors.Is(err, errClosed) {
			return err
		}
		tries++
		if retry, err := c.attachFailed(ctx, st, l.address, tries, err); !retry {
			return err
		}
		select {
		case <-st.conn.Done():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// attachOnce attaches l on st unless it already is (by a concurrent user or
// the supervisor).
func (c *Client) attachOnce(ctx context.Context, st *connState, l *listener) error {
	l.attach.Lock()
	defer l.attach.Unlock()
	c.mu.Lock()
	done := l.gen == st.gen
	c.mu.Unlock()
	if done {
		return nil
	}
	return c.attach(ctx, st, l)
}

// release drops a user of l. The receiver stays attached for
// ListenerLinger so the next operation on the same address reuses it:
// attaching costs a round trip and, on RabbitMQ, a new temporary queue.
func (c *Client) release(l *listener) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l.refs--
	if l.refs > 0 || c.closed {
		return
	}
	// A listener that never got a receiver (its attach failed) has nothing
	// to reuse: dropped at once, the supervisor does not attach it again.
	if !l.reusable || l.recv == nil {
		c.detachIdleLocked(l)
		return
	}
	l.idle = time.AfterFunc(c.opts.ListenerLinger, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.detachIdleLocked(l)
	})
}

// detachIdleLocked detaches l if it is still unused. c.mu must be held;
// the detach itself runs in the background.
func (c *Client) detachIdleLocked(l *listener) {
	if l.refs > 0 || c.listeners[l.address] != l {
		return
	}
	delete(c.listeners, l.address)
	recv := l.recv
	l.recv, l.gen, l.idle = nil, 0, nil
	if recv == nil {
		return
	}
	// RabbitMQ 3.10's AMQP 1.0 plugin never answers a receiver's detach, so
	// waiting would stall: detach in the background, bounded, and cut short
	// by Close (which closes the connection under it anyway).
	c.goLocked(func() { c.closeReceiver(recv) })
}

// closeReceiver detaches recv, waiting at most detachTimeout for the
// broker, and counts it as detached.
func (c *Client) closeReceiver(recv *goamqp.Receiver) {
	ctx, cancel := context.WithTimeout(c.ctx, detachTimeout)
	defer cancel()
	_ = recv.Close(ctx)
	c.detached.Add(1)
}

// detachTimeout bounds waiting for a broker to confirm a receiver detach.
const detachTimeout = 2 * time.Second

// attachAll attaches every listener to a new connection, each bounded by
// ConnectTimeout; one that fails is attached again by its next Listen call.
func (c *Client) attachAll(st *connState) {
	c.mu.Lock()
	ls := make([]*listener, 0, len(c.listeners))
	for _, l := range c.listeners {
		ls = append(ls, l)
	}
	c.mu.Unlock()
	for _, l := range ls {
		ctx, cancel := context.WithTimeout(st.ctx, c.opts.ConnectTimeout)
		if err := c.attachOnce(ctx, st, l); err != nil {
			c.log.Error("re-attach reply receiver failed", "address", l.address, "error", err)
		}
		cancel()
	}
}

// attach attaches a receiver with manual credit on st (a broker round
// trip, without c.mu) and starts its loop. The caller holds l.attach.
func (c *Client) attach(ctx context.Context, st *connState, l *listener) error {
	recv, err := st.recvSess.NewReceiver(ctx, l.address, &goamqp.ReceiverOptions{Credit: -1})
	if err != nil {
		return fmt.Errorf("attach reply receiver to %s on %s: %w", l.address, st.url, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.listeners[l.address] != l || st.ctx.Err() != nil {
		// Detached while attaching (its last user left), or the connection
		// is already given up: nobody would read this receiver.
		c.goLocked(func() { c.closeReceiver(recv) })
		if st.ctx.Err() != nil {
			return fmt.Errorf("attach reply receiver to %s on %s: connection given up", l.address, st.url)
		}
		return nil
	}
	l.recv, l.gen = recv, st.gen
	if !c.goLocked(func() { c.receiveLoop(st, l.address, recv) }) {
		return errClosed
	}
	return nil
}

// receiveLoop hands every delivery to the sink. Credit is issued in windows
// of CreditWindow, again only once the window is used up: a receiver that
// tops credit up early stops getting deliveries from RabbitMQ once its queue
// has a backlog.
func (c *Client) receiveLoop(st *connState, address string, recv *goamqp.Receiver) {
	window := uint32(c.opts.CreditWindow)
	if err := recv.IssueCredit(window); err != nil {
		c.log.Error("issue credit failed", "address", address, "error", err)
		return
	}
	var used uint32
	for {
		msg, err := recv.Receive(st.ctx, nil)
		if err != nil {
			var linkErr *goamqp.LinkError
			if st.ctx.Err() == nil && !(errors.As(err, &linkErr) && linkErr.RemoteErr == nil) {
				c.log.Debug("reply receiver stopped", "address", address, "error", err)
			}
			if st.ctx.Err() == nil && lost(st, err) {
				c.abandon(st, err) // replies would stop for good otherwise
			}
			return
		}
		if err := recv.AcceptMessage(st.ctx, msg); err != nil {
			c.log.Debug("accept reply failed", "address", address, "error", err)
		}
		c.opts.Sink.Route(address, messageBody(msg), msg.ApplicationProperties)
		used++
		if used == window {
			used = 0
			if err := recv.IssueCredit(window); err != nil {
				c.log.Error("issue credit failed", "address", address, "error", err)
				return
			}
		}
	}
}

// messageBody returns the reply text whether the server sent it as a
// string value (as proton does), a binary value or data sections.
func messageBody(msg *goamqp.Message) []byte {
	switch v := msg.Value.(type) {
	case string:
		return []byte(v)
	case []byte:
		return v
	}
	if len(msg.Data) == 1 {
		return msg.Data[0]
	}
	var out []byte
	for _, d := range msg.Data {
		out = append(out, d...)
	}
	return out
}
