package signers

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/release-engineering/pubtools-sign-go/internal/pyjson"
)

// Status values of SignerResult.
const (
	StatusOK    = "ok"
	StatusError = "error"
)

// SignerResult says whether the signer could do its job at all.
type SignerResult struct {
	Status       string `json:"status"`
	ErrorMessage string `json:"error_message"`
}

// Result is the document the Python tool prints:
// {"signer_result", "operation_results", "operation", "signing_keys"}.
type Result struct {
	SignerResult SignerResult
	// OperationResults has one entry per request in input order, of one of
	// three types: a ReplyResult or, for large operations, its Spooled
	// encoding (both Replies: ask them for the reply body), a cosign
	// message string, or "" where nothing came back. Each prints itself
	// through pyjson.
	OperationResults []any
	// Operation is the operation's Python to_dict().
	Operation   pyjson.Object
	SigningKeys []string
	// KeysField is the name SigningKeys print under (default
	// "signing_keys"; every Python command prints that since the tool
	// took several keys, msg-clear-sign included).
	KeysField string
	// Failed is true when any reply carried errors (or, for cosign, any
	// reference failed) although the signer itself worked.
	Failed bool
	// Spool holds the bodies of Spooled operation results, if any.
	Spool *Spool
}

// Close releases what the result keeps outside memory. Print it first.
func (r *Result) Close() error {
	if r.Spool == nil {
		return nil
	}
	return r.Spool.Close()
}

// Members is the result as an ordered JSON object, for callers that add
// keys (the daemon's envelope).
func (r *Result) Members() pyjson.Object {
	results := r.OperationResults
	if results == nil {
		results = []any{}
	}
	field := r.KeysField
	if field == "" {
		field = "signing_keys"
	}
	return pyjson.Object{
		{Key: "signer_result", Value: r.SignerResult},
		{Key: "operation_results", Value: results},
		{Key: "operation", Value: r.Operation},
		{Key: field, Value: list(r.SigningKeys)},
	}
}

// MarshalJSON writes the result in the Python tool's key order, compact as
// encoding/json writes; WriteJSON and pyjson.Marshal write json.dumps's
// layout. Every MarshalJSON of this package is compact, every
// MarshalPyJSON json.dumps's.
func (r *Result) MarshalJSON() ([]byte, error) { return r.Members().MarshalJSON() }

// WriteJSON streams the result as Python's json.dumps prints it, after the
// members of lead (the daemon's envelope fields). Each operation result is
// encoded on its own, so 10,000 replies never sit in memory twice.
func (r *Result) WriteJSON(w io.Writer, lead pyjson.Object) error {
	// A bytes.Buffer (the daemon's envelopes) is written directly; other
	// writers (a file, stdout) through a buffer of their own.
	var bw jsonWriter
	flush := func() error { return nil }
	if b, ok := w.(*bytes.Buffer); ok {
		bw = b
	} else {
		buf := bufio.NewWriterSize(w, 64<<10)
		bw, flush = buf, buf.Flush
	}
	members := append(append(pyjson.Object{}, lead...), r.Members()...)
	bw.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			bw.WriteString(", ")
		}
		if err := writePy(bw, m.Key); err != nil {
			return err
		}
		bw.WriteString(": ")
		if m.Key != "operation_results" {
			if err := writePy(bw, m.Value); err != nil {
				return fmt.Errorf("encode %s: %w", m.Key, err)
			}
			continue
		}
		bw.WriteByte('[')
		for j, item := range m.Value.([]any) {
			if j > 0 {
				bw.WriteString(", ")
			}
			if err := writePy(bw, item); err != nil {
				return fmt.Errorf("encode operation_results[%d]: %w", j, err)
			}
		}
		bw.WriteByte(']')
	}
	bw.WriteByte('}')
	return flush()
}

// jsonWriter is what WriteJSON writes to: a *bytes.Buffer or a
// *bufio.Writer (whose error, if any, Flush reports).
type jsonWriter interface {
	io.Writer
	io.ByteWriter
	io.StringWriter
	// AvailableBuffer is the writer's free space, to append into.
	AvailableBuffer() []byte
}

// writePy writes v's json.dumps form, encoded straight into w's free
// space: 10,000 replies are written without a buffer of their own each.
func writePy(w jsonWriter, v any) error {
	b, err := pyjson.Append(w.AvailableBuffer(), v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// Fail marks the whole operation as failed with message.
func (r *Result) Fail(message string) {
	r.SignerResult = SignerResult{Status: StatusError, ErrorMessage: message}
}

// ReplyResult is one signing-server reply as the Python tool reports it:
// the pair [reply_body, reply_application_properties].
type ReplyResult struct {
	Body       json.RawMessage
	Properties map[string]any
}

// Reply is an operation result that holds a signing-server reply.
type Reply interface {
	// ReplyBody is the reply's body as received (a JSON object).
	ReplyBody() (json.RawMessage, error)
}

var (
	_ Reply = ReplyResult{}
	_ Reply = Spooled{}
)

// ReplyBody implements Reply.
func (r ReplyResult) ReplyBody() (json.RawMessage, error) { return r.Body, nil }

// MarshalJSON writes [body, properties], compact.
func (r ReplyResult) MarshalJSON() ([]byte, error) { return compactPy(r) }

// compactPy is v's json.dumps form made compact, as encoding/json writes.
func compactPy(v pyjson.Marshaler) ([]byte, error) {
	py, err := v.MarshalPyJSON()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, py); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// MarshalPyJSON writes [body, properties]. Property keys are sorted: AMQP
// hands them over as a map, so their wire order is not known.
func (r ReplyResult) MarshalPyJSON() ([]byte, error) { return r.AppendPyJSON(nil) }

// AppendPyJSON appends what MarshalPyJSON writes to out.
func (r ReplyResult) AppendPyJSON(out []byte) ([]byte, error) {
	out = append(out, '[')
	if len(r.Body) == 0 {
		out = append(out, "null"...)
	} else {
		var err error
		if out, err = pyjson.AppendReformat(out, r.Body); err != nil {
			return nil, fmt.Errorf("reply body: %w", err)
		}
	}
	out = append(out, ", "...)
	props := make(pyjson.Object, 0, len(r.Properties))
	keys := make([]string, 0, len(r.Properties))
	for k := range r.Properties {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		props = append(props, pyjson.Member{Key: k, Value: jsonSafe(r.Properties[k])})
	}
	out, err := pyjson.Append(out, props)
	if err != nil {
		return nil, fmt.Errorf("reply properties: %w", err)
	}
	return append(out, ']'), nil
}

// jsonSafe turns AMQP property values JSON cannot carry into strings.
func jsonSafe(v any) any {
	switch x := v.(type) {
	case nil, string, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		return x
	case []byte:
		return string(x)
	default:
		return fmt.Sprint(x)
	}
}
