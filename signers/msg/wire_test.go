package msg

import (
	"context"
	"encoding/base64"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/broker"
	"github.com/release-engineering/pubtools-sign-go/signers"
)

const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// The golden claim: what Python's json.dumps prints for the manifest claim
// dict, written out by hand: ", " and ": " separators, keys in this order.
const goldenClaimJSON = `{"critical": {"type": "atomic container signature", "image": {"docker-manifest-digest": "` + digest +
	`"}, "identity": {"docker-reference": "registry.example/ns/app:1.0"}}, "optional": {"creator": "pubtools-sign"}}`

func TestContainerClaimIsByteIdenticalToPython(t *testing.T) {
	got := ContainerClaim(digest, "registry.example/ns/app:1.0")
	raw, err := base64.StdEncoding.DecodeString(got)
	require.NoError(t, err)
	assert.Equal(t, goldenClaimJSON, string(raw))
}

func TestCreatedMatchesPythonIsoformat(t *testing.T) {
	assert.Equal(t, "2026-11-25T10:00:00.123456Z", Created(time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)))
	assert.Equal(t, "2026-11-25T10:00:00Z", Created(time.Date(2026, 11, 25, 10, 0, 0, 999, time.UTC)), "isoformat drops zero microseconds")
	assert.Equal(t, "2026-11-25T09:00:00.000001Z", Created(time.Date(2026, 11, 25, 10, 0, 0, 1000, time.FixedZone("CET", 3600))))
}

func TestLatin1Base64(t *testing.T) {
	got, err := Latin1Base64("caf\u00e9")
	require.NoError(t, err)
	assert.Equal(t, base64.StdEncoding.EncodeToString([]byte{'c', 'a', 'f', 0xe9}), got)
	_, err = Latin1Base64("\u20ac")
	assert.ErrorContains(t, err, "U+20AC")
}

func TestContainerRequestWireFormat(t *testing.T) {
	s, bus, _ := newTestSigner(t, testConfig(), func(r *broker.Request, _ int) []string { return []string{okReply(r)} })
	_, err := s.ContainerSign(context.Background(), &signers.ContainerSign{
		Digests: []string{digest}, References: []string{"registry.example/ns/app:1.0"},
		SigningKeys: []string{"beta"}, SigningKeyNames: []string{"beta-name"}, TaskID: "t-1",
	})
	require.NoError(t, err)
	require.Len(t, bus.published, 1)
	r := bus.published[0]

	claim := base64.StdEncoding.EncodeToString([]byte(goldenClaimJSON))
	assert.Equal(t, `{"sig_key_id": "89ABCDEF", "claim_file": "`+claim+`", "request_id": "id-1", `+
		`"created": "2026-11-25T10:00:00.123456Z", "requested_by": "pubtools-sign-test", "repo": "ns/app", `+
		`"sig_keyname": "beta-name", "pub_task_id": "t-1", "manifest_digest": "`+digest+`"}`, string(r.Body))
	assert.Equal(t, map[string]any{
		"service": "pubtools-sign", "environment": "prod", "owner_id": "pubtools-sign-test",
		"mtype": "container_signature", "source": "metadata", "pub_task_id": "t-1", "manifest_digest": digest,
	}, r.Headers)
	assert.Equal(t, "/topic/robosignatory.prod.sign", r.Address)
	assert.Equal(t, 2*time.Second, r.TTL, "timeout × retries seconds")
}

func TestClearAndBlobRequestWireFormat(t *testing.T) {
	cfg := testConfig()
	cfg.TaskIDAttribute = "custom_task"
	s, bus, _ := newTestSigner(t, cfg, func(r *broker.Request, _ int) []string { return []string{okReply(r)} })
	res, err := s.ClearSign(context.Background(), &signers.ClearSign{Inputs: []string{"hello <&> \u00e9"}, SigningKeys: []string{"ABCD1234"}, TaskID: "t-2", Repo: "r"})
	require.NoError(t, err)
	assert.Empty(t, res.KeysField, "msg-clear-sign prints signing_keys, as the Python tool has since its multiple-keys change")
	data := base64.StdEncoding.EncodeToString([]byte("hello <&> \xe9"))
	assert.Equal(t, `{"sig_key_id": "ABCD1234", "data": "`+data+`", "request_id": "id-1", "created": "2026-11-25T10:00:00.123456Z", `+
		`"requested_by": "pubtools-sign-test", "repo": "r", "custom_task": "t-2"}`, string(bus.published[0].Body))
	assert.Equal(t, "clearsign_signature", bus.published[0].Headers["mtype"])

	_, err = s.BlobSign(context.Background(), &signers.BlobSign{Blobs: []string{"YmxvYg=="}, SigningKeys: []string{"ABCD1234"}, TaskID: "t-3", Requester: "alice"})
	require.NoError(t, err)
	assert.Equal(t, `{"sig_key_id": "ABCD1234", "artifact": "YmxvYg==", "request_id": "id-2", "created": "2026-11-25T10:00:00.123456Z", `+
		`"requested_by": "alice", "repo": "", "custom_task": "t-3"}`, string(bus.published[1].Body))
	assert.Equal(t, "gpg_signature", bus.published[1].Headers["mtype"])
	assert.Equal(t, "alice", bus.published[1].Headers["owner_id"], "--requester overrides the certificate")
}

func TestBatchRequestWireFormat(t *testing.T) {
	s, bus, _ := newTestSigner(t, testConfig(), func(r *broker.Request, _ int) []string { return []string{okReply(r)} })
	refs := []string{"reg.io/ns/a:1", "reg.io/ns/b:1", "reg.io/ns/a:2", "reg.io/ns/a:3"}
	res, err := s.BatchContainerSign(context.Background(), &signers.ContainerSign{
		Digests: []string{digest, digest, digest, digest}, References: refs, SigningKeys: []string{"beta", "CAFEBABE"}, TaskID: "t-4",
	}, 2)
	require.NoError(t, err)
	require.Len(t, bus.published, 3, "ns/a in chunks of 2 (a:1,a:2 then a:3), ns/b alone")
	require.Len(t, res.OperationResults, 3)
	claim := func(ref string) string { return ContainerClaim(digest, ref) }
	assert.Equal(t, `{"claims": [{"claim_file": "`+claim("reg.io/ns/a:1")+`", "sig_keynames": [""], "sig_key_ids": ["89ABCDEF", "CAFEBABE"], `+
		`"manifest_digest": "`+digest+`", "repo": "ns/a"}, {"claim_file": "`+claim("reg.io/ns/a:2")+`", "sig_keynames": [""], `+
		`"sig_key_ids": ["89ABCDEF", "CAFEBABE"], "manifest_digest": "`+digest+`", "repo": "ns/a"}], "request_id": "id-1", `+
		`"created": "2026-11-25T10:00:00.123456Z", "requested_by": "pubtools-sign-test", "pipeline_run_id": "t-4"}`, string(bus.published[0].Body))
	assert.Equal(t, "batch", bus.published[0].Headers["mtype"])
	assert.Equal(t, "t-4", bus.published[0].Headers["pipeline_run_id"])
	assert.NotContains(t, bus.published[0].Headers, "manifest_digest")
}

func TestResultsAreReferenceMajorThenKey(t *testing.T) {
	s, bus, _ := newTestSigner(t, testConfig(), func(r *broker.Request, _ int) []string { return []string{okReply(r)} })
	res, err := s.ContainerSign(context.Background(), &signers.ContainerSign{
		Digests: []string{digest, digest}, References: []string{"reg.io/ns/a:1", "reg.io/ns/b:1"},
		SigningKeys: []string{"K1", "K2"}, TaskID: "t",
	})
	require.NoError(t, err)
	require.Len(t, res.OperationResults, 4)
	for i, want := range []struct{ repo, key string }{{"ns/a", "K1"}, {"ns/a", "K2"}, {"ns/b", "K1"}, {"ns/b", "K2"}} {
		assert.Contains(t, string(bus.published[i].Body), `"repo": "`+want.repo+`"`)
		assert.Contains(t, string(bus.published[i].Body), `"sig_key_id": "`+want.key+`"`)
		reply := res.OperationResults[i].(signers.ReplyResult)
		assert.Contains(t, string(reply.Body), bus.published[i].ID)
	}
}

func TestListenAddressIsTemplatedAndAttachedFirst(t *testing.T) {
	s, bus, _ := newTestSigner(t, testConfig(), func(r *broker.Request, _ int) []string { return []string{okReply(r)} })
	_, err := s.ClearSign(context.Background(), &signers.ClearSign{Inputs: []string{"x"}, SigningKeys: []string{"K"}, TaskID: "t-9"})
	require.NoError(t, err)
	assert.Equal(t, []string{"listen /topic/robosignatory.prod.client.pubtools-sign-test.t-9", "publish id-1"}, bus.events)
}

func TestListFieldsFormatLikePythonLists(t *testing.T) {
	cfg := testConfig()
	cfg.TopicSendTo = "/topic/sign.{signing_keys}"
	cfg.TopicListenTo = "/topic/reply.{references}"
	s, bus, _ := newTestSigner(t, cfg, func(r *broker.Request, _ int) []string { return []string{okReply(r)} })
	op := containerOp(2)
	_, err := s.ContainerSign(context.Background(), op)
	require.NoError(t, err)
	assert.Equal(t, "listen /topic/reply.['reg.io/ns/app:0', 'reg.io/ns/app:1']", bus.events[0])
	assert.Equal(t, "/topic/sign.['K']", bus.published[0].Address)
}
