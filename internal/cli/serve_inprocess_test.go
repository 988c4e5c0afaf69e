package cli

import (
	"context"
	"fmt"
	"net/http"
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
	stop   func()
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
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Error("serve did not stop")
			}
		})
	}
	t.Cleanup(s.stop)
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

// Stop ends serve and waits for it (at most 30 s).
func (s *inProcessServe) Stop() { s.stop() }
