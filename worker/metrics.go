package worker

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the daemon's Prometheus series.
type Metrics struct {
	Registry     *prometheus.Registry
	Tasks        *prometheus.CounterVec
	TaskDuration *prometheus.HistogramVec
	Redeliveries prometheus.Counter
	InFlight     prometheus.Gauge
	RequestRTT   prometheus.Histogram
	Resends      prometheus.Counter
	Timeouts     prometheus.Counter
	TaskPanics   prometheus.Counter
}

// Replied records a signing request's round trip (signers/msg Observer).
func (m *Metrics) Replied(d time.Duration) { m.RequestRTT.Observe(d.Seconds()) }

// Resent counts re-sent signing requests.
func (m *Metrics) Resent(n int) { m.Resends.Add(float64(n)) }

// TimedOut counts signing requests that were never answered.
func (m *Metrics) TimedOut(n int) { m.Timeouts.Add(float64(n)) }

// NewMetrics registers the task series (and Go/process collectors) on a
// fresh registry. Signer-side series (pending requests, round trips,
// retries, timeouts, reconnects) are added with Registry.MustRegister by
// whoever owns those signers.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Tasks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pubtools_sign_tasks_total", Help: "Tasks finished, by signer and outcome (ok, failed, error, invalid).",
		}, []string{"signer", "outcome"}),
		TaskDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "pubtools_sign_task_duration_seconds", Help: "Time from taking a task to publishing its envelope.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 16),
		}, []string{"signer"}),
		Redeliveries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pubtools_sign_task_redeliveries_total", Help: "Tasks received again after an earlier delivery was not acknowledged.",
		}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pubtools_sign_tasks_in_flight", Help: "Tasks being worked on by this replica.",
		}),
		RequestRTT: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "pubtools_sign_request_duration_seconds", Help: "Signing request round trip, send to reply.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 18),
		}),
		Resends: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pubtools_sign_request_retries_total", Help: "Signing requests sent again (timeout or reconnection).",
		}),
		Timeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pubtools_sign_request_timeouts_total", Help: "Signing requests still unanswered when their task gave up.",
		}),
		TaskPanics: newPanicCounter(),
	}
	m.Registry.MustRegister(m.Tasks, m.TaskDuration, m.Redeliveries, m.InFlight, m.RequestRTT, m.Resends, m.Timeouts, m.TaskPanics,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
