package cli

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/emulator"
	"github.com/release-engineering/pubtools-sign-go/internal/testenv"
)

// `serve` with its embedded NATS and `submit --wait`, as the README runs
// them in two terminals.
func TestServeAndSubmitWait(t *testing.T) {
	h := newHarness(t, "main", confOptions{})
	h.serve(emulator.Faults{})
	natsPort, httpPort := testenv.Port(t), testenv.Port(t)
	conf, err := os.ReadFile(h.conf)
	require.NoError(t, err)
	daemon := string(conf) + fmt.Sprintf("worker:\n  id: cli-test\nnats:\n  embedded_listen: 127.0.0.1:%d\n  data_dir: %s\nhttp:\n  listen: 127.0.0.1:%d\nlog:\n  format: json\n",
		natsPort, t.TempDir(), httpPort)
	require.NoError(t, os.WriteFile(h.conf, []byte(daemon), 0o600))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		var out, errOut strings.Builder
		done <- Run(ctx, []string{"pubtools-sign", "serve", "--config-file", h.conf}, IO{Stdout: &out, Stderr: &errOut})
	}()
	require.Eventually(t, func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", httpPort))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 20*time.Second, 50*time.Millisecond)

	url := fmt.Sprintf("nats://127.0.0.1:%d", natsPort)
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

	cancel() // SIGTERM
	select {
	case code := <-done:
		assert.Equal(t, 0, code, "a drained shutdown exits 0")
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}
