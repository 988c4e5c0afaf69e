package msg

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/broker"
	"github.com/release-engineering/pubtools-sign-go/signers"
)

// A value that would change what an AMQP address means is refused before
// anything is sent or attached, naming the field; nothing reaches the bus.
func TestHostileTemplateValuesAreRefusedByField(t *testing.T) {
	cases := []struct{ name, requester, repo, field string }{
		{"slash", "x/y", "", "requester"},
		{"path escape", "../../amq/queue/victim", "", "requester"},
		{"rtl override", "r\u202eevil", "", "requester"},
		{"wildcard hash", "#", "", "requester"},
		{"wildcard star", "a.*", "", "requester"},
		{"double dot", "a..b", "", "requester"},
		{"space", "a b", "", "requester"},
		{"huge", string(make([]byte, 1<<20)), "", "requester"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, bus, _ := newTestSigner(t, testConfig(), func(r *broker.Request, _ int) []string { return []string{okReply(r)} })
			_, err := s.ClearSign(context.Background(), &signers.ClearSign{Inputs: []string{"x"}, SigningKeys: []string{"K"}, TaskID: "t-1", Requester: c.requester})
			var in *signers.InputError
			require.ErrorAs(t, err, &in)
			assert.Equal(t, c.field, in.Field)
			assert.Less(t, len(err.Error()), 600, "the refusal must not echo a huge value")
			assert.Empty(t, bus.events, "nothing may be attached or sent")
		})
	}
}

// Only fields the templates use are checked: a requester with '@' is fine
// when no template names {creator} or {requester}.
func TestUntemplatedValuesAreNotChecked(t *testing.T) {
	cfg := testConfig()
	cfg.TopicListenTo = "/topic/robosignatory.{env}.client.{task_id}"
	s, _, _ := newTestSigner(t, cfg, func(r *broker.Request, _ int) []string { return []string{okReply(r)} })
	_, err := s.ClearSign(context.Background(), &signers.ClearSign{Inputs: []string{"x"}, SigningKeys: []string{"K"}, TaskID: "t-1", Requester: "someone@example.com"})
	require.NoError(t, err)
}
