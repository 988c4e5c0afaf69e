package worker_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/worker"
)

// watch subscribes as nc to subject and counts what arrives.
func watch(t *testing.T, nc *nats.Conn, subject string) func() int {
	t.Helper()
	ch := make(chan struct{}, 1024)
	_, err := nc.Subscribe(subject, func(*nats.Msg) { ch <- struct{}{} })
	require.NoError(t, err)
	require.NoError(t, nc.Flush())
	return func() int { return len(ch) }
}

// onSubjects is how many messages stream holds on subjects matching filter.
func onSubjects(t *testing.T, op *nats.Conn, stream, filter string) map[string]uint64 {
	t.Helper()
	js, err := jetstream.New(op)
	require.NoError(t, err)
	s, err := js.Stream(context.Background(), stream)
	require.NoError(t, err)
	info, err := s.Info(context.Background(), jetstream.WithSubjectFilter(filter))
	require.NoError(t, err)
	return info.State.Subjects
}

// nats-server answers a request on whatever reply subject the requester
// names, with its own rights. On one shared account, the publish ack of
// team-a's own task, sent with the reply subject
// pubtools.sign.results.team-b.victim, was stored there in the results
// stream. With an account per tenant the reply subject names a subject of
// team-a's own account: the ack comes back there, and nothing appears on
// team-b's results (the operator, in the daemon's account, and team-b
// itself watch).
func TestAForgedMessageOnAnotherTenantsResultsIsNoEnvelope(t *testing.T) {
	ts := newTenancy(t)
	a, b := ts.connect("team-a"), ts.connect("team-b")
	op := ts.connect("operator")
	imgA := ts.own.Host + "/team-a/app:1"
	digestA := ts.own.PushRandomImage(t, imgA)
	imgOther := ts.other.Host + "/ns/app:1"
	digestOther := ts.other.PushRandomImage(t, imgOther)
	victim := worker.ResultSubject(ts.cfg.NATS.ResultsPrefix, "team-b", "victim")
	opSaw, bSaw := watch(t, op, "pubtools.sign.results.team-b.>"), watch(t, b, "pubtools.sign.results.team-b.>")
	aGotAck := watch(t, a, victim)

	// team-a publishes its own, valid task with the reply subject of
	// team-b's future envelope.
	data, err := json.Marshal(worker.Task{Schema: worker.TaskSchema, TaskID: "a-forger", Signer: worker.SignerCosignContainer,
		SigningKeys: []string{"team-a-cosign"}, References: []string{imgA}, Digests: []string{digestA}})
	require.NoError(t, err)
	require.NoError(t, a.PublishMsg(&nats.Msg{Subject: worker.TaskSubject(ts.cfg.NATS.TasksSubject, "team-a", "cosign-container"),
		Reply: victim, Data: data}))
	require.Eventually(t, func() bool { return aGotAck() == 1 }, 10*time.Second, 10*time.Millisecond,
		"the publish ack comes back into team-a's own account")
	assert.Equal(t, "ok", ts.envelope(a, "team-a", "a-forger").SignerResult.Status)
	// A direct get of team-a's own envelope answered "on" team-b's results.
	require.NoError(t, a.PublishRequest("$JS.API.DIRECT.GET."+ts.cfg.NATS.ResultsStream+".pubtools.sign.results.team-a.a-forger", victim, nil))
	require.Eventually(t, func() bool { return aGotAck() == 2 }, 10*time.Second, 10*time.Millisecond,
		"the direct get answer comes back into team-a's own account")
	require.NoError(t, op.Flush())
	require.NoError(t, b.Flush())
	assert.Empty(t, onSubjects(t, op, ts.cfg.NATS.ResultsStream, "pubtools.sign.results.team-b.>"), "nothing stored on team-b's results")
	assert.Zero(t, opSaw(), "nothing published on team-b's results")
	assert.Zero(t, bSaw(), "team-b saw nothing on its results")

	// team-b's task with that id is signed, and its envelope stored;
	// team-a, watching team-b's results, sees nothing of it.
	aSawB := watch(t, a, "pubtools.sign.results.team-b.>")
	require.NoError(t, ts.publish(b, "team-b", "cosign-container", worker.Task{TaskID: "victim", Signer: worker.SignerCosignContainer,
		SigningKeys: []string{"team-b-cosign"}, References: []string{imgOther}, Digests: []string{digestOther}}))
	e := ts.envelope(b, "team-b", "victim")
	assert.Equal(t, "victim", e.TaskID)
	assert.Equal(t, "ok", e.SignerResult.Status, e.SignerResult.ErrorMessage)
	require.NoError(t, a.Flush())
	assert.Zero(t, aSawB(), "team-a's account does not import team-b's results")
	require.Eventually(t, func() bool { return bSaw() == 1 }, 10*time.Second, 10*time.Millisecond, "team-b gets its envelope live")
}

// On one shared account nats-server relayed what a tenant may read onto
// any subject it named: a direct get of team-a's own envelope answered on
// team-b's tasks subject became a task of team-b. With an account per
// tenant that reply subject is team-a's own, which leads nowhere (team-a
// imports no team-b subject): nothing reaches team-b's tasks or results.
// And team-a has no JetStream API on the daemon's streams beyond that
// direct get: no stream info (it would list every tenant's task ids), no
// consumers (push consumers delivering anywhere, consumers without
// bound), and no direct get of team-b's results.
func TestATenantHasNoJetStreamOnTheDaemonsStreams(t *testing.T) {
	ts := newTenancy(t)
	a := ts.connect("team-a")
	op := ts.connect("operator")
	imgA := ts.own.Host + "/team-a/app:1"
	digestA := ts.own.PushRandomImage(t, imgA)
	require.NoError(t, ts.publish(a, "team-a", "cosign-container", worker.Task{TaskID: "b-next", Signer: worker.SignerCosignContainer,
		SigningKeys: []string{"team-a-cosign"}, References: []string{imgA}, Digests: []string{digestA}}))
	require.Equal(t, "ok", ts.envelope(a, "team-a", "b-next").SignerResult.Status)
	opTasks := watch(t, op, "pubtools.sign.tasks.team-b.>")

	bTasks := worker.TaskSubject(ts.cfg.NATS.TasksSubject, "team-b", "cosign-container")
	own := worker.ResultSubject(ts.cfg.NATS.ResultsPrefix, "team-a", "b-next")
	require.NoError(t, a.PublishRequest("$JS.API.DIRECT.GET."+ts.cfg.NATS.ResultsStream+"."+own, bTasks, nil))
	// The same request answered on team-a's inbox: the first was
	// answered by then.
	msg, err := a.Request("$JS.API.DIRECT.GET."+ts.cfg.NATS.ResultsStream+"."+own, nil, 5*time.Second)
	require.NoError(t, err)
	require.True(t, worker.StoredByWorker(own, msg.Header), "team-a reads its own envelope")
	require.NoError(t, op.Flush())
	assert.Zero(t, opTasks(), "nothing published on team-b's tasks")
	assert.Empty(t, onSubjects(t, op, ts.cfg.NATS.TasksStream, "pubtools.sign.tasks.team-b.>"), "nothing queued for team-b")

	// No JetStream API but the direct get of its own results.
	results, tasks := ts.cfg.NATS.ResultsStream, ts.cfg.NATS.TasksStream
	consumer := `{"stream_name":"` + results + `","config":{"durable_name":"x","filter_subject":"pubtools.sign.results.team-a.>"}}`
	for api, body := range map[string]string{
		"$JS.API.STREAM.INFO." + results: `{"subjects_filter":">"}`,
		"$JS.API.STREAM.INFO." + tasks:   ``,
		"$JS.API.STREAM.NAMES":           ``,
		"$JS.API.CONSUMER.CREATE." + results + ".x.pubtools.sign.results.team-a.>": consumer,
		"$JS.API.CONSUMER.CREATE." + results + ".x":                                consumer,
		"$JS.API.CONSUMER.DURABLE.CREATE." + results + ".x":                        consumer,
		"$JS.API.CONSUMER.DELETE." + results + ".x":                                ``,
		"$JS.API.CONSUMER.MSG.NEXT." + tasks + ".x":                                `{"batch":1}`,
		"$JS.API.STREAM.MSG.GET." + results:                                        `{"last_by_subj":"` + own + `"}`,
		"$JS.API.DIRECT.GET." + results:                                            `{"last_by_subj":"` + own + `"}`,
	} {
		resp, err := a.Request(api, []byte(body), 2*time.Second)
		if err != nil {
			assert.ErrorIs(t, err, nats.ErrNoResponders, api)
			continue
		}
		var r struct {
			Error *jetstream.APIError `json:"error"`
		}
		require.NoError(t, json.Unmarshal(resp.Data, &r), "%s: %s", api, resp.Data)
		require.NotNil(t, r.Error, "%s answered: %s", api, resp.Data)
		assert.Equal(t, 10039, int(r.Error.ErrorCode), "%s: %s", api, r.Error) // JetStream not enabled for account
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = worker.DirectStored(ctx, a, ts.cfg.NATS.ResultsStream, "pubtools.sign.results.team-b.b-next")
	assert.ErrorIs(t, err, nats.ErrNoResponders, "no direct get of team-b's results")
}
