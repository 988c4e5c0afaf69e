package amqp_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/broker"
	"github.com/release-engineering/pubtools-sign-go/broker/amqp"
	"github.com/release-engineering/pubtools-sign-go/internal/testenv"
)

// An address RabbitMQ refuses (or whose attach it never answers) fails the
// Listen or Publish that uses it, within a bound, as
// broker.ErrAddressRefused; the shared client keeps serving good addresses
// (it used to reconnect and retry forever, stalling every operation).
func TestRefusedAddressesFailTheirOperationOnly(t *testing.T) {
	b := testenv.RabbitMQ(t, "main")
	sink := newCollector(100)
	c, err := amqp.Dial(context.Background(), amqp.Options{URLs: []string{b.AMQPURL}, Sink: sink, Log: quiet(),
		ConnectTimeout: time.Second})
	require.NoError(t, err)
	defer c.Close()
	for _, c2 := range []struct {
		bad     string
		verdict bool // the broker answers with an error condition
	}{
		{"/topic/robosignatory.e.client.x/y", true},
		{"/topic/robosignatory.e.client.../../amq/queue/victim", true},
		{"/topic/robosignatory.e.client.r\u202eevil", false}, // never answered
		{"/exchange/pubtools-no-such-exchange/rk", true},
	} {
		bad := c2.bad
		t.Run(bad, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			_, err := c.Listen(ctx, bad, false)
			var refused *amqp.AddressRefusedError
			require.ErrorAs(t, err, &refused)
			assert.Equal(t, bad, refused.Address)
			require.NoError(t, ctx.Err(), "refused before the caller's deadline")
			if c2.verdict {
				// Known now: refused from memory, without trying the broker again.
				_, err = c.Listen(ctx, bad, false)
				require.ErrorIs(t, err, broker.ErrAddressRefused)
				require.ErrorIs(t, c.Publish(ctx, requests(bad, 1)), broker.ErrAddressRefused)
			}

			good := "/topic/pubtools.refused." + uuid.NewString()
			release, err := c.Listen(ctx, good, false)
			require.NoError(t, err)
			defer release()
			require.NoError(t, c.Publish(ctx, requests(good, 3)))
			sink.waitFor(t, 3, 20*time.Second)
		})
	}
}
