package worker_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/emulator"
	"github.com/release-engineering/pubtools-sign-go/worker"
)

// lookupStream answers GetLastMsgForSubject with a fixed message or error.
type lookupStream struct {
	jetstream.Stream
	msg *jetstream.RawStreamMsg
	err error
}

func (s lookupStream) GetLastMsgForSubject(context.Context, string) (*jetstream.RawStreamMsg, error) {
	return s.msg, s.err
}

// Only "message not found" means no envelope: a stream that cannot answer
// (an election, a timeout, no responders) must not be taken for "not done",
// or the task is signed twice.
func TestStoredEnvelopeFailsClosed(t *testing.T) {
	ctx := context.Background()
	for _, err := range []error{context.DeadlineExceeded, nats.ErrNoResponders, jetstream.ErrNoStreamResponse, jetstream.ErrStreamNotFound} {
		data, got := worker.StoredEnvelope(ctx, lookupStream{err: err}, "pubtools.sign.results.default.t1")
		assert.ErrorIs(t, got, err)
		assert.Nil(t, data)
	}
	data, err := worker.StoredEnvelope(ctx, lookupStream{err: jetstream.ErrMsgNotFound}, "pubtools.sign.results.default.t1")
	require.NoError(t, err)
	assert.Nil(t, data, "not found: not done")

	refusal := &jetstream.RawStreamMsg{Data: []byte(`{}`), Header: nats.Header{worker.OutcomeHeader: []string{"invalid"}}}
	data, err = worker.StoredEnvelope(ctx, lookupStream{msg: refusal}, "pubtools.sign.results.default.t1")
	require.NoError(t, err)
	assert.Nil(t, data, "a refusal does not stand for the task")

	forged := &jetstream.RawStreamMsg{Data: []byte(`{"ok": 1}`), Header: nats.Header{worker.OutcomeHeader: []string{"ok"}}}
	data, err = worker.StoredEnvelope(ctx, lookupStream{msg: forged}, "pubtools.sign.results.default.t1")
	require.NoError(t, err)
	assert.Nil(t, data, "no worker stored it (no Nats-Msg-Id)")

	ok := &jetstream.RawStreamMsg{Data: []byte(`{"ok": 1}`), Header: nats.Header{worker.OutcomeHeader: []string{"ok"},
		jetstream.MsgIDHeader: []string{"default/t1"}}}
	data, err = worker.StoredEnvelope(ctx, lookupStream{msg: ok}, "pubtools.sign.results.default.t1")
	require.NoError(t, err)
	assert.Equal(t, `{"ok": 1}`, string(data))
}

// The streams are created by whoever comes first (serve or submit), the
// consumers only by serve: EnsureStreams makes none.
func TestEnsureStreamsCreatesNoConsumer(t *testing.T) {
	s := newStack(t, emulator.Faults{})
	ctx := context.Background()
	stream, err := s.js.Stream(ctx, s.cfg.NATS.TasksStream)
	require.NoError(t, err)
	names := stream.ConsumerNames(ctx)
	var got []string
	for n := range names.Name() {
		got = append(got, n)
	}
	require.NoError(t, names.Err())
	assert.Empty(t, got)
	info, err := stream.Info(ctx)
	require.NoError(t, err)
	assert.Equal(t, worker.TasksStreamConfig(&s.cfg.NATS).Duplicates, info.Config.Duplicates)
	results, err := s.js.Stream(ctx, s.cfg.NATS.ResultsStream)
	require.NoError(t, err)
	assert.Equal(t, s.cfg.NATS.ResultsMaxAge, results.CachedInfo().Config.MaxAge, "nats.results_max_age")
	assert.True(t, results.CachedInfo().Config.AllowDirect, "tenants look up their own envelopes")
}

// The worker's own lookup goes to the stream leader (not a direct get a
// lagging follower could answer): found, refusal, none, and no stream.
func TestLeaderStoredEnvelope(t *testing.T) {
	s := newStack(t, emulator.Faults{})
	ctx := context.Background()
	store := func(subject, outcome, msgID, data string) {
		m := &nats.Msg{Subject: subject, Data: []byte(data), Header: nats.Header{}}
		m.Header.Set(worker.OutcomeHeader, outcome)
		if msgID != "" {
			m.Header.Set(jetstream.MsgIDHeader, msgID)
		}
		_, err := s.js.PublishMsg(ctx, m)
		require.NoError(t, err)
	}
	store("pubtools.sign.results.default.done", "ok", "default/done", `{"done": true}`)
	store("pubtools.sign.results.default.refused", "invalid", "invalid-default/refused-abc", `{"refused": true}`)
	store("pubtools.sign.results.default.forged", "ok", "", `{"forged": true}`)
	stream := s.cfg.NATS.ResultsStream
	data, err := worker.LeaderStoredEnvelope(ctx, s.nc, stream, "pubtools.sign.results.default.done")
	require.NoError(t, err)
	assert.Equal(t, `{"done": true}`, string(data))
	data, err = worker.LeaderStoredEnvelope(ctx, s.nc, stream, "pubtools.sign.results.default.refused")
	require.NoError(t, err)
	assert.Nil(t, data, "a refusal does not stand for the task")
	data, err = worker.LeaderStoredEnvelope(ctx, s.nc, stream, "pubtools.sign.results.default.forged")
	require.NoError(t, err)
	assert.Nil(t, data, "no worker stored it")
	data, err = worker.LeaderStoredEnvelope(ctx, s.nc, stream, "pubtools.sign.results.default.never")
	require.NoError(t, err)
	assert.Nil(t, data)
	_, err = worker.LeaderStoredEnvelope(ctx, s.nc, "NO_SUCH_STREAM", "pubtools.sign.results.default.done")
	assert.Error(t, err, "no stream is not 'not done'")
}
