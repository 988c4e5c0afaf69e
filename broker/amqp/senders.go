package amqp

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"time"

	goamqp "github.com/Azure/go-amqp"
)

// DefaultMaxIdleSenders bounds the sender links a connection keeps
// attached while no Publish uses them. Every attached link holds state in
// the broker and in go-amqp: a client that publishes to a new address per
// task, as a signing server replying to per-task reply addresses does,
// would otherwise hold one link per task for as long as it runs.
const DefaultMaxIdleSenders = 256

// senderCache holds one connection's sender links, one per target address
// (RabbitMQ refuses the anonymous relay link), least recently used last.
// A link in use by a Publish call is never closed under it; once more
// than max links are idle the least recently used ones are detached, in
// the background, by goroutines the cache owns (wait ends them).
type senderCache struct {
	mu      sync.Mutex
	max     int
	lru     *list.List // of *cachedSender, most recently used first
	byAddr  map[string]*list.Element
	closing sync.WaitGroup
}

type cachedSender struct {
	address string
	sender  *goamqp.Sender
	users   int
	ready   chan struct{} // closed once the attach ended
	err     error         // the attach's error, read after ready
}

func newSenderCache(max int) *senderCache {
	return &senderCache{max: max, lru: list.New(), byAddr: make(map[string]*list.Element)}
}

// attachFunc attaches a sender link to an address (a broker round trip).
type attachFunc func(ctx context.Context, address string) (*goamqp.Sender, error)

// sessionAttach attaches links on sess.
func sessionAttach(sess *goamqp.Session) attachFunc {
	return func(ctx context.Context, address string) (*goamqp.Sender, error) {
		return sess.NewSender(ctx, address, nil)
	}
}

// acquire returns the link for address, attaching it on first use, and
// counts the caller as a user until release. The attach runs outside the
// cache's lock, so a broker slow to answer one attach holds up only the
// callers of that address; concurrent first uses of it share one attach.
func (c *senderCache) acquire(ctx context.Context, attach attachFunc, address, url string) (*goamqp.Sender, error) {
	c.mu.Lock()
	if e, ok := c.byAddr[address]; ok {
		cs := e.Value.(*cachedSender)
		cs.users++
		c.lru.MoveToFront(e)
		c.mu.Unlock()
		return c.await(ctx, cs, url)
	}
	cs := &cachedSender{address: address, users: 1, ready: make(chan struct{})}
	c.byAddr[address] = c.lru.PushFront(cs)
	c.mu.Unlock()

	s, err := attach(ctx, address)
	c.mu.Lock()
	defer c.mu.Unlock()
	cs.sender, cs.err = s, err
	close(cs.ready)
	if err != nil {
		c.forgetLocked(cs)
		return nil, fmt.Errorf("attach sender to %s on %s: %w", address, url, err)
	}
	c.evictLocked()
	return s, nil
}

// await waits for another caller's attach of cs's address.
func (c *senderCache) await(ctx context.Context, cs *cachedSender, url string) (*goamqp.Sender, error) {
	select {
	case <-cs.ready:
	case <-ctx.Done():
		c.mu.Lock()
		cs.users--
		c.mu.Unlock()
		return nil, fmt.Errorf("attach sender to %s on %s: %w", cs.address, url, ctx.Err())
	}
	if cs.err != nil {
		return nil, fmt.Errorf("attach sender to %s on %s: %w", cs.address, url, cs.err)
	}
	return cs.sender, nil
}

// forgetLocked removes cs if it is still the address's entry.
func (c *senderCache) forgetLocked(cs *cachedSender) {
	if e, ok := c.byAddr[cs.address]; ok && e.Value.(*cachedSender) == cs {
		c.lru.Remove(e)
		delete(c.byAddr, cs.address)
	}
}

// release ends one use of address's link (a link dropped meanwhile is
// not counted any more).
func (c *senderCache) release(address string, s *goamqp.Sender) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byAddr[address]; ok {
		if cs := e.Value.(*cachedSender); cs.sender == s {
			cs.users--
		}
	}
	c.evictLocked()
}

// drop forgets address's link (a failed send left it unusable); the next
// use attaches a new one.
func (c *senderCache) drop(address string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byAddr[address]; ok {
		c.lru.Remove(e)
		delete(c.byAddr, address)
	}
}

// len is how many links are attached.
func (c *senderCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// evictLocked detaches idle links, least recently used first, while more
// than max are attached. Links in use stay: the cache may exceed max
// while that many addresses are being published to at once.
func (c *senderCache) evictLocked() {
	for e := c.lru.Back(); e != nil && c.lru.Len() > c.max; {
		prev := e.Prev()
		if cs := e.Value.(*cachedSender); cs.users == 0 && cs.sender != nil {
			c.lru.Remove(e)
			delete(c.byAddr, cs.address)
			c.closing.Add(1)
			go func() {
				defer c.closing.Done()
				closeSender(cs.sender)
			}()
		}
		e = prev
	}
}

// wait returns once every background detach has ended (each is bounded).
func (c *senderCache) wait() { c.closing.Wait() }

// closeSender detaches a link in the background, bounded: a broker that
// does not answer the detach must not keep a goroutine forever.
func closeSender(s *goamqp.Sender) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = s.Close(ctx)
}
