package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/emulator"
)

// A 10,000-reference release makes a ~11 MB envelope, ten times NATS's
// max payload. It is stored as an object behind a small pointer envelope,
// and `submit --wait` prints the whole envelope; every reference is signed
// once.
func TestSubmitWaitReadsTheEnvelopeOfATenThousandReferenceTask(t *testing.T) {
	if testing.Short() {
		t.Skip("signs 10,000 references")
	}
	h := newHarness(t, "main", confOptions{timeout: 60, retries: 2, sendRetries: 2})
	srv := h.serve(emulator.Faults{})
	url, _ := startServe(t, h, "")

	const n = 10_000
	task := map[string]any{"schema": "pubtools-sign.task.v1", "task_id": "release-10k", "signer": "msg-container",
		"signing_keys": []string{"0123456789ABCDEF"}}
	var refs, digests []string
	for i := range n {
		refs = append(refs, fmt.Sprintf("r.io/n/a:%d", i))
		digests = append(digests, digestN(i))
	}
	task["references"], task["digests"] = refs, digests
	data, err := json.Marshal(task)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "task.json")
	require.NoError(t, os.WriteFile(file, data, 0o600))

	stdout, stderr, code := runCLI(t, "submit", "--nats-url", url, "--file", file, "--wait", "--timeout", "5m")
	require.Equal(t, 0, code, stderr)
	lines := strings.SplitN(stdout, "\n", 2)
	require.Len(t, lines, 2)
	var env struct {
		TaskID           string            `json:"task_id"`
		SignerResult     map[string]string `json:"signer_result"`
		OperationResults []json.RawMessage `json:"operation_results"`
		EnvelopeObject   any               `json:"envelope_object"`
	}
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &env))
	assert.Equal(t, "release-10k", env.TaskID)
	assert.Equal(t, "ok", env.SignerResult["status"])
	assert.Len(t, env.OperationResults, n)
	assert.Nil(t, env.EnvelopeObject, "the whole envelope, not the pointer")
	assert.Greater(t, len(lines[1]), 1<<20)
	assert.Equal(t, uint64(n), srv.Stats().Requests, "every reference signed once")

	// What the results stream holds is the pointer, within one message.
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	results, err := js.Stream(context.Background(), "PUBTOOLS_SIGN_RESULTS")
	require.NoError(t, err)
	m, err := results.GetLastMsgForSubject(context.Background(), "pubtools.sign.results.default.release-10k")
	require.NoError(t, err)
	assert.Less(t, len(m.Data), 4096)
	assert.Contains(t, string(m.Data), `"envelope_object": {"bucket": "PUBTOOLS_SIGN_ENVELOPES_default", "name": "pubtools.sign.results.default.release-10k"`)
	assert.Contains(t, string(m.Data), `"signer_result": {"status": "ok", "error_message": ""}`)

	// Asked again, the stored envelope is the answer, resolved the same way.
	again, stderr, code := runCLI(t, "submit", "--nats-url", url, "--file", file, "--wait", "--timeout", "30s")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, stdout, again)
	assert.Equal(t, uint64(n), srv.Stats().Requests, "not signed twice")
}
