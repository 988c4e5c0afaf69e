package amqp_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/broker"
	"github.com/release-engineering/pubtools-sign-go/broker/amqp"
	"github.com/release-engineering/pubtools-sign-go/internal/testenv"
)

// collector is a Sink that records message bodies.
type collector struct {
	mu     sync.Mutex
	bodies map[string]int
	count  chan struct{}
}

func newCollector(capacity int) *collector {
	return &collector{bodies: map[string]int{}, count: make(chan struct{}, capacity)}
}

func (c *collector) Route(_ string, body []byte, _ map[string]any) {
	c.mu.Lock()
	c.bodies[string(body)]++
	c.mu.Unlock()
	select {
	case c.count <- struct{}{}:
	default:
	}
}

func (c *collector) waitFor(t *testing.T, n int, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for i := 0; i < n; i++ {
		select {
		case <-c.count:
		case <-deadline:
			t.Fatalf("received %d of %d messages within %s", i, n, within)
		}
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func dial(t *testing.T, b *testenv.Broker, sink amqp.Sink, urls ...string) *amqp.Client {
	t.Helper()
	if len(urls) == 0 {
		urls = []string{b.AMQPURL}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := amqp.Dial(ctx, amqp.Options{URLs: urls, Sink: sink, Log: quiet(), ConnectTimeout: 3 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func requests(address string, n int) broker.RequestList {
	reqs := make([]*broker.Request, n)
	for i := range reqs {
		id := uuid.NewString()
		reqs[i] = &broker.Request{ID: id, Address: address, Body: []byte(fmt.Sprintf(`{"n": %d, "id": %q}`, i, id)),
			Headers: map[string]any{"mtype": "test"}, TTL: time.Minute}
	}
	return reqs
}

// roundTrip dials with o, listens on a new topic and checks that n
// requests published there arrive; it returns the client, the address and
// the sink (room for n more) for what a test does next.
func roundTrip(t *testing.T, o amqp.Options, n int) (*amqp.Client, string, *collector) {
	t.Helper()
	sink := newCollector(2 * n)
	o.Sink, o.Log = sink, quiet()
	c, err := amqp.Dial(context.Background(), o)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	addr := "/topic/pubtools.roundtrip." + uuid.NewString()
	release, err := c.Listen(context.Background(), addr, true)
	require.NoError(t, err)
	t.Cleanup(release)
	require.NoError(t, c.Publish(context.Background(), requests(addr, n)))
	sink.waitFor(t, n, 30*time.Second)
	return c, addr, sink
}

// A pub/sub topic delivers only to receivers attached before the send: the
// reason Listen must attach before anything is published.
func TestTopicReceiverGetsWhatIsPublishedAfterListen(t *testing.T) {
	b := testenv.RabbitMQ(t, "main")
	sink := newCollector(100)
	c := dial(t, b, sink)
	addr := "/topic/pubtools.test." + uuid.NewString()
	ctx := context.Background()

	release, err := c.Listen(ctx, addr, true)
	require.NoError(t, err)
	defer release()
	require.NoError(t, c.Publish(ctx, requests(addr, 20)))
	sink.waitFor(t, 20, 10*time.Second)
}

// With go-amqp's automatic credit a receiver stalls on RabbitMQ once its
// queue has a backlog; windowed credit must drain thousands.
func TestReceiverDrainsABacklogOfThousands(t *testing.T) {
	b := testenv.RabbitMQ(t, "main")
	const n = 10000
	sink := newCollector(n)
	c := dial(t, b, sink)
	addr := "/queue/pubtools-test-backlog-" + uuid.NewString()
	ctx := context.Background()

	// Fill the queue first (declared on first use), then attach.
	require.NoError(t, c.Publish(ctx, requests(addr, n)))
	release, err := c.Listen(ctx, addr, true)
	require.NoError(t, err)
	defer release()
	sink.waitFor(t, n, 60*time.Second)
	assert.Len(t, sink.bodies, n)
}

func TestFailoverSkipsADeadBroker(t *testing.T) {
	b := testenv.RabbitMQ(t, "main")
	sink := newCollector(10)
	c := dial(t, b, sink, "amqp://127.0.0.1:1", b.AMQPURL)
	addr := "/topic/pubtools.test." + uuid.NewString()
	release, err := c.Listen(context.Background(), addr, true)
	require.NoError(t, err)
	defer release()
	require.NoError(t, c.Publish(context.Background(), requests(addr, 3)))
	sink.waitFor(t, 3, 10*time.Second)
}

func TestNoBrokerIsAClearError(t *testing.T) {
	_, err := amqp.Dial(context.Background(), amqp.Options{
		URLs: []string{"amqp://127.0.0.1:1", "amqp://user:hunter2@127.0.0.1:2"}, Sink: newCollector(1), Log: quiet(),
		ConnectTimeout: time.Second,
	})
	require.ErrorIs(t, err, amqp.ErrNoBroker)
	assert.Contains(t, err.Error(), "amqp://127.0.0.1:1")
	assert.Contains(t, err.Error(), "amqp://user:xxxxx@127.0.0.1:2")
	assert.NotContains(t, err.Error(), "hunter2")
}

func TestMutualTLS(t *testing.T) {
	b := testenv.RabbitMQ(t, "main")
	t.Run("right CA and client certificate", func(t *testing.T) {
		cfg, err := amqp.LoadTLS(b.ClientCertKey, b.CACert)
		require.NoError(t, err)
		roundTrip(t, amqp.Options{URLs: []string{b.AMQPSURL}, TLS: cfg}, 5)
	})
	t.Run("wrong CA is refused clearly", func(t *testing.T) {
		cfg, err := amqp.LoadTLS(b.ClientCertKey, b.OtherCACert)
		require.NoError(t, err)
		_, err = amqp.Dial(context.Background(), amqp.Options{URLs: []string{b.AMQPSURL}, TLS: cfg, Sink: newCollector(1), Log: quiet(), ConnectTimeout: 5 * time.Second})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "not signed by messaging_ca_cert")
	})
	t.Run("no client certificate is refused", func(t *testing.T) {
		cfg, err := amqp.LoadTLS("", b.CACert)
		require.NoError(t, err)
		_, err = amqp.Dial(context.Background(), amqp.Options{URLs: []string{b.AMQPSURL}, TLS: cfg, Sink: newCollector(1), Log: quiet(), ConnectTimeout: 5 * time.Second})
		require.Error(t, err)
		assert.True(t, strings.Contains(err.Error(), "TLS") || strings.Contains(err.Error(), "certificate"), err.Error())
	})
}

func TestWrongPasswordIsNamedNotHung(t *testing.T) {
	b := testenv.RabbitMQ(t, "main")
	url := strings.Replace(b.AMQPURL, "amqp://", "amqp://guest:wrong-password@", 1)
	start := time.Now()
	_, err := amqp.Dial(context.Background(), amqp.Options{URLs: []string{url}, Sink: newCollector(1), Log: quiet(), ConnectTimeout: 2 * time.Second})
	require.Error(t, err)
	assert.Less(t, time.Since(start), 15*time.Second)
	assert.Contains(t, err.Error(), "authentication failed or broker not answering")
	assert.NotContains(t, err.Error(), "wrong-password")
}

func TestReleasedReceiverIsReusedWhileItLingers(t *testing.T) {
	b := testenv.RabbitMQ(t, "main")
	sink := newCollector(10)
	ctx := context.Background()
	c, err := amqp.Dial(ctx, amqp.Options{URLs: []string{b.AMQPURL}, Sink: sink, Log: quiet(), ListenerLinger: 300 * time.Millisecond})
	require.NoError(t, err)
	defer c.Close()
	addr := "/topic/pubtools.linger." + uuid.NewString()
	release, err := c.Listen(ctx, addr, true)
	require.NoError(t, err)
	release()
	// Published while nobody listens, but the receiver still lingers: not lost.
	require.NoError(t, c.Publish(ctx, requests(addr, 2)))
	sink.waitFor(t, 2, 5*time.Second)
	release, err = c.Listen(ctx, addr, true)
	require.NoError(t, err)
	release()
	// Past the linger the receiver is detached.
	require.Eventually(t, func() bool { return amqp.DetachedReceiversForTest(c) == 1 }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, c.Publish(ctx, requests(addr, 1)))
	select {
	case <-sink.count:
		t.Fatal("a detached topic receiver still got a message")
	case <-time.After(500 * time.Millisecond):
	}
}

// With writes coalesced, over plain AMQP and over TLS, the broker gets
// every frame: requests, dispositions and credit alike.
func TestCoalescedWritesCarryEveryFrame(t *testing.T) {
	t.Run("off", func(t *testing.T) {
		c, _, _ := roundTrip(t, amqp.Options{URLs: []string{testenv.RabbitMQ(t, "main").AMQPURL}}, 100)
		frames, writes := amqp.WireCountsForTest(c)
		assert.Equal(t, frames, writes, "write_coalesce 0: every frame its own write")
	})
	b := testenv.RabbitMQ(t, "main")
	tlsCfg, err := amqp.LoadTLS(b.ClientCertKey, b.CACert)
	require.NoError(t, err)
	for name, o := range map[string]amqp.Options{
		"amqp":  {URLs: []string{b.AMQPURL}},
		"amqps": {URLs: []string{b.AMQPSURL}, TLS: tlsCfg},
	} {
		t.Run(name, func(t *testing.T) {
			o.WriteCoalesce, o.CreditWindow = 5*time.Millisecond, 100
			c, _, sink := roundTrip(t, o, 2000)
			assert.Len(t, sink.bodies, 2000)
			frames, writes := amqp.WireCountsForTest(c)
			assert.Less(t, writes, frames/2, "2,000 sends and their dispositions went out in batches")
		})
	}
}
