package main

import (
	"fmt"
	"time"

	"github.com/release-engineering/pubtools-sign-go/bench/internal/slowserver"
	"github.com/release-engineering/pubtools-sign-go/config"
)

// flowDaemon runs the daemon against a capacity-bounded emulator (spec
// REPLICASxTASKSxREFS@RATE): every task submitted at once, one
// one-reference task submitted halfway through the ideal time, and the
// server's view of it all — nothing expired, nothing sent twice.
func flowDaemon(confPath, bin, spec string) error {
	var d daemonRun
	var rate float64
	if _, err := fmt.Sscanf(spec, "%dx%dx%d@%g", &d.replicas, &d.tasks, &d.refs, &rate); err != nil || rate <= 0 {
		return fmt.Errorf("--flow-daemon %q: want REPLICASxTASKSxREFS@RATE, e.g. 3x60x100@200", spec)
	}
	base, err := config.Load(confPath)
	if err != nil {
		return err
	}
	// runDaemon sets timeout 120; retries 2: a TTL of 240 s.
	env, err := slowserver.Start(base.MsgSigner, rate, 240*time.Second, "  retries: 2\n  send_retries: 2\n")
	if err != nil {
		return err
	}
	defer env.Close()
	srv, conf := env.Server, env.Conf
	total := d.tasks*d.refs + 1
	ideal := time.Duration(float64(total) / rate * float64(time.Second))
	d.waitEnvelopes, d.probeAfter = true, ideal/2
	r, err := runDaemon(bin, conf, d)
	if err != nil {
		return err
	}
	st, ar := srv.Stats(), srv.Arrivals()
	fmt.Printf("| replicas × tasks × refs | capacity | wall | N/capacity | throughput of capacity | task p50 / p99 | 1-ref task submitted at N/2 | server: requests / distinct / duplicates / stale (> TTL) | oldest served | server busy (first to last) / idle / lost | server's own rate | client re-sent |\n")
	fmt.Printf("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|\n")
	fmt.Printf("| %d × %d × %d | %.0f/s | %s | %s | %.0f%% | %s / %s | %s | %d / %d / %d / %d | %s | %s / %s / %s | %.0f/s | %.0f |\n",
		d.replicas, d.tasks, d.refs, rate, r.wall.Round(10*time.Millisecond), ideal.Round(10*time.Millisecond),
		100*float64(d.tasks*d.refs)/r.wall.Seconds()/rate, r.p50.Round(10*time.Millisecond), r.p99.Round(10*time.Millisecond),
		r.probe.Round(10*time.Millisecond), st.Requests, ar.Distinct, ar.Duplicates, ar.Stale, ar.MaxAge.Round(10*time.Millisecond), ar.Busy.Round(10*time.Millisecond), ar.Idle.Round(10*time.Millisecond), ar.Overrun.Round(10*time.Millisecond), float64(st.Requests)/ar.Busy.Seconds(), r.resends)
	return nil
}
