package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/emulator"
)

// A server slower than the client's TTL allows for the whole operation:
// 300 requests at 50/s take 6 s, the TTL is 4 s (timeout 2 × retries 2).
// Sent all at once, the last ones would expire in the broker and be sent
// again; sent as earlier ones are answered, every request reaches the
// server once and young.
func TestSlowServerIsNeverOutrun(t *testing.T) {
	h := newHarness(t, "main", confOptions{timeout: 2, retries: 2, sendRetries: 2})
	ttl := 4 * time.Second
	srv := h.serveCapacity(emulator.Capacity{Workers: 1, Work: 20 * time.Millisecond, StaleAfter: ttl})
	const n = 300
	stdout, stderr, code := h.run(append(containerArgs(n, "t-slow"), "--log-level", "INFO")...)
	require.Equal(t, 0, code, stderr)
	res := parseResult(t, stdout)
	assert.Equal(t, "ok", res.SignerResult.Status)
	require.Len(t, res.OperationResults, n)

	st, ar := srv.Stats(), srv.Arrivals()
	t.Logf("server saw %d requests, oldest served %s after it was sent", st.Requests, ar.MaxAge)
	assert.Equal(t, uint64(n), st.Requests, "every request reached the server exactly once")
	assert.Equal(t, uint64(n), ar.Distinct)
	assert.Zero(t, ar.Duplicates, "nothing re-sent")
	assert.Zero(t, ar.Stale, "nothing served older than its TTL (oldest: %s)", ar.MaxAge)
	assert.NotContains(t, stderr, "re-sending")
	assert.NotContains(t, stderr, "no reply within timeout")
	assert.False(t, strings.Contains(stderr, "MessagingTimeout"))
}
