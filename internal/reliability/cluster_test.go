package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/config"
	"github.com/release-engineering/pubtools-sign-go/emulator"
	"github.com/release-engineering/pubtools-sign-go/internal/testenv"
	"github.com/release-engineering/pubtools-sign-go/worker"
)

// cluster is a daemon deployment for one test: the real RabbitMQ, the
// emulator on topics private to the test, an embedded NATS server on a
// fixed port (so it can be restarted) and serve processes.
type cluster struct {
	t        *testing.T
	broker   *testenv.Broker
	env      string
	conf     string
	natsAddr string
	natsDir  string
	nats     *worker.Embedded
	nc       *nats.Conn
	js       jetstream.JetStream
	emu      *emulator.Server
	ackWait  time.Duration
}

type clusterOptions struct {
	broker  string // RabbitMQ instance name (default "main")
	brokers func(b *testenv.Broker) []string
	faults  emulator.Faults
	ackWait time.Duration
	extra   string // more config YAML
	// natsURL is an external NATS (cluster) to use instead of the embedded
	// server; the replicas then create the streams themselves.
	natsURL string
	// natsExtra are more keys of the nats section ("  key: value\n").
	natsExtra string
}

func newCluster(t *testing.T, o clusterOptions) *cluster {
	t.Helper()
	if o.broker == "" {
		o.broker = "main"
	}
	if o.ackWait == 0 {
		o.ackWait = 3 * time.Second
	}
	b := testenv.RabbitMQ(t, o.broker)
	c := &cluster{t: t, broker: b, env: "r" + strings.ReplaceAll(uuid.NewString()[:8], "-", ""),
		natsAddr: testenv.Addr(t), natsDir: t.TempDir(), ackWait: o.ackWait}
	brokers := []string{b.AMQPURL}
	if o.brokers != nil {
		brokers = o.brokers(b)
	}
	natsURL := o.natsURL
	if natsURL == "" {
		natsURL = "nats://" + c.natsAddr
		c.startNATS()
		t.Cleanup(func() { c.nats.Stop() })
	}

	var list strings.Builder
	for _, u := range brokers {
		fmt.Fprintf(&list, "    - %s\n", u)
	}
	c.conf = filepath.Join(t.TempDir(), "conf.yaml")
	conf := fmt.Sprintf(`msg_signer:
  messaging_brokers:
%s  messaging_cert_key: %s
  messaging_ca_cert: %s
  topic_send_to: /topic/robosignatory.%s.sign
  topic_listen_to: /topic/robosignatory.%s.client.{creator}
  environment: %s
  service: pubtools-sign
  timeout: 10
  retries: 3
  send_retries: 3
  message_id_key: request_id
  connect_timeout: 5s
worker:
  concurrency: 16
  shutdown_grace: 20s
nats:
  url: %s
  ack_wait: %s
%slog:
  format: json
  level: info
%s`, list.String(), b.ClientCertKey, b.CACert, c.env, c.env, c.env, natsURL, o.ackWait, o.natsExtra, o.extra)
	require.NoError(t, os.WriteFile(c.conf, []byte(conf), 0o600))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	c.emu, err = emulator.Start(ctx, emulator.Options{URLs: []string{b.AMQPURL},
		RequestAddress: "/topic/robosignatory." + c.env + ".sign",
		ReplyAddress:   config.Template("/topic/robosignatory." + c.env + ".client.{requested_by}"),
		Faults:         o.faults, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	t.Cleanup(c.emu.Close)

	c.nc, err = nats.Connect(natsURL, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond), nats.RetryOnFailedConnect(true))
	require.NoError(t, err)
	t.Cleanup(c.nc.Close)
	c.js, err = jetstream.New(c.nc)
	require.NoError(t, err)
	if o.natsURL == "" {
		natsCfg := config.Defaults().NATS
		natsCfg.AckWait = o.ackWait
		_, err = worker.EnsureStreams(ctx, c.js, &natsCfg)
		require.NoError(t, err)
	}
	return c
}

func (c *cluster) startNATS() {
	c.t.Helper()
	var err error
	c.nats, err = worker.StartEmbedded(c.natsAddr, c.natsDir)
	require.NoError(c.t, err)
}

// restartNATS stops the NATS server and starts it again on the same
// address with the same JetStream directory.
func (c *cluster) restartNATS(down time.Duration) {
	c.t.Helper()
	c.nats.Stop()
	time.Sleep(down) // the outage itself (the fault), not a wait for state
	c.startNATS()
}

// replica is one `pubtools-sign serve` process.
type replica struct {
	id   string
	cmd  *exec.Cmd
	http string
	log  string // its stderr
	done chan error
}

func (c *cluster) startReplica(id string, env ...string) *replica {
	c.t.Helper()
	r := c.launchReplica(id, env...)
	require.Eventually(c.t, r.ready, 30*time.Second, 20*time.Millisecond, "replica %s ready", id)
	return r
}

// launchReplica starts a serve process without waiting for it to be ready.
func (c *cluster) launchReplica(id string, env ...string) *replica {
	c.t.Helper()
	r := &replica{id: id, http: testenv.Addr(c.t), log: filepath.Join(c.t.TempDir(), id+".log"), done: make(chan error, 1)}
	logFile, err := os.Create(r.log)
	require.NoError(c.t, err)
	r.cmd = exec.Command(os.Args[0], "serve", "--config-file", c.conf)
	r.cmd.Env = append(os.Environ(), asCLI+"=1", "PUBTOOLS_SIGN_WORKER_ID="+id, "PUBTOOLS_SIGN_HTTP_LISTEN="+r.http)
	r.cmd.Env = append(r.cmd.Env, env...)
	r.cmd.Stdout, r.cmd.Stderr = logFile, logFile
	// A test binary that dies (timeout, panic) takes its replicas along:
	// no serve process outlives the run.
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(c.t, r.cmd.Start())
	go func() { r.done <- r.cmd.Wait(); logFile.Close() }()
	c.t.Cleanup(func() { r.kill(syscall.SIGKILL) })
	return r
}

// kill sends sig and waits for the process to end.
func (r *replica) kill(sig syscall.Signal) error {
	_ = r.cmd.Process.Signal(sig)
	select {
	case err := <-r.done:
		r.done <- err
		return err
	case <-time.After(60 * time.Second):
		return fmt.Errorf("replica %s did not exit after %v", r.id, sig)
	}
}

// submit publishes n container tasks of refs references each and returns
// their ids.
func (c *cluster) submit(prefix string, n, refs int) []string {
	c.t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%d", prefix, i)
		data, err := json.Marshal(containerTask(ids[i], refs))
		require.NoError(c.t, err)
		_, err = c.js.Publish(context.Background(), "pubtools.sign.tasks.default.msg-container", data, jetstream.WithMsgID(ids[i]))
		require.NoError(c.t, err)
	}
	return ids
}

func containerTask(id string, refs int) worker.Task {
	t := worker.Task{Schema: worker.TaskSchema, TaskID: id, Signer: worker.SignerMsgContainer, SigningKeys: []string{"0123456789ABCDEF"}}
	for i := range refs {
		t.References = append(t.References, fmt.Sprintf("registry.example/ns/app%d:%d", i%3, i))
		t.Digests = append(t.Digests, digestOf(id, i))
	}
	return t
}

// digestOf is a digest unique to task id and reference i, so a reply
// landing in the wrong task's envelope is caught.
func digestOf(id string, i int) string {
	return fmt.Sprintf("sha256:%064x", uuid.NewSHA1(uuid.NameSpaceURL, []byte(fmt.Sprintf("%s/%d", id, i))).ID())
}

// envelope is the part of a result envelope the tests read.
type envelope struct {
	TaskID           string            `json:"task_id"`
	WorkerID         string            `json:"worker_id"`
	Attempt          int               `json:"attempt"`
	OperationResults []json.RawMessage `json:"operation_results"`
	SignerResult     struct {
		Status       string `json:"status"`
		ErrorMessage string `json:"error_message"`
	} `json:"signer_result"`
	raw    []byte
	stored time.Time // when the results stream stored it
}

// exactlyOneCorrectEnvelopeEachOf reads the results stream until every
// task has an envelope and checks there is one per task; it does not look
// inside (the tasks may use any signer).
func (c *cluster) exactlyOneCorrectEnvelopeEachOf(ids []string, within time.Duration) map[string]envelope {
	c.t.Helper()
	got := c.readEnvelopes(len(ids), within)
	for _, id := range ids {
		assert.Contains(c.t, got, id, "task without an envelope")
	}
	return got
}

// readEnvelopes reads the results stream until want distinct tasks have
// an envelope (or within passes); a second envelope for a task fails.
func (c *cluster) readEnvelopes(want int, within time.Duration) map[string]envelope {
	c.t.Helper()
	deadline := time.Now().Add(within)
	// On a cluster the stream may still be electing a leader: ask again.
	var stream jetstream.Stream
	var cons jetstream.Consumer
	require.Eventually(c.t, func() bool {
		var err error
		if stream, err = c.js.Stream(context.Background(), "PUBTOOLS_SIGN_RESULTS"); err != nil {
			return false
		}
		cons, err = stream.OrderedConsumer(context.Background(), jetstream.OrderedConsumerConfig{})
		return err == nil
	}, within, 100*time.Millisecond, "the results stream answers")
	got := map[string]envelope{}
	for len(got) < want && time.Now().Before(deadline) {
		m, err := cons.Next(jetstream.FetchMaxWait(min(2*time.Second, time.Until(deadline))))
		if err != nil {
			continue
		}
		var e envelope
		require.NoError(c.t, json.Unmarshal(m.Data(), &e), string(m.Data()))
		e.raw = m.Data()
		if meta, err := m.Metadata(); err == nil {
			e.stored = meta.Timestamp
		}
		_, seen := got[e.TaskID]
		assert.False(c.t, seen, "a second envelope for task %s", e.TaskID)
		got[e.TaskID] = e
	}
	var info *jetstream.StreamInfo
	require.Eventually(c.t, func() bool {
		var err error
		info, err = stream.Info(context.Background())
		return err == nil
	}, 30*time.Second, 100*time.Millisecond, "the results stream answers")
	assert.Equal(c.t, uint64(want), info.State.Msgs, "the results stream holds one envelope per task")
	return got
}

// exactlyOneCorrectEnvelopeEach reads the results stream until every task
// has an envelope (or within passes) and checks the promise: one envelope
// per task, status ok, each reference's reply carrying that reference's
// digest. It returns the envelopes by task id.
func (c *cluster) exactlyOneCorrectEnvelopeEach(ids []string, refs int, within time.Duration) map[string]envelope {
	c.t.Helper()
	got := c.readEnvelopes(len(ids), within)
	missing := 0
	for _, id := range ids {
		e, ok := got[id]
		if !ok {
			missing++
			continue
		}
		if !assert.Equal(c.t, "ok", e.SignerResult.Status, "task %s: %s", id, e.SignerResult.ErrorMessage) {
			continue
		}
		require.Len(c.t, e.OperationResults, refs, id)
		for i, item := range e.OperationResults {
			var pair []json.RawMessage
			require.NoError(c.t, json.Unmarshal(item, &pair))
			require.NotEmpty(c.t, pair)
			var body struct {
				Msg struct {
					ManifestDigest string `json:"manifest_digest"`
					PubTaskID      string `json:"pub_task_id"`
				} `json:"msg"`
			}
			require.NoError(c.t, json.Unmarshal(pair[0], &body))
			assert.Equal(c.t, digestOf(id, i), body.Msg.ManifestDigest, "task %s reference %d", id, i)
			assert.Equal(c.t, id, body.Msg.PubTaskID)
		}
	}
	assert.Zero(c.t, missing, "tasks without an envelope")
	return got
}

// waitEmulatorRequests waits until the emulator has seen n requests:
// observable proof that the replicas' requests are out.
func (c *cluster) waitEmulatorRequests(n int) {
	c.t.Helper()
	require.Eventually(c.t, func() bool { return c.emu.Stats().Requests >= uint64(n) }, time.Minute, 10*time.Millisecond,
		"the emulator saw %d requests (it saw %d)", n, c.emu.Stats().Requests)
}

// metricSum adds the samples of metric name whose labels contain every
// one of labels (e.g. `outcome="ok"`).
func (r *replica) metricSum(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	sum := 0.0
	for _, line := range strings.Split(r.metrics(t), "\n") {
		series, value, ok := strings.Cut(line, " ")
		if !ok || (series != name && !strings.HasPrefix(series, name+"{")) {
			continue
		}
		matches := true
		for _, l := range labels {
			matches = matches && strings.Contains(series, l)
		}
		if matches {
			v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
			require.NoError(t, err, line)
			sum += v
		}
	}
	return sum
}

func (r *replica) metrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get("http://" + r.http + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(body)
}

// metric reads one sample of the replica's /metrics (the first line
// starting with name; 0 when absent).
func (r *replica) metric(t *testing.T, name string) float64 {
	t.Helper()
	for _, line := range strings.Split(r.metrics(t), "\n") {
		if strings.HasPrefix(line, name+" ") || strings.HasPrefix(line, name+"{") {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			require.NoError(t, err)
			return v
		}
	}
	return 0
}

// cosignSection is a cosign_signer section for a replica: cosign at bin
// with the key alias "release" for keyPath, credentials (if extra sets a
// user) only for registry, no transparency log, one try per image.
func cosignSection(bin, registry, keyPath string, numThreads int, extra string) string {
	return fmt.Sprintf(`cosign_signer:
  cosign_bin: %s
  timeout: 1m0s
  num_threads: %d
  rekor_url: http://127.0.0.1:1
  upload_tlog: false
  allow_http_registry: true
  registries: [%s]
  retries: 1
  env_variables:
    COSIGN_PASSWORD: ""
  key_aliases:
    release: %s
%s`, bin, numThreads, registry, keyPath, extra)
}
