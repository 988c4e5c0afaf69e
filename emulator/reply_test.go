package emulator

import (
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/internal/jsonobj"
)

func testServer(t *testing.T) *Server {
	t.Helper()
	key, err := NewKey()
	require.NoError(t, err)
	return &Server{opts: Options{MessageIDKey: "request_id", TaskIDAttribute: "pub_task_id"}, key: key}
}

// keysOf returns an object's keys in document order.
func keysOf(t *testing.T, raw []byte) []string {
	t.Helper()
	return jsonobj.Keys(raw)
}

func requestOf(t *testing.T, body string) (map[string]json.RawMessage, []string) {
	t.Helper()
	var req map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(body), &req))
	return req, keysOf(t, []byte(body))
}

func verify(t *testing.T, s *Server, b64 string) []byte {
	t.Helper()
	pub, err := s.key.ArmoredPublicKey()
	require.NoError(t, err)
	sig, err := base64.StdEncoding.DecodeString(b64)
	require.NoError(t, err)
	data, err := VerifyMessage(pub, sig)
	require.NoError(t, err)
	return data
}

// The wrapper and the single container reply have production's fields,
// in production's (sorted) order, and a real signature over the claim.
func TestSingleReplyHasTheProductionShape(t *testing.T) {
	s := testServer(t)
	claim := base64.StdEncoding.EncodeToString([]byte(`{"critical": {}}`))
	req, order := requestOf(t, `{"sig_key_id": "89ABCDEF", "claim_file": "`+claim+`", "request_id": "r-1", "created": "2025-10-23T10:54:10.123456Z", "requested_by": "me", "repo": "ns/app", "sig_keyname": "beta", "pub_task_id": "123", "manifest_digest": "sha256:0000"}`)
	received := time.Date(2025, 10, 23, 10, 54, 10, 459475000, time.UTC)
	r := s.newReply(req, order, "r-1", "topic://VirtualTopic.eng.robosignatory.prod.sign.123", "container_signature", received)
	body, signed := r.success()
	require.True(t, signed)

	assert.Equal(t, []string{"i", "msg", "msg_id", "timestamp", "topic", "username"}, keysOf(t, body))
	var w struct {
		I         int             `json:"i"`
		Msg       json.RawMessage `json:"msg"`
		MsgID     string          `json:"msg_id"`
		Timestamp json.Number     `json:"timestamp"`
		Topic     string          `json:"topic"`
		Username  string          `json:"username"`
	}
	require.NoError(t, json.Unmarshal(body, &w))
	assert.Equal(t, 1, w.I)
	assert.Equal(t, "/topic/VirtualTopic.eng.robosignatory.prod.sign.123", w.Topic)
	assert.Equal(t, "fedmsg", w.Username)
	assert.Regexp(t, `^\d{10}\.0$`, w.Timestamp.String())
	assert.Regexp(t, `^\d{4}-[0-9a-f-]{36}$`, w.MsgID)
	assert.Equal(t, []string{"errors", "manifest_digest", "pub_task_id", "repo", "request_id", "request_received_time", "requested_by",
		"sig_key_id", "sig_keyname", "signature_type", "signed_claim", "signing_server_requested", "signing_server_responded", "signing_status"},
		keysOf(t, w.Msg))
	var msg map[string]any
	require.NoError(t, json.Unmarshal(w.Msg, &msg))
	assert.Equal(t, "2025-10-23T10:54:10.459475", msg["request_received_time"])
	assert.Equal(t, "container_signature", msg["signature_type"])
	assert.Equal(t, "success", msg["signing_status"])
	assert.Equal(t, []any{}, msg["errors"])
	assert.Equal(t, `{"critical": {}}`, string(verify(t, s, msg["signed_claim"].(string))))

	failed := r.failure([]string{"no key"})
	var f struct{ Msg map[string]any }
	require.NoError(t, json.Unmarshal(failed, &f))
	assert.Equal(t, "failure", f.Msg["signing_status"])
	assert.Equal(t, []any{"no key"}, f.Msg["errors"])
	assert.Nil(t, f.Msg["signed_claim"])
}

// A batch reply lists the request's claims in its order, each signed once
// per key name it asks for, keyed by the name.
func TestBatchReplyHasTheProductionShape(t *testing.T) {
	s := testServer(t)
	c1 := base64.StdEncoding.EncodeToString([]byte("claim one"))
	c2 := base64.StdEncoding.EncodeToString([]byte("claim two"))
	req, order := requestOf(t, `{"claims": [`+
		`{"claim_file": "`+c1+`", "sig_keynames": ["alpha", "beta"], "sig_key_ids": ["AAAAAAAA", "BBBBBBBB"], "manifest_digest": "sha256:0001", "repo": "ns/a"}, `+
		`{"claim_file": "`+c2+`", "sig_keynames": ["alpha", "beta"], "sig_key_ids": ["AAAAAAAA", "BBBBBBBB"], "manifest_digest": "sha256:0002", "repo": "ns/a"}], `+
		`"request_id": "r-b", "created": "2025-10-23T10:54:10.123456Z", "requested_by": "me", "pipeline_run_id": "run-1"}`)
	body, signed := s.newReply(req, order, "r-b", "/topic/VirtualTopic.eng.robosignatory.prod.sign.run-1", "batch", time.Now()).success()
	require.True(t, signed)
	var w struct{ Msg json.RawMessage }
	require.NoError(t, json.Unmarshal(body, &w))
	assert.Equal(t, []string{"claims", "created", "errors", "pub_task_id", "request_id", "request_received_time", "requested_by",
		"signing_server_average_time_secs", "signing_status"}, keysOf(t, w.Msg))
	var msg struct {
		Claims []struct {
			ClaimFile      string          `json:"claim_file"`
			ManifestDigest string          `json:"manifest_digest"`
			Repo           string          `json:"repo"`
			SignedClaims   json.RawMessage `json:"signed_claims"`
		} `json:"claims"`
		PubTaskID     string `json:"pub_task_id"`
		SigningStatus string `json:"signing_status"`
	}
	require.NoError(t, json.Unmarshal(w.Msg, &msg))
	assert.Equal(t, "run-1", msg.PubTaskID)
	assert.Equal(t, "success", msg.SigningStatus)
	require.Len(t, msg.Claims, 2)
	for i, want := range []string{"claim one", "claim two"} {
		c := msg.Claims[i]
		assert.Equal(t, []string{"alpha", "beta"}, keysOf(t, c.SignedClaims))
		var sigs map[string]string
		require.NoError(t, json.Unmarshal(c.SignedClaims, &sigs))
		for _, sig := range sigs {
			assert.Equal(t, want, string(verify(t, s, sig)))
		}
		assert.Equal(t, []string{"claim_file", "manifest_digest", "repo", "signed_claims"}, keysOf(t, mustJSON(t, c)))
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}
