package worker_test

import (
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"

	"github.com/release-engineering/pubtools-sign-go/worker"
)

func TestStoredByWorker(t *testing.T) {
	const subject = "pubtools.sign.results.team-b.victim-1"
	for id, want := range map[string]bool{
		"team-b/victim-1":                 true,
		"invalid-team-b/victim-1-m3x9k2a": true,
		"":                                false, // a publish ack or API answer the server was made to store
		"team-a/victim-1":                 false, // team-a's envelope relayed by a direct get
		"team-a/team-b.victim-1":          false,
		"b/victim-1":                      false,
		"invalid-team-b/victim-1":         false,
		"team-b/other":                    false,
		"team-b/victim-1:0123abcd":        false, // a task's Nats-Msg-Id
	} {
		h := nats.Header{}
		if id != "" {
			h.Set("Nats-Msg-Id", id)
		}
		assert.Equal(t, want, worker.StoredByWorker(subject, h), "Nats-Msg-Id %q", id)
	}
}
