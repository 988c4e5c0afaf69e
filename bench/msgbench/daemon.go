package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/release-engineering/pubtools-sign-go/config"
	"github.com/release-engineering/pubtools-sign-go/internal/testenv"
	"github.com/release-engineering/pubtools-sign-go/worker"
)

// daemonRun is one end-to-end measurement: submit → envelope.
type daemonRun struct {
	replicas, refs, tasks int
	sendTo                string // overrides topic_send_to (a black hole for the pending run)
	waitEnvelopes         bool
	// rate paces submission (tasks/s); 0 submits everything at once.
	rate float64
	// probeAfter > 0 submits one more task, of one reference, this long
	// after the others (flow control: it must not wait behind them).
	probeAfter time.Duration
}

type daemonResult struct {
	wall          time.Duration
	tasksPerSec   float64
	reqPerSec     float64
	p50, p99      time.Duration
	peakRSSMiB    float64
	pendingRSSMiB float64
	startup       time.Duration
	// duplicates are envelopes read twice for one task; stored is what
	// the results stream holds (one per task when nothing is duplicated).
	duplicates int
	stored     uint64
	// signings is pubtools_sign_tasks_total summed over replicas: more
	// than the tasks when a task was signed twice (a redelivery).
	signings float64
	// probe is the one-reference probe task's latency; resends sums
	// pubtools_sign_request_retries_total over the replicas.
	probe   time.Duration
	resends float64
	// cpu is the CPU seconds each process kind used from the first
	// submission to the last envelope.
	cpu map[string]float64
}

// runDaemon starts an embedded NATS server here and `replicas` serve
// processes against it, submits the tasks and waits for every envelope.
func runDaemon(bin, confPath string, r daemonRun) (daemonResult, error) {
	var res daemonResult
	emb, err := startNATS()
	if err != nil {
		return res, err
	}
	defer emb.Stop()
	var procs []*exec.Cmd
	var ports []int
	defer func() {
		for _, p := range procs {
			_ = p.Process.Signal(syscall.SIGTERM)
			_ = p.Wait()
		}
	}()
	for i := 0; i < r.replicas; i++ {
		port := freePort()
		ports = append(ports, port)
		args := []string{"serve", "--config-file", confPath}
		if serveArgs != "" {
			args = append(args, strings.Fields(strings.ReplaceAll(serveArgs, "{i}", strconv.Itoa(i)))...)
		}
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "PUBTOOLS_SIGN_NATS_URL="+emb.URL, fmt.Sprintf("PUBTOOLS_SIGN_HTTP_LISTEN=127.0.0.1:%d", port),
			fmt.Sprintf("PUBTOOLS_SIGN_WORKER_ID=bench-%d", i), "PUBTOOLS_SIGN_LOG_LEVEL=warning", "PUBTOOLS_SIGN_LOG_FORMAT=json",
			"PUBTOOLS_SIGN_MSG_SIGNER_TIMEOUT=120", fmt.Sprintf("PUBTOOLS_SIGN_WORKER_CONCURRENCY=%d", concurrency),
			// One receiver for every task of this creator: the RabbitMQ
			// topic binding "*" matches the task id the server appends.
			"PUBTOOLS_SIGN_MSG_SIGNER_TOPIC_LISTEN_TO=/topic/robosignatory.{env}.client.{creator}.*")
		if !r.waitEnvelopes { // every task in flight at once: 100 × 100 pending
			cmd.Env = append(cmd.Env, fmt.Sprintf("PUBTOOLS_SIGN_WORKER_CONCURRENCY=%d", r.tasks))
		}
		if r.sendTo != "" {
			cmd.Env = append(cmd.Env, "PUBTOOLS_SIGN_MSG_SIGNER_TOPIC_SEND_TO="+r.sendTo)
		}
		cmd.Stderr = os.Stderr
		start := time.Now()
		if err := cmd.Start(); err != nil {
			return res, err
		}
		procs = append(procs, cmd)
		if err := waitReady(port, 30*time.Second); err != nil {
			return res, err
		}
		if i == 0 {
			res.startup = time.Since(start)
		}
	}
	nc, err := nats.Connect(emb.URL)
	if err != nil {
		return res, err
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	cfg := config.Defaults()
	results, err := worker.EnsureStreams(context.Background(), js, &cfg.NATS)
	if err != nil {
		return res, err
	}
	cons, err := results.OrderedConsumer(context.Background(), jetstream.OrderedConsumerConfig{})
	if err != nil {
		return res, err
	}
	// One long-lived iterator: an ordered consumer's Next or Fetch makes a
	// new server-side consumer on every call, which would bill the NATS
	// server a consumer create and delete per envelope.
	envelopes, err := cons.Messages()
	if err != nil {
		return res, err
	}
	defer envelopes.Stop()
	submitted := make(map[string]time.Time, r.tasks)
	cpuBefore := sampleCPU()
	start := time.Now()
	for i := 0; i < r.tasks; i++ {
		if r.rate > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(float64(i) / r.rate * float64(time.Second)))))
		}
		id := fmt.Sprintf("bench-%d-%d-%d", r.replicas, r.refs, i)
		t := worker.Task{Schema: worker.TaskSchema, TaskID: id, Signer: worker.SignerMsgContainer, SigningKeys: []string{"0123456789ABCDEF"}}
		for j := 0; j < r.refs; j++ {
			t.References = append(t.References, fmt.Sprintf("r.io/ns/app%d:%d", j%10, j))
			t.Digests = append(t.Digests, fmt.Sprintf("sha256:%064x", i*1000+j))
		}
		data, _ := json.Marshal(&t)
		submitted[id] = time.Now()
		if _, err := js.Publish(context.Background(), "pubtools.sign.tasks.default.msg-container", data, jetstream.WithMsgID(id)); err != nil {
			return res, err
		}
	}
	if !r.waitEnvelopes { // the pending-memory run: nobody answers
		want := float64(r.tasks * r.refs)
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) && pendingOf(ports) < want {
			time.Sleep(100 * time.Millisecond)
		}
		if got := pendingOf(ports); got < want {
			return res, fmt.Errorf("only %.0f of %.0f requests pending", got, want)
		}
		res.pendingRSSMiB = rssMiB(procs[0].Process.Pid, "VmRSS")
		return res, nil
	}
	const probeID = "bench-probe"
	probeAt := make(chan time.Time, 1)
	if r.probeAfter > 0 {
		go func() {
			time.Sleep(time.Until(start.Add(r.probeAfter)))
			t := worker.Task{Schema: worker.TaskSchema, TaskID: probeID, Signer: worker.SignerMsgContainer, SigningKeys: []string{"0123456789ABCDEF"},
				References: []string{"r.io/ns/probe:1"}, Digests: []string{fmt.Sprintf("sha256:%064x", 999999999)}}
			data, _ := json.Marshal(&t)
			probeAt <- time.Now()
			_, _ = js.Publish(context.Background(), "pubtools.sign.tasks.default.msg-container", data, jetstream.WithMsgID(probeID))
		}()
	}
	var lat []time.Duration
	seen := make(map[string]bool, r.tasks)
	for len(lat) < r.tasks || (r.probeAfter > 0 && res.probe == 0) {
		m, err := envelopes.Next(jetstream.NextMaxWait(2 * time.Minute))
		if err != nil {
			info, _ := results.Info(context.Background())
			tc, _ := js.Consumer(context.Background(), cfg.NATS.TasksStream, worker.ConsumerName(&cfg.NATS, worker.SignerMsgContainer))
			ci, _ := tc.Info(context.Background())
			for _, port := range ports {
				dumpMetrics(port)
			}
			if os.Getenv("MSGBENCH_HOLD") != "" { // keep everything up for a look
				fmt.Fprintf(os.Stderr, "holding for %s (MSGBENCH_HOLD); NATS at %s\n", os.Getenv("MSGBENCH_HOLD"), emb.URL)
				d, _ := time.ParseDuration(os.Getenv("MSGBENCH_HOLD"))
				time.Sleep(d)
			}
			return res, fmt.Errorf("after %d envelopes (results stream holds %d; tasks pending %d, ack pending %d, redelivered %d): %w",
				len(lat), info.State.Msgs, ci.NumPending, ci.NumAckPending, ci.NumRedelivered, err)
		}
		var env struct {
			TaskID       string                  `json:"task_id"`
			SignerResult struct{ Status string } `json:"signer_result"`
		}
		_ = json.Unmarshal(m.Data(), &env)
		if env.SignerResult.Status != "ok" {
			return res, fmt.Errorf("task %s: %.200s", env.TaskID, m.Data())
		}
		if seen[env.TaskID] {
			res.duplicates++
			continue
		}
		seen[env.TaskID] = true
		// Latency ends when the envelope was stored, whenever we read it.
		stored := time.Now()
		if md, err := m.Metadata(); err == nil {
			stored = md.Timestamp
		}
		if env.TaskID == probeID {
			res.probe = stored.Sub(<-probeAt)
			continue
		}
		lat = append(lat, stored.Sub(submitted[env.TaskID]))
		res.wall = max(res.wall, stored.Sub(start))
	}
	res.cpu = cpuBreakdown(cpuBefore, sampleCPU())
	if info, err := results.Info(context.Background()); err == nil {
		res.stored = info.State.Msgs
	}
	for _, port := range ports {
		res.signings += metricSum(port, "pubtools_sign_tasks_total{")
		res.resends += metricSum(port, "pubtools_sign_request_retries_total")
	}
	for _, p := range procs {
		res.peakRSSMiB = max(res.peakRSSMiB, rssMiB(p.Process.Pid, "VmHWM"))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	res.p50, res.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	res.tasksPerSec = float64(r.tasks) / res.wall.Seconds()
	res.reqPerSec = float64(r.tasks*r.refs) / res.wall.Seconds()
	return res, nil
}

// probe is bounded: a busy replica must not hang the benchmark.
var probe = &http.Client{Timeout: 2 * time.Second}

func waitReady(port int, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		resp, err := probe.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", port))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("replica on :%d not ready within %s", port, within)
}

// pendingOf sums pubtools_sign_pending_requests over the replicas.
func pendingOf(ports []int) float64 {
	total := 0.0
	for _, port := range ports {
		total += metricSum(port, "pubtools_sign_pending_requests{")
	}
	return total
}

// rssMiB reads a /proc/<pid>/status field (VmRSS now, VmHWM peak).
func rssMiB(pid int, field string) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, field+":") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// freePort is a loopback port below the ephemeral range (testenv's pool:
// a port an outgoing connection cannot take before the daemon binds it).
func freePort() int {
	p, err := testenv.FreePort()
	if err != nil {
		panic(err)
	}
	return p
}

func mustTemp() string {
	d, err := os.MkdirTemp("", "msgbench-nats-")
	if err != nil {
		panic(err)
	}
	return d
}

// metricLines returns the lines of one replica's /metrics that start with
// prefix.
func metricLines(port int, prefix string) ([]string, error) {
	resp, err := probe.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var lines []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, prefix) {
			lines = append(lines, line)
		}
	}
	return lines, sc.Err()
}

// dumpMetrics prints a replica's pubtools_sign_* samples to stderr, for
// finding out where work got stuck.
func dumpMetrics(port int) {
	lines, err := metricLines(port, "pubtools_sign_")
	if err != nil {
		fmt.Fprintf(os.Stderr, "replica :%d: %v\n", port, err)
	}
	for _, line := range lines {
		if !strings.Contains(line, "_bucket") {
			fmt.Fprintf(os.Stderr, "replica :%d: %s\n", port, line)
		}
	}
}

// metricSum adds up the samples of one replica's /metrics whose line
// starts with prefix.
func metricSum(port int, prefix string) float64 {
	lines, _ := metricLines(port, prefix)
	total := 0.0
	for _, line := range lines {
		f := strings.Fields(line)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		total += v
	}
	return total
}

// startupResult is the daemon started the way the README's main job starts
// it: its own embedded NATS (fresh JetStream directory), AMQP connected.
type startupResult struct {
	startup              time.Duration // exec to /readyz answering 200
	idleRSSMiB, idleAnon float64       // one second after ready
}

// runStartup starts serve with embedded NATS `runs` times and reports the
// median start-up and the idle memory of the median run.
func runStartup(bin, confPath string, runs int) (startupResult, error) {
	var all []startupResult
	for range runs {
		dir, err := os.MkdirTemp("", "msgbench-startup-")
		if err != nil {
			return startupResult{}, err
		}
		r, err := startOnce(bin, confPath, dir)
		os.RemoveAll(dir)
		if err != nil {
			return startupResult{}, err
		}
		all = append(all, r)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].startup < all[j].startup })
	return all[len(all)/2], nil
}

func startOnce(bin, confPath, dir string) (startupResult, error) {
	port := freePort()
	cmd := exec.Command(bin, "serve", "--config-file", confPath)
	cmd.Env = append(os.Environ(), "PUBTOOLS_SIGN_NATS_URL=", fmt.Sprintf("PUBTOOLS_SIGN_NATS_EMBEDDED_LISTEN=127.0.0.1:%d", freePort()),
		"PUBTOOLS_SIGN_NATS_DATA_DIR="+dir, fmt.Sprintf("PUBTOOLS_SIGN_HTTP_LISTEN=127.0.0.1:%d", port),
		"PUBTOOLS_SIGN_LOG_LEVEL=warning", "PUBTOOLS_SIGN_LOG_FORMAT=json")
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return startupResult{}, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	deadline := start.Add(30 * time.Second)
	for {
		resp, err := probe.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", port))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			return startupResult{}, fmt.Errorf("serve with embedded NATS not ready within 30s")
		}
		time.Sleep(2 * time.Millisecond)
	}
	r := startupResult{startup: time.Since(start)}
	time.Sleep(time.Second)
	r.idleRSSMiB, r.idleAnon = rssMiB(cmd.Process.Pid, "VmRSS"), rssMiB(cmd.Process.Pid, "RssAnon")
	return r, nil
}
