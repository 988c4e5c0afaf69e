package worker

import (
	"bytes"
	"errors"
	"io"
	"time"

	"github.com/release-engineering/pubtools-sign-go/internal/pyjson"
	"github.com/release-engineering/pubtools-sign-go/signers"
)

// Envelope is the result of one task: the CLI's JSON document plus who ran
// it, which attempt it was and when.
type Envelope struct {
	// Tenant is the task's tenant (from its subject): with TaskID it
	// names the envelope's subject.
	Tenant      string
	TaskID      string
	WorkerID    string
	Attempt     int
	Started     time.Time
	Finished    time.Time
	TraceParent string
	Result      *signers.Result
	// Invalid marks the envelope of a task that could not be run.
	Invalid bool

	stored  []byte // an envelope an earlier delivery already published
	encoded []byte // Encode's output: encoding releases the result's spool
	// published is what publish sent (a pointer envelope for a large one).
	published []byte
}

// Outcome classifies an envelope for metrics: ok, failed (replies or
// references failed), error (the signer failed) or invalid (bad task).
func (e *Envelope) Outcome() string {
	switch {
	case e.Invalid:
		return "invalid"
	case e.Result.SignerResult.Status != signers.StatusOK:
		return "error"
	case e.Result.Failed:
		return "failed"
	}
	return "ok"
}

// Encode writes the envelope JSON (json.dumps layout, like the CLI). It
// encodes once: the spool of a large result is gone after the first
// call, so later calls return the same bytes.
func (e *Envelope) Encode() ([]byte, error) {
	if e.stored != nil {
		return e.stored, nil
	}
	if e.published != nil {
		return e.published, nil
	}
	if e.encoded != nil {
		return e.encoded, nil
	}
	var buf bytes.Buffer
	// About the size of a one-reference envelope, and more for more
	// replies: one allocation where growing from empty took six.
	buf.Grow(min(1024+2048*len(e.Result.OperationResults), 1<<20))
	if err := e.encodeTo(&buf); err != nil {
		return nil, err
	}
	e.encoded = buf.Bytes()
	return e.encoded, nil
}

// encodeTo streams the envelope to w and releases the result.
func (e *Envelope) encodeTo(w io.Writer) error {
	err := e.Result.WriteJSON(w, e.lead())
	// The encoding is all that is kept of a result: release what it holds.
	return errors.Join(err, e.Result.Close())
}

// lead is the envelope's members before the result document's: who ran
// the task, when, and whether it failed. A pointer envelope starts the
// same way.
func (e *Envelope) lead() pyjson.Object {
	lead := pyjson.Object{
		{Key: "schema", Value: ResultSchema},
		{Key: "task_id", Value: e.TaskID},
		{Key: "worker_id", Value: e.WorkerID},
		{Key: "attempt", Value: e.Attempt},
		{Key: "started_at", Value: e.Started.UTC().Format(time.RFC3339Nano)},
		{Key: "finished_at", Value: e.Finished.UTC().Format(time.RFC3339Nano)},
		{Key: "duration_ms", Value: e.Finished.Sub(e.Started).Milliseconds()},
	}
	if e.TraceParent != "" {
		lead = append(lead, pyjson.Member{Key: "traceparent", Value: e.TraceParent})
	}
	return append(lead, pyjson.Member{Key: "failed", Value: e.Result.Failed})
}

// invalidResult is the result document of a task that could not be run.
func invalidResult(err error) *signers.Result {
	return &signers.Result{
		SignerResult: signers.SignerResult{Status: signers.StatusError, ErrorMessage: "invalid task: " + err.Error()},
		Operation:    pyjson.Object{},
	}
}
