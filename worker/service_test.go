package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/config"
	"github.com/release-engineering/pubtools-sign-go/emulator"
	"github.com/release-engineering/pubtools-sign-go/internal/testenv"
	"github.com/release-engineering/pubtools-sign-go/signers"
	"github.com/release-engineering/pubtools-sign-go/worker"
)

// Over 1,000 requests the replies are spooled to a file; the micro path
// must answer with the same envelope it stored (it once encoded twice,
// and the second encoding found the spool closed: a 500). Clear-signing
// short texts keeps the envelope under NATS's 1 MB payload limit.
func TestMicroRequestWithMoreThanAThousandRequests(t *testing.T) {
	s := newStack(t, emulator.Faults{})
	s.startReplica("r1", nil)
	inputs := make([]string, 1001)
	for i := range inputs {
		inputs[i] = fmt.Sprint(i)
	}
	data, _ := json.Marshal(map[string]any{"schema": worker.TaskSchema, "task_id": "rpc-big", "signer": worker.SignerMsgClear,
		"signing_keys": []string{"0123456789ABCDEF"}, "inputs": inputs})
	reply, err := s.nc.Request(worker.RequestSubject(s.cfg.NATS.RequestSubject, config.DefaultTenant), data, 2*time.Minute)
	require.NoError(t, err)
	require.Empty(t, reply.Header.Get(micro.ErrorHeader), "micro error %s (%d bytes)", reply.Header.Get(micro.ErrorCodeHeader), len(reply.Data))
	var e envelope
	require.NoError(t, json.Unmarshal(reply.Data, &e), string(reply.Data[:min(len(reply.Data), 500)]))
	assert.Equal(t, "ok", e.SignerResult.Status)
	assert.Len(t, e.OperationResults, 1001)
	assert.Contains(t, string(reply.Data), `"repo": null, "requester": null}`, "as the CLI prints a task without them")
	stored := s.envelopes(1, 10*time.Second)
	require.Len(t, stored, 1)
	assert.Len(t, stored[0].OperationResults, 1001)
}

// `nats micro stats pubtools-sign` reports how long a request took to
// sign, not how long it took to hand it to a goroutine; and concurrent
// requests are still served at once.
func TestMicroStatsMeasureTheSigning(t *testing.T) {
	const delay = 400 * time.Millisecond
	s := newStack(t, emulator.Faults{Delay: delay})
	s.startReplica("r1", nil)
	const n = 4
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data, _ := json.Marshal(task(fmt.Sprintf("rpc-stats-%d", i), 1))
			_, err := s.nc.Request(worker.RequestSubject(s.cfg.NATS.RequestSubject, config.DefaultTenant), data, time.Minute)
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	// micro counts a request once its handler returned, a moment after the
	// reply went out: the last one may not be counted yet.
	var requests int
	var total time.Duration
	require.Eventually(t, func() bool {
		reply, err := s.nc.Request("$SRV.STATS."+worker.ServiceName, nil, 5*time.Second)
		require.NoError(t, err)
		var stats micro.Stats
		require.NoError(t, json.Unmarshal(reply.Data, &stats))
		requests, total = 0, 0
		for _, e := range stats.Endpoints {
			requests += e.NumRequests
			total += e.ProcessingTime
		}
		return requests >= n
	}, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, n, requests)
	assert.GreaterOrEqual(t, total/time.Duration(requests), delay, "the average includes the signing server's %s", delay)
}

// A signer that panics costs its task an error envelope naming the panic,
// on both paths; the replica keeps serving, and the panic is counted.
func TestAPanickingSignerDoesNotKillTheReplica(t *testing.T) {
	emb, err := worker.StartEmbedded(testenv.Addr(t), t.TempDir())
	require.NoError(t, err)
	t.Cleanup(emb.Stop)
	nc, err := nats.Connect(emb.URL)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	cfg := config.Defaults()
	cfg.Worker.ID = "r1"
	cfg.Worker.Concurrency = 4
	metrics := worker.NewMetrics()
	sign := func(_ context.Context, op *signers.ContainerSign) (*signers.Result, error) {
		if strings.HasPrefix(op.TaskID, "boom") {
			var refs []string
			_ = refs[len(op.References)] // a signer bug: index out of range
		}
		return &signers.Result{SignerResult: signers.SignerResult{Status: signers.StatusOK}, Operation: op.Dict(), SigningKeys: op.SigningKeys}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	w, err := worker.New(ctx, worker.Options{Config: cfg, Conn: nc, Signers: worker.Signers{worker.SignerMsgContainer: worker.Typed(sign)}, Metrics: metrics, Log: quiet()})
	require.NoError(t, err)
	stop, err := w.RegisterService(ctx, cfg.NATS.RequestSubject, "0.0.0-test")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; stop() })

	request := func(id string) envelope {
		data, _ := json.Marshal(task(id, 1))
		reply, err := nc.Request(worker.RequestSubject(cfg.NATS.RequestSubject, config.DefaultTenant), data, 30*time.Second)
		require.NoError(t, err)
		var e envelope
		require.NoError(t, json.Unmarshal(reply.Data, &e), string(reply.Data))
		return e
	}
	e := request("boom-rpc")
	assert.Equal(t, "error", e.SignerResult.Status)
	assert.Contains(t, e.SignerResult.ErrorMessage, "signer msg-container panicked: runtime error: index out of range [1] with length 0")
	assert.Equal(t, "ok", request("fine-rpc").SignerResult.Status, "the replica still serves")

	// The JetStream path.
	js, err := nc.JetStream()
	require.NoError(t, err)
	sub, err := nc.SubscribeSync(worker.ResultSubject(cfg.NATS.ResultsPrefix, config.DefaultTenant, "boom-js"))
	require.NoError(t, err)
	data, _ := json.Marshal(task("boom-js", 1))
	_, err = js.Publish(worker.TaskSubject(cfg.NATS.TasksSubject, config.DefaultTenant, worker.SignerMsgContainer), data)
	require.NoError(t, err)
	m, err := sub.NextMsg(30 * time.Second)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(m.Data, &e))
	assert.Contains(t, e.SignerResult.ErrorMessage, "panicked")
	assert.Equal(t, "ok", request("fine-after-js").SignerResult.Status)

	srv := testenv.HTTPServer(t, worker.HTTPHandler(metrics, nil))
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	assert.Contains(t, string(body), "pubtools_sign_task_panics_total 2")
}
