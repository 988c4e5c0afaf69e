package amqp

import (
	"context"
	"errors"
	"fmt"
	"strings"

	goamqp "github.com/Azure/go-amqp"

	"github.com/release-engineering/pubtools-sign-go/broker"
)

// Publish implements broker.Bus. Requests are sent unsettled (pre-settled
// sends stall RabbitMQ links under load) and pipelined: up to SendWindow
// deliveries await the broker's disposition at once, oldest first. If the
// connection drops, Publish waits for the supervisor's reconnection and
// sends again from the first request the broker had not confirmed.
//
// This is the first of two re-sending layers. It keeps one call's
// requests flowing across a reconnection (the emulator's replies rely on
// it alone). The second is the caller's: signers/msg re-sends everything
// still unanswered on Reconnected, because replies can be lost even for
// requests confirmed here. A request unconfirmed at the drop can so be
// sent twice; its replies share one request_id and the second is counted
// as unknown and dropped (docs/reliability.md: re-sending).
func (c *Client) Publish(ctx context.Context, reqs broker.Requests) error {
	attachTries := 0
	for next := 0; next < reqs.Len(); {
		st, err := c.waitConnected(ctx)
		if err != nil {
			return err
		}
		n, err := c.publishOn(ctx, st, reqs, next)
		next += n
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return fmt.Errorf("publish: %w", ctx.Err())
		}
		if errors.Is(err, broker.ErrAddressRefused) {
			return err
		}
		var attach *senderAttachError
		if errors.As(err, &attach) {
			attachTries++
			retry, err := c.attachFailed(ctx, st, attach.address, attachTries, attach.err)
			if !retry {
				return err
			}
			select {
			case <-st.conn.Done():
				continue
			case <-ctx.Done():
				return fmt.Errorf("publish: %w", ctx.Err())
			}
		}
		if !lost(st, err) {
			return err
		}
		c.log.Debug("connection lost while publishing; will resend", "unconfirmed", reqs.Len()-next, "error", err)
		c.abandon(st, err)
		select {
		case <-st.conn.Done():
		case <-ctx.Done():
			return fmt.Errorf("publish: %w", ctx.Err())
		}
	}
	return nil
}

type inflight struct {
	index   int
	id      string
	receipt goamqp.SendReceipt
}

// publishOn sends reqs from index first on st and returns how many
// requests from there the broker confirmed, with the first error.
func (c *Client) publishOn(ctx context.Context, st *connState, reqs broker.Requests, first int) (int, error) {
	window := c.opts.SendWindow
	total := reqs.Len() - first
	queue := make([]inflight, 0, min(window, total))
	confirmed := 0
	var refused []error
	// The links this call sends on, each held from its first use to the
	// end of the call: none is detached under an unsettled delivery.
	links := map[string]*goamqp.Sender{}
	defer func() {
		for address, s := range links {
			st.senders.release(address, s)
		}
	}()
	settle := func(f inflight) error {
		state, err := f.receipt.Wait(ctx)
		if err != nil {
			return fmt.Errorf("await broker confirmation of request %s: %w", f.id, err)
		}
		switch s := state.(type) {
		case *goamqp.StateAccepted:
		case *goamqp.StateRejected:
			refused = append(refused, fmt.Errorf("broker rejected request %s: %v", f.id, s.Error))
		default:
			refused = append(refused, fmt.Errorf("broker did not accept request %s: %T", f.id, state))
		}
		confirmed = f.index + 1
		return nil
	}
	for i := range total {
		r := reqs.At(first + i)
		if len(queue) == window {
			if err := settle(queue[0]); err != nil {
				return confirmed, err
			}
			queue = queue[1:]
		}
		if err := c.refused.check(r.Address); err != nil {
			return confirmed, err
		}
		target, subject := c.linkFor(r.Address)
		sender, ok := links[target]
		if !ok {
			var err error
			actx, cancel := context.WithTimeout(ctx, c.attachTimeout())
			sender, err = st.senders.acquire(actx, sessionAttach(st.sendSess), target, st.url)
			cancel()
			if err != nil {
				return confirmed, &senderAttachError{address: target, err: err}
			}
			links[target] = sender
		}
		msg := requestMessage(r)
		if subject != "" {
			msg.Properties.Subject = &subject
		}
		receipt, err := sender.SendWithReceipt(ctx, msg, nil)
		if err != nil {
			if !lost(st, err) {
				st.senders.drop(target)
			}
			return confirmed, fmt.Errorf("send request %s to %s: %w", r.ID, r.Address, err)
		}
		queue = append(queue, inflight{index: i, id: r.ID, receipt: receipt})
	}
	for _, f := range queue {
		if err := settle(f); err != nil {
			return confirmed, err
		}
	}
	return total, errors.Join(refused...)
}

// linkFor is the link a request for address goes on, and the subject it
// then needs (see Options.TopicExchange).
func (c *Client) linkFor(address string) (target, subject string) {
	if key, ok := strings.CutPrefix(address, "/topic/"); ok && c.opts.TopicExchange != "" {
		return "/exchange/" + c.opts.TopicExchange, key
	}
	return address, ""
}

// requestMessage is the AMQP form of a request, as the Python tool's proton
// Message(body=json_text, address=..., properties=..., ttl=...) is: the body
// an AMQP string value, "to" the address, not durable.
func requestMessage(r *broker.Request) *goamqp.Message {
	to := r.Address
	return &goamqp.Message{
		Header:                &goamqp.MessageHeader{TTL: r.TTL},
		Properties:            &goamqp.MessageProperties{To: &to},
		ApplicationProperties: r.Headers,
		Value:                 string(r.Body),
	}
}

// senderAttachError marks a failure to attach the sender link, which
// attachFailed classifies, from a failure to send on it.
type senderAttachError struct {
	address string
	err     error
}

func (e *senderAttachError) Error() string { return e.err.Error() }
func (e *senderAttachError) Unwrap() error { return e.err }
