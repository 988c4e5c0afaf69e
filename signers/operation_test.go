package signers

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The request's "repo" is the Python tool's
// reference.split("/", 1)[1].split(":")[0], digest references included.
func TestRepoOfIsThePythonSplit(t *testing.T) {
	for ref, want := range map[string]string{
		"registry.example/ns/app:1.0":       "ns/app",
		"registry.example:5000/ns/app:1.0":  "ns/app",
		"registry.example/ns/app@sha256:ab": "ns/app@sha256",
	} {
		got, err := RepoOf(ref)
		require.NoError(t, err, ref)
		assert.Equal(t, want, got, ref)
	}
}
