package cli

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/emulator"
	"github.com/release-engineering/pubtools-sign-go/internal/testenv"
)

// `serve` as the pubtools-sign user of the shipped nats-server config
// (account SIGN, password in nats.url) and `submit --tenant team-a --wait`
// as team-a (its own account, which imports only its tasks, micro
// endpoint, direct get and live results): the tenant's task is signed with the requester its policy records, a
// requester it may not name is refused, and no password appears in
// `config check`, the daemon's log or a connect error.
func TestServeAndSubmitAsATenant(t *testing.T) {
	n := testenv.StartTenantsNATS(t, testenv.Port(t))
	h := newHarness(t, "main", confOptions{})
	signingServer := h.serve(emulator.Faults{})
	policy, err := os.ReadFile(testenv.TenantsPolicy())
	require.NoError(t, err)
	conf, err := os.ReadFile(h.conf)
	require.NoError(t, err)
	httpPort := testenv.Port(t)
	daemon := string(conf) + string(policy) + fmt.Sprintf(`cosign_signer:
  cosign_bin: %s
  key_aliases:
    team-a-cosign: /nonexistent/a.key
    team-b-cosign: /nonexistent/b.key
worker:
  id: tenant-test
nats:
  url: %s
http:
  listen: 127.0.0.1:%d
log:
  format: json
`, testenv.Cosign(t), n.UserURL("pubtools-sign"), httpPort)
	require.NoError(t, os.WriteFile(h.conf, []byte(daemon), 0o600))
	secret := n.Passwords["pubtools-sign"]

	checked, stderr, code := runCLI(t, "config", "check", h.conf)
	require.Equal(t, 0, code, stderr)
	assert.NotContains(t, checked, secret, "config check masks the NATS password")
	assert.Contains(t, checked, "nats://pubtools-sign:xxxxx@")

	serve := startServeInProcess(t, h.conf, httpPort)
	serveErr := serve.Stderr

	stdout, stderr, code := runCLI(t, "submit", "--tenant", "team-a", "--nats-url", n.UserURL("team-a"), "--signer", "msg-clear",
		"--task-id", "tenant-1", "--signing-key", "team-a-release", "--input", "hello", "--wait", "--timeout", "60s")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, `"status": "ok"`)
	assert.Contains(t, stdout, `"requester": "team-a-pipeline"`, "the requester the policy records for team-a")

	stdout, stderr, code = runCLI(t, "submit", "--tenant", "team-a", "--nats-url", n.UserURL("team-a"), "--signer", "msg-clear",
		"--task-id", "tenant-2", "--signing-key", "team-a-release", "--input", "hello", "--requester", "release-bot", "--wait", "--timeout", "60s")
	assert.Equal(t, ExitFailed, code)
	assert.Contains(t, stdout, `invalid task: requester: \"release-bot\" is not in tenants.team-a.requesters`, serveErr.String())
	assert.NotContains(t, stderr, "cannot tell", "team-a's direct get answers")

	// Found again by a direct get, the one JetStream call team-a's account
	// may make on the daemon's streams: not submitted twice.
	stdout, stderr, code = runCLI(t, "submit", "--tenant", "team-a", "--nats-url", n.UserURL("team-a"), "--signer", "msg-clear",
		"--task-id", "tenant-1", "--signing-key", "team-a-release", "--input", "hello", "--wait", "--timeout", "60s")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "task tenant-1 already has an envelope; not submitted again")
	assert.Contains(t, stdout, `"status": "ok"`)
	// A refused task id may be submitted again; the earlier refusal is not
	// taken for the new answer.
	stdout, stderr, code = runCLI(t, "submit", "--tenant", "team-a", "--nats-url", n.UserURL("team-a"), "--signer", "msg-clear",
		"--task-id", "tenant-2", "--signing-key", "team-a-release", "--input", "hello", "--wait", "--timeout", "60s")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, `"status": "ok"`)

	// A key outside team-a's signing_keys: refused, nothing reaches the signing server.
	before := signingServer.Stats().Requests
	stdout, _, code = runCLI(t, "submit", "--tenant", "team-a", "--nats-url", n.UserURL("team-a"), "--signer", "msg-clear",
		"--task-id", "tenant-3", "--signing-key", "team-b-release", "--input", "hello", "--wait", "--timeout", "60s")
	assert.Equal(t, ExitFailed, code)
	assert.Contains(t, stdout, `invalid task: signing_keys[0]: \"team-b-release\" is not in tenants.team-a.signing_keys`)
	assert.Equal(t, before, signingServer.Stats().Requests, "no request was sent")

	wrong := strings.Replace(n.UserURL("team-a"), n.Passwords["team-a"], "guessed-Pa55", 1)
	_, stderr, code = runCLI(t, "submit", "--tenant", "team-a", "--nats-url", wrong, "--signer", "msg-clear",
		"--signing-key", "team-a-release", "--input", "x")
	assert.Equal(t, ExitFailed, code)
	assert.Contains(t, stderr, "connect to NATS at nats://team-a:xxxxx@")
	assert.NotContains(t, stderr, "guessed-Pa55")

	serve.Stop()
	logs := serveErr.String()
	assert.Contains(t, logs, `"msg":"worker ready"`)
	assert.NotContains(t, logs, secret, "the daemon's log holds no NATS password")
}
