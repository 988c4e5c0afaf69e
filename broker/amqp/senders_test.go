package amqp_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/broker"
	"github.com/release-engineering/pubtools-sign-go/broker/amqp"
	"github.com/release-engineering/pubtools-sign-go/internal/testenv"
)

// A signing server replies to a new address per task, each address a
// sender link: publishing to 2,500 addresses one after another goes through
// on one connection while the client keeps at most DefaultMaxIdleSenders
// links attached.
func TestPublishingToManyAddressesKeepsTheLinksBounded(t *testing.T) {
	b := testenv.RabbitMQ(t, "main")
	prefix := "/topic/pubtools.test.senders." + uuid.NewString()
	c := newCollector(3000)
	listener := dial(t, b, c)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	release, err := listener.Listen(ctx, prefix+".*", true)
	require.NoError(t, err)
	defer release()

	const addresses = 2500
	pub := dial(t, b, nil)
	for i := 0; i < addresses; i += 50 {
		var batch broker.RequestList
		for j := i; j < i+50; j++ {
			batch = append(batch, requests(fmt.Sprintf("%s.task-%d", prefix, j), 1)...)
		}
		require.NoError(t, pub.Publish(ctx, batch), "batch from address %d", i)
		require.LessOrEqual(t, amqp.AttachedSendersForTest(pub), amqp.DefaultMaxIdleSenders, "idle links are bounded")
	}
	c.waitFor(t, addresses, time.Minute)
	assert.Zero(t, pub.Reconnects(), "the publishing connection was never lost")
}

// With TopicExchange set, requests for many /topic/ addresses go on one
// link to the exchange and each arrives where its address routes it.
func TestTopicExchangeSendsManyAddressesOnOneLink(t *testing.T) {
	b := testenv.RabbitMQ(t, "main")
	prefix := "/topic/pubtools.test.exchange." + uuid.NewString()
	sink := newCollector(100)
	listener := dial(t, b, sink)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	release, err := listener.Listen(ctx, prefix+".*", true)
	require.NoError(t, err)
	defer release()
	other := newCollector(100)
	releaseOther, err := dial(t, b, other).Listen(ctx, prefix+".task-7", true)
	require.NoError(t, err)
	defer releaseOther()

	pub, err := amqp.Dial(ctx, amqp.Options{URLs: []string{b.AMQPURL}, Log: quiet(), TopicExchange: "amq.topic"})
	require.NoError(t, err)
	defer pub.Close()
	var batch broker.RequestList
	for i := range 20 {
		batch = append(batch, requests(fmt.Sprintf("%s.task-%d", prefix, i), 1)...)
	}
	require.NoError(t, pub.Publish(ctx, batch))
	assert.Equal(t, 1, amqp.AttachedSendersForTest(pub), "one link for every address")
	sink.waitFor(t, 20, 30*time.Second)
	other.waitFor(t, 1, 30*time.Second)
	assert.Len(t, sink.bodies, 20, "every request arrived once")
	assert.Len(t, other.bodies, 1, "the address's own key routed it: task-7 only")
}
