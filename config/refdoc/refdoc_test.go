package refdoc

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The committed reference is what the config structs say today; if this
// fails, run: go generate ./config
func TestCommittedReferenceIsCurrent(t *testing.T) {
	src, err := os.ReadFile("../config.go")
	require.NoError(t, err)
	want, err := Markdown(src)
	require.NoError(t, err)
	got, err := os.ReadFile("../reference.md")
	require.NoError(t, err)
	assert.Equal(t, want, string(got), "config/reference.md is stale: run go generate ./config")
}

// Every key has a meaning: a field added without a doc comment fails here.
func TestEveryKeyIsDocumented(t *testing.T) {
	src, err := os.ReadFile("../config.go")
	require.NoError(t, err)
	md, err := Markdown(src)
	require.NoError(t, err)
	rows := 0
	for _, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		rows++
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		assert.NotEmpty(t, strings.TrimSpace(cells[len(cells)-1]), "undocumented key: %s", line)
	}
	assert.Greater(t, rows, 50, "every section's keys are listed")
}
