package msg

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/broker"
	"github.com/release-engineering/pubtools-sign-go/signers"
)

// countingObserver records re-sends and timeouts.
type countingObserver struct {
	noObserver
	resent, timedOut chan int
}

func (o countingObserver) Resent(n int)   { o.resent <- n }
func (o countingObserver) TimedOut(n int) { o.timedOut <- n }

func TestRequestsWaitingForASlotDoNotTimeOut(t *testing.T) {
	cfg := testConfig() // timeout 1 × 50ms, 2 rounds, 2 cycles: 200ms at most per request
	s, bus, _ := newTestSigner(t, cfg, func(r *broker.Request, _ int) []string { return []string{okReply(r)} })
	obs := countingObserver{resent: make(chan int, 10), timedOut: make(chan int, 10)}
	s.opts.Observer = obs
	s.opts.Window = broker.NewWindow(broker.WindowOptions{Max: 1, TargetDelay: time.Hour})
	// Another operation holds the only slot: the server is busy with it.
	hog := s.opts.Window.Open()
	hog.Want(1)
	require.Equal(t, 1, hog.Take())

	done := make(chan *signers.Result, 1)
	go func() {
		res, err := s.ContainerSign(context.Background(), containerOp(3))
		assert.NoError(t, err)
		done <- res
	}()
	// Far longer than every timeout of the operation put together: its
	// requests were never sent, so none of them is late.
	select {
	case res := <-done:
		t.Fatalf("operation ended while its requests waited for a slot: %+v", res.SignerResult)
	case <-time.After(1 * time.Second):
	}
	bus.mu.Lock()
	assert.Empty(t, bus.published, "nothing sent without a slot")
	bus.mu.Unlock()
	assert.Equal(t, 3, s.opts.Window.Stats().Queued)

	hog.Done(time.Millisecond)
	res := <-done
	assert.Equal(t, signers.StatusOK, res.SignerResult.Status)
	assert.Len(t, bus.published, 3, "each request sent once")
	assert.Empty(t, obs.resent, "no re-sends")
	assert.Empty(t, obs.timedOut)
	hog.Close()
	assert.Zero(t, s.opts.Window.Stats().InFlight, "every slot back")
}

func TestOperationsShareOneWindow(t *testing.T) {
	s, bus, _ := newTestSigner(t, testConfig(), func(r *broker.Request, _ int) []string { return []string{okReply(r)} })
	s.opts.Window = broker.NewWindow(broker.WindowOptions{Max: 2, TargetDelay: time.Hour})
	s.opts.NewID = uuid.NewString // operations run concurrently
	var mu sync.Mutex
	var peak int
	bus.answer = func(r *broker.Request, _ int) []string {
		mu.Lock()
		peak = max(peak, s.opts.Window.Stats().InFlight)
		mu.Unlock()
		return []string{okReply(r)}
	}
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			res, err := s.ContainerSign(context.Background(), containerOp(50))
			if err == nil && res.SignerResult.Status != signers.StatusOK {
				err = assert.AnError
			}
			errs <- err
		}()
	}
	for range 4 {
		require.NoError(t, <-errs)
	}
	assert.LessOrEqual(t, peak, 2)
	assert.Len(t, bus.published, 200)
}

func TestWindowMetrics(t *testing.T) {
	w := broker.NewWindow(broker.WindowOptions{Max: 5, Initial: 2, TargetDelay: time.Second})
	f := w.Open()
	f.Want(7)
	reg := prometheus.NewRegistry()
	reg.MustRegister(WindowCollectors(w, "msg_signer")...)
	families, err := reg.Gather()
	require.NoError(t, err)
	got := map[string]float64{}
	for _, fam := range families {
		m := fam.GetMetric()[0]
		assert.Equal(t, "msg_signer", m.GetLabel()[0].GetValue())
		if m.Gauge != nil {
			got[fam.GetName()] = m.GetGauge().GetValue()
		} else {
			got[fam.GetName()] = m.GetCounter().GetValue()
		}
	}
	assert.Equal(t, map[string]float64{
		"pubtools_sign_window_size": 2, "pubtools_sign_window_max": 5, "pubtools_sign_requests_in_flight": 2,
		"pubtools_sign_requests_queued": 5, "pubtools_sign_server_reply_rate": 0,
		"pubtools_sign_server_base_latency_seconds": 0, "pubtools_sign_window_decreases_total": 0,
	}, got)
}
