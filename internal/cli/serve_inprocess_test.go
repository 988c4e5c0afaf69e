package cli

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/internal/testenv"
)

// inProcessServe is `serve --config-file conf` run in the test's process.
type inProcessServe struct {
	// Stderr is serve's log, readable while serve runs.
	Stderr *testenv.SyncBuffer
	stop   func() int
}

// startServeInProcess runs serve until Stop or the end of the test and
// waits until /readyz on httpPort (the configuration's http.listen)
// answers 200.
func startServeInProcess(t *testing.T, conf string, httpPort int) *inProcessServe {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	s := &inProcessServe{Stderr: &testenv.SyncBuffer{}}
	go func() {
		done <- Run(ctx, []string{"pubtools-sign", "serve", "--config-file", conf}, IO{Stdout: &strings.Builder{}, Stderr: s.Stderr})
	}()
	s.stop = sync.OnceValue(func() int {
		cancel()
		select {
		case code := <-done:
			return code
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
			return -1
		}
	})
	t.Cleanup(func() { s.stop() })
	require.Eventually(t, func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", httpPort))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 30*time.Second, 50*time.Millisecond, "serve not ready: %s", s.Stderr)
	return s
}

// Stop ends serve as SIGTERM does, waits for it (at most 30 s) and returns
// its exit code (-1: it did not stop).
func (s *inProcessServe) Stop() int { return s.stop() }

// startServe runs `serve` in-process with its embedded NATS on the
// harness's configuration plus extra YAML, and returns the NATS URL once
// /readyz says ready, with the running serve.
func startServe(t *testing.T, h *harness, extra string) (string, *inProcessServe) {
	t.Helper()
	natsPort, httpPort := testenv.Port(t), testenv.Port(t)
	conf, err := os.ReadFile(h.conf)
	require.NoError(t, err)
	daemon := string(conf) + fmt.Sprintf("worker:\n  id: cli-test\nnats:\n  embedded_listen: 127.0.0.1:%d\n  data_dir: %s\nhttp:\n  listen: 127.0.0.1:%d\nlog:\n  format: json\n",
		natsPort, t.TempDir(), httpPort) + extra
	require.NoError(t, os.WriteFile(h.conf, []byte(daemon), 0o600))
	s := startServeInProcess(t, h.conf, httpPort)
	return fmt.Sprintf("nats://127.0.0.1:%d", natsPort), s
}
