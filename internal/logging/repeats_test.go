package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRepeatedRecordsAreDroppedAndCounted(t *testing.T) {
	var buf bytes.Buffer
	h := LimitRepeats(slog.NewJSONHandler(&buf, nil), 3, time.Minute).(*repeatLimiter)
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	h.state.now = func() time.Time { return now }
	log := slog.New(h)
	for i := range 1000 {
		log.With("task_id", i).Warn("task rejected", "error", "bad")
		log.Info("other message")
	}
	now = now.Add(time.Minute)
	log.Warn("task rejected", "error", "bad")

	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		lines = append(lines, m)
	}
	require.Len(t, lines, 3+3+1)
	last := lines[len(lines)-1]
	assert.Equal(t, "task rejected", last["msg"])
	assert.EqualValues(t, 997, last["repeats_dropped"])
}

func TestLimitZeroKeepsEverything(t *testing.T) {
	var buf bytes.Buffer
	h := slog.NewJSONHandler(&buf, nil)
	assert.Same(t, slog.Handler(h), LimitRepeats(h, 0, time.Minute))
}
