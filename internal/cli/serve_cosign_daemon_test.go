package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

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
	httpPort := testenv.Port(t)
	conf := testenv.TenantsCosignConfig(t, cosignBin, password, own.Host, other.Host, keys["a"], keys["b"]) + fmt.Sprintf(`worker:
  id: serve-cosign
nats:
  url: %s
http:
  listen: 127.0.0.1:%d
`, n.UserURL("pubtools-sign"), httpPort)
	cfgFile := filepath.Join(dir, "daemon.yaml")
	require.NoError(t, os.WriteFile(cfgFile, []byte(conf), 0o600))

	startServeInProcess(t, cfgFile, httpPort)

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
