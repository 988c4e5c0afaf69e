package msg

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// Replicas share a creator, never a container-id.
func TestContainerIDIsUniquePerConnection(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		id := containerID("pubtools-sign-test")
		assert.Regexp(t, `^pubtools-sign-pubtools-sign-test-[0-9a-f]{12}$`, id)
		assert.False(t, seen[id], "duplicate %s", id)
		seen[id] = true
	}
	assert.Regexp(t, `^pubtools-sign-[0-9a-f]{12}$`, containerID(""))
}
