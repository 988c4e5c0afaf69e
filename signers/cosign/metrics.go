package cosign

import "github.com/prometheus/client_golang/prometheus"

// ProcessCollectors export s's cosign process bound
// (worker.max_cosign_processes): how many run, how many wait, the bound.
func ProcessCollectors(s *Signer) []prometheus.Collector {
	gauge := func(name, help string, value func(ProcessStats) int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
			func() float64 { return float64(value(s.Processes())) })
	}
	return []prometheus.Collector{
		gauge("pubtools_sign_cosign_processes_running", "cosign processes this replica runs now.",
			func(p ProcessStats) int { return p.Running }),
		gauge("pubtools_sign_cosign_processes_waiting", "cosign runs waiting for one of worker.max_cosign_processes.",
			func(p ProcessStats) int { return p.Waiting }),
		gauge("pubtools_sign_cosign_processes_max", "The configured worker.max_cosign_processes.",
			func(p ProcessStats) int { return p.Max }),
	}
}
