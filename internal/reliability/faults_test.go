package reliability

import (
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/emulator"
	"github.com/release-engineering/pubtools-sign-go/internal/testenv"
)

// The AMQP broker is stopped and started again while 200 tasks are in
// flight (a private RabbitMQ instance, so other tests are not disturbed).
// Replicas reconnect and re-send what was unanswered.
func TestBrokerRestartWith200TasksInFlight(t *testing.T) {
	c := newCluster(t, clusterOptions{broker: "reliability", faults: emulator.Faults{Delay: 500 * time.Millisecond}})
	a, b := c.startReplica("a"), c.startReplica("b")
	ids := c.submit("restart", 200, 2)
	time.Sleep(300 * time.Millisecond) // requests are out, replies held back
	c.broker.Stop(t)
	c.broker.Start(t)
	c.exactlyOneCorrectEnvelopeEach(ids, 2, 3*time.Minute)
	for _, r := range []*replica{a, b} {
		assert.GreaterOrEqual(t, r.metric(t, "pubtools_sign_broker_reconnects_total"), 1.0, r.id)
	}
}

// The first broker of messaging_brokers is dead from the start.
func TestFirstBrokerDeadSecondAlive(t *testing.T) {
	c := newCluster(t, clusterOptions{brokers: func(b *testenv.Broker) []string {
		return []string{"amqp://127.0.0.1:1", b.AMQPURL}
	}})
	c.startReplica("a")
	ids := c.submit("failover", 20, 3)
	c.exactlyOneCorrectEnvelopeEach(ids, 3, time.Minute)
}

// NATS goes away while tasks are in flight and comes back on the same
// address with the same JetStream directory: queued tasks, the durable
// consumer and stored envelopes survive; replicas reconnect.
func TestNATSRestartWhileTasksInFlight(t *testing.T) {
	c := newCluster(t, clusterOptions{faults: emulator.Faults{Delay: 300 * time.Millisecond}})
	a, b := c.startReplica("a"), c.startReplica("b")
	ids := c.submit("natsrestart", 150, 2)
	time.Sleep(400 * time.Millisecond)
	c.restartNATS(time.Second)
	c.exactlyOneCorrectEnvelopeEach(ids, 2, 3*time.Minute)
	for _, r := range []*replica{a, b} {
		assert.GreaterOrEqual(t, r.metric(t, "pubtools_sign_nats_reconnects_total"), 1.0, r.id)
	}
}

// A replica is SIGKILLed with tasks in hand: they are delivered again to
// the other replica after ack_wait and still get one envelope each.
func TestSIGKILLedReplicaTasksAreRedelivered(t *testing.T) {
	c := newCluster(t, clusterOptions{faults: emulator.Faults{Delay: 2 * time.Second}})
	victim := c.startReplica("victim")
	ids := c.submit("sigkill", 40, 2)
	time.Sleep(time.Second) // the victim holds up to 16 tasks, none answered yet
	require.Error(t, victim.kill(syscall.SIGKILL), "killed, not exited")
	c.startReplica("survivor")
	envs := c.exactlyOneCorrectEnvelopeEach(ids, 2, 2*time.Minute)
	redelivered := 0
	for _, e := range envs {
		assert.Equal(t, "survivor", e.WorkerID, "the victim published nothing")
		if e.Attempt > 1 {
			redelivered++
		}
	}
	assert.Positive(t, redelivered, "the victim's tasks came back with attempt > 1")
}

// SIGTERM while a replica is busy: it finishes (or hands back) what it
// holds and exits 0; the other replica does the rest; nothing is lost.
func TestSIGTERMUnderLoadLosesNothing(t *testing.T) {
	c := newCluster(t, clusterOptions{faults: emulator.Faults{Delay: 200 * time.Millisecond}})
	first := c.startReplica("first")
	c.startReplica("second")
	ids := c.submit("sigterm", 300, 2)
	time.Sleep(500 * time.Millisecond)
	assert.NoError(t, first.kill(syscall.SIGTERM), "a drained shutdown exits 0")
	envs := c.exactlyOneCorrectEnvelopeEach(ids, 2, 2*time.Minute)
	byFirst := 0
	for _, e := range envs {
		if e.WorkerID == "first" {
			byFirst++
		}
	}
	assert.Positive(t, byFirst, "the first replica finished tasks before it stopped")
	assert.Less(t, byFirst, len(ids), "and left the rest to the second")
}
