package broker

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/internal/testenv"
)

// Every malformed reply of the corpus is refused as malformed (and so
// counted and dropped by the router), or, when it is readable but its
// errors field is not an empty list, counts as an error reply: a reply
// never passes for a signature it does not carry.
func TestMalformedReplyCorpus(t *testing.T) {
	for _, c := range testenv.BadInputs(t, "replies", ".json") {
		t.Run(c.Name, func(t *testing.T) {
			body, err := os.ReadFile(c.Path)
			require.NoError(t, err)
			r, err := DecodeReply(body, nil, "request_id")
			if c.Want == "has-errors" {
				require.NoError(t, err)
				assert.True(t, r.HasErrors)
				return
			}
			require.ErrorIs(t, err, ErrMalformedReply)
			assert.Contains(t, err.Error(), c.Want)
		})
	}
}
