package amqp

import (
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recordingConn is a net.Conn that records each Write it gets.
type recordingConn struct {
	net.Conn // nil: only Write, SetWriteDeadline and Close are used
	mu       sync.Mutex
	writes   []string
	fail     error
	closed   bool
}

func (r *recordingConn) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return 0, r.fail
	}
	r.writes = append(r.writes, string(p))
	return len(p), nil
}

func (r *recordingConn) SetWriteDeadline(time.Time) error { return nil }

func (r *recordingConn) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	return nil
}

func (r *recordingConn) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.writes...)
}

func TestCoalescingWritesAtOnceBeforeItStartsAndAfterAQuietPeriod(t *testing.T) {
	rec := &recordingConn{}
	c := newCoalescingConn(rec, &wireCounts{})
	_, _ = c.Write([]byte("AMQP header"))
	_, _ = c.Write([]byte("open"))
	assert.Equal(t, []string{"AMQP header", "open"}, rec.got(), "the handshake is not delayed")

	c.start(time.Millisecond)
	time.Sleep(2 * time.Millisecond) // quiet for longer than the period
	_, _ = c.Write([]byte("attach"))
	assert.Equal(t, []string{"AMQP header", "open", "attach"}, rec.got(), "a frame after a quiet period goes out at once")
}

func TestCoalescingGathersTheFramesOfABusyPeriodIntoOneWrite(t *testing.T) {
	rec := &recordingConn{}
	c := newCoalescingConn(rec, &wireCounts{})
	c.start(time.Hour) // nothing but Close ends this period
	for _, f := range []string{"t1", "t2", "t3", "t4"} {
		n, err := c.Write([]byte(f))
		require.NoError(t, err)
		assert.Equal(t, 2, n)
	}
	assert.Equal(t, []string{"t1"}, rec.got(), "only the first frame of the period went out")
	require.NoError(t, c.Close())
	assert.Equal(t, []string{"t1", "t2t3t4"}, rec.got(), "Close writes the rest in one write")
	assert.True(t, rec.closed)
	_, err := c.Write([]byte("late"))
	assert.ErrorIs(t, err, net.ErrClosed)
}

func TestCoalescedFramesGoOutWhenThePeriodEnds(t *testing.T) {
	rec := &recordingConn{}
	c := newCoalescingConn(rec, &wireCounts{})
	c.start(20 * time.Millisecond)
	_, _ = c.Write([]byte("a"))
	_, _ = c.Write([]byte("b"))
	_, _ = c.Write([]byte("c"))
	require.Eventually(t, func() bool { return len(rec.got()) == 2 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, []string{"a", "bc"}, rec.got())
}

func TestCoalescingWritesAFullBufferWithoutWaiting(t *testing.T) {
	rec := &recordingConn{}
	c := newCoalescingConn(rec, &wireCounts{})
	c.start(time.Hour)
	_, _ = c.Write([]byte("first"))
	big := make([]byte, coalesceFlushAt)
	_, _ = c.Write(big)
	got := rec.got()
	require.Len(t, got, 2)
	assert.Len(t, got[1], coalesceFlushAt)
}

func TestACoalescedWriteErrorComesBackOnTheNextWrite(t *testing.T) {
	rec := &recordingConn{}
	c := newCoalescingConn(rec, &wireCounts{})
	c.start(20 * time.Millisecond)
	_, _ = c.Write([]byte("a"))
	broken := errors.New("connection reset")
	rec.mu.Lock()
	rec.fail = broken
	rec.mu.Unlock()
	_, err := c.Write([]byte("b")) // buffered: the failure is the timer's
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := c.Write([]byte("c"))
		return errors.Is(err, broken)
	}, 5*time.Second, time.Millisecond)
}
