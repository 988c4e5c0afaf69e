package amqp_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/broker/amqp"
	"github.com/release-engineering/pubtools-sign-go/internal/testenv"
)

// RabbitMQ can end a session and keep the connection (an internal error in
// its AMQP 1.0 plugin did, mid-soak). Sends and replies must not stop for
// good: the client reconnects.
func TestASessionEndedUnderALiveConnectionIsRecovered(t *testing.T) {
	for _, which := range []string{"send", "receive"} {
		t.Run(which, func(t *testing.T) {
			b := testenv.RabbitMQ(t, "main")
			c, addr, sink := roundTrip(t, amqp.Options{URLs: []string{b.AMQPURL}}, 5)

			reconnected := c.Reconnected()
			require.NoError(t, amqp.EndSessionForTest(c, which))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if which == "receive" { // the receiver notices first
				select {
				case <-reconnected:
				case <-ctx.Done():
					t.Fatal("no reconnection after the receive session ended")
				}
			}
			require.NoError(t, c.Publish(ctx, requests(addr, 5)), "sent on a new connection")
			sink.waitFor(t, 5, 20*time.Second)
		})
	}
}
