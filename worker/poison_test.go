package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/config"
	"github.com/release-engineering/pubtools-sign-go/emulator"
	"github.com/release-engineering/pubtools-sign-go/worker"
)

// requireTasksStreamEmpty waits until the tasks stream holds nothing.
func (s *stack) requireTasksStreamEmpty() {
	s.t.Helper()
	tasks, err := s.js.Stream(context.Background(), s.cfg.NATS.TasksStream)
	require.NoError(s.t, err)
	require.Eventually(s.t, func() bool {
		info, err := tasks.Info(context.Background())
		return err == nil && info.State.Msgs == 0
	}, 30*time.Second, 100*time.Millisecond, "the task left the tasks stream")
}

// A task whose envelope cannot be published (here: the results stream
// refuses messages over 2 KB, and the envelope of three references is
// bigger) ends on its last delivery with a final error envelope, and
// leaves the tasks stream.
func TestEnvelopeThatCannotBePublishedEndsWithAGiveUpEnvelope(t *testing.T) {
	s := newStack(t, emulator.Faults{})
	ctx := context.Background()
	results, err := s.js.Stream(ctx, s.cfg.NATS.ResultsStream)
	require.NoError(t, err)
	rc := results.CachedInfo().Config
	rc.MaxMsgSize = 2048
	_, err = s.js.UpdateStream(ctx, rc)
	require.NoError(t, err)
	s.startReplica("r1", func(c *config.File) { c.NATS.MaxDeliver = 1 }) // creates the consumers

	s.submit(task("poison", 3))
	envs := s.envelopes(1, 40*time.Second)
	require.Len(t, envs, 1)
	assert.Equal(t, "pubtools.sign.results.default.poison", envs[0].Subject)
	assert.Equal(t, "error", envs[0].SignerResult.Status)
	assert.Contains(t, envs[0].SignerResult.ErrorMessage, "gave up after 1 deliveries: publish envelope")
	s.requireTasksStreamEmpty()
	assert.Equal(t, uint64(3), s.emu.Stats().Requests, "signed once")
}

// A task no delivery finishes (every replica that took it died or ran
// past ack_wait) gets a final error envelope from the max-deliveries
// advisory and leaves the tasks stream.
func TestTaskOutOfDeliveriesGetsAFinalEnvelope(t *testing.T) {
	s := newStack(t, emulator.Faults{})
	cfg := s.cfg.NATS
	cfg.MaxDeliver = 1
	consumers, err := worker.EnsureConsumers(context.Background(), s.js, &cfg, []string{worker.SignerMsgContainer})
	require.NoError(t, err)
	s.submit(task("abandoned", 1))
	// A "replica" that takes the task and dies: fetched, never acked.
	batch, err := consumers[0].Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	require.NoError(t, err)
	var taken []jetstream.Msg
	for m := range batch.Messages() {
		taken = append(taken, m)
	}
	require.Len(t, taken, 1)

	s.startReplica("r1", func(c *config.File) { c.NATS.MaxDeliver = 1 })
	envs := s.envelopes(1, 40*time.Second)
	require.Len(t, envs, 1)
	assert.Equal(t, "pubtools.sign.results.default.abandoned", envs[0].Subject)
	assert.Contains(t, envs[0].SignerResult.ErrorMessage, "gave up after 1 deliveries: no delivery finished")
	s.requireTasksStreamEmpty()
	assert.Zero(t, s.emu.Stats().Requests, "never signed")
}
