package cosign

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/config"
	"github.com/release-engineering/pubtools-sign-go/signers"
)

func testConfig() *config.CosignSigner {
	off := false
	return &config.CosignSigner{CosignBin: "/usr/bin/cosign", Timeout: "3m0s", NumThreads: 4, RekorURL: "https://rekor.example",
		UploadTlog: &off, AllowHTTPRegistry: true, Retries: 2, KeyAliases: map[string]string{"prod": "/keys/prod.key"}}
}

const dgst = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestSignArgsAreTheSpecCommandLine(t *testing.T) {
	ts, err := targets([]string{"reg.io/ns/app:1.0", "localhost:5000/ns/app"}, []string{dgst, dgst}, []string{"pub.io/ns/app:1.0"})
	require.NoError(t, err)
	assert.Equal(t, []string{"/usr/bin/cosign", "-t", "3m0s", "sign", "-y", "--key", "k8s://ns/key",
		"--allow-http-registry=true", "--allow-insecure-registry=false", "--rekor-url", "https://rekor.example",
		"--tlog-upload=false", "--sign-container-identity", "pub.io/ns/app:1.0", "-a", "tag=1.0", "reg.io/ns/app@" + dgst},
		signArgs(testConfig(), "k8s://ns/key", ts[0]))
	assert.Equal(t, "localhost:5000/ns/app@"+dgst, ts[1].image, "a registry port is not a tag")
	assert.Equal(t, "", ts[1].tag)

	ts, err = targets(nil, []string{"reg.io/ns/app@" + dgst}, nil)
	require.NoError(t, err)
	assert.Equal(t, "reg.io/ns/app@"+dgst, signArgs(testConfig(), "k", ts[0])[len(signArgs(testConfig(), "k", ts[0]))-1])
}

// recordingRunner is a fake cosign for logic tests: it records calls and
// how many ran at once per repository and overall. With waitFor set, each
// call is held until that many ran at once (or a bound passed), so the
// overlap the signer allows is observed rather than hoped for from timing.
type recordingRunner struct {
	mu          sync.Mutex
	waitFor     int
	reached     chan struct{} // closed when waitFor calls ran at once
	closed      bool
	calls       [][]string
	envs        [][]string
	activeRepo  map[string]int
	maxPerRepo  int
	active      int
	maxActive   int
	failImage   string
	failuresFor map[string]int
}

func (r *recordingRunner) Run(ctx context.Context, argv, env []string) (string, string, error) {
	image := argv[len(argv)-1]
	repo, _, _ := strings.Cut(image, "@")
	r.mu.Lock()
	r.calls = append(r.calls, argv)
	r.envs = append(r.envs, env)
	r.activeRepo[repo]++
	r.active++
	r.maxPerRepo = max(r.maxPerRepo, r.activeRepo[repo])
	r.maxActive = max(r.maxActive, r.active)
	if r.waitFor > 0 && r.active == r.waitFor && !r.closed {
		close(r.reached)
		r.closed = true
	}
	fail := image == r.failImage
	if fail {
		r.failuresFor[image]++
	}
	r.mu.Unlock()
	if r.waitFor > 0 {
		// A signer allowing fewer concurrent calls leaves this to the
		// bound, and the test's maxActive assertion fails.
		select {
		case <-r.reached:
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
		}
	}
	r.mu.Lock()
	r.activeRepo[repo]--
	r.active--
	r.mu.Unlock()
	if fail {
		return "", "Error: signing " + image + ": unauthorized", errors.New("exit status 1")
	}
	return "", "Pushing signature to: " + repo + "\n", nil
}

func newRunner() *recordingRunner {
	return &recordingRunner{activeRepo: map[string]int{}, failuresFor: map[string]int{}, reached: make(chan struct{})}
}

func containerOp(repos, perRepo int) *signers.ContainerSign {
	op := &signers.ContainerSign{SigningKeys: []string{"prod"}}
	for i := 0; i < repos*perRepo; i++ {
		op.References = append(op.References, fmt.Sprintf("reg.io/ns/repo%d:%d", i%repos, i))
		op.Digests = append(op.Digests, fmt.Sprintf("sha256:%064x", i))
	}
	return op
}

func TestOneRepositorySeriallyRepositoriesInParallel(t *testing.T) {
	r := newRunner()
	r.waitFor = 4 // num_threads: the first four calls are held until all four run
	s := New(Options{Config: testConfig(), Runner: r, Log: quietLog()})
	res, err := s.ContainerSign(context.Background(), containerOp(6, 3))
	require.NoError(t, err)
	assert.Equal(t, signers.StatusOK, res.SignerResult.Status)
	assert.Len(t, r.calls, 18)
	assert.Equal(t, 1, r.maxPerRepo, "never two pushes to one repository at once")
	assert.Equal(t, 4, r.maxActive, "num_threads repositories at once")
	assert.Equal(t, "/keys/prod.key", r.calls[0][6], "key alias resolved")
	for i, o := range res.OperationResults {
		assert.Equal(t, fmt.Sprintf("Pushing signature to: reg.io/ns/repo%d\n", i%6), o, "results in reference order")
	}
}

func TestAFailingReferenceIsRetriedThenFailsAlone(t *testing.T) {
	r := newRunner()
	op := containerOp(3, 2)
	r.failImage = "reg.io/ns/repo1@" + op.Digests[1]
	s := New(Options{Config: testConfig(), Runner: r, Backoff: time.Millisecond, Log: quietLog()})
	res, err := s.ContainerSign(context.Background(), op)
	require.NoError(t, err)
	assert.Equal(t, StatusFailed, res.SignerResult.Status)
	assert.True(t, res.Failed)
	assert.Equal(t, 2, r.failuresFor[r.failImage], "retries = 2 tries")
	assert.Contains(t, res.SignerResult.ErrorMessage, r.failImage)
	assert.Contains(t, res.SignerResult.ErrorMessage, "unauthorized")
	assert.Len(t, r.calls, 5+2, "the others still signed")
}

func TestPasswordNeverInArgvOrLogs(t *testing.T) {
	cfg := testConfig()
	cfg.RegistryUser, cfg.RegistryPassword = "robot", "s3cr3t-pa55"
	r := newRunner()
	var logs bytes.Buffer
	s := New(Options{Config: cfg, Runner: r, Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	res, err := s.ContainerSign(context.Background(), containerOp(2, 1))
	require.NoError(t, err)
	var dockerConfig string
	for i, argv := range r.calls {
		assert.NotContains(t, strings.Join(argv, " "), "s3cr3t-pa55")
		for _, e := range r.envs[i] {
			if d, ok := strings.CutPrefix(e, "DOCKER_CONFIG="); ok {
				dockerConfig = d
			}
		}
	}
	require.NotEmpty(t, dockerConfig, "credentials reach cosign through DOCKER_CONFIG")
	_, err = os.Stat(filepath.Join(dockerConfig, "config.json"))
	assert.True(t, os.IsNotExist(err), "removed afterwards")
	assert.NotContains(t, logs.String(), "s3cr3t-pa55")
	out, _ := res.MarshalJSON()
	assert.NotContains(t, string(out), "s3cr3t-pa55")
}

func TestPrivateDockerConfigIsOwnerOnly(t *testing.T) {
	cfg := testConfig()
	cfg.RegistryUser, cfg.RegistryPassword = "robot", "pw"
	d, err := newDockerConfig(cfg, []string{"reg.io"}, false)
	require.NoError(t, err)
	defer d.Remove()
	st, err := os.Stat(d.dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), st.Mode().Perm())
	data, err := os.ReadFile(filepath.Join(d.dir, "config.json"))
	require.NoError(t, err)
	assert.JSONEq(t, `{"auths": {"reg.io": {"auth": "cm9ib3Q6cHc="}}}`, string(data))
}

func TestCancellationKillsCosign(t *testing.T) {
	script := filepath.Join(t.TempDir(), "slow-cosign")
	require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\nsleep 30\n"), 0o755))
	cfg := testConfig()
	cfg.CosignBin = script
	s := New(Options{Config: cfg, Log: quietLog()})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := s.ContainerSign(ctx, containerOp(1, 1))
	require.NoError(t, err)
	assert.Less(t, time.Since(start), 10*time.Second, "the process was killed, not waited for")
	assert.Equal(t, StatusFailed, res.SignerResult.Status)
	assert.Contains(t, res.SignerResult.ErrorMessage, "cancelled")
}

func TestMissingBinaryIsAConfigError(t *testing.T) {
	cfg := testConfig()
	cfg.CosignBin = "/nonexistent/cosign"
	err := New(Options{Config: cfg}).Check("conf.yaml")
	var ce *config.Error
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "cosign_signer.cosign_bin", ce.Key)
}

func TestTheReplicaBoundsCosignProcessesOverAllOperations(t *testing.T) {
	const bound, ops, perOp = 3, 4, 12
	// Every cosign run is held until the test lets one go: without the
	// bound, all 16 that num_threads allows (4 operations × 4) pile up.
	entered, release := make(chan struct{}, ops*perOp), make(chan struct{})
	var mu sync.Mutex
	active, maxActive := 0, 0
	held := runnerFunc(func(ctx context.Context, argv, _ []string) (string, string, error) {
		mu.Lock()
		active++
		maxActive = max(maxActive, active)
		mu.Unlock()
		entered <- struct{}{}
		<-release
		mu.Lock()
		active--
		mu.Unlock()
		return "", "Pushing signature to: x\n", nil
	})
	s := New(Options{Config: testConfig(), Runner: held, MaxProcesses: bound, Log: quietLog()})
	var wg sync.WaitGroup
	results := make([]*signers.Result, ops)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := s.ContainerSign(context.Background(), containerOp(6, 2))
			assert.NoError(t, err)
			results[i] = res
		}()
	}
	for range bound { // the bound is reached
		<-entered
	}
	// The rest of num_threads' runs (4 operations × 4, 3 running) queue.
	require.Eventually(t, func() bool { return s.Processes() == ProcessStats{Running: bound, Waiting: ops*4 - bound, Max: bound} },
		10*time.Second, time.Millisecond, "running and waiting as the metrics report them: %+v", s.Processes())
	// Then let runs go one at a time as the rest come in (a run may wait
	// behind a held one of its repository, so release whenever none comes).
	for n := bound; n < ops*perOp; {
		select {
		case <-entered:
			n++
		case release <- struct{}{}:
		}
	}
	close(release)
	wg.Wait()
	assert.Equal(t, ProcessStats{Max: bound}, s.Processes(), "every slot given back")
	assert.Equal(t, bound, maxActive, "worker.max_cosign_processes cosign processes at once, over every operation")
	for _, res := range results {
		require.NotNil(t, res)
		assert.Equal(t, signers.StatusOK, res.SignerResult.Status)
	}
}

func TestAnOperationCancelledWhileWaitingForAProcessRunsNone(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	holder := runnerFunc(func(ctx context.Context, argv, _ []string) (string, string, error) {
		if strings.Contains(argv[len(argv)-1], "holder") {
			close(started)
			<-release
			return "", "Pushing signature to: holder\n", nil
		}
		t.Errorf("cosign ran for %s while the only process slot was taken", argv[len(argv)-1])
		return "", "", nil
	})
	s := New(Options{Config: testConfig(), Runner: holder, MaxProcesses: 1, Log: quietLog()})
	done := make(chan struct{})
	go func() {
		defer close(done)
		op := &signers.ContainerSign{SigningKeys: []string{"prod"}, References: []string{"reg.io/ns/holder:1"}, Digests: []string{dgst}}
		_, err := s.ContainerSign(context.Background(), op)
		assert.NoError(t, err)
	}()
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	results := make(chan *signers.Result, 1)
	go func() {
		res, err := s.ContainerSign(ctx, containerOp(1, 1))
		assert.NoError(t, err)
		results <- res
	}()
	require.Eventually(t, func() bool { return s.Processes().Waiting == 1 }, 10*time.Second, time.Millisecond, "the second operation waits")
	cancel() // shutdown came while the task waited for a slot
	res := <-results
	assert.Equal(t, StatusFailed, res.SignerResult.Status)
	assert.Contains(t, res.SignerResult.ErrorMessage, "worker.max_cosign_processes (1)")
	assert.Equal(t, ProcessStats{Running: 1, Max: 1}, s.Processes(), "the cancelled wait left the queue")
	close(release)
	<-done
	assert.Equal(t, ProcessStats{Max: 1}, s.Processes())
}

// A large operation holds every slot and queues more; a one-image
// operation that comes later gets the next slot that frees up.
func TestAFreedProcessGoesToTheOperationRunningTheFewest(t *testing.T) {
	entered, release := make(chan string, 64), make(chan struct{})
	held := runnerFunc(func(ctx context.Context, argv, _ []string) (string, string, error) {
		entered <- argv[len(argv)-1]
		<-release
		return "", "Pushing signature to: x\n", nil
	})
	s := New(Options{Config: testConfig(), Runner: held, MaxProcesses: 2, Log: quietLog()})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, err := s.ContainerSign(context.Background(), containerOp(6, 2)) // num_threads 4: 2 run, 2 wait
		assert.NoError(t, err)
	}()
	<-entered
	<-entered
	require.Eventually(t, func() bool { return s.Processes() == ProcessStats{Running: 2, Waiting: 2, Max: 2} }, 10*time.Second, time.Millisecond)
	small := &signers.ContainerSign{SigningKeys: []string{"prod"}, References: []string{"reg.io/small/app:1"}, Digests: []string{dgst}}
	go func() {
		defer wg.Done()
		_, err := s.ContainerSign(context.Background(), small)
		assert.NoError(t, err)
	}()
	require.Eventually(t, func() bool { return s.Processes().Waiting == 3 }, 10*time.Second, time.Millisecond, "queued behind the large one")
	release <- struct{}{} // one of the large operation's runs ends
	assert.Equal(t, "reg.io/small/app@"+dgst, <-entered, "the freed slot goes to the operation running none")
	close(release)
	wg.Wait()
}

// A panic in a repository's goroutine reaches the operation's caller (the
// daemon's recovery makes it the task's error envelope) instead of ending
// the process, and its process slot is free again.
func TestAPanicInARepositoryReachesTheCaller(t *testing.T) {
	boom := runnerFunc(func(context.Context, []string, []string) (string, string, error) { panic("cosign runner broke") })
	s := New(Options{Config: testConfig(), Runner: boom, MaxProcesses: 2, Log: quietLog()})
	assert.PanicsWithValue(t, "cosign runner broke", func() { _, _ = s.ContainerSign(context.Background(), containerOp(3, 2)) })
	assert.Equal(t, ProcessStats{Max: 2}, s.Processes(), "every slot given back")
}

// runnerFunc is a Runner made of a function.
type runnerFunc func(ctx context.Context, argv, env []string) (string, string, error)

func (f runnerFunc) Run(ctx context.Context, argv, env []string) (string, string, error) {
	return f(ctx, argv, env)
}
