package msg

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/broker"
	"github.com/release-engineering/pubtools-sign-go/signers"
)

func containerOp(n int) *signers.ContainerSign {
	op := &signers.ContainerSign{SigningKeys: []string{"K"}, TaskID: "t"}
	for i := 0; i < n; i++ {
		op.Digests = append(op.Digests, digest)
		op.References = append(op.References, fmt.Sprintf("reg.io/ns/app:%d", i))
	}
	return op
}

func TestUnansweredRequestsAreResentWithTheSameID(t *testing.T) {
	// The server ignores every first attempt.
	s, bus, pending := newTestSigner(t, testConfig(), func(r *broker.Request, attempt int) []string {
		if attempt == 1 {
			return nil
		}
		return []string{okReply(r)}
	})
	res, err := s.ContainerSign(context.Background(), containerOp(3))
	require.NoError(t, err)
	assert.Equal(t, signers.StatusOK, res.SignerResult.Status)
	assert.Len(t, bus.published, 6, "each request sent twice")
	for id, n := range bus.sendsByID {
		assert.Equal(t, 2, n, id)
	}
	assert.Zero(t, pending.Len(), "nothing left pending")
}

func TestTimeoutAfterAllCyclesIsMessagingTimeout(t *testing.T) {
	answered := 0
	s, bus, pending := newTestSigner(t, testConfig(), func(r *broker.Request, attempt int) []string {
		if answered < 2 && attempt == 1 {
			answered++
			return []string{okReply(r)}
		}
		return nil
	})
	res, err := s.ContainerSign(context.Background(), containerOp(5))
	require.NoError(t, err)
	assert.Equal(t, signers.StatusError, res.SignerResult.Status)
	assert.Equal(t, "MessagingTimeout : Out of time when receiving messages (2/5)\n", res.SignerResult.ErrorMessage)
	assert.Len(t, bus.published, 5+3, "second cycle re-sends only the 3 unanswered")
	assert.NotEqual(t, "", res.OperationResults[0], "what arrived is kept")
	assert.Equal(t, "", res.OperationResults[4], `"" where no reply came`)
	assert.Zero(t, pending.Len())
}

func TestFailedIsTrueIfAnyReplyCarriesErrors(t *testing.T) {
	n := 0
	s, _, _ := newTestSigner(t, testConfig(), func(r *broker.Request, _ int) []string {
		n++
		if n == 1 { // only the FIRST reply has errors; Python looked at the last
			return []string{fmt.Sprintf(`{"msg": {"request_id": %q, "errors": ["key revoked"]}}`, r.ID)}
		}
		return []string{okReply(r)}
	})
	res, err := s.ContainerSign(context.Background(), containerOp(3))
	require.NoError(t, err)
	assert.True(t, res.Failed)
	assert.Equal(t, signers.StatusOK, res.SignerResult.Status, "the signer worked; the reply says what failed")
}

func TestDuplicateStrayAndMalformedRepliesAreIgnored(t *testing.T) {
	s, bus, _ := newTestSigner(t, testConfig(), func(r *broker.Request, _ int) []string {
		return []string{`garbage`, `{"msg": {"request_id": "someone-else", "errors": []}}`, okReply(r), okReply(r)}
	})
	res, err := s.ContainerSign(context.Background(), containerOp(4))
	require.NoError(t, err)
	assert.Equal(t, signers.StatusOK, res.SignerResult.Status)
	st := bus.router.Stats()
	assert.Equal(t, broker.RouterStats{Matched: 4, Unknown: 8, Malformed: 4}, st)
}

func TestReconnectionResendsUnansweredAtOnce(t *testing.T) {
	cfg := testConfig()
	cfg.Timeout = 200 // 10s at the test unit: a resend must not wait for it
	var s *Signer
	var bus *fakeBus
	s, bus, _ = newTestSigner(t, cfg, func(r *broker.Request, attempt int) []string {
		if attempt == 1 {
			// The first attempt is lost with the connection.
			go func() {
				bus.mu.Lock()
				old := bus.reconnected
				bus.reconnected = make(chan struct{})
				bus.mu.Unlock()
				close(old)
			}()
			return nil
		}
		return []string{okReply(r)}
	})
	res, err := s.ClearSign(context.Background(), &signers.ClearSign{Inputs: []string{"x"}, SigningKeys: []string{"K"}, TaskID: "t"})
	require.NoError(t, err)
	assert.Equal(t, signers.StatusOK, res.SignerResult.Status)
	assert.Equal(t, 2, bus.sendsByID["id-1"])
}

func TestNoRequesterIsAnError(t *testing.T) {
	s, _, _ := newTestSigner(t, testConfig(), nil)
	s.opts.Creator = ""
	_, err := s.ClearSign(context.Background(), &signers.ClearSign{Inputs: []string{"x"}, SigningKeys: []string{"K"}})
	assert.ErrorIs(t, err, ErrNoRequester)
}

func TestLargeOperationsKeepRepliesInASpoolAndPrintTheSame(t *testing.T) {
	answer := func(r *broker.Request, _ int) []string { return []string{okReply(r)} }
	print := func(n int) (string, *signers.Result) {
		s, _, _ := newTestSigner(t, testConfig(), answer)
		res, err := s.ContainerSign(context.Background(), containerOp(n))
		require.NoError(t, err)
		var out strings.Builder
		require.NoError(t, res.WriteJSON(&out, nil))
		require.NoError(t, res.Close())
		return out.String(), res
	}
	small, res := print(spoolOver)
	assert.Nil(t, res.Spool, "up to spoolOver replies stay in memory")
	large, res := print(spoolOver + 1)
	require.NotNil(t, res.Spool)
	assert.IsType(t, signers.Spooled{}, res.OperationResults[0])
	// The same operation with one more reference prints the same document
	// with one more item: spooling changes nothing a reader sees.
	firstItem := func(doc string) string {
		var d struct {
			Results []json.RawMessage `json:"operation_results"`
		}
		require.NoError(t, json.Unmarshal([]byte(doc), &d))
		return string(d.Results[0])
	}
	assert.Equal(t, firstItem(small), firstItem(large))
	assert.Contains(t, large, `, "operation": {"digests": [`)
}
