package worker_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/internal/testenv"
	"github.com/release-engineering/pubtools-sign-go/worker"
)

// Under the shipped deploy/nats/tenants.conf the worker may store a large
// envelope in the tenant's bucket, the tenant may read it through its
// pointer (as submit --wait does), and another tenant may not.
func TestShippedPermissionsLetATenantReadOnlyItsOwnLargeEnvelopes(t *testing.T) {
	n := testenv.StartTenantsNATS(t, testenv.Port(t))
	connect := func(user string) jetstream.JetStream {
		opts := []nats.Option{nats.UserInfo(user, n.Passwords[user]), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { t.Log(user, err) })}
		if user != "pubtools-sign" {
			opts = append(opts, nats.CustomInboxPrefix(worker.InboxPrefix(user)))
		}
		nc, err := nats.Connect(n.URL, opts...)
		require.NoError(t, err)
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		require.NoError(t, err)
		return js
	}
	ctx := context.Background()
	bucket := worker.EnvelopeBucket("PUBTOOLS_SIGN_ENVELOPES", "team-b")
	store, err := connect("pubtools-sign").CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: bucket})
	require.NoError(t, err, "the worker creates the tenant's bucket")
	envelope := bytes.Repeat([]byte(`{"x": 1}`), 300_000)
	name := "pubtools.sign.results.team-b.big-1"
	_, err = store.PutBytes(ctx, name, envelope)
	require.NoError(t, err, "the worker stores the envelope")
	sum := sha256.Sum256(envelope)
	pointer := []byte(fmt.Sprintf(`{"schema": "pubtools-sign.result.v1", "task_id": "big-1", "envelope_object": {"bucket": %q, "name": %q, "size": %d, "sha256": %q}}`,
		bucket, name, len(envelope), hex.EncodeToString(sum[:])))

	got, err := worker.ResolveEnvelope(ctx, connect("team-b"), pointer)
	require.NoError(t, err, "team-b reads its own envelope")
	assert.Equal(t, envelope, got)
	_, err = worker.ResolveEnvelope(ctx, connect("team-a"), pointer)
	assert.Error(t, err, "team-a may not read team-b's envelope")
}
