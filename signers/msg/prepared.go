package msg

import (
	"context"
	"fmt"
	"time"

	"github.com/release-engineering/pubtools-sign-go/broker"
	"github.com/release-engineering/pubtools-sign-go/internal/pyjson"
	"github.com/release-engineering/pubtools-sign-go/signers"
)

// prepared is what every operation turns into before the exchange: how
// many requests it makes and how to compose request i. Bodies are encoded
// when sent (see outgoing).
type prepared struct {
	signer  *Signer
	creator string
	values  map[string]string
	address string // topic_send_to, formatted
	trace   signers.Trace
	n       int
	// compose returns request i's type, its body up to the extra
	// attributes, and the extra attributes (also sent as headers).
	compose func(i int, id, created string) (typ RequestType, body, extra pyjson.Object)
	ids     []string
	created []int64 // UnixNano of the first send; a re-send keeps it
}

// newPrepared resolves the creator, the template values and the send
// address of an operation.
func (s *Signer) newPrepared(ctx context.Context, requester string, op opFields) (*prepared, error) {
	creator := requester
	if creator == "" {
		creator = s.opts.Creator
	}
	if creator == "" {
		return nil, ErrNoRequester
	}
	p := &prepared{signer: s, creator: creator, values: s.templateValues(creator, op), trace: signers.TraceFrom(ctx)}
	if err := s.checkAddressValues(p.values, requester != ""); err != nil {
		return nil, err
	}
	address, err := s.cfg.TopicSendTo.Format(p.values)
	if err != nil {
		return nil, &signers.InputError{Field: "topic_send_to", Problem: err.Error()}
	}
	p.address = address
	return p, nil
}

// plan fixes the number of requests and how each is composed, and gives
// every request its id.
func (p *prepared) plan(n int, compose func(i int, id, created string) (RequestType, pyjson.Object, pyjson.Object)) {
	p.n, p.compose = n, compose
	p.ids = make([]string, n)
	for i := range p.ids {
		p.ids[i] = p.signer.opts.NewID()
	}
	p.created = make([]int64, n)
}

// Len implements outgoing.
func (p *prepared) Len() int { return p.n }

// IDs implements outgoing.
func (p *prepared) IDs() []string { return p.ids }

// Build implements outgoing: the request as the Python tool builds it,
// body keys in its order, then the extra attributes, which also go into
// the headers.
func (p *prepared) Build(i int) *broker.Request {
	if p.created[i] == 0 {
		p.created[i] = p.signer.opts.Now().UnixNano()
	}
	id := p.ids[i]
	typ, body, extra := p.compose(i, id, Created(time.Unix(0, p.created[i])))
	for _, m := range extra {
		body = body.Set(m.Key, m.Value)
	}
	// Sized for a container request, the common one: encoding into a
	// growing slice from nil cost as much garbage as the body itself.
	text, err := pyjson.Append(make([]byte, 0, 1024), body)
	if err != nil { // bodies hold only strings, lists and objects of them
		panic(fmt.Sprintf("encode request %s: %v", id, err))
	}
	cfg := p.signer.cfg
	headers := map[string]any{
		"service":     cfg.Service,
		"environment": cfg.Environment,
		"owner_id":    p.creator,
		"mtype":       string(typ),
		"source":      "metadata",
	}
	for _, m := range extra {
		headers[m.Key] = m.Value
	}
	if p.trace.Parent != "" {
		headers["traceparent"] = p.trace.Parent
		if p.trace.State != "" {
			headers["tracestate"] = p.trace.State
		}
	}
	return &broker.Request{
		ID: id, Address: p.address, Body: text, Headers: headers,
		TTL: time.Duration(cfg.Timeout*cfg.Retries) * time.Second,
	}
}

// signingBody is the body of a single-signature request (everything but
// batch), keys in the Python tool's order.
func signingBody(typ RequestType, data any, key, keyName, id, created, creator, repo string) pyjson.Object {
	body := pyjson.Object{
		{Key: "sig_key_id", Value: keyID(key)},
		{Key: typ.dataAttribute(), Value: data},
		{Key: "request_id", Value: id},
		{Key: "created", Value: created},
		{Key: "requested_by", Value: creator},
		{Key: "repo", Value: repo},
	}
	if keyName != "" {
		body = body.Set("sig_keyname", keyName)
	}
	return body
}
