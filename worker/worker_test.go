package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/config"
	"github.com/release-engineering/pubtools-sign-go/emulator"
	"github.com/release-engineering/pubtools-sign-go/internal/pyjson"
	"github.com/release-engineering/pubtools-sign-go/internal/testenv"
	"github.com/release-engineering/pubtools-sign-go/signers"
	"github.com/release-engineering/pubtools-sign-go/worker"
)

func TestThreeReplicasProcessEveryTaskOnce(t *testing.T) {
	// Each task takes a moment, so a replica's concurrency fills up and
	// the others get work.
	s := newFakeStack(t, 50*time.Millisecond)
	for _, id := range []string{"r1", "r2", "r3"} {
		s.startReplica(id, nil)
	}
	const n = 1000
	for i := 0; i < n; i++ {
		s.submit(task(fmt.Sprintf("t-%04d", i), 1))
	}
	envs := s.envelopes(n, 2*time.Minute)
	require.Len(t, envs, n)
	perTask := map[string]int{}
	perWorker := map[string]int{}
	for _, e := range envs {
		perTask[e.TaskID]++
		perWorker[e.WorkerID]++
		assert.Equal(t, "ok", e.SignerResult.Status, e.TaskID)
		assert.Equal(t, "pubtools.sign.results.default."+e.TaskID, e.Subject)
	}
	assert.Len(t, perTask, n, "every task has an envelope")
	for id, c := range perTask {
		require.Equal(t, 1, c, "task %s has exactly one envelope", id)
	}
	assert.Len(t, perWorker, 3, "work is spread across replicas: %v", perWorker)
	// Once every task is acknowledged none can come back: re-read, no
	// late duplicate appeared.
	s.settled(time.Minute)
	s.envelopes(n, time.Minute)
	assert.Equal(t, uint64(n), s.requests(), "each task signed once")
}

func TestBadTasksGetErrorEnvelopesAndAreNotRedelivered(t *testing.T) {
	s := newFakeStack(t, 0)
	s.startReplica("r1", func(c *config.File) { c.Worker.MaxTaskBytes = 64 << 10 })
	bad := task("bad-signer", 1)
	bad["signer"] = "gpg-magic"
	mismatched := task("bad-pairs", 2)
	mismatched["digests"] = []string{"sha256:00"}
	unknownField := task("bad-field", 1)
	unknownField["referencez"] = []string{"x"}
	s.submit([]byte("this is not JSON"))
	s.submit(bad)
	s.submit(mismatched)
	s.submit(unknownField)
	s.submit([]byte(`{"schema": "pubtools-sign.task.v1", "task_id": "huge", "signer": "msg-clear", "inputs": ["` + strings.Repeat("x", 100<<10) + `"]}`))
	s.submit(task("good-after-bad", 1))

	envs := s.envelopes(6, 30*time.Second)
	require.Len(t, envs, 6)
	by := map[string]envelope{}
	for _, e := range envs {
		by[e.Subject] = e
	}
	assert.Contains(t, by["pubtools.sign.results.default.invalid"].SignerResult.ErrorMessage, "not a valid task")
	assert.Contains(t, by["pubtools.sign.results.default.bad-signer"].SignerResult.ErrorMessage, `signer: unknown signer "gpg-magic"`)
	assert.Contains(t, by["pubtools.sign.results.default.bad-pairs"].SignerResult.ErrorMessage, "digests: 1 digests for 2 references")
	assert.Contains(t, by["pubtools.sign.results.default.bad-field"].SignerResult.ErrorMessage, "referencez")
	assert.Contains(t, by["pubtools.sign.results.default.huge"].SignerResult.ErrorMessage, "byte limit")
	assert.Equal(t, "ok", by["pubtools.sign.results.default.good-after-bad"].SignerResult.Status, "the worker kept serving")

	// Terminated, not left to be redelivered.
	for _, info := range s.settled(10 * time.Second) {
		assert.Zero(t, info.NumRedelivered, info.Name)
	}
	assert.Equal(t, uint64(1), s.requests(), "only the good task was signed")
}

// Every task of the bad-input corpus is refused and terminated, and the
// worker keeps serving; a corrected task resubmitted under the id of a
// refused one is signed, not answered with the old refusal.
func TestWorkerKeepsServingThroughTheBadTaskCorpus(t *testing.T) {
	s := newFakeStack(t, 0)
	r := s.startReplica("r1", nil)
	files, err := filepath.Glob(filepath.Join("..", "testdata", "bad", "tasks", "*.json"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 40)
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		s.submit(data)
	}
	fixed := task("t1", 1) // the corpus's bad tasks mostly claim id t1
	s.submit(fixed)
	// Tasks run concurrently: wait for all of them, in any order.
	invalid := func() float64 {
		n := 0.0
		for _, signer := range []string{"invalid", "msg-container", "msg-clear", "msg-blob"} {
			n += testutil.ToFloat64(r.metrics.Tasks.WithLabelValues(signer, "invalid"))
		}
		return n
	}
	signed := func() float64 { return testutil.ToFloat64(r.metrics.Tasks.WithLabelValues("msg-container", "ok")) }
	require.Eventually(t, func() bool { return invalid() == float64(len(files)) && signed() == 1 }, 30*time.Second, 50*time.Millisecond,
		"every corpus task refused and the corrected t1 signed")
	s.settled(10 * time.Second) // nothing left to redeliver
}

func TestRequestReplyThroughTheMicroService(t *testing.T) {
	s := newFakeStack(t, 0)
	s.startReplica("r1", nil)
	data, _ := json.Marshal(task("rpc-1", 2))
	reply, err := s.nc.Request(worker.RequestSubject(s.cfg.NATS.RequestSubject, "default"), data, 30*time.Second)
	require.NoError(t, err)
	var e envelope
	require.NoError(t, json.Unmarshal(reply.Data, &e), string(reply.Data))
	assert.Equal(t, "ok", e.SignerResult.Status)
	assert.Equal(t, "rpc-1", e.TaskID)
	assert.Len(t, e.OperationResults, 2)
	require.Len(t, s.envelopes(1, 5*time.Second), 1, "stored like any other envelope")
}

func TestTraceparentCrossesNATSAndAMQP(t *testing.T) {
	s := newStack(t, emulator.Faults{})
	s.startReplica("r1", nil)
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	s.submit(task("traced", 1), "traceparent", tp)
	envs := s.envelopes(1, 30*time.Second)
	require.Len(t, envs, 1)
	assert.Equal(t, tp, envs[0].TraceParent)
	var pair []map[string]any
	require.NoError(t, json.Unmarshal(envs[0].OperationResults[0], &pair))
	assert.Equal(t, tp, pair[1]["traceparent"], "the AMQP request carried it (the emulator echoes it)")
}

func TestSIGTERMFinishesInFlightTasks(t *testing.T) {
	s := newFakeStack(t, 1500*time.Millisecond)
	r := s.startReplica("r1", nil)
	for i := 0; i < 5; i++ {
		s.submit(task(fmt.Sprintf("drain-%d", i), 1))
	}
	require.Eventually(t, func() bool { return s.requests() == 5 }, 10*time.Second, 20*time.Millisecond)
	start := time.Now()
	r.stop()
	assert.Less(t, time.Since(start), s.cfg.Worker.ShutdownGrace, "the drain ended when the tasks did, not with the grace")
	envs := s.envelopes(5, 5*time.Second)
	assert.Len(t, envs, 5, "every in-flight task finished before exit")
}

// The task never finishes by itself (the fake holds it until released),
// so only the grace can end the shutdown.
func TestGraceOverHandsTasksBackToAnotherReplica(t *testing.T) {
	s := newFakeStack(t, 0)
	s.fake.holdUntilReleased()
	short := s.startReplica("short-grace", func(c *config.File) { c.Worker.ShutdownGrace = 200 * time.Millisecond })
	s.submit(task("handed-back", 1))
	require.Eventually(t, func() bool { return s.requests() >= 1 }, 10*time.Second, 20*time.Millisecond)
	s.stopWithin(short, 10*time.Second) // grace bounds the shutdown

	s.fake.release()
	s.startReplica("taker", nil)
	envs := s.envelopes(1, 30*time.Second)
	require.Len(t, envs, 1)
	assert.Equal(t, "taker", envs[0].WorkerID)
	assert.Equal(t, 2, envs[0].Attempt, "redelivered after the nak")
	assert.Equal(t, "ok", envs[0].SignerResult.Status)
}

// Every slot busy with a slow task and more tasks queued: SIGTERM still
// ends the replica within the grace, and everything comes back. (Run used
// to wait for a free slot before it looked at the shutdown.)
func TestGraceBoundsShutdownWithEverySlotBusy(t *testing.T) {
	s := newFakeStack(t, 0)
	s.fake.holdUntilReleased()
	full := s.startReplica("full", func(c *config.File) {
		c.Worker.Concurrency = 2
		c.Worker.ShutdownGrace = 300 * time.Millisecond
	})
	for i := range 6 {
		s.submit(task(fmt.Sprintf("busy-%d", i), 1))
	}
	require.Eventually(t, func() bool { return s.requests() >= 2 }, 10*time.Second, 20*time.Millisecond)
	s.stopWithin(full, 10*time.Second) // grace bounds the shutdown

	s.fake.release()
	s.startReplica("taker", nil)
	envs := s.envelopes(6, 30*time.Second)
	require.Len(t, envs, 6)
	for _, e := range envs {
		assert.Equal(t, "taker", e.WorkerID)
		assert.Equal(t, "ok", e.SignerResult.Status, e.SignerResult.ErrorMessage)
	}
}

// A task whose envelope is already stored (its replica died before
// acking) is acknowledged without signing; a fresh task beside it is
// signed, so the count of signing requests tells the two apart (the
// results stream cannot: its deduplication keeps one envelope per id).
func TestAStoredEnvelopeIsNotSignedTwice(t *testing.T) {
	s := newFakeStack(t, 0)
	_, err := s.js.Publish(context.Background(), "pubtools.sign.results.default.already", []byte(`{"task_id": "already", "worker_id": "dead", "signer_result": {"status": "ok", "error_message": ""}}`),
		jetstream.WithMsgID("default/already"))
	require.NoError(t, err)
	s.startReplica("r1", nil)
	s.submit(task("already", 2))
	s.submit(task("fresh", 3))
	s.settled(30 * time.Second) // both handled and acknowledged
	envs := s.envelopes(2, 5*time.Second)
	require.Len(t, envs, 2)
	by := map[string]envelope{}
	for _, e := range envs {
		by[e.TaskID] = e
	}
	assert.Equal(t, "dead", by["already"].WorkerID, "the stored envelope stands")
	assert.Equal(t, "r1", by["fresh"].WorkerID)
	assert.Equal(t, uint64(3), s.requests(), "the fresh task's 3 references signed, the stored task's 2 not again")
}

func TestHealthReadinessAndMetrics(t *testing.T) {
	s := newStack(t, emulator.Faults{})
	r := s.startReplica("r1", nil)
	s.submit(task("metered", 3))
	require.Len(t, s.envelopes(1, 30*time.Second), 1)
	ready := true
	srv := testenv.HTTPServer(t, worker.HTTPHandler(r.metrics, []worker.ReadinessCheck{{Name: "nats", Ready: s.nc.IsConnected}, {Name: "amqp", Ready: func() bool { return ready }}}))
	get := func(path string) (int, string) {
		resp, err := srv.Client().Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, _ := get("/healthz")
	assert.Equal(t, 200, code)
	code, _ = get("/readyz")
	assert.Equal(t, 200, code)
	ready = false
	code, body := get("/readyz")
	assert.Equal(t, 503, code)
	assert.Contains(t, body, "amqp: not ready")
	_, metrics := get("/metrics")
	assert.Contains(t, metrics, `pubtools_sign_tasks_total{outcome="ok",signer="msg-container"} 1`)
	assert.Contains(t, metrics, "pubtools_sign_request_duration_seconds_count 3")
	assert.Contains(t, metrics, "pubtools_sign_task_duration_seconds_bucket")
}

// A task running longer than ack_wait is kept alive by in-progress acks:
// one delivery, one envelope.
func TestLongTaskIsNotRedelivered(t *testing.T) {
	s := newFakeStack(t, 4*time.Second)
	s.cfg.NATS.AckWait = 2 * time.Second
	_, err := worker.EnsureStreams(context.Background(), s.js, &s.cfg.NATS)
	require.NoError(t, err)
	s.startReplica("r1", nil)
	s.startReplica("r2", nil)
	s.submit(task("long-1", 1))
	envs := s.envelopes(1, 30*time.Second)
	require.Len(t, envs, 1)
	assert.Equal(t, 1, envs[0].Attempt)
	for _, info := range s.settled(10 * time.Second) {
		assert.Zero(t, info.NumRedelivered, "no redelivery while it ran (%s)", info.Name)
	}
	assert.Equal(t, uint64(1), s.requests(), "signed once")
	s.envelopes(1, 5*time.Second)
}

func TestExistingStreamSettingsAreLeftAlone(t *testing.T) {
	s := newFakeStack(t, 0)
	ctx := context.Background()
	stream, err := s.js.Stream(ctx, s.cfg.NATS.ResultsStream)
	require.NoError(t, err)
	cfg := stream.CachedInfo().Config
	cfg.MaxAge = 48 * time.Hour // an operator's choice
	_, err = s.js.UpdateStream(ctx, cfg)
	require.NoError(t, err)
	_, err = worker.EnsureStreams(ctx, s.js, &s.cfg.NATS)
	require.NoError(t, err)
	info, err := stream.Info(ctx)
	require.NoError(t, err)
	assert.Equal(t, 48*time.Hour, info.Config.MaxAge)

	// The consumer too: an operator's ack_wait survives a restart.
	s.startReplica("first", nil).stop()
	name := worker.ConsumerName(&s.cfg.NATS, worker.SignerMsgContainer)
	cons, err := s.js.Consumer(ctx, s.cfg.NATS.TasksStream, name)
	require.NoError(t, err)
	ccfg := cons.CachedInfo().Config
	assert.Equal(t, []string{"pubtools.sign.tasks.*.msg-container", "pubtools.sign.tasks.msg-container"}, ccfg.FilterSubjects)
	ccfg.AckWait = 42 * time.Second
	_, err = s.js.UpdateConsumer(ctx, s.cfg.NATS.TasksStream, ccfg)
	require.NoError(t, err)
	s.startReplica("restarted", nil)
	ci, err := cons.Info(ctx)
	require.NoError(t, err)
	assert.Equal(t, 42*time.Second, ci.Config.AckWait)
}

// A replica takes only the tasks of signers it has: a cosign task waits,
// never refused, for a replica with cosign, which signs it.
func TestTasksOfAMissingSignerWaitForAReplicaThatHasIt(t *testing.T) {
	s := newStack(t, emulator.Faults{})
	ctx := context.Background()
	noCosign := s.startReplica("no-cosign", nil)
	cosignTask := map[string]any{"schema": worker.TaskSchema, "task_id": "needs-cosign", "signer": worker.SignerCosignContainer,
		"signing_keys": []string{"release"}, "references": []string{"registry.example/ns/app:1"},
		"digests": []string{fmt.Sprintf("sha256:%064x", 1)}}
	s.submitTo("pubtools.sign.tasks.default.cosign-container", cosignTask)
	s.submit(task("after-cosign", 1))
	// The msg-container task, published later, is done: the replica pulls.
	envs := s.envelopes(1, 30*time.Second)
	require.Len(t, envs, 1)
	assert.Equal(t, "after-cosign", envs[0].TaskID)
	assert.Zero(t, testutil.ToFloat64(noCosign.metrics.Tasks.WithLabelValues(worker.SignerCosignContainer, "invalid")))
	_, err := s.js.Consumer(ctx, s.cfg.NATS.TasksStream, worker.ConsumerName(&s.cfg.NATS, worker.SignerCosignContainer))
	assert.ErrorIs(t, err, jetstream.ErrConsumerNotFound, "no replica serves cosign yet")
	stream, err := s.js.Stream(ctx, s.cfg.NATS.TasksStream)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := stream.Info(ctx)
		return err == nil && info.State.Msgs == 1
	}, 10*time.Second, 20*time.Millisecond, "the cosign task waits in the queue (the other one acked)")

	var signed atomic.Int32
	withAlias := func(c *config.File) { // cosign keys are aliases only
		c.CosignSigner = &config.CosignSigner{KeyAliases: map[string]string{"release": "/keys/release.key"}}
	}
	s.startReplicaWith("with-cosign", withAlias, func(sigs worker.Signers) {
		sigs[worker.SignerCosignContainer] = worker.Typed(func(_ context.Context, op *signers.ContainerSign) (*signers.Result, error) {
			signed.Add(1)
			return &signers.Result{SignerResult: signers.SignerResult{Status: signers.StatusOK}, Operation: pyjson.Object{}}, nil
		})
	})
	envs = s.envelopes(2, 30*time.Second)
	require.Len(t, envs, 2)
	assert.Equal(t, "needs-cosign", envs[1].TaskID)
	assert.Equal(t, "with-cosign", envs[1].WorkerID)
	assert.Equal(t, "ok", envs[1].SignerResult.Status)
	assert.Equal(t, int32(1), signed.Load())
	assert.Zero(t, testutil.ToFloat64(noCosign.metrics.Tasks.WithLabelValues(worker.SignerCosignContainer, "invalid")), "never refused")
}

// Upgrading a single machine: the unfiltered consumer of earlier versions
// gives way to the per-signer ones, and the tasks queued under it are
// signed.
func TestTheSharedConsumerOfEarlierVersionsIsRetired(t *testing.T) {
	s := newStack(t, emulator.Faults{})
	ctx := context.Background()
	_, err := s.js.CreateConsumer(ctx, s.cfg.NATS.TasksStream, jetstream.ConsumerConfig{
		Durable: s.cfg.NATS.Consumer, AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: -1})
	require.NoError(t, err)
	s.submit(task("queued-before-upgrade", 1))
	s.startReplica("upgraded", nil)
	envs := s.envelopes(1, 30*time.Second)
	require.Len(t, envs, 1)
	assert.Equal(t, "ok", envs[0].SignerResult.Status)
	_, err = s.js.Consumer(ctx, s.cfg.NATS.TasksStream, s.cfg.NATS.Consumer)
	assert.ErrorIs(t, err, jetstream.ErrConsumerNotFound)
}
