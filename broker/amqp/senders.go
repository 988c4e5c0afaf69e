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
// than max links are idle the least recently used ones are detached.
type senderCache struct {
	mu     sync.Mutex
	max    int
	lru    *list.List // of *cachedSender, most recently used first
	byAddr map[string]*list.Element
}

type cachedSender struct {
	address string
	sender  *goamqp.Sender
	users   int
}

func newSenderCache(max int) *senderCache {
	return &senderCache{max: max, lru: list.New(), byAddr: make(map[string]*list.Element)}
}

// acquire returns the link for address, attaching it on first use, and
// counts the caller as a user until release. The attach (a broker round
// trip) runs under the cache's lock: concurrent first uses of one address
// attach it once.
func (c *senderCache) acquire(ctx context.Context, sess *goamqp.Session, address, url string) (*goamqp.Sender, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byAddr[address]; ok {
		cs := e.Value.(*cachedSender)
		cs.users++
		c.lru.MoveToFront(e)
		return cs.sender, nil
	}
	s, err := sess.NewSender(ctx, address, nil)
	if err != nil {
		return nil, fmt.Errorf("attach sender to %s on %s: %w", address, url, err)
	}
	c.byAddr[address] = c.lru.PushFront(&cachedSender{address: address, sender: s, users: 1})
	c.evictLocked()
	return s, nil
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
		if cs := e.Value.(*cachedSender); cs.users == 0 {
			c.lru.Remove(e)
			delete(c.byAddr, cs.address)
			go closeSender(cs.sender)
		}
		e = prev
	}
}

// closeSender detaches a link in the background, bounded: a broker that
// does not answer the detach must not keep a goroutine forever.
func closeSender(s *goamqp.Sender) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = s.Close(ctx)
}
