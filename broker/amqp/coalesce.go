package amqp

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// coalescingConn gathers the frames go-amqp writes one by one into fewer
// writes: a frame written within period of the last write to the socket
// waits, with every other frame of that period, and they go out together
// when the period is over. A frame written after a quiet period goes out
// at once, so an idle connection adds no latency; a busy one makes one
// write per period instead of one per frame.
//
// It exists for the broker: a daemon sends its requests one task at a
// time, and RabbitMQ pays a scheduler wake-up for every write it reads at
// partial load (twice the CPU per message of a saturated broker, for the
// same work). Batched, the broker wakes once per batch.
//
// A write error is returned by the next Write (or Close): go-amqp then
// ends the connection, as it would have on the failed write itself; the
// frames lost are those the socket would have lost.
type coalescingConn struct {
	net.Conn
	counts *wireCounts

	mu        sync.Mutex
	period    time.Duration // 0 until start: the handshake is not delayed
	buf       []byte
	lastWrite time.Time
	timer     *time.Timer // a pending flush
	err       error
}

// coalesceFlushAt is the buffered size that goes out without waiting.
const coalesceFlushAt = 64 << 10

// wireCounts are a client's frames (Writes from go-amqp) and the writes to
// the socket they took, over all its connections.
type wireCounts struct {
	frames, writes atomic.Uint64
}

func newCoalescingConn(conn net.Conn, counts *wireCounts) *coalescingConn {
	return &coalescingConn{Conn: conn, counts: counts}
}

// start begins coalescing (once the AMQP connection is open).
func (c *coalescingConn) start(period time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.period = period
}

// Write implements net.Conn.
func (c *coalescingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	c.buf = append(c.buf, p...)
	c.counts.frames.Add(1)
	quiet := time.Since(c.lastWrite) >= c.period
	switch {
	case len(c.buf) >= coalesceFlushAt || (c.timer == nil && quiet):
		c.flushLocked()
	case c.timer == nil:
		var t *time.Timer
		t = time.AfterFunc(c.period-time.Since(c.lastWrite), func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.timer == t { // not already flushed by a Write
				c.flushLocked()
			}
		})
		c.timer = t
	}
	if c.err != nil {
		return 0, c.err
	}
	return len(p), nil
}

// flushLocked writes what is buffered; c.mu is held.
func (c *coalescingConn) flushLocked() {
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	if len(c.buf) == 0 || c.err != nil {
		return
	}
	_, c.err = c.Conn.Write(c.buf)
	c.counts.writes.Add(1)
	c.buf = c.buf[:0]
	c.lastWrite = time.Now()
}

// Close writes what is buffered (the close frame, usually), bounded by
// closeFlushTimeout, then closes the connection.
func (c *coalescingConn) Close() error {
	c.mu.Lock()
	if len(c.buf) > 0 && c.err == nil {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(closeFlushTimeout))
		c.flushLocked()
	}
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	c.err = net.ErrClosed
	c.mu.Unlock()
	return c.Conn.Close()
}

// closeFlushTimeout bounds the last write of a closing connection.
const closeFlushTimeout = time.Second
