package worker

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// corpus reads testdata/bad/<kind>/WANT: each line names a file of the
// corpus and what its error must mention.
func corpus(t *testing.T, kind string) map[string]string {
	t.Helper()
	dir := filepath.Join("..", "testdata", "bad", kind)
	f, err := os.Open(filepath.Join(dir, "WANT"))
	require.NoError(t, err)
	defer f.Close()
	want := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, w, ok := strings.Cut(line, "\t")
		require.True(t, ok, "WANT line %q", line)
		want[name] = w
	}
	require.NoError(t, sc.Err())
	return want
}

// Every malformed task of the corpus is refused with an error naming what
// is wrong; none panics, none is accepted.
func TestMalformedTaskCorpusIsRefusedByField(t *testing.T) {
	for name, want := range corpus(t, "tasks") {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("..", "testdata", "bad", "tasks", name+".json"))
			require.NoError(t, err)
			_, err = DecodeTask(data, 1<<20)
			require.Error(t, err)
			assert.Contains(t, err.Error(), want)
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
