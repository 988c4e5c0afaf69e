package config

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Two wrong keys: the error names the one first in the file, on every run
// (the checks iterate maps, whose order changes from run to run).
func TestTheFirstWrongKeyInTheFileIsReported(t *testing.T) {
	cases := []struct{ body, want string }{
		{"log:\n  level: loud\nworker:\n  concurrency: 0\n", "log.level"},
		{"worker:\n  concurrency: 0\nlog:\n  level: loud\n", "worker.concurrency"},
		{`msg_signer:
  messaging_brokers: [amqp://h:5672]
  topic_send_to: /topic/a
  topic_listen_to: /topic/b
  environment: e
  service: s
  message_id_key: request_id
  send_retries: 0
  retries: 0
  timeout: 0
`, "msg_signer.send_retries"},
		{`msg_signer:
  credit_window: 0
  messaging_brokers: [amqp://h:5672]
  topic_send_to: /topic/{nope}
  topic_listen_to: /topic/{nope}
  environment: e
  service: s
  message_id_key: request_id
`, "msg_signer.credit_window"},
	}
	for _, tc := range cases {
		for run := 0; run < 30; run++ {
			_, err := Parse([]byte(tc.body), "conf.yaml", noEnv())
			var cfgErr *Error
			require.True(t, errors.As(err, &cfgErr), "%v", err)
			assert.Equal(t, tc.want, cfgErr.Key, "run %d: %v", run, err)
		}
	}
}
