package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/config"
	"github.com/release-engineering/pubtools-sign-go/emulator"
	"github.com/release-engineering/pubtools-sign-go/internal/retry"
	"github.com/release-engineering/pubtools-sign-go/internal/testenv"
	"github.com/release-engineering/pubtools-sign-go/worker"
)

// asNATS makes the test binary a nats-server process running the config
// file it names: the cluster nodes are real processes that can be
// SIGKILLed, without a separate nats-server binary.
const asNATS = "PUBTOOLS_SIGN_TEST_AS_NATS"

// runNATSServer is the nats-server process (see TestMain).
func runNATSServer(conf string) int {
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	s, err := server.NewServer(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	s.ConfigureLogger()
	s.Start() // SIGTERM: graceful shutdown and exit 0 (the server's own handler)
	s.WaitForShutdown()
	return 0
}

// clusterPorts are the loopback ports of the three nodes (from
// testenv.Port: below the ephemeral range, never shared with another test
// process or checkout): node i listens for clients on client[i], routes on
// route[i] and monitoring on monitor[i].
type clusterPorts struct{ client, route, monitor [3]int }

func newClusterPorts(t *testing.T) clusterPorts {
	var p clusterPorts
	for i := range 3 {
		p.client[i], p.route[i], p.monitor[i] = testenv.Port(t), testenv.Port(t), testenv.Port(t)
	}
	return p
}

// natsNode is one nats-server process of a three-node cluster.
type natsNode struct {
	name                   string
	client, route, monitor int
	conf, log              string
	cmd                    *exec.Cmd
	done                   chan error
}

// natsCluster is three nats-server processes with JetStream, each with its
// own store, routed to each other on loopback.
type natsCluster struct {
	t     *testing.T
	nodes []*natsNode
}

func startNATSCluster(t *testing.T) *natsCluster {
	t.Helper()
	return startNATSClusterOn(t, newClusterPorts(t))
}

func startNATSClusterOn(t *testing.T, ports clusterPorts) *natsCluster {
	t.Helper()
	cl := &natsCluster{t: t}
	var routes []string
	for i := 1; i <= 3; i++ {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports.route[i-1]))
	}
	dir := t.TempDir()
	for i := 1; i <= 3; i++ {
		n := &natsNode{name: fmt.Sprintf("n%d", i), client: ports.client[i-1], route: ports.route[i-1], monitor: ports.monitor[i-1]}
		n.conf = filepath.Join(dir, n.name+".conf")
		n.log = filepath.Join(dir, n.name+".log")
		conf := fmt.Sprintf(`server_name: %s
listen: 127.0.0.1:%d
http: 127.0.0.1:%d
jetstream {
  store_dir: %q
  max_memory_store: 64MB
  max_file_store: 1GB
}
cluster {
  name: pubtools-sign-test
  listen: 127.0.0.1:%d
  routes: [%s]
  # Clients know only the URLs they are given (submit's reconnect test).
  no_advertise: true
}
`, n.name, n.client, n.monitor, filepath.Join(dir, n.name), n.route, strings.Join(routes, ", "))
		require.NoError(t, os.WriteFile(n.conf, []byte(conf), 0o600))
		cl.nodes = append(cl.nodes, n)
	}
	for _, n := range cl.nodes {
		cl.start(n)
	}
	t.Cleanup(func() {
		for _, n := range cl.nodes {
			n.stop(syscall.SIGKILL)
		}
		if t.Failed() {
			for _, n := range cl.nodes {
				tail(t, n.log)
			}
		}
	})
	require.Eventually(t, func() bool { return cl.metaLeader() != "" }, 60*time.Second, 50*time.Millisecond, "the cluster elects a meta leader")
	return cl
}

func (cl *natsCluster) start(n *natsNode) {
	cl.t.Helper()
	logFile, err := os.OpenFile(n.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	require.NoError(cl.t, err)
	n.cmd = exec.Command(os.Args[0])
	n.cmd.Env = append(os.Environ(), asNATS+"="+n.conf)
	n.cmd.Stdout, n.cmd.Stderr = logFile, logFile
	require.NoError(cl.t, n.cmd.Start())
	n.done = make(chan error, 1)
	go func() { n.done <- n.cmd.Wait(); logFile.Close() }()
}

// stop sends sig and waits for the process to end.
func (n *natsNode) stop(sig syscall.Signal) {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	_ = n.cmd.Process.Signal(sig)
	select {
	case err := <-n.done:
		n.done <- err
	case <-time.After(30 * time.Second):
		_ = n.cmd.Process.Kill()
	}
}

// urls is the client URL list of every node.
func (cl *natsCluster) urls() string {
	var u []string
	for _, n := range cl.nodes {
		u = append(u, fmt.Sprintf("nats://127.0.0.1:%d", n.client))
	}
	return strings.Join(u, ",")
}

func (cl *natsCluster) node(name string) *natsNode {
	for _, n := range cl.nodes {
		if n.name == name {
			return n
		}
	}
	cl.t.Fatalf("no node %q", name)
	return nil
}

// metaLeader asks the monitoring endpoint of each live node for the
// JetStream meta leader ("" while there is none).
func (cl *natsCluster) metaLeader() string {
	for _, n := range cl.nodes {
		var jsz struct {
			Meta *struct {
				Leader string `json:"leader"`
			} `json:"meta_cluster"`
		}
		if getJSON(fmt.Sprintf("http://127.0.0.1:%d/jsz", n.monitor), &jsz) == nil && jsz.Meta != nil && jsz.Meta.Leader != "" {
			return jsz.Meta.Leader
		}
	}
	return ""
}

// healthy: the node's JetStream is current with the cluster (its
// /healthz answers 200).
func (n *natsNode) healthy() bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", n.monitor))
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func getJSON(url string, v any) error {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

func tail(t *testing.T, file string) {
	data, _ := os.ReadFile(file)
	if len(data) > 4000 && os.Getenv("PUBTOOLS_SIGN_TEST_LOGS") == "" {
		data = data[len(data)-4000:]
	}
	t.Logf("--- %s (tail)\n%s", filepath.Base(file), data)
}

// leaderOf reads the leader of a stream or consumer through the test's
// own connection ("" when the question cannot be answered now).
func (c *cluster) leaderOf(stream, consumer string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := c.js.Stream(ctx, stream)
	if err != nil {
		return ""
	}
	if consumer == "" {
		info, err := s.Info(ctx)
		if err != nil || info.Cluster == nil {
			return ""
		}
		return info.Cluster.Leader
	}
	cons, err := s.Consumer(ctx, consumer)
	if err != nil {
		return ""
	}
	info, err := cons.Info(ctx)
	if err != nil || info.Cluster == nil {
		return ""
	}
	return info.Cluster.Leader
}

// clusterFigures are what docs/reliability.md's table records.
type clusterFigures struct {
	scenario                   string
	tasks, envelopes, signings int
	redeliveries               float64
	outage, total              time.Duration
	// election: from the kill until another node led; resumed: from then
	// until envelopes were stored again (pull and publish recovery).
	election, resumed time.Duration
	downed            []string
}

// faultReport is what a fault did and when.
type faultReport struct {
	downed          []string
	killed, elected time.Time
}

// clusterScenario runs tasks one-reference tasks through two replicas on
// a fresh three-node cluster with R3 streams the replicas create from
// nats.stream_replicas: 3, calls fault (in the test goroutine) once a
// third of them are submitted, and checks the promise: one envelope each,
// none signed twice, replicas ready again.
func clusterScenario(t *testing.T, name string, tasks int, fault func(cl *natsCluster, c *cluster) faultReport) clusterFigures {
	t.Helper()
	start := time.Now()
	cl := startNATSCluster(t)
	c := newCluster(t, clusterOptions{natsURL: cl.urls(), natsExtra: "  stream_replicas: 3\n", ackWait: 30 * time.Second,
		faults: emulator.Faults{Delay: 50 * time.Millisecond}})
	replicas := []*replica{c.startReplica("a"), c.startReplica("b")}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("PUBTOOLS_SIGN_TEST_LOGS") != "" {
			for _, r := range replicas {
				tail(t, r.log)
			}
		}
	})
	ctx := context.Background()
	for _, s := range []string{"PUBTOOLS_SIGN_TASKS", "PUBTOOLS_SIGN_RESULTS"} {
		stream, err := c.js.Stream(ctx, s)
		require.NoError(t, err)
		info, err := stream.Info(ctx)
		require.NoError(t, err)
		assert.Equal(t, 3, info.Config.Replicas, "%s created R3 by the daemon", s)
	}

	// A steady stream of tasks; publishes retried through elections (the
	// same Nats-Msg-Id: never twice).
	ids := make([]string, tasks)
	third := make(chan struct{})
	submitted := make(chan struct{})
	go func() {
		defer close(submitted)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := range ids {
			<-tick.C
			ids[i] = fmt.Sprintf("%s-%d", name, i)
			data, _ := json.Marshal(containerTask(ids[i], 1))
			rctx, cancel := context.WithTimeout(ctx, time.Minute)
			_, err := retry.Do(rctx, retry.Policy{First: 100 * time.Millisecond, Max: time.Second}, func() (*jetstream.PubAck, error) {
				pctx, cancel := context.WithTimeout(rctx, 2*time.Second)
				defer cancel()
				return c.js.Publish(pctx, "pubtools.sign.tasks.default."+worker.SignerMsgContainer, data, jetstream.WithMsgID(ids[i]))
			}, nil)
			cancel()
			if err != nil {
				t.Errorf("submit %s: %v", ids[i], err)
			}
			if i == tasks/3 {
				close(third)
			}
		}
	}()
	<-third
	report := fault(cl, c)
	<-submitted
	envs := c.exactlyOneCorrectEnvelopeEach(ids, 1, 2*time.Minute)

	f := clusterFigures{scenario: name, tasks: tasks, envelopes: len(envs), downed: report.downed}
	f.signings = int(c.emu.Stats().Requests)
	assert.Equal(t, tasks, f.signings, "every task signed exactly once")
	var stored []time.Time
	for _, e := range envs {
		stored = append(stored, e.stored)
	}
	slices.SortFunc(stored, func(a, b time.Time) int { return a.Compare(b) })
	for i := 1; i < len(stored); i++ {
		f.outage = max(f.outage, stored[i].Sub(stored[i-1]))
	}
	if !report.elected.IsZero() {
		f.election = report.elected.Sub(report.killed)
		if i, _ := slices.BinarySearchFunc(stored, report.elected, func(a, b time.Time) int { return a.Compare(b) }); i < len(stored) {
			f.resumed = stored[i].Sub(report.elected)
		}
	}
	for _, r := range replicas {
		require.Eventually(t, func() bool { return r.ready() }, 30*time.Second, 50*time.Millisecond, "replica %s ready again", r.id)
		f.redeliveries += r.metric(t, "pubtools_sign_task_redeliveries_total")
	}
	f.total = time.Since(start)
	t.Logf("FIGURES scenario=%s tasks=%d envelopes=%d duplicates=0 signings=%d redeliveries=%.0f longest_gap_between_envelopes=%s election=%s resumed_after_election=%s total=%s downed=%v",
		f.scenario, f.tasks, f.envelopes, f.signings, f.redeliveries, f.outage.Round(100*time.Millisecond),
		f.election.Round(100*time.Millisecond), f.resumed.Round(100*time.Millisecond), f.total.Round(100*time.Millisecond), f.downed)
	return f
}

// ready: the replica's /readyz answers 200.
func (r *replica) ready() bool {
	code, _ := r.readyz()
	return code == http.StatusOK
}

// readyz is the replica's /readyz status and body (0 while it does not
// answer).
func (r *replica) readyz() (int, string) {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + r.http + "/readyz")
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// A replica started before its NATS cluster waits for it (no exit 1),
// says on /readyz what is missing, and serves once the cluster is up.
func TestServeWaitsForTheNATSCluster(t *testing.T) {
	ports := newClusterPorts(t)
	c := newCluster(t, clusterOptions{natsURL: fmt.Sprintf("nats://127.0.0.1:%d", ports.client[0]), natsExtra: "  stream_replicas: 3\n"})
	r := c.launchReplica("early")
	var body string
	require.Eventually(t, func() bool {
		var code int
		code, body = r.readyz()
		return code == http.StatusServiceUnavailable
	}, 30*time.Second, 20*time.Millisecond, "/readyz answers while NATS is missing")
	assert.Contains(t, body, "nats: not ready")
	assert.Contains(t, body, "jetstream: not ready")
	startNATSClusterOn(t, ports)
	require.Eventually(t, r.ready, 60*time.Second, 50*time.Millisecond, "ready once the cluster is up")
	select {
	case err := <-r.done:
		t.Fatalf("serve exited while waiting: %v", err)
	default:
	}
	ids := c.submit("early", 5, 1)
	c.exactlyOneCorrectEnvelopeEach(ids, 1, time.Minute)
}

// killLeader SIGKILLs the node leading what leader names, keeps it down
// until another node leads it, then starts it again.
func killLeader(what string, leader func(cl *natsCluster, c *cluster) string) func(cl *natsCluster, c *cluster) faultReport {
	return func(cl *natsCluster, c *cluster) faultReport {
		t := cl.t
		var victim string
		require.Eventually(t, func() bool { victim = leader(cl, c); return victim != "" }, 30*time.Second, 20*time.Millisecond, "a %s leader", what)
		n := cl.node(victim)
		n.stop(syscall.SIGKILL)
		killed := time.Now()
		require.Eventually(t, func() bool {
			l := leader(cl, c)
			return l != "" && l != victim
		}, 60*time.Second, 50*time.Millisecond, "a new %s leader after %s was killed", what, victim)
		elected := time.Now()
		cl.start(n)
		return faultReport{downed: []string{what + "@" + victim}, killed: killed, elected: elected}
	}
}

func streamLeader(stream string) func(*natsCluster, *cluster) string {
	return func(_ *natsCluster, c *cluster) string { return c.leaderOf(stream, "") }
}

func consumerLeader(_ *natsCluster, c *cluster) string {
	n := config.Defaults().NATS
	return c.leaderOf(n.TasksStream, worker.ConsumerName(&n, worker.SignerMsgContainer))
}

func metaLeader(cl *natsCluster, _ *cluster) string { return cl.metaLeader() }

// rollingRestart stops each node in turn (graceful shutdown), waits until
// the streams, the consumer and the meta group are led elsewhere, starts
// it again and waits until it is current before the next.
func rollingRestart(cl *natsCluster, c *cluster) faultReport {
	t := cl.t
	n := config.Defaults().NATS
	leaders := func() []string {
		return []string{c.leaderOf(n.TasksStream, ""), c.leaderOf(n.ResultsStream, ""),
			c.leaderOf(n.TasksStream, worker.ConsumerName(&n, worker.SignerMsgContainer)), cl.metaLeader()}
	}
	var out []string
	for _, node := range cl.nodes {
		node.stop(syscall.SIGTERM)
		require.Eventually(t, func() bool {
			for _, l := range leaders() {
				if l == "" || l == node.name {
					return false
				}
			}
			return true
		}, 60*time.Second, 50*time.Millisecond, "everything led elsewhere while %s is down", node.name)
		cl.start(node)
		require.Eventually(t, node.healthy, 60*time.Second, 50*time.Millisecond, "%s current again", node.name)
		out = append(out, node.name)
	}
	return faultReport{downed: out}
}

// The daemon on a real three-node NATS cluster (nats-server processes,
// R3 streams the replicas create themselves), with the leader of each
// part SIGKILLed mid-load and kept down until another node leads, and a
// rolling restart of every node: every task exactly one envelope, each
// signed once, replicas ready again.
func TestNATSClusterLeaderLossAndRollingRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("three nats-server processes and two replicas per scenario")
	}
	n := config.Defaults().NATS
	scenarios := []struct {
		name  string
		fault func(*natsCluster, *cluster) faultReport
	}{
		{"tasks-leader", killLeader("tasks stream", streamLeader(n.TasksStream))},
		{"consumer-leader", killLeader("consumer", consumerLeader)},
		{"results-leader", killLeader("results stream", streamLeader(n.ResultsStream))},
		{"meta-leader", killLeader("meta group", metaLeader)},
		{"rolling-restart", rollingRestart},
	}
	var mu sync.Mutex
	var figures []clusterFigures
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			f := clusterScenario(t, s.name, 300, s.fault)
			mu.Lock()
			figures = append(figures, f)
			mu.Unlock()
		})
	}
	for _, f := range figures {
		t.Logf("| %s | %d/%d | 0 | %d | %.0f | %s | %s | %s |", f.scenario, f.envelopes, f.tasks, f.signings, f.redeliveries,
			f.election.Round(100*time.Millisecond), f.resumed.Round(100*time.Millisecond), f.outage.Round(100*time.Millisecond))
	}
}

// submit --wait connected to one node that goes away: the envelope is
// stored (through another node) while submit is reconnecting, and its
// watch, recreated after the reconnect, starts after that envelope; the
// stored-envelope lookup finds it.
func TestSubmitWaitFindsAnEnvelopeStoredWhileItWasReconnecting(t *testing.T) {
	cl := startNATSCluster(t)
	c := newCluster(t, clusterOptions{natsURL: cl.urls(), natsExtra: "  stream_replicas: 3\n"})
	ctx := context.Background()
	n := config.Defaults().NATS
	n.StreamReplicas = 3
	require.Eventually(t, func() bool {
		_, err := worker.EnsureStreams(ctx, c.js, &n)
		return err == nil
	}, 30*time.Second, 100*time.Millisecond, "R3 streams")

	var stdout, stderr strings.Builder
	cmd := exec.Command(os.Args[0], "submit", "--config-file", c.conf, "--nats-url", fmt.Sprintf("nats://127.0.0.1:%d", cl.nodes[0].client),
		"--task-id", "waited", "--signer", worker.SignerMsgContainer, "--signing-key", "0123456789ABCDEF",
		"--reference", "registry.example/ns/app:1", "--digest", digestOf("waited", 0), "--wait", "--timeout", "90s")
	cmd.Env = append(os.Environ(), asCLI+"=1")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	tasks, err := c.js.Stream(ctx, n.TasksStream)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := tasks.Info(ctx)
		return err == nil && info.State.Msgs == 1
	}, 30*time.Second, 20*time.Millisecond, "submit published its task (and watches for the envelope)")

	cl.nodes[0].stop(syscall.SIGKILL)
	// Its watch is lost too (an R1 consumer on a lost node; here removed,
	// wherever it was): after the reconnect it starts again after
	// whatever was stored meanwhile.
	require.Eventually(t, func() bool {
		results, err := c.js.Stream(ctx, n.ResultsStream)
		if err != nil {
			return false
		}
		names := results.ConsumerNames(ctx)
		for name := range names.Name() {
			_ = results.DeleteConsumer(ctx, name)
		}
		return names.Err() == nil
	}, 60*time.Second, 100*time.Millisecond, "the results stream answers")
	m := &nats.Msg{Subject: worker.ResultSubject(n.ResultsPrefix, config.DefaultTenant, "waited"), Header: nats.Header{},
		Data: []byte(`{"task_id": "waited", "worker_id": "elsewhere", "signer_result": {"status": "ok", "error_message": ""}, "failed": false}`)}
	m.Header.Set(worker.OutcomeHeader, "ok")
	require.Eventually(t, func() bool {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := c.js.PublishMsg(pctx, m, jetstream.WithMsgID(config.DefaultTenant+"/waited")) // as a worker stores it
		return err == nil
	}, 60*time.Second, 100*time.Millisecond, "the envelope stored while submit's node is down")
	cl.start(cl.nodes[0])

	select {
	case err := <-done:
		require.NoError(t, err, stderr.String())
	case <-time.After(90 * time.Second):
		t.Fatalf("submit --wait did not return: %s", stderr.String())
	}
	assert.Contains(t, stdout.String(), `"worker_id": "elsewhere"`)
}
