package worker

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ReadinessCheck reports whether one dependency is usable.
type ReadinessCheck struct {
	Name  string
	Ready func() bool
}

// HTTPHandler serves /healthz (the process runs), /readyz (every check
// passes) and /metrics.
func HTTPHandler(m *Metrics, checks []ReadinessCheck) http.Handler {
	r := &Readiness{}
	r.Add(checks...)
	return ReadinessHTTPHandler(m, r)
}

// ReadinessHTTPHandler is HTTPHandler over checks that may still grow.
func ReadinessHTTPHandler(m *Metrics, r *Readiness) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		status := http.StatusOK
		body := ""
		for _, c := range r.Checks() {
			state := "ok"
			if !c.Ready() {
				state, status = "not ready", http.StatusServiceUnavailable
			}
			body += c.Name + ": " + state + "\n"
		}
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	})
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	return mux
}
