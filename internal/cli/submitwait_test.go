package cli

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sethvargo/go-envconfig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/config"
	"github.com/release-engineering/pubtools-sign-go/worker"
)

// submit --wait finds an answer its subscription missed (stored while it
// was reconnecting) by the direct get it repeats, and does not take an
// earlier refusal of the same task id for the answer to this submission.
func TestWaitEnvelopeFindsWhatTheSubscriptionMissed(t *testing.T) {
	nc, js := embeddedJetStream(t)
	cfg, err := config.Parse(nil, "defaults.yaml", envconfig.MapLookuper(nil))
	require.NoError(t, err)
	n := &cfg.NATS
	ctx := context.Background()
	subject := worker.ResultSubject(n.ResultsPrefix, config.DefaultTenant, "w1")
	store := func(msgID, outcome, body string) {
		t.Helper()
		m := &nats.Msg{Subject: subject, Data: []byte(body), Header: nats.Header{}}
		m.Header.Set(jetstream.MsgIDHeader, msgID)
		if outcome != "" {
			m.Header.Set(worker.OutcomeHeader, outcome)
		}
		_, err := js.PublishMsg(ctx, m)
		require.NoError(t, err)
	}

	// No results stream yet (no worker ran): the lookup creates it.
	before, err := lookUpStored(ctx, nc, js, n, subject)
	require.NoError(t, err)
	require.Nil(t, before)
	store("invalid-default/w1-k2x9", "invalid", "old refusal")
	before, err = lookUpStored(ctx, nc, js, n, subject)
	require.NoError(t, err)
	require.NotNil(t, before)
	assert.False(t, isEnvelope(before), "a refusal does not make the task done")
	since := int64(storedSeq(before))

	deaf, err := nc.SubscribeSync("pubtools.sign.results.default.elsewhere") // sees nothing, as if disconnected
	require.NoError(t, err)
	_, err = waitEnvelope(ctx, nc, deaf, n.ResultsStream, subject, since, recheckEvery+500*time.Millisecond)
	assert.Error(t, err, "the earlier refusal is not this submission's answer")
	_, err = waitEnvelope(ctx, nc, deaf, n.ResultsStream, subject, -1, recheckEvery+500*time.Millisecond)
	assert.Error(t, err, "nor, when the last sequence is unknown, any refusal")

	store("default/w1", "", "the envelope")
	data, err := waitEnvelope(ctx, nc, deaf, n.ResultsStream, subject, since, 3*recheckEvery)
	require.NoError(t, err)
	assert.Equal(t, "the envelope", string(data))
}
