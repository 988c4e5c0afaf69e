package cli

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/internal/testenv"
)

// `serve` runs cosign for untrusted tasks: as the daemon (keys only by
// alias, credentials only for cosign_signer.registries, a built
// environment), not as the CLI. team-b may sign on quay.example.org (the
// shipped policy), which is not in cosign_signer.registries; a registry
// there that asks for credentials, as an attacker's would, gets none.
func TestServeGivesCosignCredentialsOnlyToListedRegistries(t *testing.T) {
	n := testenv.StartTenantsNATS(t, testenv.Port(t))
	const password = "robot-Pa55-serve-never-give"
	own := testenv.StartRegistry(t, "robot", password)
	other := testenv.StartRegistry(t, "robot", password) // asks, records what it gets
	cosignBin := testenv.Cosign(t)
	dir := t.TempDir()
	keys := map[string]string{}
	for _, team := range []string{"a", "b"} {
		d := filepath.Join(dir, team)
		require.NoError(t, os.MkdirAll(d, 0o700))
		keys[team], _ = testenv.CosignKeyPair(t, cosignBin, d)
	}
	policy, err := os.ReadFile(testenv.TenantsPolicy())
	require.NoError(t, err)
	httpPort := testenv.Port(t)
	conf := strings.NewReplacer("registry.example.com", own.Host, "quay.example.org", other.Host).Replace(string(policy)) + fmt.Sprintf(`cosign_signer:
  cosign_bin: %s
  timeout: 1m0s
  rekor_url: http://127.0.0.1:1
  upload_tlog: false
  allow_http_registry: true
  registry_user: robot
  registry_password: %s
  registries: [%s]
  retries: 1
  env_variables:
    COSIGN_PASSWORD: ""
  key_aliases:
    team-a-cosign: %s
    team-b-cosign: %s
worker:
  id: serve-cosign
nats:
  url: %s
http:
  listen: 127.0.0.1:%d
`, cosignBin, password, own.Host, keys["a"], keys["b"], n.UserURL("pubtools-sign"), httpPort)
	cfgFile := filepath.Join(dir, "daemon.yaml")
	require.NoError(t, os.WriteFile(cfgFile, []byte(conf), 0o600))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	serveErr := &lockedBuilder{}
	go func() {
		done <- Run(ctx, []string{"pubtools-sign", "serve", "--config-file", cfgFile}, IO{Stdout: &strings.Builder{}, Stderr: serveErr})
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	}()
	require.Eventually(t, func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", httpPort))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 30*time.Second, 50*time.Millisecond, "serve: %s", serveErr)

	imgOther := other.Host + "/ns/app:1"
	digestOther := other.PushRandomImage(t, imgOther) // the test's own push, with credentials
	pushed := len(other.Authorizations())
	stdout, stderr, _ := runCLI(t, "submit", "--tenant", "team-b", "--nats-url", n.UserURL("team-b"), "--signer", "cosign-container",
		"--task-id", "b-quay", "--signing-key", "team-b-cosign", "--reference", imgOther, "--digest", digestOther, "--wait", "--timeout", "90s")
	require.Contains(t, stdout, `"task_id": "b-quay"`, stderr)
	for _, a := range other.Authorizations()[pushed:] {
		assert.NotContains(t, a, "Basic", "the unlisted registry received the daemon's registry credentials")
	}

	// The listed registry gets them.
	imgOwn := own.Host + "/team-b/app:1"
	digestOwn := own.PushRandomImage(t, imgOwn)
	before := len(own.Authorizations())
	stdout, stderr, code := runCLI(t, "submit", "--tenant", "team-b", "--nats-url", n.UserURL("team-b"), "--signer", "cosign-container",
		"--task-id", "b-own", "--signing-key", "team-b-cosign", "--reference", imgOwn, "--digest", digestOwn, "--wait", "--timeout", "90s")
	require.Equal(t, 0, code, "%s\n%s", stdout, stderr)
	assert.Greater(t, len(own.Authorizations()), before)
}
