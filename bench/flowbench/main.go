// Command flowbench measures flow control toward a slow signing server:
// it starts the signing-server emulator with a bounded capacity (FIFO,
// e.g. 100 requests/s) on private topics of the local broker, runs the
// msg-container-sign CLI with N references against it and prints a
// Markdown row: wall time against N/capacity, and what the server saw —
// requests, distinct request ids, duplicates (re-sends that arrived),
// stale requests (served later than their TTL after they were sent) and
// the oldest one — with the client's own re-send count from its log.
//
// bench/run.sh flow starts the broker and runs it.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/release-engineering/pubtools-sign-go/bench/internal/slowserver"
	"github.com/release-engineering/pubtools-sign-go/config"
)

func main() {
	confPath := flag.String("config", "", "config file with a msg_signer section (brokers and certificates are taken from it)")
	bin := flag.String("bin", "bin/pubtools-sign", "pubtools-sign binary")
	refs := flag.String("refs", "4000", "reference counts, comma separated")
	rate := flag.Float64("capacity", 100, "server capacity, requests/s (served one at a time, FIFO)")
	timeout := flag.Int("timeout", 5, "msg_signer.timeout")
	retries := flag.Int("retries", 2, "msg_signer.retries")
	sendRetries := flag.Int("send-retries", 2, "msg_signer.send_retries")
	maxInFlight := flag.Int("max-in-flight", 0, "msg_signer.max_in_flight (0: the default)")
	flag.Parse()
	if err := run(*confPath, *bin, *refs, *rate, *timeout, *retries, *sendRetries, *maxInFlight); err != nil {
		fmt.Fprintln(os.Stderr, "flowbench:", err)
		os.Exit(1)
	}
}

func run(confPath, bin, refs string, rate float64, timeout, retries, sendRetries, maxInFlight int) error {
	base, err := config.Load(confPath)
	if err != nil {
		return err
	}
	sc := base.MsgSigner
	fmt.Printf("| refs | capacity | timeout/retries/send_retries | wall | N/capacity | wall ÷ ideal | exit | server: requests / distinct / duplicates / stale | oldest served | client re-sent |\n")
	fmt.Printf("|---:|---:|---|---:|---:|---:|---:|---|---:|---:|\n")
	for _, s := range strings.Split(refs, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return err
		}
		if err := one(sc, bin, n, rate, timeout, retries, sendRetries, maxInFlight); err != nil {
			return err
		}
	}
	return nil
}

// one is one CLI run against a fresh emulator on private topics.
func one(sc *config.MsgSigner, bin string, n int, rate float64, timeout, retries, sendRetries, maxInFlight int) error {
	extra := fmt.Sprintf("  timeout: %d\n  retries: %d\n  send_retries: %d\n", timeout, retries, sendRetries)
	if maxInFlight > 0 {
		extra += fmt.Sprintf("  max_in_flight: %d\n", maxInFlight)
	}
	env, err := slowserver.Start(sc, rate, time.Duration(timeout*retries)*time.Second, extra)
	if err != nil {
		return err
	}
	defer env.Close()
	srv, conf := env.Server, env.Conf

	args := []string{"msg-container-sign", "--config-file", conf, "--signing-key", "0123456789ABCDEF",
		"--task-id", "flow-" + uuid.NewString()[:8], "--log-level", "INFO"}
	for i := 0; i < n; i++ {
		args = append(args, "--reference", fmt.Sprintf("r.io/ns/app%d:%d", i%10, i), "--digest", fmt.Sprintf("sha256:%064x", i))
	}
	// A hard bound: twice every timeout and every request at capacity.
	bound := 2*time.Duration(float64(n)/rate*float64(time.Second)) + 2*time.Duration(timeout*retries*sendRetries)*time.Second + time.Minute
	runCtx, cancelRun := context.WithTimeout(context.Background(), bound)
	defer cancelRun()
	cmd := exec.CommandContext(runCtx, bin, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	runErr := cmd.Run()
	wall := time.Since(start)
	code := 0
	if runErr != nil {
		code = -1
		if ee, ok := runErr.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	var res struct {
		SignerResult struct{ Status, ErrorMessage string } `json:"signer_result"`
	}
	_ = json.Unmarshal(out.Bytes(), &res)
	if res.SignerResult.Status != "ok" {
		fmt.Fprintf(os.Stderr, "flowbench: %d refs: status %q %s\n", n, res.SignerResult.Status, strings.TrimSpace(res.SignerResult.ErrorMessage))
	}
	// Let replies still travelling settle before reading the counts.
	time.Sleep(500 * time.Millisecond)
	st, ar := srv.Stats(), srv.Arrivals()
	ideal := time.Duration(float64(n) / rate * float64(time.Second))
	fmt.Printf("| %d | %.0f/s | %d/%d/%d | %s | %s | %.3f | %d | %d / %d / %d / %d | %s | %d |\n", n, rate, timeout, retries, sendRetries,
		wall.Round(10*time.Millisecond), ideal, wall.Seconds()/ideal.Seconds(), code, st.Requests, ar.Distinct, ar.Duplicates, ar.Stale,
		ar.MaxAge.Round(10*time.Millisecond), resent(errOut.Bytes()))
	return nil
}

var countAttr = regexp.MustCompile(`"?count"?[=:](\d+)`)

// resent sums the count of the client's "re-sending" log lines.
func resent(log []byte) int {
	total := 0
	sc := bufio.NewScanner(bytes.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, "re-sending") {
			continue
		}
		if m := countAttr.FindStringSubmatch(line); m != nil {
			v, _ := strconv.Atoi(m[1])
			total += v
		} else {
			total++ // a reconnection re-send, counted by line
		}
	}
	return total
}
