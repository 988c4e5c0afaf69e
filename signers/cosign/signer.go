package cosign

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os/exec"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/release-engineering/pubtools-sign-go/config"
	"github.com/release-engineering/pubtools-sign-go/internal/retry"
	"github.com/release-engineering/pubtools-sign-go/signers"
)

// StatusFailed is the cosign signer's status when a reference failed.
const StatusFailed = "failed"

// Runner runs one command and returns its output. A cancelled context
// kills the process.
type Runner interface {
	Run(ctx context.Context, argv, env []string) (stdout, stderr string, err error)
}

// ExecRunner runs real processes.
type ExecRunner struct{}

// Run implements Runner.
func (ExecRunner) Run(ctx context.Context, argv, env []string) (string, string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	// Its own process group, so a kill reaches anything cosign started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// Options build a Signer.
type Options struct {
	Config *config.CosignSigner
	Runner Runner
	Log    *slog.Logger
	// Backoff is the first pause between tries of a failing reference,
	// doubled each time (default 1s) up to MaxBackoff (default 30s).
	Backoff, MaxBackoff time.Duration
	// Daemon signs for untrusted tasks: keys only through key_aliases (no
	// key file, http:// or env:// reference from a task), registry
	// credentials only for cosign_signer.registries, an environment built
	// rather than inherited. The CLI (false) keeps the Python tool's rules
	// for its own command line.
	Daemon bool
	// MaxProcesses bounds the cosign processes this Signer runs at once
	// over all its operations (worker.max_cosign_processes): each
	// operation runs up to num_threads, and a replica runs
	// worker.concurrency operations. 0: no bound beyond num_threads (the
	// CLI runs one operation).
	MaxProcesses int
}

// Signer signs container images with cosign.
type Signer struct {
	cfg                 *config.CosignSigner
	run                 Runner
	log                 *slog.Logger
	backoff, maxBackoff time.Duration
	daemon              bool
	// processes bounds the cosign processes of every operation together
	// (nil: no bound).
	processes *processBound
}

// New returns a Signer.
func New(o Options) *Signer {
	if o.Runner == nil {
		o.Runner = ExecRunner{}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Backoff == 0 {
		o.Backoff = time.Second
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 30 * time.Second
	}
	s := &Signer{cfg: o.Config, run: o.Runner, log: o.Log, backoff: o.Backoff, maxBackoff: max(o.MaxBackoff, o.Backoff), daemon: o.Daemon}
	if o.MaxProcesses > 0 {
		s.processes = newProcessBound(o.MaxProcesses)
	}
	return s
}

// Check reports a missing cosign binary as a configuration mistake.
func (s *Signer) Check(file string) error {
	if _, err := exec.LookPath(s.cfg.CosignBin); err != nil {
		return &config.Error{File: file, Key: "cosign_signer.cosign_bin", Problem: fmt.Sprintf("cannot run %s: %v", s.cfg.CosignBin, errors.Unwrap(err))}
	}
	return nil
}

// job is one cosign run: a target signed with one key.
type job struct {
	slot int // index into the operation results
	key  string
	t    target
}

// ContainerSign signs every reference with every key. References of one
// repository are pushed one after another (concurrent pushes to one
// repository race); repositories run in parallel up to num_threads. A
// failing reference is tried `retries` times, then fails alone.
// OperationResults hold cosign's stderr, key-major in reference order.
func (s *Signer) ContainerSign(ctx context.Context, op *signers.ContainerSign) (*signers.Result, error) {
	if len(op.Digests) == 0 {
		return nil, &signers.InputError{Field: "digests", Problem: "at least one digest is required"}
	}
	if len(op.SigningKeys) == 0 {
		return nil, &signers.InputError{Field: "signing_keys", Problem: "at least one signing key is required"}
	}
	ts, err := targets(op.References, op.Digests, op.IdentityReferences)
	if err != nil {
		return nil, &signers.InputError{Field: "digests", Problem: err.Error()}
	}
	if s.daemon {
		for i, key := range op.SigningKeys {
			if _, ok := s.cfg.KeyAliases[key]; !ok {
				return nil, &signers.InputError{Field: fmt.Sprintf("signing_keys[%d]", i),
					Problem: "not an alias in cosign_signer.key_aliases: the daemon signs with cosign only through key aliases"}
			}
		}
	}
	repos := make([]string, len(ts))
	for i, t := range ts {
		repos[i] = t.repo
	}
	creds, err := newDockerConfig(s.cfg, s.credentialRegistries(repos), !s.daemon)
	if err != nil {
		return nil, err
	}
	defer creds.Remove()
	env := s.environment(creds)

	// Groups by repository, in order of first appearance.
	var order []string
	groups := map[string][]job{}
	for k, key := range op.SigningKeys {
		real := signers.ResolveKey(s.cfg.KeyAliases, key)
		for _, t := range ts {
			if _, ok := groups[t.repo]; !ok {
				order = append(order, t.repo)
			}
			groups[t.repo] = append(groups[t.repo], job{slot: k*len(ts) + t.index, key: real, t: t})
		}
	}
	outputs := make([]string, len(op.SigningKeys)*len(ts))
	failures := make([]string, len(outputs))
	sem := make(chan struct{}, s.cfg.NumThreads)
	share := &opShare{}
	var wg sync.WaitGroup
	var panicked repoPanic
	for _, repo := range order {
		wg.Add(1)
		sem <- struct{}{}
		go func(jobs []job) {
			defer wg.Done()
			defer func() { <-sem }()
			defer panicked.catch(s.log)
			for _, j := range jobs {
				outputs[j.slot], failures[j.slot] = s.signOne(ctx, j, env, share)
			}
		}(groups[repo])
	}
	wg.Wait()
	panicked.rethrow()

	// The Python cosign command has no --requester: its operation says "".
	res := &signers.Result{Operation: op.Dict().Set("requester", op.Requester), SigningKeys: op.SigningKeys, SignerResult: signers.SignerResult{Status: signers.StatusOK}}
	res.OperationResults = make([]any, len(outputs))
	var msgs []string
	for i, o := range outputs {
		res.OperationResults[i] = o
		if failures[i] != "" {
			msgs = append(msgs, failures[i])
		}
	}
	if len(msgs) > 0 {
		res.Failed = true
		res.SignerResult = signers.SignerResult{Status: StatusFailed, ErrorMessage: strings.Join(msgs, "\n")}
	}
	return res, nil
}

// repoPanic carries a panic out of a repository's goroutine into the
// operation's: there the daemon's panic recovery turns it into the task's
// error envelope; left in the goroutine it would end the process.
type repoPanic struct {
	once  sync.Once
	value any
}

// catch records the first panic of a repository goroutine (deferred).
func (p *repoPanic) catch(log *slog.Logger) {
	if r := recover(); r != nil {
		log.Error("panic while signing a repository", "panic", r, "stack", string(debug.Stack()))
		p.once.Do(func() { p.value = r })
	}
}

// rethrow panics with the recorded value, once every goroutine is done.
func (p *repoPanic) rethrow() {
	if p.value != nil {
		panic(p.value)
	}
}

// signOne runs cosign for one job, up to `retries` tries with jittered
// pauses (Backoff doubling, capped at MaxBackoff); it returns cosign's
// stderr and, on failure, a message naming the image.
func (s *Signer) signOne(ctx context.Context, j job, env []string, share *opShare) (output, failure string) {
	argv := signArgs(s.cfg, j.key, j.t)
	try := 0
	policy := retry.Policy{First: s.backoff, Max: s.maxBackoff, Tries: max(s.cfg.Retries, 1)}
	stderr, err := retry.Do(ctx, policy, func() (string, error) {
		try++
		release, err := s.processSlot(ctx, share)
		if err != nil {
			return "", err
		}
		defer release()
		s.log.Debug("running cosign", "image", j.t.image, "try", try, "argv", strings.Join(argv, " "))
		_, stderr, err := s.run.Run(ctx, argv, env)
		return stderr, err
	}, func(err error, next time.Duration) {
		s.log.Warn("cosign failed, retrying", "image", j.t.image, "try", try, "error", err, "in", next)
	})
	log := s.log.With("image", j.t.image, "try", try)
	if err == nil {
		log.Info("signed with cosign")
		return stderr, ""
	}
	msg := strings.TrimSpace(stderr)
	if msg == "" {
		msg = err.Error() // names a cancellation itself (retry.Do wraps it)
	} else if ctx.Err() != nil {
		msg = fmt.Sprintf("%s (cancelled: %v)", msg, ctx.Err())
	}
	log.Error("cosign failed", "error", err, "stderr", msg)
	return stderr, fmt.Sprintf("%s: %s", j.t.image, msg)
}

// processSlot waits for a cosign process slot (Options.MaxProcesses) for
// the operation of share and returns its release. A try held back by the
// bound does not count against cosign's timeout, and the pause between
// tries holds no slot.
func (s *Signer) processSlot(ctx context.Context, share *opShare) (release func(), err error) {
	if s.processes == nil {
		return func() {}, nil
	}
	if err := s.processes.acquire(ctx, share); err != nil {
		return nil, fmt.Errorf("waiting for one of worker.max_cosign_processes (%d): %w", s.processes.max, err)
	}
	return func() { s.processes.release(share) }, nil
}

// Processes reports the cosign processes running and waiting (metrics).
func (s *Signer) Processes() ProcessStats {
	if s.processes == nil {
		return ProcessStats{}
	}
	return s.processes.stats()
}

// credentialRegistries are the registries of repos that get the registry
// credentials: the daemon's only when listed in cosign_signer.registries
// (a task naming a registry of its choosing must not receive the
// password), the CLI's for every registry on its command line.
func (s *Signer) credentialRegistries(repos []string) []string {
	set := map[string]bool{}
	for _, repo := range repos {
		r := registryOf(repo)
		if !s.daemon || slices.Contains(s.cfg.Registries, r) {
			set[r] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}
