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

// forgeryPort is this file's nats-server (h14b's range).
const forgeryPort = 12011

// A tenant cannot publish into another tenant's results, but nats-server
// answers a request on whatever reply subject it carries, with its own
// rights: the publish ack of team-a's own task, sent with the reply
// subject pubtools.sign.results.team-b.victim, is stored there in the
// results stream. The worker must not take that message for the
// envelope of team-b's task "victim" (which then was never signed and
// its submitter got the forged message), nor may submit print it.
func TestAForgedMessageOnAnotherTenantsResultsIsNoEnvelope(t *testing.T) {
	ts := newTenancyAt(t, forgeryPort)
	a, b := ts.connect("team-a"), ts.connect("team-b")
	imgA := ts.own.Host + "/team-a/app:1"
	digestA := ts.own.PushRandomImage(t, imgA)
	imgOther := ts.other.Host + "/ns/app:1"
	digestOther := ts.other.PushRandomImage(t, imgOther)
	victim := worker.ResultSubject(ts.cfg.NATS.ResultsPrefix, "team-b", "victim")

	// team-a publishes its own, valid task with the reply subject of
	// team-b's future envelope.
	data, err := json.Marshal(worker.Task{Schema: worker.TaskSchema, TaskID: "a-forger", Signer: worker.SignerCosignContainer,
		SigningKeys: []string{"team-a-cosign"}, References: []string{imgA}, Digests: []string{digestA}})
	require.NoError(t, err)
	require.NoError(t, a.PublishMsg(&nats.Msg{Subject: worker.TaskSubject(ts.cfg.NATS.TasksSubject, "team-a", "cosign-container"),
		Reply: victim, Data: data}))
	require.NoError(t, a.Flush())
	opJS, err := jetstream.New(ts.connect("operator"))
	require.NoError(t, err)
	results, err := opJS.Stream(context.Background(), ts.cfg.NATS.ResultsStream)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := results.GetLastMsgForSubject(context.Background(), victim)
		return err == nil
	}, 10*time.Second, 20*time.Millisecond, "the shipped single-account config lets the server store team-a's publish ack on %s", victim)
	forged, err := worker.StoredEnvelope(context.Background(), results, victim)
	require.NoError(t, err)
	assert.Nil(t, forged, "a message the worker did not store is no envelope")

	// team-b's task with that id is signed, and its envelope stored.
	require.NoError(t, ts.publish(b, "team-b", "cosign-container", worker.Task{TaskID: "victim", Signer: worker.SignerCosignContainer,
		SigningKeys: []string{"team-b-cosign"}, References: []string{imgOther}, Digests: []string{digestOther}}))
	bjs, err := jetstream.New(b)
	require.NoError(t, err)
	bResults, err := bjs.Stream(context.Background(), ts.cfg.NATS.ResultsStream)
	require.NoError(t, err)
	var stored []byte
	require.Eventually(t, func() bool {
		var err error
		stored, err = worker.StoredEnvelope(context.Background(), bResults, victim)
		return err == nil && stored != nil
	}, 60*time.Second, 50*time.Millisecond, "team-b's task was never signed: the forged message stood in for its envelope")
	var e envelope
	require.NoError(t, json.Unmarshal(stored, &e), string(stored))
	assert.Equal(t, "victim", e.TaskID)
	assert.Equal(t, "ok", e.SignerResult.Status, e.SignerResult.ErrorMessage)
}

// nats-server relays what a tenant may read onto any subject it names:
// a direct get of team-a's own envelope for its task "b-next", answered
// on team-b's tasks subject (a push consumer on team-a's results with
// that deliver subject does the same). The worker takes such a message
// for a task of team-b; its refusal must not land on team-b's results
// for the id team-a chose, where team-b's submit --wait for "b-next"
// would print it.
func TestARelayedEnvelopeIsNoTaskOfAnotherTenant(t *testing.T) {
	ts := newTenancyAt(t, forgeryPort+1)
	a := ts.connect("team-a")
	imgA := ts.own.Host + "/team-a/app:1"
	digestA := ts.own.PushRandomImage(t, imgA)
	require.NoError(t, ts.publish(a, "team-a", "cosign-container", worker.Task{TaskID: "b-next", Signer: worker.SignerCosignContainer,
		SigningKeys: []string{"team-a-cosign"}, References: []string{imgA}, Digests: []string{digestA}}))
	require.Equal(t, "ok", ts.envelope(a, "team-a", "b-next").SignerResult.Status)

	bTasks := worker.TaskSubject(ts.cfg.NATS.TasksSubject, "team-b", "cosign-container")
	own := worker.ResultSubject(ts.cfg.NATS.ResultsPrefix, "team-a", "b-next")
	require.NoError(t, a.PublishRequest("$JS.API.DIRECT.GET."+ts.cfg.NATS.ResultsStream+"."+own, bTasks, nil))

	opJS, err := jetstream.New(ts.connect("operator"))
	require.NoError(t, err)
	results, err := opJS.Stream(context.Background(), ts.cfg.NATS.ResultsStream)
	require.NoError(t, err)
	var stored map[string]uint64
	require.Eventually(t, func() bool {
		info, err := results.Info(context.Background(), jetstream.WithSubjectFilter("pubtools.sign.results.team-b.>"))
		if err != nil {
			return false
		}
		stored = info.State.Subjects
		return len(stored) > 0
	}, 30*time.Second, 50*time.Millisecond, "the worker answers the relayed message")
	assert.Equal(t, map[string]uint64{"pubtools.sign.results.team-b.invalid": 1}, stored, "refused on team-b's invalid subject, not on the id team-a picked")
}
