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

const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// Signers take operations that passed Validate; its errors name the field.
func TestBadOperationsNameTheField(t *testing.T) {
	cases := []struct {
		op    *ContainerSign
		field string
	}{
		{&ContainerSign{Digests: []string{digest}, References: []string{"a:1", "reg/b:1"}, SigningKeys: []string{"K"}}, "digests"},
		{&ContainerSign{Digests: []string{digest}, References: []string{"no-repo"}, SigningKeys: []string{"K"}}, "references[0]"},
		{&ContainerSign{Digests: []string{"sha256:XYZ"}, References: []string{"reg/b:1"}, SigningKeys: []string{"K"}}, "digests[0]"},
		{&ContainerSign{Digests: []string{digest}, References: []string{"reg/b:1"}}, "signing_keys"},
		{&ContainerSign{Digests: []string{digest}, References: []string{"reg/b:1"}, SigningKeys: []string{"K"}, SigningKeyNames: []string{"a", "b"}}, "signing_key_names"},
	}
	for _, tc := range cases {
		err := tc.op.Validate()
		var ie *InputError
		require.ErrorAs(t, err, &ie)
		assert.Equal(t, tc.field, ie.Field)
	}
}
