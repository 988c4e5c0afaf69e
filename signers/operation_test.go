package signers

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/internal/pyjson"
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

// The Python CLI leaves --requester (and msg-clear-sign's --repo) at None
// when they are not given, so its output says null, not "".
func TestMissingRequesterAndRepoPrintAsNull(t *testing.T) {
	for _, tc := range []struct {
		op   interface{ Dict() pyjson.Object }
		want string
	}{
		{&ContainerSign{TaskID: "t"}, `{"digests": [], "references": [], "signing_key_names": [], "signing_keys": [], "task_id": "t", "requester": null}`},
		{&ContainerSign{TaskID: "t", Requester: "alice"}, `{"digests": [], "references": [], "signing_key_names": [], "signing_keys": [], "task_id": "t", "requester": "alice"}`},
		{&ClearSign{TaskID: "t"}, `{"inputs": [], "signing_keys": [], "task_id": "t", "repo": null, "requester": null}`},
		{&ClearSign{TaskID: "t", Repo: "r", Requester: "alice"}, `{"inputs": [], "signing_keys": [], "task_id": "t", "repo": "r", "requester": "alice"}`},
		{&BlobSign{TaskID: "t"}, `{"blobs": [], "signing_key_names": [], "signing_keys": [], "task_id": "t", "requester": null}`},
	} {
		got, err := pyjson.Marshal(tc.op.Dict())
		require.NoError(t, err)
		assert.Equal(t, tc.want, string(got))
	}
}

func TestShortDigestsAreSignedWithAWarning(t *testing.T) {
	op := &ContainerSign{Digests: []string{"sha256:0000", "sha256:" + strings.Repeat("a", 64), "sha384:12", "md5:ff"},
		References:  []string{"r.io/a/b:1", "r.io/a/b:2", "r.io/a/b:3", "r.io/a/b:4"},
		SigningKeys: []string{"K"}}
	require.NoError(t, op.Validate())
	w := op.DigestWarnings()
	require.Len(t, w, 2)
	assert.Contains(t, w[0], `digests[0]: digest "sha256:0000" has 4 hex digits; a sha256 digest has 64`)
	assert.Contains(t, w[1], "digests[2]")
}
