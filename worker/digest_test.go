package worker

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tasks follow the CLI's digest rule: algorithm:hex of any length is
// signed (pipelines test with sha256:0000); no algorithm, or what is not
// lower-case hex, is refused naming the digest.
func TestTaskDigestsOfAnyLengthAreSigned(t *testing.T) {
	task := func(d string) []byte {
		return []byte(`{"schema": "pubtools-sign.task.v1", "task_id": "t1", "signer": "msg-container", "signing_keys": ["0123456789ABCDEF"], "references": ["registry.example/ns/app:1"], "digests": ["` + d + `"]}`)
	}
	for _, d := range []string{"sha256:0000", "sha256:123456", "sha512:ab", "sha256:" + hex64} {
		_, err := DecodeTask(task(d), 1<<20)
		require.NoError(t, err, d)
	}
	for d, want := range map[string]string{"0000": "not algorithm:hex", "sha256:xyz": "not lower-case hex", "sha256:": "not algorithm:hex"} {
		_, err := DecodeTask(task(d), 1<<20)
		require.Error(t, err, d)
		assert.Contains(t, err.Error(), "digests[0]")
		assert.Contains(t, err.Error(), want)
	}
}

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
