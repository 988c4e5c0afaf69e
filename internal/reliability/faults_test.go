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
// Replicas reconnect and re-send what was unanswered. The emulator drops
// the first requests, so when the broker stops both replicas provably hold
// tasks whose requests are out and unanswered.
func TestBrokerRestartWith200TasksInFlight(t *testing.T) {
	const held = 2 * 16 * 2 // replicas × worker.concurrency × references (16 × 2 fits a replica's initial in-flight window, 32)
	c := newCluster(t, clusterOptions{broker: "reliability", faults: emulator.Faults{DropFirst: held}})
	a, b := c.startReplica("a"), c.startReplica("b")
	ids := c.submit("restart", 200, 2)
	c.waitEmulatorRequests(held)
	c.broker.Stop(t)
	c.broker.Start(t)
	c.exactlyOneCorrectEnvelopeEach(ids, 2, 3*time.Minute)
	for _, r := range []*replica{a, b} {
		assert.GreaterOrEqual(t, r.metric(t, "pubtools_sign_broker_reconnects_total"), 1.0, r.id)
	}
	assert.Greater(t, c.emu.Stats().Requests, uint64(200*2), "the unanswered requests were sent again")
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
// consumer and stored envelopes survive; replicas reconnect. The emulator
// drops the first requests, so both replicas provably hold unanswered
// tasks while NATS is down.
func TestNATSRestartWhileTasksInFlight(t *testing.T) {
	const held = 2 * 16 * 2 // replicas × worker.concurrency × references (16 × 2 fits a replica's initial in-flight window, 32)
	c := newCluster(t, clusterOptions{faults: emulator.Faults{DropFirst: held}})
	// The dropped requests are sent again after one 2 s round, not 3 × 10 s.
	quick := []string{"PUBTOOLS_SIGN_MSG_SIGNER_TIMEOUT=2", "PUBTOOLS_SIGN_MSG_SIGNER_RETRIES=1"}
	a, b := c.startReplica("a", quick...), c.startReplica("b", quick...)
	ids := c.submit("natsrestart", 150, 2)
	c.waitEmulatorRequests(held)
	for _, r := range []*replica{a, b} {
		assert.Positive(t, r.metric(t, "pubtools_sign_tasks_in_flight"), "%s holds tasks when NATS stops", r.id)
	}
	c.restartNATS(time.Second)
	c.exactlyOneCorrectEnvelopeEach(ids, 2, 3*time.Minute)
	for _, r := range []*replica{a, b} {
		assert.GreaterOrEqual(t, r.metric(t, "pubtools_sign_nats_reconnects_total"), 1.0, r.id)
	}
}

// A replica is SIGKILLed with tasks in hand: they are delivered again to
// the other replica after ack_wait and still get one envelope each. The
// emulator drops the victim's first requests, so it provably holds a full
// set of unanswered tasks when it is killed and can have published nothing.
func TestSIGKILLedReplicaTasksAreRedelivered(t *testing.T) {
	const concurrency, refs = 16, 2
	c := newCluster(t, clusterOptions{faults: emulator.Faults{DropFirst: concurrency * refs}})
	victim := c.startReplica("victim")
	ids := c.submit("sigkill", 40, refs)
	c.waitEmulatorRequests(concurrency * refs)
	require.Equal(t, float64(concurrency), victim.metric(t, "pubtools_sign_tasks_in_flight"), "the victim holds a full set of tasks")
	require.Error(t, victim.kill(syscall.SIGKILL), "killed, not exited")
	c.startReplica("survivor")
	envs := c.exactlyOneCorrectEnvelopeEach(ids, refs, 2*time.Minute)
	redelivered := 0
	for _, e := range envs {
		assert.Equal(t, "survivor", e.WorkerID, "the victim published nothing")
		if e.Attempt > 1 {
			redelivered++
		}
	}
	assert.GreaterOrEqual(t, redelivered, concurrency, "the victim's tasks came back with attempt > 1")
}

// SIGTERM while a replica is busy: it finishes (or hands back) what it
// holds and exits 0; the other replica does the rest; nothing is lost.
// The signal goes once the first replica has finished a task and both
// hold tasks, so each provably signs some.
func TestSIGTERMUnderLoadLosesNothing(t *testing.T) {
	c := newCluster(t, clusterOptions{faults: emulator.Faults{Delay: 200 * time.Millisecond}})
	first := c.startReplica("first")
	second := c.startReplica("second")
	ids := c.submit("sigterm", 300, 2)
	require.Eventually(t, func() bool {
		return first.metricSum(t, "pubtools_sign_tasks_total", `outcome="ok"`) >= 1 &&
			first.metric(t, "pubtools_sign_tasks_in_flight") > 0 && second.metric(t, "pubtools_sign_tasks_in_flight") > 0
	}, time.Minute, 10*time.Millisecond, "the first replica finished a task and both hold tasks")
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
