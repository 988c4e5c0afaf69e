package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/config"
	"github.com/release-engineering/pubtools-sign-go/internal/testenv"
	"github.com/release-engineering/pubtools-sign-go/signers"
	"github.com/release-engineering/pubtools-sign-go/worker"
)

// Tasks queued behind busy slots for longer than ack_wait are not
// redelivered: the replica pulls only what it can start or keep alive.
// Before, tasks buffered behind the pull callback got no in-progress acks
// and were signed twice after ack_wait. No broker: a fake signer that
// takes longer than ack_wait.
func TestTasksWaitingForASlotAreNotRedelivered(t *testing.T) {
	emb, err := worker.StartEmbedded(testenv.Addr(t), t.TempDir())
	require.NoError(t, err)
	t.Cleanup(emb.Stop)
	cfg := config.Defaults()
	cfg.Worker.ID = "slow"
	cfg.Worker.Concurrency = 2
	cfg.Worker.ShutdownGrace = 10 * time.Second
	cfg.NATS.AckWait = time.Second
	cfg.NATS.PullExpiry = 2 * time.Second

	var mu sync.Mutex
	calls := map[string]int{}
	slow := func(ctx context.Context, op *signers.ClearSign) (*signers.Result, error) {
		mu.Lock()
		calls[op.TaskID]++
		mu.Unlock()
		// The workload: longer than ack_wait, so queued tasks wait longer.
		select {
		case <-time.After(2 * cfg.NATS.AckWait):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return &signers.Result{SignerResult: signers.SignerResult{Status: signers.StatusOK}, Operation: op.Dict(), SigningKeys: op.SigningKeys}, nil
	}

	nc, err := nats.Connect(emb.URL)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	w, err := worker.New(ctx, worker.Options{Config: cfg, Conn: nc, Signers: worker.Signers{worker.SignerMsgClear: worker.Typed(slow)}, Metrics: worker.NewMetrics(), Log: quiet()})
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	const n = 8
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("q-%d", i)
		data, _ := json.Marshal(map[string]any{"schema": worker.TaskSchema, "task_id": id, "signer": worker.SignerMsgClear,
			"signing_keys": []string{"0123456789ABCDEF"}, "inputs": []string{"hello"}})
		_, err := js.Publish(ctx, worker.TaskSubject(cfg.NATS.TasksSubject, "default", worker.SignerMsgClear), data, jetstream.WithMsgID(id))
		require.NoError(t, err)
	}

	results, err := js.Stream(ctx, cfg.NATS.ResultsStream)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := results.Info(ctx)
		return err == nil && info.State.Msgs == n
	}, time.Duration(n)*4*cfg.NATS.AckWait, 50*time.Millisecond, "every task got its envelope")

	cons, err := js.Consumer(ctx, cfg.NATS.TasksStream, worker.ConsumerName(&cfg.NATS, worker.SignerMsgClear))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.NumAckPending == 0
	}, 10*time.Second, 50*time.Millisecond)
	info, err := cons.Info(ctx)
	require.NoError(t, err)
	assert.Zero(t, info.NumRedelivered, "no task was delivered twice")
	assert.Equal(t, uint64(n), info.Delivered.Consumer, "one delivery per task")
	mu.Lock()
	defer mu.Unlock()
	assert.Len(t, calls, n)
	for id, c := range calls {
		assert.Equal(t, 1, c, "task %s signed once", id)
	}
	res, err := results.Info(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(n), res.State.Msgs, "exactly one envelope per task")
}
