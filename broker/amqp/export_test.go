package amqp

import (
	"context"
	"fmt"
	"time"
)

// EndSessionForTest ends the live connection's send or receive session,
// as the broker does on an internal error, leaving the connection up.
func EndSessionForTest(c *Client, which string) error {
	c.mu.Lock()
	st := c.state
	c.mu.Unlock()
	if st == nil {
		return fmt.Errorf("not connected")
	}
	sess := st.sendSess
	if which == "receive" {
		sess = st.recvSess
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = sess.Close(ctx) // RabbitMQ may not answer the end; ended on our side either way
	return nil
}

// AttachedSendersForTest is how many sender links the live connection holds.
func AttachedSendersForTest(c *Client) int {
	c.mu.Lock()
	st := c.state
	c.mu.Unlock()
	if st == nil {
		return 0
	}
	return st.senders.len()
}

// DetachedReceiversForTest counts the receivers whose detach finished: the
// broker confirmed it, or detachTimeout passed after it was sent.
func DetachedReceiversForTest(c *Client) uint64 { return c.detached.Load() }

// WireCountsForTest is how many frames the client wrote and in how many
// socket writes, over all its connections.
func WireCountsForTest(c *Client) (frames, writes uint64) {
	return c.wire.frames.Load(), c.wire.writes.Load()
}
