package msg

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/release-engineering/pubtools-sign-go/broker"
)

// WindowCollectors are the Prometheus series of a section's in-flight
// window, labelled with the section. docs/flow-control.md
// says how to read them.
func WindowCollectors(w *broker.Window, section string) []prometheus.Collector {
	labels := prometheus.Labels{"section": section}
	gauge := func(name, help string, value func(broker.WindowStats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels},
			func() float64 { return value(w.Stats()) })
	}
	counter := func(name, help string, value func(broker.WindowStats) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels},
			func() float64 { return value(w.Stats()) })
	}
	return []prometheus.Collector{
		gauge("pubtools_sign_window_size", "Signing requests this process lets be in flight now (adaptive, at most max_in_flight).",
			func(s broker.WindowStats) float64 { return float64(s.Limit) }),
		gauge("pubtools_sign_window_max", "The configured max_in_flight.",
			func(s broker.WindowStats) float64 { return float64(s.Max) }),
		gauge("pubtools_sign_requests_in_flight", "Signing requests sent and not yet answered.",
			func(s broker.WindowStats) float64 { return float64(s.InFlight) }),
		gauge("pubtools_sign_requests_queued", "Signing requests waiting in this process for a window slot (not sent yet).",
			func(s broker.WindowStats) float64 { return float64(s.Queued) }),
		gauge("pubtools_sign_server_reply_rate", "Replies per second this process gets from the signing server, over the last second or more.",
			func(s broker.WindowStats) float64 { return s.ReplyRate }),
		gauge("pubtools_sign_server_base_latency_seconds", "Lowest signing request round trip seen: the server's latency without a queue.",
			func(s broker.WindowStats) float64 { return s.Base.Seconds() }),
		counter("pubtools_sign_window_decreases_total", "Times the window shrank: replies queued past target_queue_delay, or requests given up on.",
			func(s broker.WindowStats) float64 { return float64(s.Cuts) }),
	}
}
