package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sethvargo/go-envconfig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/config"
	"github.com/release-engineering/pubtools-sign-go/internal/testenv"
	"github.com/release-engineering/pubtools-sign-go/signers/cosign"
	"github.com/release-engineering/pubtools-sign-go/worker"
)

const tenancyRegistryPassword = "robot-Pa55-never-print"

// tenancy is the shipped deploy/nats/tenants.conf served by nats-server,
// a worker with real cosign logged in as pubtools-sign, a registry the
// daemon has credentials for (registry.example.com in the shipped policy)
// and one it has none for (quay.example.org), and an operator watching
// every subject.
type tenancy struct {
	t        *testing.T
	nats     *testenv.TenantsNATS
	cfg      *config.File
	own      *testenv.Registry // registry.example.com: credentials listed
	other    *testenv.Registry // quay.example.org: team-b may sign there, no credentials
	logs     *testenv.SyncBuffer
	mu       sync.Mutex
	observed map[string]int // subject → envelopes seen by the operator
}

func newTenancy(t *testing.T) *tenancy { t.Helper(); return newTenancyAt(t, testenv.Port(t)) }

// newTenancyAt is newTenancy with its nats-server on port.
func newTenancyAt(t *testing.T, port int) *tenancy {
	t.Helper()
	cosignBin := testenv.Cosign(t)
	ts := &tenancy{t: t, nats: testenv.StartTenantsNATS(t, port), logs: &testenv.SyncBuffer{}, observed: map[string]int{}}
	ts.own = testenv.StartRegistry(t, "robot", tenancyRegistryPassword)
	ts.other = testenv.StartRegistry(t, "", "")
	dir := t.TempDir()
	keyA, _ := testenv.CosignKeyPair(t, cosignBin, mkdir(t, dir, "a"))
	keyB, _ := testenv.CosignKeyPair(t, cosignBin, mkdir(t, dir, "b"))

	conf := testenv.TenantsCosignConfig(t, cosignBin, tenancyRegistryPassword, ts.own.Host, ts.other.Host, keyA, keyB)
	var err error
	ts.cfg, err = config.Parse([]byte(conf), "tenancy.yaml", envconfig.MapLookuper(nil))
	require.NoError(t, err)
	ts.cfg.Worker.ID = "tenancy"

	// The operator sees every message, to prove where envelopes did not
	// go (the worker's own pulls use some of the same subjects).
	op := ts.connect("operator")
	_, err = op.Subscribe(">", func(m *nats.Msg) {
		if bytes.Contains(m.Data, []byte(worker.ResultSchema)) {
			ts.mu.Lock()
			ts.observed[m.Subject]++
			ts.mu.Unlock()
		}
	})
	require.NoError(t, err)
	require.NoError(t, op.Flush())

	log := slog.New(slog.NewTextHandler(ts.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	nc := ts.connect("pubtools-sign")
	signer := cosign.New(cosign.Options{Config: ts.cfg.CosignSigner, Log: log, Daemon: true})
	ctx, cancel := context.WithCancel(context.Background())
	w, err := worker.New(ctx, worker.Options{Config: ts.cfg, Conn: nc, Signers: worker.Signers{worker.SignerCosignContainer: worker.Typed(signer.ContainerSign)},
		Metrics: worker.NewMetrics(), Log: log})
	require.NoError(t, err)
	stop, err := w.RegisterService(ctx, ts.cfg.NATS.RequestSubject, "0.0.0-test")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx); stop() }()
	t.Cleanup(func() { cancel(); <-done })
	return ts
}

func mkdir(t *testing.T, parent, name string) string {
	d := parent + "/" + name
	require.NoError(t, os.MkdirAll(d, 0o700))
	return d
}

// connect logs in as a user of the shipped config; tenants use their own
// inbox prefix, as submit does.
func (ts *tenancy) connect(user string) *nats.Conn {
	ts.t.Helper()
	opts := []nats.Option{nats.UserInfo(user, ts.nats.Passwords[user]), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})}
	if strings.HasPrefix(user, "team-") {
		opts = append(opts, nats.CustomInboxPrefix(worker.InboxPrefix(user)))
	}
	nc, err := nats.Connect(ts.nats.URL, opts...)
	require.NoError(ts.t, err)
	ts.t.Cleanup(nc.Close)
	return nc
}

// publish sends a task as tenant on <tasks prefix>.<tenant>.<signer>.
func (ts *tenancy) publish(nc *nats.Conn, tenant, signer string, task worker.Task) error {
	return ts.publishWithin(nc, tenant, signer, task, 10*time.Second)
}

// publishWithin publishes and waits up to within for the stream's ack; a
// publish NATS refuses (permissions) gets none.
func (ts *tenancy) publishWithin(nc *nats.Conn, tenant, signer string, task worker.Task, within time.Duration) error {
	task.Schema = worker.TaskSchema
	data, err := json.Marshal(task)
	require.NoError(ts.t, err)
	js, err := jetstream.New(nc)
	require.NoError(ts.t, err)
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	_, err = js.Publish(ctx, worker.TaskSubject(ts.cfg.NATS.TasksSubject, tenant, signer), data,
		jetstream.WithMsgID(worker.TaskMsgID(tenant, task.TaskID, data)))
	return err
}

// envelope waits, as the tenant itself (the rights submit --wait has: a
// direct get of its own results), for the envelope of its task.
func (ts *tenancy) envelope(nc *nats.Conn, tenant, taskID string) envelope {
	ts.t.Helper()
	subject := worker.ResultSubject(ts.cfg.NATS.ResultsPrefix, tenant, taskID)
	var m *nats.Msg
	require.Eventually(ts.t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var err error
		m, err = worker.DirectStored(ctx, nc, ts.cfg.NATS.ResultsStream, subject)
		return err == nil && m != nil
	}, 90*time.Second, 20*time.Millisecond, "no envelope on %s", subject)
	var e envelope
	require.NoError(ts.t, json.Unmarshal(m.Data, &e), string(m.Data))
	e.Subject = m.Header.Get(jetstream.SubjectHeader)
	return e
}

// refused asserts an error envelope naming field and rule.
func refused(t *testing.T, e envelope, field, rule string) {
	t.Helper()
	assert.Equal(t, "error", e.SignerResult.Status, e.SignerResult.ErrorMessage)
	assert.Contains(t, e.SignerResult.ErrorMessage, "invalid task: "+field+": ")
	assert.Contains(t, e.SignerResult.ErrorMessage, rule)
}

func (ts *tenancy) seen(subject string) int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.observed[subject]
}

// Tried as an attacker would, with the shipped nats-server config, real
// cosign and registries: every way the issue found to turn the daemon
// against its owner ends in an error envelope naming the field and the
// rule, in the attacker's own results, and nothing else happens.
func TestTenantsCannotTurnTheDaemonAgainstItsOwner(t *testing.T) {
	ts := newTenancy(t)
	a, b := ts.connect("team-a"), ts.connect("team-b")
	imgA := ts.own.Host + "/team-a/app:1"
	digestA := ts.own.PushRandomImage(t, imgA)
	imgOther := ts.other.Host + "/ns/app:1"
	digestOther := ts.other.PushRandomImage(t, imgOther)
	cosignTask := func(id, key, ref, digest string) worker.Task {
		return worker.Task{TaskID: id, Signer: worker.SignerCosignContainer, SigningKeys: []string{key}, References: []string{ref}, Digests: []string{digest}}
	}

	t.Run("a tenant signs within its rights, with the registry credentials", func(t *testing.T) {
		require.NoError(t, ts.publish(a, "team-a", "cosign-container", cosignTask("a-ok", "team-a-cosign", imgA, digestA)))
		e := ts.envelope(a, "team-a", "a-ok")
		assert.Equal(t, "ok", e.SignerResult.Status, e.SignerResult.ErrorMessage)
		assert.NotEmpty(t, ts.own.Authorizations(), "the listed registry got the credentials")
	})

	t.Run("no credential reaches an unlisted registry", func(t *testing.T) {
		// team-b may sign on quay.example.org (its policy), which is not
		// in cosign_signer.registries: signed anonymously, no password.
		require.NoError(t, ts.publish(b, "team-b", "cosign-container", cosignTask("b-other", "team-b-cosign", imgOther, digestOther)))
		e := ts.envelope(b, "team-b", "b-other")
		assert.Equal(t, "ok", e.SignerResult.Status, e.SignerResult.ErrorMessage)
		assert.Empty(t, ts.other.Authorizations(), "the unlisted registry received no Authorization header")
		// team-a may not name that registry at all.
		require.NoError(t, ts.publish(a, "team-a", "cosign-container", cosignTask("a-other", "team-a-cosign", imgOther, digestOther)))
		refused(t, ts.envelope(a, "team-a", "a-other"), "references[0]", "tenants.team-a.registries")
	})

	t.Run("no key outside the tenant's policy, no raw cosign key reference", func(t *testing.T) {
		require.NoError(t, ts.publish(a, "team-a", "cosign-container", cosignTask("a-bkey", "team-b-cosign", imgA, digestA)))
		refused(t, ts.envelope(a, "team-a", "a-bkey"), "signing_keys[0]", "tenants.team-a.cosign_keys")
		for i, raw := range []string{ts.cfg.CosignSigner.KeyAliases["team-a-cosign"], "env://TEAM_A_NATS_PASSWORD", "http://127.0.0.1:1/key"} {
			id := fmt.Sprintf("a-raw-%d", i)
			require.NoError(t, ts.publish(a, "team-a", "cosign-container", cosignTask(id, raw, imgA, digestA)))
			refused(t, ts.envelope(a, "team-a", id), "signing_keys[0]", "cosign_signer.key_aliases")
		}
	})

	t.Run("a body whose signer differs from the subject's is refused", func(t *testing.T) {
		// On a subject this (cosign-only) replica takes: a replica pulls only
		// the subjects of its own signers.
		mismatch := worker.Task{Schema: worker.TaskSchema, TaskID: "b-mismatch", Signer: worker.SignerMsgClear,
			SigningKeys: []string{"team-b-cosign"}, Inputs: []string{"x"}}
		require.NoError(t, ts.publish(b, "team-b", "cosign-container", mismatch))
		refused(t, ts.envelope(b, "team-b", "b-mismatch"), "signer", `signer "cosign-container" of the subject`)
		// team-a's NATS user cannot even publish for a signer it lacks.
		assert.Error(t, ts.publishWithin(a, "team-a", "msg-blob", worker.Task{TaskID: "a-blob", Signer: worker.SignerMsgBlob}, time.Second))
	})

	attacks := map[string]string{
		"other tenant's results": "pubtools.sign.results.team-b.victim-1",
		"JetStream API":          "$JS.API.STREAM.PURGE.PUBTOOLS_SIGN_TASKS",
		"work queue pull":        "$JS.API.CONSUMER.MSG.NEXT.PUBTOOLS_SIGN_TASKS.pubtools-sign-workers",
		"KV bucket":              "$KV.releases.latest",
		"system API":             "$SYS.REQ.SERVER.PING",
		"shared inbox":           "_INBOX.attack",
		"other tenant's inbox":   "_INBOX_team-b.attack",
	}
	t.Run("no reply_to reaches another tenant, the JetStream/KV/system API or an inbox", func(t *testing.T) {
		i := 0
		for what, target := range attacks {
			id := fmt.Sprintf("a-reply-%d", i)
			i++
			task := cosignTask(id, "team-a-cosign", imgA, digestA)
			task.ReplyTo = target
			require.NoError(t, ts.publish(a, "team-a", "cosign-container", task))
			refused(t, ts.envelope(a, "team-a", id), "reply_to", "own results subject")
			_ = what
		}
		// reply_to naming the task's own results subject is the one kept
		// spelling: one envelope, where it would go anyway.
		task := cosignTask("a-own-reply", "team-a-cosign", imgA, digestA)
		task.ReplyTo = "pubtools.sign.results.team-a.a-own-reply"
		require.NoError(t, ts.publish(a, "team-a", "cosign-container", task))
		e := ts.envelope(a, "team-a", "a-own-reply")
		assert.Equal(t, "ok", e.SignerResult.Status, e.SignerResult.ErrorMessage)
	})

	t.Run("a micro request is answered only where the tenant's account leads", func(t *testing.T) {
		clear := func(id string) []byte {
			data, _ := json.Marshal(worker.Task{Schema: worker.TaskSchema, TaskID: id, Signer: worker.SignerMsgClear,
				SigningKeys: []string{"team-a-release"}, Inputs: []string{"x"}})
			return data
		}
		data := clear("a-micro")
		msg, err := a.Request(worker.RequestSubject(ts.cfg.NATS.RequestSubject, "team-a"), data, 30*time.Second)
		require.NoError(t, err, "answered through the service import")
		assert.Contains(t, string(msg.Data), `"task_id": "a-micro"`)
		// Whatever reply subject team-a names, the worker answers on the
		// _R_ subject nats-server made for it, which leads back into
		// team-a's own account: nothing reaches the targets in the
		// daemon's account (checked at the end) or team-b's.
		i := 0
		for what, target := range attacks {
			id := fmt.Sprintf("a-micro-reply-%d", i)
			i++
			require.NoError(t, a.PublishRequest(worker.RequestSubject(ts.cfg.NATS.RequestSubject, "team-a"), target, clear(id)))
			if strings.HasPrefix(target, "$JS.") {
				continue // nats-server itself drops a client message whose reply is a JetStream subject
			}
			e := ts.envelope(a, "team-a", id)
			assert.NotContains(t, e.SignerResult.ErrorMessage, "reply subject", what)
		}
	})

	t.Run("another tenant's task id cannot be taken", func(t *testing.T) {
		require.NoError(t, ts.publish(b, "team-b", "cosign-container", cosignTask("shared-1", "team-b-cosign", imgOther, digestOther)))
		eb := ts.envelope(b, "team-b", "shared-1")
		require.NoError(t, ts.publish(a, "team-a", "cosign-container", cosignTask("shared-1", "team-a-cosign", imgA, digestA)))
		ea := ts.envelope(a, "team-a", "shared-1")
		assert.Equal(t, "ok", eb.SignerResult.Status, eb.SignerResult.ErrorMessage)
		assert.Equal(t, "ok", ea.SignerResult.Status, "the same id under another tenant is its own task: %s", ea.SignerResult.ErrorMessage)
		assert.Equal(t, "pubtools.sign.results.team-a.shared-1", ea.Subject)
		// NATS keeps team-a out of team-b's results and tasks.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := worker.DirectStored(ctx, a, ts.cfg.NATS.ResultsStream, "pubtools.sign.results.team-b.shared-1")
		assert.ErrorIs(t, err, nats.ErrNoResponders, "team-a cannot read team-b's envelope")
		assert.Error(t, ts.publishWithin(a, "team-b", "cosign-container", cosignTask("b-forged", "team-b-cosign", imgOther, digestOther), time.Second),
			"team-a cannot publish as team-b")
	})

	// No envelope was ever published where the attacks pointed.
	op := ts.connect("operator")
	require.NoError(t, op.Flush())
	require.NotZero(t, ts.seen("pubtools.sign.results.team-a.a-ok"), "the operator sees envelopes")
	for what, target := range attacks {
		assert.Zero(t, ts.seen(target), "%s: an envelope reached %s", what, target)
	}
	info, err := func() (*jetstream.StreamInfo, error) {
		js, _ := jetstream.New(op)
		s, err := js.Stream(context.Background(), ts.cfg.NATS.ResultsStream)
		if err != nil {
			return nil, err
		}
		return s.Info(context.Background())
	}()
	require.NoError(t, err)
	assert.NotZero(t, info.State.Msgs, "the results stream was not purged")
	js, err := jetstream.New(op)
	require.NoError(t, err)
	results, err := js.Stream(context.Background(), ts.cfg.NATS.ResultsStream)
	require.NoError(t, err)
	perSubject, err := results.Info(context.Background(), jetstream.WithSubjectFilter("pubtools.sign.results.>"))
	require.NoError(t, err)
	for _, subj := range []string{"pubtools.sign.results.team-a.a-ok", "pubtools.sign.results.team-a.a-own-reply",
		"pubtools.sign.results.team-a.shared-1", "pubtools.sign.results.team-b.shared-1"} {
		assert.Equal(t, uint64(1), perSubject.State.Subjects[subj], "exactly one envelope on %s", subj)
	}
	for subj := range perSubject.State.Subjects {
		assert.True(t, strings.HasPrefix(subj, "pubtools.sign.results.team-a.") || strings.HasPrefix(subj, "pubtools.sign.results.team-b."),
			"envelope outside the tenants' namespaces: %s", subj)
	}
	// No password in the worker's logs (debug level, every task above).
	logs := ts.logs.String()
	require.Contains(t, logs, "task finished")
	for _, secret := range append(mapValues(ts.nats.Passwords), tenancyRegistryPassword) {
		assert.NotContains(t, logs, secret)
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
