package broker

import (
	"fmt"

	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Replies as the production server sends them (the wrapper around msg)
// and as older servers did (bare msg): a reply failed when errors is not
// empty or signing_status is there and is not "success".
func TestProductionReplyShapes(t *testing.T) {
	const wrapper = `{"i": 1, "msg": %s, "msg_id": "2025-7868079f-621b-4e14-b139-ebfa95be2c9d", "timestamp": 1761216850.0, "topic": "/topic/VirtualTopic.eng.robosignatory.prod.sign.123", "username": "fedmsg"}`
	cases := []struct {
		name, msg string
		failed    bool
	}{
		{"success", `{"errors": [], "request_id": "r", "signed_claim": "x", "signing_status": "success"}`, false},
		{"failure with errors", `{"errors": ["no key"], "request_id": "r", "signed_claim": null, "signing_status": "failure"}`, true},
		{"failure without errors", `{"errors": [], "request_id": "r", "signing_status": "failure"}`, true},
		{"status not a string", `{"errors": [], "request_id": "r", "signing_status": 0}`, true},
		{"no status: errors decide", `{"errors": [], "request_id": "r", "signed_claim": "x"}`, false},
		{"batch success", `{"claims": [{"claim_file": "c", "manifest_digest": "sha256:0000", "repo": "ns/a", "signed_claims": {"k1": "s1", "k2": "s2"}}], "created": "2025-10-23T10:54:10.123456Z", "errors": [], "pub_task_id": "1", "request_id": "r", "request_received_time": "2025-10-23T10:54:10.459475", "requested_by": "me", "signing_server_average_time_secs": 0.1, "signing_status": "success"}`, false},
	}
	for _, tc := range cases {
		for _, body := range []string{fmt.Sprintf(wrapper, tc.msg), `{"msg": ` + tc.msg + `}`} {
			r, err := DecodeReply([]byte(body), nil, "request_id")
			require.NoError(t, err, tc.name)
			assert.Equal(t, "r", r.RequestID, tc.name)
			assert.Equal(t, tc.failed, r.HasErrors, "%s: %s", tc.name, body)
		}
	}
}
