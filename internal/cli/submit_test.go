package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/config"
	"github.com/release-engineering/pubtools-sign-go/internal/testenv"
	"github.com/release-engineering/pubtools-sign-go/worker"
)

// A daemon can store the envelope within moments of the publish, before
// `submit --wait` reads: the envelope is still found (it used to wait
// until its timeout for a message that had come and gone).
func TestSubmitWaitReadsAnEnvelopeStoredRightAfterThePublish(t *testing.T) {
	nc, js := embeddedJetStream(t)

	const envelope = `{"schema": "pubtools-sign.result.v1", "task_id": "quick", "failed": false, "signer_result": {"status": "ok", "error_message": ""}}`
	afterPublish = func() {
		_, err := js.Publish(context.Background(), worker.ResultSubject("pubtools.sign.results", config.DefaultTenant, "quick"), []byte(envelope),
			jetstream.WithMsgID(config.DefaultTenant+"/quick")) // as a worker stores it (worker.StoredByWorker)
		require.NoError(t, err)
	}
	t.Cleanup(func() { afterPublish = func() {} })
	stdout, stderr, code := runCLI(t, "submit", "--nats-url", nc.ConnectedUrl(),
		"--task-id", "quick", "--signer", "msg-container", "--signing-key", "K",
		"--reference", "registry.example/ns/app:1", "--digest", "sha256:0000", "--wait", "--timeout", "3s")
	require.Equal(t, 0, code, stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 2)
	assert.Equal(t, "quick", lines[0])
	assert.Equal(t, envelope, lines[1])
}

// embeddedJetStream starts the daemon's embedded NATS server for one test
// and connects to it.
func embeddedJetStream(t *testing.T) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	emb, err := worker.StartEmbedded(testenv.Addr(t), filepath.Join(t.TempDir(), "nats"))
	require.NoError(t, err)
	t.Cleanup(emb.Stop)
	nc, err := nats.Connect(emb.URL)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return nc, js
}
