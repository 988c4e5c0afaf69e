package worker

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/internal/testenv"
)

// Every malformed task of the corpus is refused with an error naming what
// is wrong; none panics, none is accepted.
func TestMalformedTaskCorpusIsRefusedByField(t *testing.T) {
	for _, c := range testenv.BadInputs(t, "tasks", ".json") {
		t.Run(c.Name, func(t *testing.T) {
			data, err := os.ReadFile(c.Path)
			require.NoError(t, err)
			_, err = DecodeTask(data, 1<<20)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.Want)
		})
	}
}

// A 10 MB task is refused by size before it is parsed; its id, when it
// can be read, still routes the error envelope.
func TestTenMegabyteTaskIsRefusedBySize(t *testing.T) {
	data := []byte(`{"task_id": "big", "inputs": ["` + strings.Repeat("x", 10<<20) + `"]}`)
	task, err := DecodeTask(data, 1<<20)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "over the 1048576 byte limit")
	assert.Equal(t, "big", task.TaskID)
}
