package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/release-engineering/pubtools-sign-go/worker"
)

// natsServeFlag makes msgbench run only a NATS server (the daemon's
// embedded one, JetStream included) until SIGTERM: the benchmark starts
// it as its own process so the CPU breakdown can tell NATS from the
// submitter.
const natsServeFlag = "-nats-serve"

// natsProfile, when set, is where the NATS child writes its CPU profile.
var natsProfile string

// serveNATS is the body of `msgbench -nats-serve ADDR -nats-dir DIR`,
// with a CPU profile to profile (if not empty).
func serveNATS(addr, dir, profile string) {
	emb, err := worker.StartEmbedded(addr, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "msgbench nats:", err)
		os.Exit(1)
	}
	if profile != "" {
		f, err := os.Create(profile)
		if err == nil {
			_ = pprof.StartCPUProfile(f)
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	emb.Stop()
}

// natsProcess is a NATS server in a child process.
type natsProcess struct {
	URL string
	cmd *exec.Cmd
	dir string
}

// startNATS starts the child and waits until it accepts connections.
func startNATS() (*natsProcess, error) {
	addr := fmt.Sprintf("127.0.0.1:%d", freePort())
	p := &natsProcess{URL: "nats://" + addr, dir: mustTemp()}
	p.cmd = exec.Command(os.Args[0], natsServeFlag+"="+addr, "-nats-dir="+p.dir, "-nats-cpu-profile="+natsProfile)
	p.cmd.Stderr = os.Stderr
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return p, nil
		}
	}
	p.Stop()
	return nil, fmt.Errorf("NATS child on %s not accepting within 30s", addr)
}

// Stop ends the child and removes its JetStream directory.
func (p *natsProcess) Stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Wait()
	os.RemoveAll(p.dir)
}
