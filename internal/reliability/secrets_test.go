package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/internal/testenv"
	"github.com/release-engineering/pubtools-sign-go/worker"
)

const registryPassword = "reg-Pa55-never-print-me"

// A daemon signs with cosign (registry password from the environment, a
// private key on disk) and through the signing server (a client key on
// disk), logging at debug level. Neither the password nor any line of
// either private key appears in its logs, in the argv of the processes it
// spawns, or in the envelopes it publishes.
func TestSecretsStayOutOfLogsArgvAndEnvelopes(t *testing.T) {
	cosignBin := testenv.Cosign(t)
	reg := testenv.StartRegistry(t, "robot", registryPassword)
	dir := t.TempDir()

	// cosign, wrapped so every invocation's argv is recorded.
	argvLog := filepath.Join(dir, "argv.log")
	wrapper := filepath.Join(dir, "cosign")
	require.NoError(t, os.WriteFile(wrapper, []byte(fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' \"$*\" >> %s\nexec %s \"$@\"\n", argvLog, cosignBin)), 0o700))
	keyPath, _ := testenv.CosignKeyPair(t, cosignBin, dir)
	var refs, digests []string
	for i := range 2 {
		ref := fmt.Sprintf("%s/ns/app%d:v1", reg.Host, i)
		refs, digests = append(refs, ref), append(digests, reg.PushRandomImage(t, ref))
	}

	c := newCluster(t, clusterOptions{extra: cosignSection(wrapper, reg.Host, keyPath, 2, "  registry_user: robot\n")})
	r := c.startReplica("secrets", "PUBTOOLS_SIGN_COSIGN_SIGNER_REGISTRY_PASSWORD="+registryPassword, "PUBTOOLS_SIGN_LOG_LEVEL=debug")

	cosignTask := worker.Task{Schema: worker.TaskSchema, TaskID: "secret-cosign", Signer: worker.SignerCosignContainer,
		SigningKeys: []string{"release"}, References: refs, Digests: digests}
	data, err := json.Marshal(cosignTask)
	require.NoError(t, err)
	_, err = c.js.Publish(context.Background(), "pubtools.sign.tasks.default.cosign-container", data, jetstream.WithMsgID(cosignTask.TaskID))
	require.NoError(t, err)
	ids := c.submit("secret-msg", 1, 2)
	envs := c.exactlyOneCorrectEnvelopeEachOf(append(ids, cosignTask.TaskID), 2*time.Minute)
	assert.Equal(t, "ok", envs[cosignTask.TaskID].SignerResult.Status, envs[cosignTask.TaskID].SignerResult.ErrorMessage)
	require.NoError(t, r.kill(15))

	logs, err := os.ReadFile(r.log)
	require.NoError(t, err)
	argv, err := os.ReadFile(argvLog)
	require.NoError(t, err)
	require.Contains(t, string(argv), "sign", "cosign ran through the wrapper")
	places := map[string]string{"daemon log": string(logs), "cosign argv": string(argv)}
	for id, e := range envs {
		places["envelope "+id] = string(e.raw)
	}
	secrets := map[string]string{"registry password": registryPassword}
	for what, path := range map[string]string{"cosign private key": keyPath, "AMQP client key": c.broker.ClientCertKey} {
		for i, line := range privateKeyLines(t, path) {
			secrets[fmt.Sprintf("%s line %d", what, i)] = line
		}
	}
	for where, text := range places {
		for what, secret := range secrets {
			assert.NotContains(t, text, secret, "%s leaks the %s", where, what)
		}
	}
}

// privateKeyLines are the body lines of the PEM private key blocks in path.
func privateKeyLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var lines []string
	inKey := false
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case strings.HasPrefix(line, "-----BEGIN") && strings.Contains(line, "PRIVATE KEY"):
			inKey = true
		case strings.HasPrefix(line, "-----END"):
			inKey = false
		case inKey && len(line) >= 16:
			lines = append(lines, line)
		}
	}
	require.NotEmpty(t, lines, "no private key in %s", path)
	return lines
}
