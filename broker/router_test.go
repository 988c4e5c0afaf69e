package broker

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestRouterMatchesByMessageIDKeyAndIgnoresTheRest(t *testing.T) {
	pending := NewPendingRequests()
	router := NewReplyRouter("request_id", pending, quietLog())
	ch := make(chan *Reply, 2)
	pending.Add(ch, "r-1", "r-2")

	router.Route("a", []byte(`{"msg": {"request_id": "r-1", "errors": [], "signed_claim": "x"}}`), map[string]any{"h": "v"})
	router.Route("a", []byte(`{"msg": {"request_id": "r-1", "errors": []}}`), nil)   // duplicate
	router.Route("a", []byte(`{"msg": {"request_id": "other", "errors": []}}`), nil) // another task's
	router.Route("a", []byte(`not json`), nil)
	router.Route("a", []byte(`{"msg": {"request_id": 7}}`), nil)
	router.Route("a", []byte(`{"nomsg": 1}`), nil)
	router.Route("a", []byte(`{"msg": {"request_id": "r-2", "errors": ["key revoked"]}}`), nil)

	first := <-ch
	assert.Equal(t, "r-1", first.RequestID)
	assert.Equal(t, 0, first.Index, "its position in Add")
	assert.False(t, first.HasErrors)
	assert.Equal(t, "v", first.Properties["h"])
	second := <-ch
	assert.True(t, second.HasErrors)
	assert.Equal(t, 1, second.Index)
	assert.Equal(t, RouterStats{Matched: 2, Unknown: 2, Malformed: 3}, router.Stats())
	assert.Zero(t, pending.Len())
}

func TestPendingRequestsIsSafeForConcurrentOperations(t *testing.T) {
	pending := NewPendingRequests()
	router := NewReplyRouter("id", pending, quietLog())
	const ops, per = 20, 200
	var wg sync.WaitGroup
	for o := 0; o < ops; o++ {
		ch := make(chan *Reply, per)
		ids := make([]string, per)
		for i := range ids {
			ids[i] = fmt.Sprintf("%d-%d", o, i)
		}
		pending.Add(ch, ids...)
		wg.Add(2)
		go func() {
			defer wg.Done()
			for _, id := range ids {
				router.Route("a", []byte(`{"msg": {"id": "`+id+`"}}`), nil)
			}
		}()
		go func() {
			defer wg.Done()
			for range ids {
				r := <-ch
				require.Equal(t, ids[r.Index], r.RequestID)
			}
		}()
	}
	wg.Wait()
	assert.Zero(t, pending.Len())
	assert.Equal(t, uint64(ops*per), router.Stats().Matched)
}
