package broker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
)

// ErrMalformedReply is wrapped by DecodeReply for replies without a usable
// body["msg"][message_id_key].
var ErrMalformedReply = errors.New("malformed reply")

// DecodeReply parses a reply body and finds its request id under
// body["msg"][idKey]. The production server wraps msg in
// {"i", "msg", "msg_id", "timestamp", "topic", "username"}; only msg is
// read, so the bare {"msg": ...} shape works the same.
func DecodeReply(body []byte, props map[string]any, idKey string) (Reply, error) {
	var outer struct {
		Msg map[string]json.RawMessage `json:"msg"`
	}
	if err := json.Unmarshal(body, &outer); err != nil {
		return Reply{}, fmt.Errorf("%w: %v", ErrMalformedReply, err)
	}
	if outer.Msg == nil {
		return Reply{}, fmt.Errorf("%w: no \"msg\" object", ErrMalformedReply)
	}
	var id string
	if err := json.Unmarshal(outer.Msg[idKey], &id); err != nil || id == "" {
		return Reply{}, fmt.Errorf("%w: msg.%s is not a non-empty string", ErrMalformedReply, idKey)
	}
	failed := carriesErrors(outer.Msg["errors"]) || notSuccess(outer.Msg["signing_status"])
	return Reply{RequestID: id, Body: body, Properties: props, HasErrors: failed}, nil
}

// notSuccess: the production server says msg.signing_status "success"
// on a signature; anything else is a failure even with empty errors.
// Replies without the field (older servers, other shapes) are judged by
// errors alone.
func notSuccess(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return false
	}
	var status string
	return json.Unmarshal(raw, &status) != nil || status != "success"
}

// carriesErrors: msg.errors is absent, null or an empty list on success.
// Anything else (a non-empty list, but also a string or an object from a
// server that breaks the format) is an error: a reply never passes for a
// signature it does not carry.
func carriesErrors(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return false
	}
	var errs []json.RawMessage
	if err := json.Unmarshal(raw, &errs); err != nil {
		return true
	}
	return len(errs) > 0
}

// ReplyRouter takes every message a reply receiver gets, decodes it and
// resolves the pending request it answers. Unknown, duplicate and malformed
// replies are counted, logged at debug level and dropped: they are another
// replica's, a late duplicate, or garbage, and never stop the receiver.
type ReplyRouter struct {
	idKey     string
	pending   *PendingRequests
	log       *slog.Logger
	matched   atomic.Uint64
	unknown   atomic.Uint64
	malformed atomic.Uint64
}

// NewReplyRouter routes replies identified by body["msg"][idKey] to pending.
func NewReplyRouter(idKey string, pending *PendingRequests, log *slog.Logger) *ReplyRouter {
	return &ReplyRouter{idKey: idKey, pending: pending, log: log}
}

// Pending is the map this router resolves.
func (r *ReplyRouter) Pending() *PendingRequests { return r.pending }

// Route handles one received message.
func (r *ReplyRouter) Route(address string, body []byte, props map[string]any) {
	reply, err := DecodeReply(body, props, r.idKey)
	if err != nil {
		r.malformed.Add(1)
		r.log.Debug("ignored malformed reply", "address", address, "error", err, "size", len(body))
		return
	}
	if !r.pending.Resolve(&reply) {
		r.unknown.Add(1)
		r.log.Debug("ignored reply for no pending request", "address", address, "request_id", reply.RequestID)
		return
	}
	r.matched.Add(1)
}

// RouterStats are a router's counters since it started.
type RouterStats struct {
	Matched, Unknown, Malformed uint64
}

// Stats returns the counters.
func (r *ReplyRouter) Stats() RouterStats {
	return RouterStats{Matched: r.matched.Load(), Unknown: r.unknown.Load(), Malformed: r.malformed.Load()}
}
