package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/release-engineering/pubtools-sign-go/emulator"
)

func TestThousandReferencesInOneOperation(t *testing.T) {
	h := newHarness(t, "main", confOptions{})
	srv := h.serve(emulator.Faults{})
	const n = 1000
	stdout, stderr, code := h.run(containerArgs(n, "t-1000")...)
	require.Equal(t, 0, code, stderr)
	res := parseResult(t, stdout)
	assert.Equal(t, "ok", res.SignerResult.Status)
	require.Len(t, res.OperationResults, n)
	refs := res.Operation["references"].([]any)
	// Pipelines zip operation_results with operation.references by position.
	for i, raw := range res.OperationResults {
		m := replyMsg(t, raw)
		assert.Equal(t, digestN(i), m["manifest_digest"], "result %d is in input order", i)
		assert.Equal(t, fmt.Sprintf("ns/app%d", i%7), m["repo"])
		assert.Equal(t, "89ABCDEF", m["sig_key_id"])
		if i%97 == 0 { // the signature is real: verify a sample
			claim := verifyClaim(t, srv, m["signed_claim"].(string))
			assert.Equal(t, refs[i], claim["critical"].(map[string]any)["identity"].(map[string]any)["docker-reference"])
		}
	}
	assert.Equal(t, uint64(n), srv.Stats().Requests)
}

func TestRawOutputPrintsOneSignedValuePerLine(t *testing.T) {
	h := newHarness(t, "main", confOptions{})
	srv := h.serve(emulator.Faults{})
	stdout, stderr, code := h.run(append(containerArgs(3, "t-raw"), "--raw")...)
	require.Equal(t, 0, code, stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 3)
	for _, l := range lines {
		verifyClaim(t, srv, l)
	}
}

func TestClearAndBlobSigning(t *testing.T) {
	h := newHarness(t, "main", confOptions{})
	h.serve(emulator.Faults{})
	input := filepath.Join(t.TempDir(), "in.txt")
	require.NoError(t, os.WriteFile(input, []byte("from a file\n"), 0o600))

	stdout, stderr, code := h.run("msg-clear-sign", "--signing-key", "ABCD1234", "--task-id", "t-c", "--repo", "r", "hello", "@"+input)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, `"signing_keys": ["ABCD1234"]`, "msg-clear-sign prints signing_keys, like the Python tool")
	res := parseResult(t, stdout)
	require.Len(t, res.OperationResults, 2)
	assert.Equal(t, []any{"hello", "from a file\n"}, res.Operation["inputs"])
	assert.NotEmpty(t, replyMsg(t, res.OperationResults[1])["signed_data"])

	stdout, stderr, code = h.run("msg-blob-sign", "--signing-key", "ABCD1234", "--task-id", "t-b", "--blob-file", input, "--raw")
	require.Equal(t, 0, code, stderr)
	assert.NotEmpty(t, strings.TrimSpace(stdout))
}

func TestBatchSigner(t *testing.T) {
	h := newHarness(t, "main", confOptions{})
	srv := h.serve(emulator.Faults{})
	stdout, stderr, code := h.run(append(containerArgs(8, "t-batch"), "--signer-type", "batch")...)
	require.Equal(t, 0, code, stderr)
	res := parseResult(t, stdout)
	// 8 references over 7 repos, chunk_size 3: app0 has 2 refs, the rest 1.
	assert.Len(t, res.OperationResults, 7)
	assert.Equal(t, uint64(7), srv.Stats().Requests)
	claims := replyMsg(t, res.OperationResults[0])["claims"].([]any)
	require.Len(t, claims, 2)
	for i, c := range claims { // in request order: references 0 and 7
		claim := c.(map[string]any)
		assert.Equal(t, digestN(i*7), claim["manifest_digest"])
		signed := claim["signed_claims"].(map[string]any)
		require.Len(t, signed, 1, "one signature per key name asked for")
		verifyClaim(t, srv, signed[""].(string))
	}
}

// Each fault knob of the emulator, with what must happen: unknown,
// duplicate and malformed replies are ignored, dropped ones re-sent with the
// same request_id, and a request still unanswered after send_retries cycles
// is a MessagingTimeout.
func TestFaults(t *testing.T) {
	cases := []struct {
		name     string
		faults   emulator.Faults
		conf     confOptions
		wantCode int
		check    func(t *testing.T, res cliResult, srv *emulator.Server)
	}{
		{name: "delay below the timeout", faults: emulator.Faults{Delay: 300 * time.Millisecond}, wantCode: 0},
		{name: "first attempt dropped, re-sent with the same id", faults: emulator.Faults{DropFirst: 5},
			conf: confOptions{timeout: 1, retries: 1, sendRetries: 3}, wantCode: 0,
			check: func(t *testing.T, res cliResult, srv *emulator.Server) {
				assert.Equal(t, uint64(10), srv.Stats().Requests, "5 sent, 5 re-sent")
			}},
		{name: "silent server times out", faults: emulator.Faults{DropRate: 1},
			conf: confOptions{timeout: 1, retries: 1, sendRetries: 2}, wantCode: 1,
			check: func(t *testing.T, res cliResult, srv *emulator.Server) {
				assert.Equal(t, "error", res.SignerResult.Status)
				assert.Contains(t, res.SignerResult.ErrorMessage, "MessagingTimeout")
				assert.Equal(t, `""`, string(res.OperationResults[0]))
			}},
		{name: "slow server: every reply later than the timeout", faults: emulator.Faults{Delay: 2500 * time.Millisecond},
			conf: confOptions{timeout: 1, retries: 1, sendRetries: 1}, wantCode: 1,
			check: func(t *testing.T, res cliResult, srv *emulator.Server) {
				assert.Contains(t, res.SignerResult.ErrorMessage, "MessagingTimeout : Out of time when receiving messages (0/5)")
			}},
		{name: "every reply twice", faults: emulator.Faults{Duplicate: true}, wantCode: 0},
		{name: "stray replies flood", faults: emulator.Faults{Stray: 20}, wantCode: 0},
		{name: "error replies", faults: emulator.Faults{ErrorRate: 1}, wantCode: 0,
			check: func(t *testing.T, res cliResult, srv *emulator.Server) {
				assert.Equal(t, "ok", res.SignerResult.Status, "the signer worked; replies carry the errors")
				assert.NotEmpty(t, replyMsg(t, res.OperationResults[0])["errors"])
			}},
		{name: "malformed replies are ignored until timeout", faults: emulator.Faults{MalformedRate: 1},
			conf: confOptions{timeout: 1, retries: 1, sendRetries: 1}, wantCode: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "main", tc.conf)
			srv := h.serve(tc.faults)
			// Whatever the server does, the signer leaves no goroutine
			// and no memory behind once it has answered (the emulator is
			// stopped first: its reply senders are its own).
			leaks := goleak.IgnoreCurrent()
			heapBefore := heapAfterGC()
			defer func() {
				srv.Close()
				goleak.VerifyNone(t, leaks)
				assert.Less(t, float64(heapAfterGC())-float64(heapBefore), float64(2<<20), "heap back near its baseline")
			}()
			stdout, stderr, code := h.run(containerArgs(5, "t-fault")...)
			require.Equal(t, tc.wantCode, code, "stderr: %s\nstdout: %s", stderr, stdout)
			res := parseResult(t, stdout)
			require.Len(t, res.OperationResults, 5)
			if tc.wantCode == 0 {
				for i, raw := range res.OperationResults {
					assert.Equal(t, digestN(i), replyMsg(t, raw)["manifest_digest"])
				}
			}
			if tc.check != nil {
				tc.check(t, res, srv)
			}
		})
	}
}

func TestErrorRepliesFailRawOutput(t *testing.T) {
	h := newHarness(t, "main", confOptions{})
	h.serve(emulator.Faults{ErrorRate: 1})
	stdout, stderr, code := h.run(append(containerArgs(2, "t-e"), "--raw")...)
	assert.Equal(t, 1, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "emulated signing failure")
}

func heapAfterGC() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// The broker goes away mid-operation (a private instance, so other tests
// are not disturbed); the signer reconnects and still returns every reply.
// The emulator drops the first window of requests, so when the broker
// stops that many are provably out and unanswered.
func TestBrokerRestartMidOperation(t *testing.T) {
	const n, window = 200, 16 // window: max_in_flight, what goes out before any reply
	h := newHarness(t, "restart", confOptions{timeout: 5, retries: 3, sendRetries: 3, maxInFlight: window})
	srv := h.serve(emulator.Faults{DropFirst: window})
	var wg sync.WaitGroup
	var stdout, stderr string
	var code int
	wg.Add(1)
	go func() {
		defer wg.Done()
		stdout, stderr, code = h.run(containerArgs(n, "t-restart")...)
	}()
	require.Eventually(t, func() bool { return srv.Stats().Requests >= window }, time.Minute, 10*time.Millisecond, "a window of requests is out")
	h.broker.Stop(t)
	h.broker.Start(t)
	wg.Wait()
	require.Equal(t, 0, code, "stderr: %s", stderr)
	res := parseResult(t, stdout)
	require.Len(t, res.OperationResults, n)
	for i, raw := range res.OperationResults {
		assert.Equal(t, digestN(i), replyMsg(t, raw)["manifest_digest"])
	}
	assert.GreaterOrEqual(t, srv.Stats().Requests, uint64(n+window), "the unanswered window was sent again after the restart")
}

func TestMutualTLSFromTheConfig(t *testing.T) {
	t.Run("right certificates", func(t *testing.T) {
		h := newHarness(t, "main", confOptions{tls: true})
		h.serve(emulator.Faults{})
		stdout, stderr, code := h.run(containerArgs(2, "t-tls")...)
		require.Equal(t, 0, code, stderr)
		assert.Equal(t, "ok", parseResult(t, stdout).SignerResult.Status)
	})
	t.Run("wrong CA", func(t *testing.T) {
		b := newHarness(t, "main", confOptions{}).broker
		h := newHarness(t, "main", confOptions{tls: true, caCert: b.OtherCACert})
		stdout, _, code := h.run(containerArgs(1, "t-tls")...)
		assert.Equal(t, 1, code)
		res := parseResult(t, stdout)
		assert.Contains(t, res.SignerResult.ErrorMessage, "not signed by messaging_ca_cert")
	})
}

func TestFailoverToTheSecondBroker(t *testing.T) {
	b := newHarness(t, "main", confOptions{}).broker
	h := newHarness(t, "main", confOptions{brokers: []string{"amqp://127.0.0.1:1", b.AMQPURL}})
	h.serve(emulator.Faults{})
	_, stderr, code := h.run(containerArgs(3, "t-fo")...)
	require.Equal(t, 0, code, stderr)
}
