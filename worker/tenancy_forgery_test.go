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
	_, forged := worker.StoredEnvelope(context.Background(), results, victim)
	assert.False(t, forged, "a message the worker did not store is no envelope")

	// team-b's task with that id is signed, and its envelope stored.
	require.NoError(t, ts.publish(b, "team-b", "cosign-container", worker.Task{TaskID: "victim", Signer: worker.SignerCosignContainer,
		SigningKeys: []string{"team-b-cosign"}, References: []string{imgOther}, Digests: []string{digestOther}}))
	bjs, err := jetstream.New(b)
	require.NoError(t, err)
	bResults, err := bjs.Stream(context.Background(), ts.cfg.NATS.ResultsStream)
	require.NoError(t, err)
	var stored []byte
	require.Eventually(t, func() bool {
		var ok bool
		stored, ok = worker.StoredEnvelope(context.Background(), bResults, victim)
		return ok
	}, 60*time.Second, 50*time.Millisecond, "team-b's task was never signed: the forged message stood in for its envelope")
	var e envelope
	require.NoError(t, json.Unmarshal(stored, &e), string(stored))
	assert.Equal(t, "victim", e.TaskID)
	assert.Equal(t, "ok", e.SignerResult.Status, e.SignerResult.ErrorMessage)
}
