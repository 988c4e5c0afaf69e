package worker

import (
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// relayedTask refuses a message that nats-server relayed onto a tasks or
// request subject rather than one its tenant published: nats-server
// answers a direct get, and a push consumer delivers, on whatever subject
// the requester names, with its own rights, so a tenant can send its own
// stored envelopes onto another tenant's tasks subject. Such a message
// carries the headers of a stored envelope (OutcomeHeader) or of a direct
// get answer (Nats-Stream), which no task has; the task id in it is the
// sender's choice, so the refusal goes to <results>.<tenant>.invalid.
// With an account per tenant only a tenant's own subjects can be reached
// this way (a reply subject naming one of its own imports).
func relayedTask(h nats.Header) error {
	if h == nil || (h.Get(OutcomeHeader) == "" && h.Get(jetstream.StreamHeader) == "") {
		return nil
	}
	return &TaskError{Field: "headers", Problem: "a stored message relayed by nats-server (it carries " + OutcomeHeader + " or " +
		jetstream.StreamHeader + "), not a task its tenant published"}
}
