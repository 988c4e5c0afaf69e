// Package msg is the messaging signer: it turns signing operations into
// AMQP requests for the signing server, byte-compatible with Python
// pubtools-sign 1.x, and collects the replies through a broker.Bus.
package msg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/release-engineering/pubtools-sign-go/broker"
	"github.com/release-engineering/pubtools-sign-go/config"
	"github.com/release-engineering/pubtools-sign-go/internal/pyjson"
	"github.com/release-engineering/pubtools-sign-go/signers"
)

// Options build a Signer.
type Options struct {
	// Config is the msg_signer (or msg_batch_signer) section.
	Config *config.MsgSigner
	// Bus carries requests and replies; Pending is the map its router
	// resolves.
	Bus     broker.Bus
	Pending *broker.PendingRequests
	// Creator is the certificate's CN/UID; an operation's Requester wins.
	Creator string
	// WorkerID fills {worker_id} in topic templates.
	WorkerID string
	Log      *slog.Logger
	// Now and NewID are replaced by tests.
	Now   func() time.Time
	NewID func() string
	// Observer is told about round trips, re-sends and timeouts.
	Observer Observer
	// TimeoutUnit is what one unit of the config's timeout means
	// (default: a second, as in the Python tool; tests shrink it).
	TimeoutUnit time.Duration
}

// Signer signs containers, clear text and blobs through the signing server.
type Signer struct {
	opts Options
	cfg  *config.MsgSigner
	log  *slog.Logger
}

// New returns a Signer.
func New(opts Options) *Signer {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NewID == nil {
		opts.NewID = uuid.NewString
	}
	if opts.Observer == nil {
		opts.Observer = noObserver{}
	}
	if opts.TimeoutUnit == 0 {
		opts.TimeoutUnit = time.Second
	}
	return &Signer{opts: opts, cfg: opts.Config, log: opts.Log}
}

// ErrNoRequester means neither the certificate nor the operation names the
// request creator.
var ErrNoRequester = errors.New("no requester: set messaging_cert_key to a certificate with a CN or UID, or pass --requester")

// prepared is what every operation turns into before the exchange.
type prepared struct {
	creator string
	values  map[string]string
	reqs    []*broker.Request
}

// newPrepared resolves the creator and the template values of an operation.
func (s *Signer) newPrepared(requester string, op map[string]string) (*prepared, error) {
	creator := requester
	if creator == "" {
		creator = s.opts.Creator
	}
	if creator == "" {
		return nil, ErrNoRequester
	}
	return &prepared{creator: creator, values: s.templateValues(creator, op)}, nil
}

// templateValues are the fields topic templates may use: the signer's
// configuration and the operation's fields, as Python's asdict() gives them.
func (s *Signer) templateValues(creator string, op map[string]string) map[string]string {
	c := s.cfg
	v := map[string]string{
		"messaging_brokers": config.PythonListRepr(c.MessagingBrokers), "messaging_cert_key": c.MessagingCertKey,
		"messaging_ca_cert": c.MessagingCACert, "topic_send_to": string(c.TopicSendTo),
		"topic_listen_to": string(c.TopicListenTo), "creator": creator, "environment": c.Environment,
		"env": c.Environment, "service": c.Service, "timeout": strconv.Itoa(c.Timeout),
		"retries": strconv.Itoa(c.Retries), "send_retries": strconv.Itoa(c.SendRetries),
		"message_id_key": c.MessageIDKey, "log_level": c.LogLevel, "task_id_attribute": c.TaskIDAttribute,
		"worker_id": s.opts.WorkerID,
	}
	for _, f := range config.OperationTemplateFields {
		v[f] = ""
	}
	for k, x := range op {
		v[k] = x
	}
	return v
}

// resolveKey maps a key alias to the real key.
func resolveKey(aliases map[string]string, key string) string {
	if real, ok := aliases[key]; ok {
		return real
	}
	return key
}

// request builds one request: body keys in the Python tool's order, then
// the extra attributes, which also go into the headers.
func (s *Signer) request(p *prepared, typ RequestType, data any, key, keyName, repo string, extra pyjson.Object) (*broker.Request, error) {
	id := s.opts.NewID()
	body := pyjson.Object{
		{Key: "sig_key_id", Value: keyID(key)},
		{Key: typ.dataAttribute(), Value: data},
		{Key: "request_id", Value: id},
		{Key: "created", Value: Created(s.opts.Now())},
		{Key: "requested_by", Value: p.creator},
		{Key: "repo", Value: repo},
	}
	if keyName != "" {
		body = body.Set("sig_keyname", keyName)
	}
	return s.finish(p, typ, id, body, extra)
}

// finish encodes body, adds headers, address and TTL.
func (s *Signer) finish(p *prepared, typ RequestType, id string, body, extra pyjson.Object) (*broker.Request, error) {
	for _, m := range extra {
		body = body.Set(m.Key, m.Value)
	}
	text, err := pyjson.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode request %s: %w", id, err)
	}
	headers := map[string]any{
		"service":     s.cfg.Service,
		"environment": s.cfg.Environment,
		"owner_id":    p.creator,
		"mtype":       string(typ),
		"source":      "metadata",
	}
	for _, m := range extra {
		headers[m.Key] = m.Value
	}
	address, err := s.cfg.TopicSendTo.Format(p.values)
	if err != nil {
		return nil, fmt.Errorf("topic_send_to: %w", err)
	}
	return &broker.Request{
		ID: id, Address: address, Body: text, Headers: headers,
		TTL: time.Duration(s.cfg.Timeout*s.cfg.Retries) * time.Second,
	}, nil
}

// run exchanges p's requests and fills a result whose OperationResults are
// aligned with them.
func (s *Signer) run(ctx context.Context, p *prepared, res *signers.Result) *signers.Result {
	if t := signers.TraceFrom(ctx); t.Parent != "" {
		for _, r := range p.reqs {
			r.Headers["traceparent"] = t.Parent
			if t.State != "" {
				r.Headers["tracestate"] = t.State
			}
		}
	}
	res.SignerResult = signers.SignerResult{Status: signers.StatusOK}
	res.OperationResults = make([]any, len(p.reqs))
	for i := range res.OperationResults {
		res.OperationResults[i] = ""
	}
	listen, err := s.cfg.TopicListenTo.Format(p.values)
	if err != nil {
		res.Fail(fmt.Sprintf("topic_listen_to: %v", err))
		return res
	}
	s.log.Info("sending signing requests", "requests", len(p.reqs), "listen", listen)
	replies, err := exchange(ctx, s.opts.Bus, s.opts.Pending, listen, s.listenReusable(), p.reqs, timing{
		timeout: time.Duration(s.cfg.Timeout) * s.opts.TimeoutUnit,
		rounds:  s.cfg.Retries,
		cycles:  s.cfg.SendRetries,
	}, s.opts.Observer, s.log)
	for i, r := range replies {
		if r == nil {
			continue
		}
		res.OperationResults[i] = signers.ReplyResult{Body: r.Body, Properties: r.Properties}
		// Any reply with errors fails the operation (the Python tool only
		// looked at the last one).
		res.Failed = res.Failed || r.HasErrors
	}
	if err != nil {
		res.Fail(err.Error() + "\n")
	}
	return res
}

// listenReusable: a reply address naming one operation ({task_id},
// {request_id}-like fields) serves no other, so its receiver need not
// linger; one naming the creator or worker serves every operation.
func (s *Signer) listenReusable() bool {
	fields, _ := s.cfg.TopicListenTo.Fields()
	for _, f := range fields {
		if f == "task_id" || f == "inputs" || f == "digests" || f == "references" || f == "blobs" {
			return false
		}
	}
	return true
}

// ContainerSign signs each reference/digest pair with each key: one
// request per pair and key, reference-major.
func (s *Signer) ContainerSign(ctx context.Context, op *signers.ContainerSign) (*signers.Result, error) {
	if err := op.Validate(); err != nil {
		return nil, err
	}
	p, err := s.newPrepared(op.Requester, containerValues(op))
	if err != nil {
		return nil, err
	}
	for i, ref := range op.References {
		digest := op.Digests[i]
		repo, _ := signers.RepoOf(ref)
		claim := ContainerClaim(digest, ref)
		extra := pyjson.Object{{Key: s.cfg.TaskIDAttribute, Value: op.TaskID}, {Key: "manifest_digest", Value: digest}}
		for k, key := range op.SigningKeys {
			req, err := s.request(p, ContainerSignature, claim, resolveKey(s.cfg.KeyAliases, key), nameAt(op.SigningKeyNames, k), repo, extra)
			if err != nil {
				return nil, err
			}
			p.reqs = append(p.reqs, req)
		}
	}
	return s.run(ctx, p, &signers.Result{Operation: op.Dict(), SigningKeys: op.SigningKeys}), nil
}

// ClearSign clearsigns each input with each key.
func (s *Signer) ClearSign(ctx context.Context, op *signers.ClearSign) (*signers.Result, error) {
	if err := op.Validate(); err != nil {
		return nil, err
	}
	p, err := s.newPrepared(op.Requester, map[string]string{
		"task_id": op.TaskID, "repo": op.Repo, "requester": op.Requester,
		"inputs": config.PythonListRepr(op.Inputs), "signing_keys": config.PythonListRepr(op.SigningKeys),
	})
	if err != nil {
		return nil, err
	}
	extra := pyjson.Object{{Key: s.cfg.TaskIDAttribute, Value: op.TaskID}}
	for i, in := range op.Inputs {
		data, err := Latin1Base64(in)
		if err != nil {
			return nil, &signers.InputError{Field: fmt.Sprintf("inputs[%d]", i), Problem: err.Error()}
		}
		for _, key := range op.SigningKeys {
			req, err := s.request(p, ClearsignSignature, data, resolveKey(s.cfg.KeyAliases, key), "", op.Repo, extra)
			if err != nil {
				return nil, err
			}
			p.reqs = append(p.reqs, req)
		}
	}
	return s.run(ctx, p, &signers.Result{Operation: op.Dict(), SigningKeys: op.SigningKeys, KeysField: "signing_key"}), nil
}

// BlobSign signs each blob (base64, as given) with each key.
func (s *Signer) BlobSign(ctx context.Context, op *signers.BlobSign) (*signers.Result, error) {
	if err := op.Validate(); err != nil {
		return nil, err
	}
	p, err := s.newPrepared(op.Requester, map[string]string{
		"task_id": op.TaskID, "requester": op.Requester, "blobs": config.PythonListRepr(op.Blobs),
		"signing_keys": config.PythonListRepr(op.SigningKeys), "signing_key_names": config.PythonListRepr(op.SigningKeyNames),
	})
	if err != nil {
		return nil, err
	}
	extra := pyjson.Object{{Key: s.cfg.TaskIDAttribute, Value: op.TaskID}}
	for _, blob := range op.Blobs {
		for k, key := range op.SigningKeys {
			req, err := s.request(p, GPGSignature, blob, resolveKey(s.cfg.KeyAliases, key), nameAt(op.SigningKeyNames, k), "", extra)
			if err != nil {
				return nil, err
			}
			p.reqs = append(p.reqs, req)
		}
	}
	return s.run(ctx, p, &signers.Result{Operation: op.Dict(), SigningKeys: op.SigningKeys}), nil
}

func containerValues(op *signers.ContainerSign) map[string]string {
	return map[string]string{
		"task_id": op.TaskID, "requester": op.Requester,
		"digests": config.PythonListRepr(op.Digests), "references": config.PythonListRepr(op.References),
		"signing_keys": config.PythonListRepr(op.SigningKeys), "signing_key_names": config.PythonListRepr(op.SigningKeyNames),
		"identity_references": config.PythonListRepr(op.IdentityReferences),
	}
}

func nameAt(names []string, i int) string {
	if i < len(names) {
		return names[i]
	}
	return ""
}
