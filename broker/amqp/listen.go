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
type listener struct {
	address string
	refs    int
	gen     uint64 // connection generation the receiver belongs to; 0: none
	recv    *goamqp.Receiver
	idle    *time.Timer // detaches after ListenerLinger without users
	// reusable receivers linger after their last user.
	reusable bool
}

// Listen implements broker.Bus: the receiver is attached (on the live
// connection) before Listen returns.
func (c *Client) Listen(ctx context.Context, address string, reusable bool) (func(), error) {
	for {
		st, err := c.waitConnected(ctx)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		if c.state != st { // reconnected meanwhile
			c.mu.Unlock()
			continue
		}
		l := c.listeners[address]
		if l == nil {
			l = &listener{address: address}
		}
		if l.idle != nil {
			l.idle.Stop()
			l.idle = nil
		}
		if l.gen != st.gen {
			if err := c.attachLocked(ctx, st, l); err != nil {
				c.mu.Unlock()
				if lost(st, err) && ctx.Err() == nil {
					select {
					case <-st.conn.Done():
						continue
					case <-ctx.Done():
						return nil, ctx.Err()
					}
				}
				return nil, err
			}
		}
		l.refs++
		l.reusable = reusable
		c.listeners[address] = l
		c.mu.Unlock()
		var once sync.Once
		return func() { once.Do(func() { c.release(l) }) }, nil
	}
}

// release drops a user of l. The receiver stays attached for
// ListenerLinger so the next operation on the same address reuses it:
// attaching costs a round trip and, on RabbitMQ, a new temporary queue.
func (c *Client) release(l *listener) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l.refs--
	if l.refs > 0 {
		return
	}
	if !l.reusable {
		go c.detachIdle(l)
		return
	}
	l.idle = time.AfterFunc(c.opts.ListenerLinger, func() { c.detachIdle(l) })
}

// detachIdle detaches l if it is still unused.
func (c *Client) detachIdle(l *listener) {
	c.mu.Lock()
	if l.refs > 0 || c.listeners[l.address] != l {
		c.mu.Unlock()
		return
	}
	delete(c.listeners, l.address)
	recv := l.recv
	l.recv, l.gen, l.idle = nil, 0, nil
	c.mu.Unlock()
	if recv == nil {
		return
	}
	// RabbitMQ 3.10's AMQP 1.0 plugin never answers a receiver's detach, so
	// waiting would stall: detach in the background, bounded, and cut short
	// by Close.
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(c.ctx, detachTimeout)
		defer cancel()
		_ = recv.Close(ctx)
	}()
}

// detachTimeout bounds waiting for a broker to confirm a receiver detach.
const detachTimeout = 2 * time.Second

// attachAllLocked attaches every listener to a new connection; one that
// fails is attached again by its next Listen call.
func (c *Client) attachAllLocked(st *connState) {
	for _, l := range c.listeners {
		ctx, cancel := context.WithTimeout(st.ctx, c.opts.ConnectTimeout)
		if err := c.attachLocked(ctx, st, l); err != nil {
			c.log.Error("re-attach reply receiver failed", "address", l.address, "error", err)
		}
		cancel()
	}
}

// attachLocked attaches a receiver with manual credit and starts its loop.
func (c *Client) attachLocked(ctx context.Context, st *connState, l *listener) error {
	recv, err := st.recvSess.NewReceiver(ctx, l.address, &goamqp.ReceiverOptions{Credit: -1})
	if err != nil {
		return fmt.Errorf("attach reply receiver to %s on %s: %w", l.address, st.url, err)
	}
	l.recv, l.gen = recv, st.gen
	c.wg.Add(1)
	go c.receiveLoop(st, l.address, recv)
	return nil
}

// receiveLoop hands every delivery to the sink. Credit is issued in windows
// of CreditWindow, again only once the window is used up: a receiver that
// tops credit up early stops getting deliveries from RabbitMQ once its queue
// has a backlog.
func (c *Client) receiveLoop(st *connState, address string, recv *goamqp.Receiver) {
	defer c.wg.Done()
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
