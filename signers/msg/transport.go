package msg

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Signer returns a Signer that sends through this connection: its bus,
// the pending map its router resolves and the creator of its certificate.
// o sets everything else; its Bus, Pending and Creator are overwritten.
func (c *Connection) Signer(o Options) *Signer {
	o.Bus, o.Pending, o.Creator = c.Client, c.Pending, c.Creator
	return New(o)
}

// Ready reports whether the connection to the signing server's broker is up
// now (a readiness check).
func (c *Connection) Ready() bool { return c.Client.Connected() }

// Collectors are the connection's Prometheus series, labelled with the
// config section: requests awaiting a reply, reconnections, and replies no
// request was waiting for or that could not be read.
func (c *Connection) Collectors(section string) []prometheus.Collector {
	labels := prometheus.Labels{"section": section}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "pubtools_sign_pending_requests", Help: "Signing requests awaiting a reply.", ConstLabels: labels},
			func() float64 { return float64(c.Pending.Len()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "pubtools_sign_broker_reconnects_total", Help: "Reconnections to the messaging broker.", ConstLabels: labels},
			func() float64 { return float64(c.Client.Reconnects()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "pubtools_sign_unknown_replies_total", Help: "Replies for no pending request (other replicas', duplicates).", ConstLabels: labels},
			func() float64 { return float64(c.Router.Stats().Unknown) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "pubtools_sign_malformed_replies_total", Help: "Replies that could not be read.", ConstLabels: labels},
			func() float64 { return float64(c.Router.Stats().Malformed) }),
	}
}
