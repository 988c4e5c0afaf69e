// Package broker holds what signers need from a message bus, independent of
// the protocol: requests going out, replies coming back, and the map that
// matches one to the other. broker/amqp implements Bus over AMQP 1.0.
//
// Stability: v0. The package is a documented Go API, but its exported
// identifiers may change between minor versions; each change is listed in
// CHANGELOG.md.
package broker

import (
	"context"
	"encoding/json"
	"time"
)

// Request is one signing request ready for the wire.
type Request struct {
	// ID is the request_id the reply will carry back.
	ID string
	// Address is where the request goes (the templated topic_send_to).
	Address string
	// Body is the JSON text, sent as an AMQP string value.
	Body []byte
	// Headers become the message's application properties.
	Headers map[string]any
	// TTL is the message time to live.
	TTL time.Duration
}

// Requests is a sequence of requests that may be built as they are sent.
// At may be called more than once for one index (a re-send after a lost
// connection) and must return the same request each time.
type Requests interface {
	Len() int
	At(i int) *Request
}

// RequestList is Requests held in memory.
type RequestList []*Request

// Len implements Requests.
func (l RequestList) Len() int { return len(l) }

// At implements Requests.
func (l RequestList) At(i int) *Request { return l[i] }

// Reply is a signing-server reply matched to a request.
type Reply struct {
	// RequestID is body["msg"][message_id_key].
	RequestID string
	// Body is the reply body as received (a JSON object).
	Body json.RawMessage
	// Properties are the reply's application properties.
	Properties map[string]any
	// HasErrors is true when body["msg"]["errors"] is a non-empty list
	// or body["msg"]["signing_status"] is there and not "success".
	HasErrors bool
	// Index is the request's position among the ids registered with it
	// (PendingRequests.Add), set when the reply is resolved.
	Index int
}

// Bus is a connection to the signing server's message broker, shared by
// every operation of a process.
type Bus interface {
	// Listen makes sure a reply receiver is attached to address before it
	// returns, so no reply sent afterwards is lost. Receivers are shared by
	// concurrent users of one address. After the last release a reusable
	// receiver stays attached a while for the next user; one that is not
	// (an address naming a single task) is detached at once.
	Listen(ctx context.Context, address string, reusable bool) (release func(), err error)
	// Publish sends the requests pipelined and returns once the broker has
	// taken (confirmed) every one of them. If the connection drops during
	// the call, Publish waits for the next one and sends again from the
	// first request the broker had not confirmed: the call's requests reach
	// the broker at least once. Taken is not answered: replies sent while
	// the connection was down are the caller's concern (Reconnected).
	Publish(ctx context.Context, reqs Requests) error
	// Reconnected returns a channel closed at the next reconnection, after
	// receivers are attached again. A caller awaiting replies sends its
	// unanswered requests again then, with their original ids: replies
	// published while no receiver was attached are gone from a pub/sub
	// topic, including those to requests Publish saw taken.
	Reconnected() <-chan struct{}
}
