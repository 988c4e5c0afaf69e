package cli

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/emulator"
)

// `serve` with its embedded NATS and `submit --wait`, as the README runs
// them in two terminals.
func TestServeAndSubmitWait(t *testing.T) {
	h := newHarness(t, "main", confOptions{})
	h.serve(emulator.Faults{})
	url, serve := startServe(t, h, "")
	stdout, stderr, code := runCLI(t, "submit", "--nats-url", url, "--signer", "msg-container", "--task-id", "cli-1",
		"--signing-key", "0123456789ABCDEF", "--reference", "registry.example/ns/app:1", "--digest", digestN(1), "--wait", "--timeout", "30s")
	require.Equal(t, 0, code, stderr)
	lines := strings.SplitN(stdout, "\n", 2)
	assert.Equal(t, "cli-1", lines[0], "prints the task id first")
	assert.Contains(t, lines[1], `"schema": "pubtools-sign.result.v1", "task_id": "cli-1", "worker_id": "cli-test"`)
	assert.Contains(t, lines[1], `"signer_result": {"status": "ok", "error_message": ""}`)

	// The same task id again: it is done, its envelope is the answer.
	again, stderr, code := runCLI(t, "submit", "--nats-url", url, "--signer", "msg-container", "--task-id", "cli-1",
		"--signing-key", "0123456789ABCDEF", "--reference", "registry.example/ns/app:1", "--digest", digestN(1), "--wait", "--timeout", "5s")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "already has an envelope")
	assert.Equal(t, stdout, again, "the stored envelope, not a second signing")

	_, stderr, code = runCLI(t, "submit", "--nats-url", url, "--signer", "msg-container", "--signing-key", "K",
		"--reference", "no-repo", "--digest", digestN(1))
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "references[0]")

	assert.Equal(t, 0, serve.Stop(), "a drained shutdown (SIGTERM) exits 0")
}
