package broker

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every malformed reply of the corpus is refused as malformed (and so
// counted and dropped by the router), or, when it is readable but its
// errors field is not an empty list, counts as an error reply: a reply
// never passes for a signature it does not carry.
func TestMalformedReplyCorpus(t *testing.T) {
	dir := filepath.Join("..", "testdata", "bad", "replies")
	f, err := os.Open(filepath.Join(dir, "WANT"))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		name, want, ok := strings.Cut(sc.Text(), "\t")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		n++
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join(dir, name+".json"))
			require.NoError(t, err)
			r, err := DecodeReply(body, nil, "request_id")
			if want == "has-errors" {
				require.NoError(t, err)
				assert.True(t, r.HasErrors)
				return
			}
			require.ErrorIs(t, err, ErrMalformedReply)
			assert.Contains(t, err.Error(), want)
		})
	}
	require.NotZero(t, n)
}
