// Package msg is the messaging signer: it turns signing operations into
// AMQP requests for the signing server, byte-compatible with Python
// pubtools-sign 1.x, and collects the replies through a broker.Bus.
//
// Stability: v0. The package is a documented Go API, but its exported
// identifiers may change between minor versions; each change is listed in
// CHANGELOG.md.
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
	// Window is the in-flight window every operation of this signer
	// shares; nil makes one from the config (see NewWindow).
	Window *broker.Window
}

// Signer signs containers, clear text and blobs through the signing server.
type Signer struct {
	opts Options
	cfg  *config.MsgSigner
	log  *slog.Logger
	// templated are the fields the topic templates use.
	templated map[string]bool
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
	if opts.Window == nil {
		opts.Window = NewWindow(opts.Config, opts.TimeoutUnit)
	}
	templated := map[string]bool{}
	for _, t := range []config.Template{opts.Config.TopicSendTo, opts.Config.TopicListenTo} {
		fields, _ := t.Fields() // checked when the config was loaded
		for _, f := range fields {
			templated[f] = true
		}
	}
	return &Signer{opts: opts, cfg: opts.Config, log: opts.Log, templated: templated}
}

// ErrNoRequester means neither the certificate nor the operation names the
// request creator.
var ErrNoRequester = errors.New("no requester: set messaging_cert_key to a certificate with a CN or UID, or pass --requester")

// templateValues are the fields topic templates may use: the signer's
// configuration and the operation's fields, as Python's asdict() gives them.
func (s *Signer) templateValues(creator string, op opFields) map[string]string {
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
	for k, field := range op {
		if s.templated[k] {
			v[k] = field()
		}
	}
	return v
}

// opFields are an operation's template fields, computed only when a topic
// template uses them: the list of 10,000 digests is long.
type opFields map[string]func() string

func text(s string) func() string { return func() string { return s } }

// pyStr is how Python's str.format prints an option the CLI left at None
// (a missing --requester or --repo): "None".
func pyStr(s string) string {
	if s == "" {
		return "None"
	}
	return s
}

func listRepr(l []string) func() string { return func() string { return config.PythonListRepr(l) } }

// spoolOver is the number of requests above which replies are kept in a
// file rather than in memory.
const spoolOver = 1000

// run exchanges p's requests and fills a result whose OperationResults are
// aligned with them.
func (s *Signer) run(ctx context.Context, p *prepared, res *signers.Result) *signers.Result {
	res.SignerResult = signers.SignerResult{Status: signers.StatusOK}
	res.OperationResults = make([]any, p.n)
	for i := range res.OperationResults {
		res.OperationResults[i] = ""
	}
	listen, err := s.cfg.TopicListenTo.Format(p.values)
	if err != nil {
		res.Fail(fmt.Sprintf("topic_listen_to: %v", err))
		return res
	}
	if p.n > spoolOver {
		if res.Spool, err = signers.NewSpool(""); err != nil {
			res.Fail(err.Error())
			return res
		}
	}
	var keepErr error
	var scratch []byte // one encoding buffer for every spooled reply
	onReply := func(i int, r *broker.Reply) {
		// Any reply with errors fails the operation (the Python tool only
		// looked at the last one).
		res.Failed = res.Failed || r.HasErrors
		item := signers.ReplyResult{Body: r.Body, Properties: r.Properties}
		if res.Spool == nil {
			res.OperationResults[i] = item
			return
		}
		encoded, err := item.AppendPyJSON(scratch[:0])
		if err == nil {
			scratch = encoded
			res.OperationResults[i], err = res.Spool.Put(encoded)
		}
		if err != nil && keepErr == nil {
			keepErr = fmt.Errorf("keep reply %d: %w", i, err)
		}
	}
	s.log.Info("sending signing requests", "requests", p.n, "listen", listen)
	err = exchange(ctx, s.opts.Bus, s.opts.Pending, s.opts.Window, listen, s.listenReusable(), p, timing{
		timeout: time.Duration(s.cfg.Timeout) * s.opts.TimeoutUnit,
		rounds:  s.cfg.Retries,
		cycles:  s.cfg.SendRetries,
	}, s.opts.Observer, s.log, onReply)
	if err = errors.Join(err, keepErr); err != nil {
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
// request per pair and key, reference-major. Like every method of Signer
// it takes an operation that passed its Validate (the worker checks a task
// as it decodes it, the CLI before it dials): it does not check again.
func (s *Signer) ContainerSign(ctx context.Context, op *signers.ContainerSign) (*signers.Result, error) {
	p, err := s.newPrepared(ctx, op.Requester, containerValues(op))
	if err != nil {
		return nil, err
	}
	keys := len(op.SigningKeys)
	p.plan(len(op.References)*keys, func(i int, id, created string) (RequestType, pyjson.Object, pyjson.Object) {
		ref, digest, k := op.References[i/keys], op.Digests[i/keys], i%keys
		repo, _ := signers.RepoOf(ref)
		body := signingBody(ContainerSignature, ContainerClaim(digest, ref), signers.ResolveKey(s.cfg.KeyAliases, op.SigningKeys[k]),
			nameAt(op.SigningKeyNames, k), id, created, p.creator, repo)
		return ContainerSignature, body, pyjson.Object{{Key: s.cfg.TaskIDAttribute, Value: op.TaskID}, {Key: "manifest_digest", Value: digest}}
	})
	return s.run(ctx, p, &signers.Result{Operation: op.Dict(), SigningKeys: op.SigningKeys}), nil
}

// ClearSign clearsigns each input with each key.
func (s *Signer) ClearSign(ctx context.Context, op *signers.ClearSign) (*signers.Result, error) {
	p, err := s.newPrepared(ctx, op.Requester, opFields{
		"task_id": text(op.TaskID), "repo": text(pyStr(op.Repo)), "requester": text(pyStr(op.Requester)),
		"inputs": listRepr(op.Inputs), "signing_keys": listRepr(op.SigningKeys),
	})
	if err != nil {
		return nil, err
	}
	keys := len(op.SigningKeys)
	p.plan(len(op.Inputs)*keys, func(i int, id, created string) (RequestType, pyjson.Object, pyjson.Object) {
		data, _ := Latin1Base64(op.Inputs[i/keys]) // op.Validate refused what latin-1 cannot encode
		body := signingBody(ClearsignSignature, data, signers.ResolveKey(s.cfg.KeyAliases, op.SigningKeys[i%keys]), "", id, created, p.creator, op.Repo)
		if op.Repo == "" {
			body = body.Set("repo", nil) // Python sends the missing --repo as null
		}
		return ClearsignSignature, body, pyjson.Object{{Key: s.cfg.TaskIDAttribute, Value: op.TaskID}}
	})
	return s.run(ctx, p, &signers.Result{Operation: op.Dict(), SigningKeys: op.SigningKeys}), nil
}

// BlobSign signs each blob (base64, as given) with each key.
func (s *Signer) BlobSign(ctx context.Context, op *signers.BlobSign) (*signers.Result, error) {
	p, err := s.newPrepared(ctx, op.Requester, opFields{
		"task_id": text(op.TaskID), "requester": text(pyStr(op.Requester)), "blobs": listRepr(op.Blobs),
		"signing_keys": listRepr(op.SigningKeys), "signing_key_names": listRepr(op.SigningKeyNames),
	})
	if err != nil {
		return nil, err
	}
	keys := len(op.SigningKeys)
	p.plan(len(op.Blobs)*keys, func(i int, id, created string) (RequestType, pyjson.Object, pyjson.Object) {
		k := i % keys
		body := signingBody(GPGSignature, op.Blobs[i/keys], signers.ResolveKey(s.cfg.KeyAliases, op.SigningKeys[k]), nameAt(op.SigningKeyNames, k), id, created, p.creator, "")
		return GPGSignature, body, pyjson.Object{{Key: s.cfg.TaskIDAttribute, Value: op.TaskID}}
	})
	return s.run(ctx, p, &signers.Result{Operation: op.Dict(), SigningKeys: op.SigningKeys}), nil
}

func containerValues(op *signers.ContainerSign) opFields {
	return opFields{
		"task_id": text(op.TaskID), "requester": text(pyStr(op.Requester)),
		"digests": listRepr(op.Digests), "references": listRepr(op.References),
		"signing_keys": listRepr(op.SigningKeys), "signing_key_names": listRepr(op.SigningKeyNames),
		"identity_references": listRepr(op.IdentityReferences),
	}
}

func nameAt(names []string, i int) string {
	if i < len(names) {
		return names[i]
	}
	return ""
}
