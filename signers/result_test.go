package signers

import (
	"bytes"
	"encoding/json"
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
