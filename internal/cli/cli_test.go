package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/config"
)

func TestUsageMistakesExitTwoWithOneLine(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "conf.yaml")
	require.NoError(t, os.WriteFile(conf, []byte("msg_signer:\n  timeout: soon\n"), 0o600))
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"missing required flag", []string{"msg-container-sign", "--task-id", "t", "--digest", "sha256:ab", "--reference", "r/a:1"}, `"signing-key" not set`},
		{"unknown flag", []string{"msg-clear-sign", "--nope"}, "unknown flag: --nope"},
		{"config mistake names key and file", []string{"msg-container-sign", "--signing-key", "K", "--task-id", "t", "--digest", "sha256:ab", "--reference", "r/a:1", "--config-file", conf}, conf + ": msg_signer.timeout: cannot unmarshal"},
		{"mismatched digests", []string{"msg-container-sign", "--signing-key", "K", "--task-id", "t", "--digest", "sha256:ab", "--reference", "r/a:1", "--reference", "r/b:1", "--config-file", writeMinimalConfig(t)}, "digests: 1 digests for 2 references"},
		{"bad log level", []string{"msg-clear-sign", "--signing-key", "K", "--task-id", "t", "--log-level", "LOUD", "x"}, "--log-level"},
		{"bad signer type", []string{"msg-container-sign", "--signing-key", "K", "--task-id", "t", "--digest", "sha256:ab", "--reference", "r/a:1", "--signer-type", "triple"}, "--signer-type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, tc.args...)
			assert.Equal(t, 2, code)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, tc.want)
			assert.Equal(t, 1, strings.Count(strings.TrimSpace(stderr), "\n")+1, "one line: %q", stderr)
		})
	}
}

// writeMinimalConfig is a valid msg_signer section for tests that stop
// before connecting.
func writeMinimalConfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "conf.yaml")
	require.NoError(t, os.WriteFile(p, []byte(`msg_signer:
  messaging_brokers: [amqp://127.0.0.1:1]
  topic_send_to: /topic/x
  topic_listen_to: /topic/y
  environment: e
  service: s
  message_id_key: request_id
`), 0o600))
	return p
}

func TestPythonScriptNamesSelectTheCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Run(context.Background(), []string{"/usr/bin/pubtools-sign-msg-container-sign", "--help"}, IO{Stdout: &out, Stderr: &errOut})
	assert.Equal(t, 0, code)
	assert.Contains(t, out.String(), "pubtools-sign msg-container-sign [flags]")
}

func TestEveryFlagHasASentenceOfHelp(t *testing.T) {
	root := NewRoot(IO{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}})
	for _, cmd := range root.Commands() {
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			assert.GreaterOrEqual(t, len(f.Usage), 10, "%s --%s", cmd.Name(), f.Name)
		})
	}
}

func TestNoRequesterWithoutCertificateIsAUsageError(t *testing.T) {
	conf := writeMinimalConfig(t)
	// The broker does not exist: the usage problem is found before the
	// connect failure (which would be a result, exit 1).
	_, stderr, code := runCLI(t, "msg-clear-sign", "--signing-key", "K", "--task-id", "t", "--config-file", conf, "x")
	assert.Equal(t, 2, code, stderr)
	assert.Contains(t, stderr, "no requester")
	for _, cmd := range [][]string{
		{"msg-container-sign", "--signing-key", "K", "--task-id", "t", "--reference", "reg.io/ns/a:1", "--digest", digestN(1)},
		{"msg-blob-sign", "--signing-key", "K", "--task-id", "t", "--blob-file", conf},
	} {
		_, stderr, code = runCLI(t, append(cmd, "--config-file", conf)...)
		assert.Equal(t, 2, code, "%s: %s", cmd[0], stderr)
	}
	// With --requester it gets as far as connecting.
	stdout, stderr, code := runCLI(t, "msg-clear-sign", "--signing-key", "K", "--task-id", "t", "--requester", "me", "--config-file", conf, "x")
	assert.Equal(t, 1, code, stderr)
	assert.Contains(t, stdout, "no messaging broker reachable")
}

func TestConfigCheckMasksSecrets(t *testing.T) {
	p := filepath.Join(t.TempDir(), "conf.yaml")
	require.NoError(t, os.WriteFile(p, []byte(`msg_signer:
  messaging_brokers: [amqp://robot:broker-secret@127.0.0.1:5672]
  topic_send_to: /topic/x
  topic_listen_to: /topic/y
  environment: e
  service: s
  message_id_key: request_id
cosign_signer:
  registry_user: robot
  registry_password: registry-secret
`), 0o600))
	stdout, stderr, code := runCLI(t, "config", "check", p)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "valid")
	assert.Contains(t, stdout, "timeout: 60", "defaults are resolved")
	assert.NotContains(t, stdout, "broker-secret")
	assert.NotContains(t, stdout, "registry-secret")

	_, stderr, code = runCLI(t, "config", "check", writeBadConfig(t))
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "msg_signer.timeout")
}

func writeBadConfig(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(p, []byte("msg_signer:\n  timeout: soon\n"), 0o600))
	return p
}

func TestCompletionAndVersion(t *testing.T) {
	stdout, _, code := runCLI(t, "completion", "bash")
	assert.Equal(t, 0, code)
	assert.Contains(t, stdout, "pubtools-sign")
	stdout, _, code = runCLI(t, "--version")
	assert.Equal(t, 0, code)
	assert.Contains(t, stdout, "go1.")
}

func TestConfigDocsPrintsTheGeneratedReference(t *testing.T) {
	stdout, _, code := runCLI(t, "config", "docs")
	require.Equal(t, 0, code)
	assert.Equal(t, config.Reference, stdout)
	assert.Contains(t, stdout, "`PUBTOOLS_SIGN_MSG_SIGNER_TIMEOUT`")
}
