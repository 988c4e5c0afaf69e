package cosign

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/signers"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)) }

// The daemon takes keys only through key_aliases: a task's raw key
// reference (a file, http://, env://) never reaches cosign.
func TestDaemonSignsOnlyWithAliasedKeys(t *testing.T) {
	for _, key := range []string{"/keys/prod.key", "env://PUBTOOLS_SIGN_COSIGN_SIGNER_REGISTRY_PASSWORD", "http://attacker.example/k", "k8s://ns/key"} {
		r := newRunner()
		s := New(Options{Config: testConfig(), Runner: r, Log: quietLog(), Daemon: true})
		op := containerOp(1, 1)
		op.SigningKeys = []string{key}
		_, err := s.ContainerSign(context.Background(), op)
		var in *signers.InputError
		require.ErrorAs(t, err, &in, key)
		assert.Equal(t, "signing_keys[0]", in.Field)
		assert.Contains(t, in.Problem, "cosign_signer.key_aliases")
		assert.Empty(t, r.calls, "cosign never ran for %s", key)
	}
	// The CLI keeps the Python tool's behaviour for its own command line.
	r := newRunner()
	op := containerOp(1, 1)
	op.SigningKeys = []string{"/keys/other.key"}
	_, err := New(Options{Config: testConfig(), Runner: r, Log: quietLog()}).ContainerSign(context.Background(), op)
	require.NoError(t, err)
	require.Len(t, r.calls, 1)
	assert.Contains(t, r.calls[0], "/keys/other.key")
}

// configCopier keeps the private config.json each cosign run was given
// (the file is removed when the operation ends).
type configCopier struct {
	*recordingRunner
	mu   sync.Mutex
	seen []string
}

func (c *configCopier) Run(ctx context.Context, argv, env []string) (string, string, error) {
	for _, e := range env {
		if d, ok := strings.CutPrefix(e, "DOCKER_CONFIG="); ok {
			data, _ := os.ReadFile(filepath.Join(d, "config.json"))
			c.mu.Lock()
			c.seen = append(c.seen, string(data))
			c.mu.Unlock()
		}
	}
	return c.recordingRunner.Run(ctx, argv, env)
}

func authsOf(t *testing.T, doc string) []string {
	t.Helper()
	var d struct {
		Auths map[string]any `json:"auths"`
	}
	require.NoError(t, json.Unmarshal([]byte(doc), &d))
	var hosts []string
	for h := range d.Auths {
		hosts = append(hosts, h)
	}
	return hosts
}

// Registry credentials go only to cosign_signer.registries in the daemon;
// the CLI writes them for the registries on its command line.
func TestCredentialsOnlyForListedRegistries(t *testing.T) {
	cfg := testConfig()
	cfg.RegistryUser, cfg.RegistryPassword = "robot", "pw"
	cfg.Registries = []string{"reg.io"}
	op := &signers.ContainerSign{SigningKeys: []string{"prod"},
		References: []string{"reg.io/ns/a:1", "attacker.example/ns/b:1"}, Digests: []string{dgst, dgst}}

	daemon := &configCopier{recordingRunner: newRunner()}
	_, err := New(Options{Config: cfg, Runner: daemon, Log: quietLog(), Daemon: true}).ContainerSign(context.Background(), op)
	require.NoError(t, err)
	require.NotEmpty(t, daemon.seen)
	for _, doc := range daemon.seen {
		assert.Equal(t, []string{"reg.io"}, authsOf(t, doc))
	}

	cli := &configCopier{recordingRunner: newRunner()}
	_, err = New(Options{Config: cfg, Runner: cli, Log: quietLog()}).ContainerSign(context.Background(), op)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"reg.io", "attacker.example"}, authsOf(t, cli.seen[0]))
}

func TestAuthFileIsFilteredToTheRegistries(t *testing.T) {
	out, err := filterAuthFile([]byte(`{"auths": {"reg.io": {"auth": "a"}, "https://index.docker.io/v1/": {"auth": "b"}, "other.io": {"auth": "c"}},
		"credHelpers": {"other.io": "ecr-login"}, "credsStore": "desktop"}`), []string{"reg.io", "index.docker.io"}, false)
	require.NoError(t, err)
	assert.JSONEq(t, `{"auths": {"reg.io": {"auth": "a"}, "https://index.docker.io/v1/": {"auth": "b"}}, "credHelpers": {}}`, string(out))
}

// The daemon's cosign environment is built, not inherited: its settings
// (a registry password given as PUBTOOLS_SIGN_…) never reach cosign.
func TestCosignEnvironmentIsBuiltNotInherited(t *testing.T) {
	t.Setenv("PUBTOOLS_SIGN_COSIGN_SIGNER_REGISTRY_PASSWORD", "s3cret")
	t.Setenv("COSIGN_PASSWORD", "from-shell")
	cfg := testConfig()
	cfg.EnvVariables = map[string]string{"COSIGN_PASSWORD": ""}
	env := New(Options{Config: cfg, Daemon: true}).environment(&dockerConfig{dir: "/tmp/x"})
	joined := strings.Join(env, "\n")
	assert.NotContains(t, joined, "s3cret")
	assert.NotContains(t, joined, "from-shell")
	assert.Contains(t, env, "COSIGN_PASSWORD=")
	assert.Contains(t, env, "DOCKER_CONFIG=/tmp/x")
	assert.Contains(t, joined, "PATH=")
	cliEnv := strings.Join(New(Options{Config: testConfig()}).environment(nil), "\n")
	assert.Contains(t, cliEnv, "COSIGN_PASSWORD=from-shell", "the CLI passes its operator's shell on, as the Python tool did")
}
