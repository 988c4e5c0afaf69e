package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/config"
	"github.com/release-engineering/pubtools-sign-go/emulator"
	"github.com/release-engineering/pubtools-sign-go/internal/testenv"
)

// pipelineTools builds the binary and links it under the Python script
// name, as a container image for a pipeline step would ship it; jq comes
// from the system (scripts/deps.sh installs it).
func pipelineTools(t *testing.T) (binDir string) {
	t.Helper()
	if _, err := exec.LookPath("jq"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("jq is missing: run scripts/deps.sh")
		}
		t.Skip("SKIPPED LOUDLY: jq is missing (scripts/deps.sh installs it)")
	}
	binDir = t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(binDir, "pubtools-sign"), "github.com/release-engineering/pubtools-sign-go/cmd/pubtools-sign")
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))
	require.NoError(t, os.Symlink("pubtools-sign", filepath.Join(binDir, "pubtools-sign-msg-container-sign")))
	return binDir
}

// productionConfig addresses requests and replies the way the production
// bus does, translated to RabbitMQ: requests on
// VirtualTopic.eng.robosignatory.<env>.sign, each reply on a topic ending
// with the task id.
func productionConfig(t *testing.T, b *testenv.Broker, env string) string {
	t.Helper()
	section := fmt.Sprintf(`  messaging_brokers: [%s]
  messaging_cert_key: %s
  topic_send_to: /topic/VirtualTopic.eng.robosignatory.{env}.sign
  topic_listen_to: /topic/VirtualTopic.eng.robosignatory.{env}.sign.{task_id}
  environment: %s
  service: pubtools-sign
  timeout: 10
  retries: 2
  send_retries: 2
  message_id_key: request_id
`, b.AMQPURL, b.ClientCertKey, env)
	p := filepath.Join(t.TempDir(), "conf.yaml")
	require.NoError(t, os.WriteFile(p, []byte("msg_signer:\n"+section+"msg_batch_signer:\n"+section+"  chunk_size: 2\n"), 0o600))
	return p
}

func productionEmulator(t *testing.T, b *testenv.Broker, env string, f emulator.Faults) *emulator.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv, err := emulator.Start(ctx, emulator.Options{
		URLs: []string{b.AMQPURL}, RequestAddress: "/topic/VirtualTopic.eng.robosignatory." + env + ".sign",
		ReplyAddress: config.Template("/topic/VirtualTopic.eng.robosignatory." + env + ".sign.{task_id}"),
		Faults:       f, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	return srv
}

type stepResult struct {
	exit, status string
	rows         [][]string
	errors       []string
	stderr       string
}

// runStep runs testdata/pipeline/sign-step.sh with the requests given
// as "reference digest" lines.
func runStep(t *testing.T, binDir, conf, taskID string, env map[string]string, requests ...string) stepResult {
	t.Helper()
	out := t.TempDir()
	reqFile := filepath.Join(out, "requests.txt")
	require.NoError(t, os.WriteFile(reqFile, []byte(strings.Join(requests, "\n")+"\n"), 0o600))
	script, err := filepath.Abs("testdata/pipeline/sign-step.sh")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Env = append(os.Environ(), "PATH="+binDir+":"+os.Getenv("PATH"), "CONFIG="+conf, "TASK_ID="+taskID,
		"REQUESTS="+reqFile, "OUT="+out)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	combined, err := cmd.CombinedOutput()
	require.NoError(t, err, "the step itself failed: %s", combined)
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(out, name))
		require.NoError(t, err)
		return strings.TrimSpace(string(b))
	}
	r := stepResult{exit: read("exit"), status: read("status"), stderr: read("stderr")}
	for _, line := range strings.Split(read("signatures.tsv"), "\n") {
		if line != "" {
			r.rows = append(r.rows, strings.Split(line, "\t"))
		}
	}
	if e := read("errors.txt"); e != "" {
		r.errors = strings.Split(e, "\n")
	}
	return r
}

// A pipeline step calls the CLI by the Python script name and reads its
// JSON with jq, against the emulator answering like the production
// server: what jq extracts is what the step gets from the Python tool.
func TestPipelineStepWithJq(t *testing.T) {
	binDir := pipelineTools(t)
	b := testenv.RabbitMQ(t, "main")
	env := "p" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	conf := productionConfig(t, b, env)
	srv := productionEmulator(t, b, env, emulator.Faults{})
	pub, err := srv.Key().ArmoredPublicKey()
	require.NoError(t, err)
	verifies := func(t *testing.T, signature, reference string) {
		t.Helper()
		claim := verifyClaimWith(t, pub, signature)
		assert.Equal(t, reference, claim["critical"].(map[string]any)["identity"].(map[string]any)["docker-reference"])
	}
	digest := "sha256:" + strings.Repeat("ab", 32)

	t.Run("single signer, several references, short test digests", func(t *testing.T) {
		r := runStep(t, binDir, conf, "1001", map[string]string{"SIGNING_KEYS": "0123456789ABCDEF"},
			"registry.example/ns/app:1.0 sha256:0000", "registry.example/ns/app:1.1 "+digest, "registry.example/other/tool:2 sha256:0001")
		require.Equal(t, "0", r.exit, r.stderr)
		assert.Equal(t, "ok", r.status)
		assert.Contains(t, r.stderr, `digest "sha256:0000" has 4 hex digits`, "a warning, not a refusal")
		require.Len(t, r.rows, 3)
		want := [][]string{
			{"registry.example/ns/app:1.0", "ns/app", "sha256:0000", "89ABCDEF", "success"},
			{"registry.example/ns/app:1.1", "ns/app", digest, "89ABCDEF", "success"},
			{"registry.example/other/tool:2", "other/tool", "sha256:0001", "89ABCDEF", "success"},
		}
		for i, row := range r.rows {
			assert.Equal(t, want[i], row[:5], "row %d", i)
			verifies(t, row[5], want[i][0])
		}
		assert.Empty(t, r.errors)
	})

	t.Run("several keys", func(t *testing.T) {
		r := runStep(t, binDir, conf, "1002", map[string]string{"SIGNING_KEYS": "0123456789ABCDEF FEDCBA9876543210"},
			"registry.example/ns/app:1.0 sha256:0000", "registry.example/ns/app:1.1 sha256:1111")
		require.Equal(t, "0", r.exit, r.stderr)
		var got [][]string
		for _, row := range r.rows {
			got = append(got, []string{row[0], row[3]})
			verifies(t, row[5], row[0])
		}
		assert.Equal(t, [][]string{
			{"registry.example/ns/app:1.0", "89ABCDEF"}, {"registry.example/ns/app:1.0", "76543210"},
			{"registry.example/ns/app:1.1", "89ABCDEF"}, {"registry.example/ns/app:1.1", "76543210"},
		}, got, "reference-major, then key")
	})

	t.Run("batch signer with two keys", func(t *testing.T) {
		r := runStep(t, binDir, conf, "run-7", map[string]string{"SIGNING_KEYS": "0123456789ABCDEF FEDCBA9876543210",
			"SIGNING_KEY_NAMES": "alpha beta", "SIGNER_TYPE": "batch"},
			"registry.example/ns/app:1.0 sha256:0000", "registry.example/other/tool:2 sha256:0001", "registry.example/ns/app:1.1 sha256:0002")
		require.Equal(t, "0", r.exit, r.stderr)
		var got [][]string
		for _, row := range r.rows {
			got = append(got, row[:4])
		}
		// Chunks by repository in order of first appearance; claims in
		// request order; one signature per key name.
		assert.Equal(t, [][]string{
			{"ns/app", "sha256:0000", "alpha", "success"}, {"ns/app", "sha256:0000", "beta", "success"},
			{"ns/app", "sha256:0002", "alpha", "success"}, {"ns/app", "sha256:0002", "beta", "success"},
			{"other/tool", "sha256:0001", "alpha", "success"}, {"other/tool", "sha256:0001", "beta", "success"},
		}, got)
		refs := map[string]string{"sha256:0000": "registry.example/ns/app:1.0", "sha256:0001": "registry.example/other/tool:2", "sha256:0002": "registry.example/ns/app:1.1"}
		for _, row := range r.rows {
			verifies(t, row[4], refs[row[1]])
		}
	})

	t.Run("error replies", func(t *testing.T) {
		env := "p" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
		conf := productionConfig(t, b, env)
		productionEmulator(t, b, env, emulator.Faults{ErrorRate: 1})
		r := runStep(t, binDir, conf, "1003", map[string]string{"SIGNING_KEYS": "0123456789ABCDEF"},
			"registry.example/ns/app:1.0 sha256:0000", "registry.example/ns/app:1.1 sha256:0001")
		// As with the Python tool: the signer worked, so the JSON says ok
		// and exits 0; the replies carry the failure.
		require.Equal(t, "0", r.exit, r.stderr)
		assert.Equal(t, "ok", r.status)
		require.Len(t, r.rows, 2)
		for _, row := range r.rows {
			assert.Equal(t, "failure", row[4])
			assert.True(t, len(row) == 5 || row[5] == "", "no signature: %q", row)
		}
		require.Len(t, r.errors, 2)
		assert.Contains(t, r.errors[0], "emulated signing failure")
	})
}

// verifyClaimWith checks a base64 signed claim against an armored public
// key and returns the claim it signs.
func verifyClaimWith(t *testing.T, pub []byte, signedClaim string) map[string]any {
	t.Helper()
	sig, err := base64.StdEncoding.DecodeString(signedClaim)
	require.NoError(t, err)
	data, err := emulator.VerifyMessage(pub, sig)
	require.NoError(t, err)
	var claim map[string]any
	require.NoError(t, json.Unmarshal(data, &claim))
	return claim
}
