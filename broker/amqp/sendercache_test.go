package amqp

import (
	"context"
	"errors"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
	"github.com/stretchr/testify/require"
)

// A broker that never answers one address's attach holds up only that
// address's callers: another address attaches, and a waiter on the held
// one gives up with its own context.
func TestAHeldAttachHoldsUpNoOtherAddress(t *testing.T) {
	c := newSenderCache(DefaultMaxIdleSenders)
	held := make(chan struct{})
	defer close(held)
	attach := func(ctx context.Context, address string) (*goamqp.Sender, error) {
		if address == "/topic/held" {
			select {
			case <-held:
			case <-ctx.Done():
			}
			return nil, errors.New("held")
		}
		return &goamqp.Sender{}, nil
	}
	go func() { _, _ = c.acquire(context.Background(), attach, "/topic/held", "amqp://b") }()
	require.Eventually(t, func() bool { return c.len() == 1 }, 10*time.Second, time.Millisecond)

	done := make(chan error, 1)
	go func() {
		_, err := c.acquire(context.Background(), attach, "/topic/other", "amqp://b")
		done <- err
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("another address waited for the held attach")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.acquire(ctx, attach, "/topic/held", "amqp://b")
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

// Concurrent first uses of one address share one attach; a failed attach
// is forgotten, so the next use tries again.
func TestConcurrentFirstUsesShareOneAttach(t *testing.T) {
	c := newSenderCache(DefaultMaxIdleSenders)
	attaches := make(chan struct{}, 10)
	gate := make(chan struct{})
	fail := true
	attach := func(ctx context.Context, address string) (*goamqp.Sender, error) {
		attaches <- struct{}{}
		<-gate
		if fail {
			return nil, errors.New("refused")
		}
		return &goamqp.Sender{}, nil
	}
	errs := make(chan error, 3)
	go func() { _, err := c.acquire(context.Background(), attach, "/topic/a", "amqp://b"); errs <- err }()
	<-attaches
	for range 2 {
		go func() { _, err := c.acquire(context.Background(), attach, "/topic/a", "amqp://b"); errs <- err }()
	}
	require.Eventually(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.byAddr["/topic/a"].Value.(*cachedSender).users == 3
	}, 10*time.Second, time.Millisecond)
	close(gate)
	for range 3 {
		require.Error(t, <-errs)
	}
	require.Len(t, attaches, 0, "one attach for three callers")
	require.Zero(t, c.len(), "the failed attach is forgotten")

	fail = false
	_, err := c.acquire(context.Background(), attach, "/topic/a", "amqp://b")
	require.NoError(t, err)
	require.Equal(t, 1, c.len())
}
