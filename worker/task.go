// Package worker is the daemon: it takes signing tasks from a NATS
// JetStream work queue (and NATS micro requests), runs the configured
// signer and publishes exactly one result envelope per task. It knows
// signers through its registry (Kinds) and never touches AMQP.
//
// Stability: v0. The package is a documented Go API, but its exported
// identifiers may change between minor versions; each change is listed in
// CHANGELOG.md.
package worker

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/release-engineering/pubtools-sign-go/internal/jsonobj"
	"github.com/release-engineering/pubtools-sign-go/signers"
)

// Schemas of the messages the daemon reads and writes.
const (
	TaskSchema   = "pubtools-sign.task.v1"
	ResultSchema = "pubtools-sign.result.v1"
)

// Signer names a task may ask for.
const (
	SignerMsgContainer      = "msg-container"
	SignerMsgClear          = "msg-clear"
	SignerMsgBlob           = "msg-blob"
	SignerMsgBatchContainer = "msg-batch-container"
	SignerCosignContainer   = "cosign-container"
)

// Task is one signing request from a pipeline.
type Task struct {
	Schema             string   `json:"schema"`
	TaskID             string   `json:"task_id"`
	Signer             string   `json:"signer"`
	SigningKeys        []string `json:"signing_keys,omitempty"`
	SigningKeyNames    []string `json:"signing_key_names,omitempty"`
	Digests            []string `json:"digests,omitempty"`
	References         []string `json:"references,omitempty"`
	IdentityReferences []string `json:"identity_references,omitempty"`
	// Inputs are texts for msg-clear and base64 blobs for msg-blob.
	Inputs    []string `json:"inputs,omitempty"`
	Repo      string   `json:"repo,omitempty"`
	Requester string   `json:"requester,omitempty"`
	// ReplyTo may only name the task's own results subject
	// (<results_prefix>.<tenant>.<task_id>, where the envelope goes anyway):
	// kept so older tasks that spell it out still work.
	ReplyTo string `json:"reply_to,omitempty"`
}

// TaskMsgID is the Nats-Msg-Id a tenant's task should be published with:
// the tenant, its id and a digest of its bytes. The same task published
// twice is deduplicated by JetStream; a corrected task under the id of a
// refused one is not, nor another tenant's task with the same id.
func TaskMsgID(tenant, taskID string, data []byte) string {
	sum := sha256.Sum256(data)
	return tenant + "/" + taskID + ":" + hex.EncodeToString(sum[:8])
}

// TaskError is a task that cannot be run: the envelope names the field.
type TaskError struct {
	Field   string
	Problem string
}

// Error names the field, when known, and the problem, repeating at most a
// few hundred bytes of the task's own text (see clip).
func (e *TaskError) Error() string {
	if e.Field == "" {
		return clip(e.Problem, maxEchoProblem)
	}
	return clip(e.Field, maxEchoField) + ": " + clip(e.Problem, maxEchoProblem)
}

// taskIDPattern keeps task ids usable as one or more NATS subject tokens.
var taskIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)

// DecodeTask parses and validates a task under maxBytes and the default
// request and input limits (see DecodeTaskWithin). It returns the task id
// it could read even when the task is invalid, so the error envelope finds
// its way.
func DecodeTask(data []byte, maxBytes int) (*Task, error) {
	return DecodeTaskWithin(data, Limits{MaxTaskBytes: maxBytes})
}

// decodeTask parses and validates a task of at most maxBytes.
func decodeTask(data []byte, maxBytes int) (*Task, error) {
	if len(data) > maxBytes {
		return &Task{TaskID: peekTaskID(data)}, &TaskError{Problem: fmt.Sprintf("task is %d bytes, over the %d byte limit", len(data), maxBytes)}
	}
	var t Task
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return &Task{TaskID: peekTaskID(data)}, &TaskError{Field: fieldOf(err), Problem: "not a valid task: " + err.Error()}
	}
	if dec.More() {
		return &Task{TaskID: peekTaskID(data)}, &TaskError{Problem: "trailing data after the task object"}
	}
	if err := checkKeys(data); err != nil {
		return &Task{TaskID: peekTaskID(data)}, err
	}
	if !validTaskID(t.TaskID) {
		t.TaskID = ""
		return &t, &TaskError{Field: "task_id", Problem: "must be letters, digits, '_', '-' and single dots, at most 200 characters"}
	}
	if err := t.validate(); err != nil {
		return &t, err
	}
	return &t, nil
}

// peekTaskID reads a top-level task_id from data that failed full
// decoding (too large, wrong types), keeping it only if it is usable.
func peekTaskID(data []byte) string {
	var id string
	_ = jsonobj.Walk(data, func(key string, dec *json.Decoder) error {
		if key == "task_id" {
			if dec.Decode(&id) != nil || !validTaskID(id) {
				id = ""
			}
			return jsonobj.ErrStop
		}
		return jsonobj.Skip(dec)
	})
	return id
}

// taskFields are the exact (case-sensitive) keys of a task.
var taskFields = map[string]bool{"schema": true, "task_id": true, "signer": true, "signing_keys": true,
	"signing_key_names": true, "digests": true, "references": true, "identity_references": true,
	"inputs": true, "repo": true, "requester": true, "reply_to": true}

// checkKeys refuses what encoding/json would quietly accept: keys that
// match a field only case-insensitively, and duplicate keys.
func checkKeys(data []byte) error {
	seen := map[string]bool{}
	return jsonobj.Walk(data, func(key string, dec *json.Decoder) error {
		if !taskFields[key] {
			return &TaskError{Field: key, Problem: "unknown field"}
		}
		if seen[key] {
			return &TaskError{Field: key, Problem: "duplicate key"}
		}
		seen[key] = true
		return jsonobj.Skip(dec)
	})
}

func validTaskID(id string) bool { return len(id) <= 200 && taskIDPattern.MatchString(id) }

func fieldOf(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return typeErr.Field
	}
	if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
		return strings.Trim(strings.TrimPrefix(msg, "json: unknown field "), `"`)
	}
	return ""
}

func (t *Task) validate() error {
	switch {
	case t.Schema != TaskSchema:
		return &TaskError{Field: "schema", Problem: fmt.Sprintf("want %q, got %q", TaskSchema, t.Schema)}
	case t.ReplyTo != "" && strings.ContainsAny(t.ReplyTo, " \t*>"):
		return &TaskError{Field: "reply_to", Problem: "must be a subject without spaces or wildcards"}
	}
	op, err := t.operation()
	if err != nil {
		return err
	}
	var in *signers.InputError
	if err := op.Validate(); errors.As(err, &in) {
		return &TaskError{Field: in.Field, Problem: in.Problem}
	}
	return nil
}

// operation is the task as the operation its signer (Kinds) takes.
func (t *Task) operation() (Operation, error) {
	k, err := LookupKind(t.Signer)
	if err != nil {
		return nil, err
	}
	return k.Operation(t)
}

func (t *Task) containerSign() *signers.ContainerSign {
	return &signers.ContainerSign{Digests: t.Digests, References: t.References, SigningKeys: t.SigningKeys,
		SigningKeyNames: t.SigningKeyNames, TaskID: t.TaskID, Requester: t.Requester, IdentityReferences: t.IdentityReferences}
}

func (t *Task) clearSign() *signers.ClearSign {
	return &signers.ClearSign{Inputs: t.Inputs, SigningKeys: t.SigningKeys, TaskID: t.TaskID, Repo: t.Repo, Requester: t.Requester}
}

// blobSign takes Inputs as the base64 blobs.
func (t *Task) blobSign() *signers.BlobSign {
	return &signers.BlobSign{Blobs: t.Inputs, SigningKeys: t.SigningKeys, SigningKeyNames: t.SigningKeyNames, TaskID: t.TaskID, Requester: t.Requester}
}
