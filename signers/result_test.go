package signers

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/internal/pyjson"
)

func TestResultPrintsLikePythonJSONDumps(t *testing.T) {
	res := &Result{
		SignerResult: SignerResult{Status: StatusOK},
		OperationResults: []any{
			ReplyResult{Body: json.RawMessage(`{"msg":{"request_id":"r","errors":[],"signed_claim":"c\u00e9"}}`), Properties: map[string]any{"z": 1, "a": "b"}},
			"",
		},
		Operation:   (&ClearSign{Inputs: []string{"x"}, SigningKeys: []string{"K"}, TaskID: "t"}).Dict(),
		SigningKeys: []string{"K"},
		KeysField:   "signing_key", // the field name is the caller's choice
	}
	want := `{"signer_result": {"status": "ok", "error_message": ""}, "operation_results": [[{"msg": {"request_id": "r", "errors": [], "signed_claim": "c\u00e9"}}, {"a": "b", "z": 1}], ""], ` +
		`"operation": {"inputs": ["x"], "signing_keys": ["K"], "task_id": "t", "repo": null, "requester": null}, "signing_key": ["K"]}`
	var buf bytes.Buffer
	require.NoError(t, res.WriteJSON(&buf, nil))
	assert.Equal(t, want, buf.String())
	whole, err := pyjson.Marshal(res)
	require.NoError(t, err)
	assert.Equal(t, want, string(whole), "streaming and whole encodings agree")

	buf.Reset()
	require.NoError(t, res.WriteJSON(&buf, pyjson.Object{{Key: "schema", Value: "s"}}))
	assert.Contains(t, buf.String(), `{"schema": "s", "signer_result": `)
}

// A spooled result prints exactly as the same replies held in memory,
// reply after reply through one reused encoding buffer, to a writer that
// is not a bytes.Buffer (a file or stdout).
func TestSpooledRepliesPrintLikeRepliesInMemory(t *testing.T) {
	replies := []ReplyResult{
		{Body: json.RawMessage(`{"msg":{"request_id":"a-much-longer-request-id-than-the-next","signed_claim":"x\u00e9y"}}`), Properties: map[string]any{"k": "v"}},
		{Body: json.RawMessage(`{"msg":{"request_id":"b"}}`)},
		{Body: json.RawMessage(`{"msg":{"request_id":"c","errors":["no"]}}`), Properties: map[string]any{"n": 2}},
	}
	inMemory := &Result{SignerResult: SignerResult{Status: StatusOK}, SigningKeys: []string{"K"}}
	spooled := &Result{SignerResult: SignerResult{Status: StatusOK}, SigningKeys: []string{"K"}}
	spool, err := NewSpool(t.TempDir())
	require.NoError(t, err)
	defer spool.Close()
	spooled.Spool = spool
	var scratch []byte
	for _, r := range replies {
		inMemory.OperationResults = append(inMemory.OperationResults, r)
		scratch, err = r.AppendPyJSON(scratch[:0])
		require.NoError(t, err)
		item, err := spool.Put(scratch)
		require.NoError(t, err)
		spooled.OperationResults = append(spooled.OperationResults, item)
	}
	want := `{"signer_result": {"status": "ok", "error_message": ""}, "operation_results": [` +
		`[{"msg": {"request_id": "a-much-longer-request-id-than-the-next", "signed_claim": "x\u00e9y"}}, {"k": "v"}], ` +
		`[{"msg": {"request_id": "b"}}, {}], ` +
		`[{"msg": {"request_id": "c", "errors": ["no"]}}, {"n": 2}]], "operation": {}, "signing_keys": ["K"]}`
	for name, res := range map[string]*Result{"in memory": inMemory, "spooled": spooled} {
		var got bytes.Buffer
		require.NoError(t, res.WriteJSON(struct{ io.Writer }{&got}, nil))
		assert.Equal(t, want, got.String(), name)
	}
	appended, err := replies[1].AppendPyJSON([]byte("prefix "))
	require.NoError(t, err)
	assert.Equal(t, `prefix [{"msg": {"request_id": "b"}}, {}]`, string(appended), "AppendPyJSON keeps what out held")
}
