package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/config"
	"github.com/release-engineering/pubtools-sign-go/emulator"
	"github.com/release-engineering/pubtools-sign-go/internal/testenv"
	"github.com/release-engineering/pubtools-sign-go/signers/msg"
	"github.com/release-engineering/pubtools-sign-go/worker"
)

// stack is the daemon's world for one test: an embedded NATS server of its
// own, the shared RabbitMQ, and the emulator on topics private to the test
// (newStack), or a fake signer instead of both (newFakeStack).
type stack struct {
	t    *testing.T
	cfg  *config.File
	url  string
	nc   *nats.Conn
	js   jetstream.JetStream
	emu  *emulator.Server
	fake *fakeSigner
	log  *slog.Logger
	env  string
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newStack(t *testing.T, faults emulator.Faults) *stack {
	t.Helper()
	b := testenv.RabbitMQ(t, "main")
	emb, err := worker.StartEmbedded(testenv.Addr(t), t.TempDir())
	require.NoError(t, err)
	t.Cleanup(emb.Stop)
	s := &stack{t: t, url: emb.URL, log: quiet(), env: "w" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")}
	cfg := config.Defaults()
	cfg.Worker.Concurrency = 32
	cfg.Worker.ShutdownGrace = 10 * time.Second
	cfg.NATS.AckWait = 3 * time.Second
	cfg.MsgSigner = &config.MsgSigner{
		MessagingBrokers: []string{b.AMQPURL}, MessagingCertKey: b.ClientCertKey,
		TopicSendTo:   config.Template("/topic/robosignatory." + s.env + ".sign"),
		TopicListenTo: config.Template("/topic/robosignatory." + s.env + ".client.{creator}"),
		Environment:   s.env, Service: "pubtools-sign", MessageIDKey: "request_id",
		Timeout: 20, Retries: 2, SendRetries: 2, TaskIDAttribute: "pub_task_id",
		SendWindow: 256, CreditWindow: 500, ConnectTimeout: 5 * time.Second,
	}
	s.cfg = cfg
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s.emu, err = emulator.Start(ctx, emulator.Options{URLs: []string{b.AMQPURL},
		RequestAddress: "/topic/robosignatory." + s.env + ".sign",
		ReplyAddress:   config.Template("/topic/robosignatory." + s.env + ".client.{requested_by}"),
		Faults:         faults, Log: quiet()})
	require.NoError(t, err)
	t.Cleanup(s.emu.Close)
	s.nc, err = nats.Connect(s.url)
	require.NoError(t, err)
	t.Cleanup(s.nc.Close)
	s.js, err = jetstream.New(s.nc)
	require.NoError(t, err)
	_, err = worker.EnsureStreams(ctx, s.js, &cfg.NATS)
	require.NoError(t, err)
	return s
}

// replica is one running worker with its own NATS and AMQP connections.
type replica struct {
	id      string
	cancel  context.CancelFunc
	done    chan struct{}
	metrics *worker.Metrics
}

func (s *stack) startReplica(id string, mutate func(*config.File)) *replica {
	s.t.Helper()
	return s.startReplicaWith(id, mutate, nil)
}

// startReplicaWith is startReplica with the replica's signer table edited
// (signers taken away or added).
func (s *stack) startReplicaWith(id string, mutate func(*config.File), editSigners func(worker.Signers)) *replica {
	s.t.Helper()
	cfg := *s.cfg
	cfg.Worker.ID = id
	if mutate != nil {
		mutate(&cfg)
	}
	nc, err := nats.Connect(s.url)
	require.NoError(s.t, err)
	metrics := worker.NewMetrics()
	var sigs worker.Signers
	closeSigner := func() {}
	if s.fake != nil {
		sigs = s.fake.signers(metrics)
	} else {
		conn, err := msg.Connect(context.Background(), cfg.MsgSigner, "", "msg_signer", s.log)
		require.NoError(s.t, err)
		signer := conn.Signer(msg.Options{Config: cfg.MsgSigner, WorkerID: id, Log: s.log, Observer: metrics})
		sigs = worker.Signers{worker.SignerMsgContainer: worker.Typed(signer.ContainerSign), worker.SignerMsgClear: worker.Typed(signer.ClearSign),
			worker.SignerMsgBlob: worker.Typed(signer.BlobSign)}
		closeSigner = func() { _ = conn.Close() }
	}
	if editSigners != nil {
		editSigners(sigs)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w, err := worker.New(ctx, worker.Options{Config: &cfg, Conn: nc, Signers: sigs, Metrics: metrics, Log: s.log.With("worker", id)})
	require.NoError(s.t, err)
	stopService, err := w.RegisterService(ctx, cfg.NATS.RequestSubject, "0.0.0-test")
	require.NoError(s.t, err)
	r := &replica{id: id, cancel: cancel, done: make(chan struct{}), metrics: metrics}
	go func() {
		defer close(r.done)
		_ = w.Run(ctx)
		stopService()
		closeSigner()
		nc.Close()
	}()
	s.t.Cleanup(func() { cancel(); <-r.done })
	return r
}

// stop is SIGTERM: it returns when Run has drained.
func (r *replica) stop() { r.cancel(); <-r.done }

func task(id string, refs int) map[string]any {
	t := map[string]any{"schema": worker.TaskSchema, "task_id": id, "signer": worker.SignerMsgContainer, "signing_keys": []string{"0123456789ABCDEF"}}
	var rr, dd []string
	for i := 0; i < refs; i++ {
		rr = append(rr, fmt.Sprintf("registry.example/ns/app%d:%d", i%3, i))
		dd = append(dd, fmt.Sprintf("sha256:%064x", i))
	}
	t["references"], t["digests"] = rr, dd
	return t
}

// submit publishes a task (JSON-encoded unless it is already bytes) as
// tenant default, on the subject of the signer it names.
func (s *stack) submit(v any, headers ...string) {
	s.t.Helper()
	data, ok := v.([]byte)
	if !ok {
		data, _ = json.Marshal(v)
	}
	s.submitTo(worker.TaskSubject(s.cfg.NATS.TasksSubject, "default", signerOf(data)), v, headers...)
}

// submitTo publishes a task on subject.
func (s *stack) submitTo(subject string, v any, headers ...string) {
	s.t.Helper()
	data, ok := v.([]byte)
	if !ok {
		data, _ = json.Marshal(v)
	}
	m := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	if t, ok := v.(map[string]any); ok {
		m.Header.Set(jetstream.MsgIDHeader, t["task_id"].(string))
	}
	for i := 0; i+1 < len(headers); i += 2 {
		m.Header.Set(headers[i], headers[i+1])
	}
	_, err := s.js.PublishMsg(context.Background(), m)
	require.NoError(s.t, err)
}

// signerOf is the signer a task names, as the subject token it is
// published under (msg-container when it names none usable).
func signerOf(data []byte) string {
	var t struct {
		Signer string `json:"signer"`
	}
	if json.Unmarshal(data, &t) != nil || !config.SubjectToken.MatchString(t.Signer) {
		return worker.SignerMsgContainer
	}
	if _, err := worker.LookupKind(t.Signer); err == nil {
		return t.Signer
	}
	// No consumer takes an unknown signer's subject: send it where a
	// replica refuses it.
	return worker.SignerMsgContainer
}

// envelope is the part of a result envelope tests read.
type envelope struct {
	Subject          string
	TaskID           string            `json:"task_id"`
	WorkerID         string            `json:"worker_id"`
	Attempt          int               `json:"attempt"`
	TraceParent      string            `json:"traceparent"`
	Failed           bool              `json:"failed"`
	OperationResults []json.RawMessage `json:"operation_results"`
	SignerResult     struct {
		Status       string `json:"status"`
		ErrorMessage string `json:"error_message"`
	} `json:"signer_result"`
}

// envelopes reads the results stream until want envelopes arrived (or
// the time is up) and returns all of them, duplicates included.
func (s *stack) envelopes(want int, within time.Duration) []envelope {
	s.t.Helper()
	stream, err := s.js.Stream(context.Background(), s.cfg.NATS.ResultsStream)
	require.NoError(s.t, err)
	cons, err := stream.OrderedConsumer(context.Background(), jetstream.OrderedConsumerConfig{})
	require.NoError(s.t, err)
	var out []envelope
	deadline := time.Now().Add(within)
	for len(out) < want && time.Now().Before(deadline) {
		m, err := cons.Next(jetstream.FetchMaxWait(min(2*time.Second, time.Until(deadline))))
		if err != nil {
			continue
		}
		var e envelope
		require.NoError(s.t, json.Unmarshal(m.Data(), &e), string(m.Data()))
		e.Subject = m.Subject()
		out = append(out, e)
	}
	// Anything extra (a duplicate) would already be stored: count it.
	info, err := stream.Info(context.Background())
	require.NoError(s.t, err)
	require.Equal(s.t, uint64(len(out)), info.State.Msgs, "results stream holds exactly what was read")
	return out
}
