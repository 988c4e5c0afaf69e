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

// A signing server replies to a new address per task. Each address is a
// sender link, and RabbitMQ ends the whole connection once a connection
// holds more links than its channel_max (2047): the client keeps at most
// MaxIdleSenders idle links, so publishing to 2,500 addresses one after
// another goes through on one connection.
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
