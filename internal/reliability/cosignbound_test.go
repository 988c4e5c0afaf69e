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

// Three cosign tasks of two repositories each reach one replica at once:
// num_threads (3) would let each run two cosign processes, six in all.
// With worker.max_cosign_processes 1 the replica runs the real cosign one
// process at a time, and every task still ends ok.
func TestAReplicaRunsAtMostMaxCosignProcesses(t *testing.T) {
	cosignBin := testenv.Cosign(t)
	reg := testenv.StartRegistry(t, "", "")
	dir := t.TempDir()

	// cosign, wrapped: a run that starts while another holds the lock
	// directory records an overlap.
	lock, overlaps, runs := filepath.Join(dir, "running"), filepath.Join(dir, "overlaps"), filepath.Join(dir, "runs")
	wrapper := filepath.Join(dir, "cosign")
	script := fmt.Sprintf("#!/bin/sh\nmkdir %[1]s 2>/dev/null || echo overlap >> %[2]s\necho run >> %[3]s\n%[4]s \"$@\"\nrc=$?\nrmdir %[1]s 2>/dev/null\nexit $rc\n",
		lock, overlaps, runs, cosignBin)
	require.NoError(t, os.WriteFile(wrapper, []byte(script), 0o700))
	keyPath, _ := testenv.CosignKeyPair(t, cosignBin, dir)

	c := newCluster(t, clusterOptions{extra: cosignSection(wrapper, reg.Host, keyPath, 3, "")})

	var ids []string
	for task := range 3 {
		tk := worker.Task{Schema: worker.TaskSchema, TaskID: fmt.Sprintf("bounded-%d", task), Signer: worker.SignerCosignContainer,
			SigningKeys: []string{"release"}}
		for repo := range 2 {
			ref := fmt.Sprintf("%s/ns/t%d-r%d:v1", reg.Host, task, repo)
			tk.References, tk.Digests = append(tk.References, ref), append(tk.Digests, reg.PushRandomImage(t, ref))
		}
		data, err := json.Marshal(tk)
		require.NoError(t, err)
		_, err = c.js.Publish(context.Background(), "pubtools.sign.tasks.default.cosign-container", data, jetstream.WithMsgID(tk.TaskID))
		require.NoError(t, err)
		ids = append(ids, tk.TaskID)
	}
	// Published before the replica starts: it pulls all three at once.
	r := c.startReplica("cosign-bound", "PUBTOOLS_SIGN_WORKER_MAX_COSIGN_PROCESSES=1")
	envs := c.exactlyOneCorrectEnvelopeEachOf(ids, 2*time.Minute)
	for _, id := range ids {
		assert.Equal(t, "ok", envs[id].SignerResult.Status, "%s: %s", id, envs[id].SignerResult.ErrorMessage)
	}
	assert.Equal(t, 1.0, r.metric(t, "pubtools_sign_cosign_processes_max"), "the bound is exported")
	assert.Equal(t, 0.0, r.metric(t, "pubtools_sign_cosign_processes_running"), "every process slot given back")
	require.NoError(t, r.kill(15))

	ran, err := os.ReadFile(runs)
	require.NoError(t, err)
	assert.Equal(t, 6, strings.Count(string(ran), "run"), "one cosign run per image")
	if got, err := os.ReadFile(overlaps); err == nil {
		t.Errorf("cosign ran %d times while another cosign was running (worker.max_cosign_processes 1)", strings.Count(string(got), "overlap"))
	}
}
