package amqp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"github.com/release-engineering/pubtools-sign-go/broker"
)

// AddressRefusedError is a link attach the broker refused, or that broke
// the session it was tried on, while the connection itself stayed up:
// the address is at fault, not the network. It matches
// broker.ErrAddressRefused.
type AddressRefusedError struct {
	Address string
	Err     error
}

func (e *AddressRefusedError) Error() string {
	return fmt.Sprintf("messaging broker refused address %q: %v", e.Address, e.Err)
}

// Unwrap returns the attach error and broker.ErrAddressRefused.
func (e *AddressRefusedError) Unwrap() []error { return []error{broker.ErrAddressRefused, e.Err} }

// Refused addresses are remembered a while, so a task redelivered with the
// same bad address fails at once instead of breaking a session again.
const (
	refusedFor    = 10 * time.Minute
	refusedMemory = 1024
)

// refusals remembers refused addresses; the zero value is ready.
type refusals struct {
	mu sync.Mutex
	m  map[string]refusal
}

type refusal struct {
	err   *AddressRefusedError
	until time.Time
}

// check returns the remembered refusal of address, if any.
func (r *refusals) check(address string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	f, ok := r.m[address]
	if !ok {
		return nil
	}
	if time.Now().After(f.until) {
		delete(r.m, address)
		return nil
	}
	return f.err
}

func (r *refusals) remember(e *AddressRefusedError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[string]refusal)
	}
	now := time.Now()
	if len(r.m) >= refusedMemory { // forget the expired, else the soonest to expire
		var oldest string
		for a, f := range r.m {
			if now.After(f.until) {
				delete(r.m, a)
			} else if oldest == "" || f.until.Before(r.m[oldest].until) {
				oldest = a
			}
		}
		if len(r.m) >= refusedMemory {
			delete(r.m, oldest)
		}
	}
	r.m[e.Address] = refusal{err: e, until: now.Add(refusedFor)}
}

// attachFailed classifies the failed try-th attach of a link to address
// on st. A lost connection is worth a retry on the next one. A link the
// broker refused with an error condition is the address's fault at once,
// and remembered. An attach that ended the shared session without one, or
// got no answer within the attach timeout, breaks what other links use:
// the connection goes to the supervisor to be rebuilt, and the attach is
// tried again there, since the session may have ended for another reason
// (or the broker was only slow); after maxAttachTries the operation fails.
// Refusals are returned as *AddressRefusedError.
func (c *Client) attachFailed(ctx context.Context, st *connState, address string, try int, err error) (retry bool, _ error) {
	if ctx.Err() != nil {
		return false, err
	}
	// The broker's own error condition (RabbitMQ: amqp:invalid-field,
	// amqp:not-found) is a verdict on the address, even when RabbitMQ ends
	// the session along with the refusal.
	var linkErr *goamqp.LinkError
	var amqpErr *goamqp.Error
	refusedOutright := (errors.As(err, &linkErr) && linkErr.RemoteErr != nil) || errors.As(err, &amqpErr)
	// A session that ended under the first attach may have been ended for
	// another link's refusal (RabbitMQ ends the whole session, and every
	// attach in progress on it hears that link's error): only a second
	// try, on a new session, is a verdict on this address.
	var sessErr *goamqp.SessionError
	if refusedOutright && try == 1 && errors.As(err, &sessErr) {
		refusedOutright = false
	}
	select {
	case <-st.conn.Done():
	default:
		if lost(st, err) || !refusedOutright {
			c.abandon(st, err) // the shared session is gone or stuck
		}
	}
	// A connection lost under the attach is worth another try on the
	// next one, but not forever: an address that crashes the session
	// also breaks every connection it is attached on.
	if !refusedOutright && try < maxAttachTries {
		return true, err
	}
	refused := &AddressRefusedError{Address: address, Err: err}
	// Only the broker's verdict is remembered: a slow broker must not get
	// a good shared reply address refused for minutes.
	if refusedOutright {
		c.refused.remember(refused)
	}
	c.log.Warn("messaging broker refused an address; the operation using it fails", "address", address, "error", err)
	return false, refused
}

// maxAttachTries bounds the attaches of one address by one operation when
// each fails without the broker's verdict (a lost connection, a session
// ended, no answer).
const maxAttachTries = 3

// attachTimeout bounds one link attach: RabbitMQ has been seen never to
// answer an attach whose address crashed its session process. A loaded
// broker attaches slowly, so the bound is generous: three connect
// timeouts.
func (c *Client) attachTimeout() time.Duration { return 3 * c.opts.ConnectTimeout }
