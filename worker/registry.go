package worker

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/release-engineering/pubtools-sign-go/config"
	"github.com/release-engineering/pubtools-sign-go/internal/pyjson"
	"github.com/release-engineering/pubtools-sign-go/signers"
	"github.com/release-engineering/pubtools-sign-go/signers/cosign"
)

// Operation is what every signers operation offers: the task as its
// signer takes it.
type Operation interface {
	// Validate checks the operation's inputs (a *signers.InputError names
	// the field).
	Validate() error
	// Dict is the operation as the Python tool reports it.
	Dict() pyjson.Object
}

// SignFunc signs one operation (the one Kind.Operation made).
type SignFunc func(context.Context, Operation) (*signers.Result, error)

// Typed adapts a signer method taking its own operation type.
func Typed[O Operation](f func(context.Context, O) (*signers.Result, error)) SignFunc {
	return func(ctx context.Context, op Operation) (*signers.Result, error) {
		o, ok := op.(O)
		if !ok {
			return nil, fmt.Errorf("signer got a %T, wants a %T", op, o)
		}
		return f(ctx, o)
	}
}

// Kind is one signer a task may name: the single place that knows it.
// The worker decodes and validates tasks with it, the tenant policy
// reads its key and image rules, `serve` builds it from its config
// section and binds its consumer, `submit` and the config check list its
// name.
type Kind struct {
	// Name is the task's signer and the last token of its subject.
	Name string
	// Section is the config section the signer needs; Configured says
	// whether a config has it (the signer is then available).
	Section    string
	Configured func(*config.File) bool
	// Operation turns a task into the operation its signer takes,
	// refusing what only the task's form can tell (a *TaskError).
	Operation func(*Task) (Operation, error)
	// KeyAliases are the section's key aliases, which the tenant policy
	// resolves signing keys through.
	KeyAliases func(*config.File) map[string]string
	// AliasOnlyKeys: tasks name keys only as aliases (never a raw key
	// reference), each in the tenant's cosign_keys; otherwise a key, or
	// what its alias stands for, must be in the tenant's signing_keys.
	AliasOnlyKeys bool
	// Images: the task's references must lie in the tenant's registries.
	Images bool
	// SignsInputs: the signer signs the task's inputs (one request per
	// input and key, bounded by worker.max_input_bytes), not its
	// references.
	SignsInputs bool
	// Build makes the signer from its section (serve, once per process).
	Build func(context.Context, *BuildEnv) (SignFunc, error)
}

// BuildEnv is what Kind.Build may use.
type BuildEnv struct {
	Config *config.File
	Log    *slog.Logger
	// Msg returns the messaging signer of a msg_signer-shaped section,
	// connected once and shared by every kind of that section.
	Msg func(section string, sc *config.MsgSigner) (MsgSigner, error)
	// Metrics registers a signer's own gauges (nil: none).
	Metrics prometheus.Registerer
}

// MsgSigner is a signer behind the messaging (AMQP) broker; the worker
// never sees the broker itself.
type MsgSigner interface {
	ContainerSign(context.Context, *signers.ContainerSign) (*signers.Result, error)
	ClearSign(context.Context, *signers.ClearSign) (*signers.Result, error)
	BlobSign(context.Context, *signers.BlobSign) (*signers.Result, error)
	BatchContainerSign(context.Context, *signers.ContainerSign, int) (*signers.Result, error)
}

// Kinds is the registry, in the order replicas bind their consumers.
// Adding a signer is adding an entry here (see CONTRIBUTING.md, "Adding a
// signer").
var Kinds = []*Kind{
	{Name: SignerMsgContainer, Section: "msg_signer", Configured: hasMsg, KeyAliases: msgAliases,
		Operation: func(t *Task) (Operation, error) { return t.containerSign(), nil },
		Build: func(_ context.Context, e *BuildEnv) (SignFunc, error) {
			s, err := e.Msg("msg_signer", e.Config.MsgSigner)
			if err != nil {
				return nil, err
			}
			return Typed(s.ContainerSign), nil
		}},
	{Name: SignerMsgClear, Section: "msg_signer", Configured: hasMsg, KeyAliases: msgAliases, SignsInputs: true,
		Operation: func(t *Task) (Operation, error) { return t.clearSign(), nil },
		Build: func(_ context.Context, e *BuildEnv) (SignFunc, error) {
			s, err := e.Msg("msg_signer", e.Config.MsgSigner)
			if err != nil {
				return nil, err
			}
			return Typed(s.ClearSign), nil
		}},
	{Name: SignerMsgBlob, Section: "msg_signer", Configured: hasMsg, KeyAliases: msgAliases, SignsInputs: true,
		Operation: blobOperation,
		Build: func(_ context.Context, e *BuildEnv) (SignFunc, error) {
			s, err := e.Msg("msg_signer", e.Config.MsgSigner)
			if err != nil {
				return nil, err
			}
			return Typed(s.BlobSign), nil
		}},
	{Name: SignerMsgBatchContainer, Section: "msg_batch_signer",
		Configured: func(c *config.File) bool { return c.MsgBatchSigner != nil },
		KeyAliases: func(c *config.File) map[string]string { return c.MsgBatchSigner.KeyAliases },
		Operation:  func(t *Task) (Operation, error) { return t.containerSign(), nil },
		Build: func(_ context.Context, e *BuildEnv) (SignFunc, error) {
			s, err := e.Msg("msg_batch_signer", &e.Config.MsgBatchSigner.MsgSigner)
			if err != nil {
				return nil, err
			}
			chunk := e.Config.MsgBatchSigner.ChunkSize
			return Typed(func(ctx context.Context, op *signers.ContainerSign) (*signers.Result, error) {
				return s.BatchContainerSign(ctx, op, chunk)
			}), nil
		}},
	{Name: SignerCosignContainer, Section: "cosign_signer", AliasOnlyKeys: true, Images: true,
		Configured: func(c *config.File) bool { return c.CosignSigner != nil },
		KeyAliases: func(c *config.File) map[string]string { return c.CosignSigner.KeyAliases },
		Operation:  func(t *Task) (Operation, error) { return t.containerSign(), nil },
		Build:      buildCosign},
}

func hasMsg(c *config.File) bool                  { return c.MsgSigner != nil }
func msgAliases(c *config.File) map[string]string { return c.MsgSigner.KeyAliases }

// The config check refuses tenants naming an unknown signer; config
// cannot import the worker, so the registry tells it the names.
func init() { config.TaskSigners = KindNames() }

func blobOperation(t *Task) (Operation, error) {
	if err := t.checkBase64(); err != nil {
		return nil, err
	}
	return t.blobSign(), nil
}

// buildCosign: in the daemon tasks are untrusted (keys only by alias,
// credentials only for cosign_signer.registries, cosign's environment
// built).
func buildCosign(_ context.Context, e *BuildEnv) (SignFunc, error) {
	c := e.Config.CosignSigner
	s := cosign.New(cosign.Options{Config: c, Log: e.Log.With("section", "cosign_signer"), Daemon: true,
		MaxProcesses: e.Config.Worker.MaxCosignProcesses})
	if err := s.Check(e.Config.Path); err != nil {
		return nil, err
	}
	if e.Metrics != nil {
		e.Metrics.MustRegister(cosign.ProcessCollectors(s)...)
	}
	if (c.RegistryUser != "" || c.RegistryAuthFile != "") && len(c.Registries) == 0 {
		e.Log.Warn("cosign_signer has registry credentials but no registries: the daemon gives them to no registry", "key", "cosign_signer.registries")
	}
	return Typed(s.ContainerSign), nil
}

// LookupKind finds the signer a task names; the error is a *TaskError.
func LookupKind(name string) (*Kind, error) {
	if name == "" {
		return nil, &TaskError{Field: "signer", Problem: "required"}
	}
	for _, k := range Kinds {
		if k.Name == name {
			return k, nil
		}
	}
	return nil, &TaskError{Field: "signer", Problem: fmt.Sprintf("unknown signer %q (want %s)", name, strings.Join(KindNames(), ", "))}
}

// KindNames are the names of every signer a task may name.
func KindNames() []string {
	out := make([]string, len(Kinds))
	for i, k := range Kinds {
		out[i] = k.Name
	}
	return out
}

// BuildSigners builds every signer whose section cfg has.
func BuildSigners(ctx context.Context, env *BuildEnv) (Signers, error) {
	sigs := Signers{}
	for _, k := range Kinds {
		if !k.Configured(env.Config) {
			continue
		}
		fn, err := k.Build(ctx, env)
		if err != nil {
			return nil, err
		}
		sigs[k.Name] = fn
	}
	return sigs, nil
}

// checkBase64: msg-blob inputs are base64 blobs.
func (t *Task) checkBase64() error {
	for i, b := range t.Inputs {
		if _, err := base64.StdEncoding.DecodeString(b); err != nil {
			return &TaskError{Field: fmt.Sprintf("inputs[%d]", i), Problem: "msg-blob inputs must be base64"}
		}
	}
	return nil
}
