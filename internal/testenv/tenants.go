package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// TenantsNATS is nats-server running the shipped deploy/nats/tenants.conf
// (account SIGN with users pubtools-sign and operator, accounts TEAM_A and
// TEAM_B with users team-a and team-b), moved only to port and a private
// store dir.
type TenantsNATS struct {
	// URL has no credentials: log in with UserInfo(user, Passwords[user]).
	URL string
	// Passwords are the users' passwords, given to the config through the
	// environment as the shipped file expects.
	Passwords map[string]string
}

// TenantsConf is the shipped multi-tenant nats-server configuration.
func TenantsConf() string { return filepath.Join(RepoRoot(), "deploy", "nats", "tenants.conf") }

// TenantsPolicy is the pubtools-sign policy matching TenantsConf.
func TenantsPolicy() string {
	return filepath.Join(RepoRoot(), "deploy", "nats", "tenants-policy.yaml")
}

// StartTenantsNATS serves TenantsConf on 127.0.0.1:port until the test ends.
func StartTenantsNATS(t testing.TB, port int) *TenantsNATS {
	t.Helper()
	n := &TenantsNATS{URL: fmt.Sprintf("nats://127.0.0.1:%d", port), Passwords: map[string]string{
		"pubtools-sign": "worker-Pa55-never-print", "team-a": "team-a-Pa55-never-print",
		"team-b": "team-b-Pa55-never-print", "operator": "operator-Pa55-never-print",
	}}
	for env, user := range map[string]string{"PUBTOOLS_SIGN_NATS_PASSWORD": "pubtools-sign", "TEAM_A_NATS_PASSWORD": "team-a",
		"TEAM_B_NATS_PASSWORD": "team-b", "NATS_OPERATOR_PASSWORD": "operator"} {
		t.Setenv(env, n.Passwords[user])
	}
	opts, err := server.ProcessConfigFile(TenantsConf())
	if err != nil {
		t.Fatalf("shipped %s: %v", TenantsConf(), err)
	}
	opts.Host, opts.Port, opts.StoreDir = "127.0.0.1", port, t.TempDir()
	opts.NoSigs, opts.NoLog = true, true
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatalf("nats-server with %s did not start on port %d", TenantsConf(), port)
	}
	return n
}

// UserURL is URL with user's name and password in it (as nats.url may
// hold them).
func (n *TenantsNATS) UserURL(user string) string {
	return fmt.Sprintf("nats://%s:%s@%s", user, n.Passwords[user], n.URL[len("nats://"):])
}

// TenantsCosignConfig is TenantsPolicy with its registries moved to own and
// other (host:port), followed by a cosign_signer section that signs with
// cosignBin: key aliases team-a-cosign and team-b-cosign (keyA, keyB),
// registry credentials robot/password for own only, no transparency log.
func TenantsCosignConfig(t testing.TB, cosignBin, password, own, other, keyA, keyB string) string {
	t.Helper()
	policy, err := os.ReadFile(TenantsPolicy())
	if err != nil {
		t.Fatal(err)
	}
	shipped := strings.NewReplacer("registry.example.com", own, "quay.example.org", other).Replace(string(policy))
	return shipped + fmt.Sprintf(`cosign_signer:
  cosign_bin: %s
  timeout: 1m0s
  num_threads: 2
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
`, cosignBin, password, own, keyA, keyB)
}
