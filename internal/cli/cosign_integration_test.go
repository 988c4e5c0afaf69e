package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/internal/testenv"
)

const registryPassword = "registry-pa55-do-not-leak"

// cosignHarness is a registry with basic auth, random images in it, a
// cosign key pair and a config using them.
type cosignHarness struct {
	t       *testing.T
	cosign  string
	reg     *testenv.Registry
	dir     string
	conf    string
	refs    []string
	digests []string
	pubKey  string
	keyPath string
}

func newCosignHarness(t *testing.T, repos, perRepo int, password string) *cosignHarness {
	t.Helper()
	h := &cosignHarness{t: t, cosign: testenv.Cosign(t), reg: testenv.StartRegistry(t, "robot", registryPassword), dir: t.TempDir()}
	for i := 0; i < repos*perRepo; i++ {
		ref := fmt.Sprintf("%s/ns/repo%d:v%d", h.reg.Host, i%repos, i)
		h.refs = append(h.refs, ref)
		h.digests = append(h.digests, h.reg.PushRandomImage(t, ref))
	}
	h.keyPath, h.pubKey = testenv.CosignKeyPair(t, h.cosign, h.dir)
	h.conf = filepath.Join(h.dir, "conf.yaml")
	require.NoError(t, os.WriteFile(h.conf, []byte(fmt.Sprintf(`cosign_signer:
  cosign_bin: %s
  timeout: 1m0s
  num_threads: 4
  rekor_url: http://127.0.0.1:1
  upload_tlog: false
  allow_http_registry: true
  registry_user: robot
  registry_password: %s
  retries: 2
  env_variables:
    COSIGN_PASSWORD: ""
  key_aliases:
    release: %s
`, h.cosign, password, h.keyPath)), 0o600))
	return h
}

// verify runs cosign verify and returns the identities in the signatures.
func (h *cosignHarness) verify(image string) []string {
	h.t.Helper()
	docker := filepath.Join(h.dir, "docker")
	require.NoError(h.t, os.MkdirAll(docker, 0o700))
	auth := base64.StdEncoding.EncodeToString([]byte("robot:" + registryPassword))
	require.NoError(h.t, os.WriteFile(filepath.Join(docker, "config.json"), []byte(`{"auths": {"`+h.reg.Host+`": {"auth": "`+auth+`"}}}`), 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.cosign, "verify", "--key", h.pubKey, "--insecure-ignore-tlog=true", "--allow-http-registry=true", image)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+docker)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(h.t, err, "cosign verify %s: %s", image, stderr.String())
	var payloads []struct {
		Critical struct {
			Identity struct {
				DockerReference string `json:"docker-reference"`
			} `json:"identity"`
		} `json:"critical"`
	}
	require.NoError(h.t, json.Unmarshal(out, &payloads), string(out))
	var ids []string
	for _, p := range payloads {
		ids = append(ids, p.Critical.Identity.DockerReference)
	}
	return ids
}

func (h *cosignHarness) args(withIdentity bool) []string {
	args := []string{"cosign-container-sign", "--signing-key", "release", "--task-id", "t-cosign", "--config-file", h.conf}
	for i := range h.refs {
		args = append(args, "--reference", h.refs[i], "--digest", h.digests[i])
		if withIdentity {
			args = append(args, "--identity", fmt.Sprintf("public.example/ns/repo:%d", i))
		}
	}
	return args
}

func TestCosignSignsAndSignaturesVerify(t *testing.T) {
	h := newCosignHarness(t, 2, 2, registryPassword)
	stdout, stderr, code := runCLI(t, h.args(true)...)
	require.Equal(t, 0, code, "stderr: %s\nstdout: %s", stderr, stdout)
	res := parseResult(t, stdout)
	assert.Equal(t, "ok", res.SignerResult.Status)
	require.Len(t, res.OperationResults, 4)
	for i := range h.refs {
		repo, _ := strings.CutSuffix(h.refs[i], fmt.Sprintf(":v%d", i))
		ids := h.verify(repo + "@" + h.digests[i])
		assert.Contains(t, ids, fmt.Sprintf("public.example/ns/repo:%d", i), "the identity asked for is in the signature")
	}
	assert.NotContains(t, stdout+stderr, registryPassword)

	// And the signature list sees them.
	var lookups []string
	for i := range h.refs {
		repo, _ := strings.CutSuffix(h.refs[i], fmt.Sprintf(":v%d", i))
		lookups = append(lookups, "--reference", repo+"@"+h.digests[i])
	}
	stdout, stderr, code = runCLI(t, append([]string{"cosign-signature-list", "--config-file", h.conf}, lookups...)...)
	require.Equal(t, 0, code, stderr)
	var list struct {
		Signatures []struct{ Exists bool } `json:"signatures"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &list))
	require.Len(t, list.Signatures, 4)
	for _, s := range list.Signatures {
		assert.True(t, s.Exists)
	}
}

func TestCosignWrongPasswordFailsEveryReferenceClearly(t *testing.T) {
	h := newCosignHarness(t, 1, 1, "wrong-password")
	stdout, stderr, code := runCLI(t, h.args(false)...)
	assert.Equal(t, 1, code)
	res := parseResult(t, stdout)
	assert.Equal(t, "failed", res.SignerResult.Status)
	assert.Contains(t, res.SignerResult.ErrorMessage, h.reg.Host+"/ns/repo0@")
	assert.NotContains(t, stdout+stderr, "wrong-password")
}

func TestCosignRegistryDown(t *testing.T) {
	h := newCosignHarness(t, 1, 1, registryPassword)
	h.reg.Stop()
	stdout, _, code := runCLI(t, h.args(false)...)
	assert.Equal(t, 1, code)
	assert.Equal(t, "failed", parseResult(t, stdout).SignerResult.Status)
}

// The registry refuses pushes to one repository: its reference fails
// (after the retries) and the others are signed and verify.
func TestCosignOneRepositoryFailingLeavesOthersSigned(t *testing.T) {
	h := newCosignHarness(t, 3, 1, registryPassword)
	h.reg.DenyPushTo("ns/repo1")
	stdout, stderr, code := runCLI(t, h.args(false)...)
	assert.Equal(t, 1, code, stderr)
	res := parseResult(t, stdout)
	assert.Equal(t, "failed", res.SignerResult.Status)
	assert.Contains(t, res.SignerResult.ErrorMessage, h.reg.Host+"/ns/repo1@")
	assert.NotContains(t, res.SignerResult.ErrorMessage, "/ns/repo0@")
	assert.NotContains(t, res.SignerResult.ErrorMessage, "/ns/repo2@")
	for _, i := range []int{0, 2} {
		repo, _ := strings.CutSuffix(h.refs[i], fmt.Sprintf(":v%d", i))
		assert.NotEmpty(t, h.verify(repo+"@"+h.digests[i]), "repo%d is signed", i)
	}
}
