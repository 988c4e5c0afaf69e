package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/broker"
	"github.com/release-engineering/pubtools-sign-go/broker/amqp"
)

// pythonScenarios is testdata/python/scenarios.json: what the Python
// tool's own CLI code sent and printed for each scenario, recorded once
// with its AMQP clients stubbed (request ids and times normalised).
type pythonScenarios struct {
	Creator        string `json:"creator"`
	Environment    string `json:"environment"`
	BlobFileBase64 string `json:"blob_file_base64"`
	Scenarios      []struct {
		Name     string   `json:"name"`
		Args     []string `json:"args"`
		Listen   []string `json:"listen"`
		Requests []struct {
			Address      string            `json:"address"`
			Headers      map[string]any    `json:"headers"`
			Body         string            `json:"body"`
			Reply        string            `json:"reply"`
			ReplyHeaders map[string]string `json:"reply_headers"`
		} `json:"requests"`
		Stdout   string `json:"stdout"`
		ExitCode int    `json:"exit_code"`
	} `json:"scenarios"`
}

var (
	createdField = regexp.MustCompile(`"created": "[^"]*"`)
	requestIDArg = regexp.MustCompile(`"request_id": "[^"]*"`)
)

// replayServer answers each request with the reply the Python run got
// for the same request, and records which fixture request each was.
type replayServer struct {
	t      *testing.T
	client *amqp.Client
	env    string // the harness's environment, "golden-env" in the fixture
	golden string

	mu      sync.Mutex
	want    []replayRequest
	ids     map[string]string // Go request id -> REQ-n
	unknown []string
	wg      sync.WaitGroup
}

type replayRequest struct {
	body, reply, listen string
	headers             map[string]any
	replyHeaders        map[string]string
	matched             bool
	id                  string // REQ-n
}

func normalizeRequest(body string) string {
	body = createdField.ReplaceAllString(body, `"created": "CREATED"`)
	return requestIDArg.ReplaceAllString(body, `"request_id": "ID"`)
}

// Route implements amqp.Sink: one request from the Go CLI.
func (s *replayServer) Route(_ string, body []byte, props map[string]any) {
	var req struct {
		RequestID string `json:"request_id"`
	}
	_ = json.Unmarshal(body, &req)
	got := normalizeRequest(string(body))
	headers := map[string]any{}
	for k, v := range props {
		if str, ok := v.(string); ok {
			v = strings.ReplaceAll(str, s.env, s.golden)
		}
		headers[k] = v
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.want {
		w := &s.want[i]
		if w.matched || normalizeRequest(w.body) != got || !assert.ObjectsAreEqual(w.headers, headers) {
			continue
		}
		w.matched = true
		s.ids[req.RequestID] = w.id
		reply := strings.ReplaceAll(w.reply, `"`+w.id+`"`, `"`+req.RequestID+`"`)
		reply = strings.ReplaceAll(reply, s.golden, s.env)
		rh := map[string]any{}
		for k, v := range w.replyHeaders {
			rh[k] = v
		}
		address := strings.ReplaceAll(w.listen, s.golden, s.env)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := s.client.Publish(ctx, broker.RequestList{{ID: req.RequestID, Address: address, Body: []byte(reply), Headers: rh}})
			assert.NoError(s.t, err)
		}()
		return
	}
	s.unknown = append(s.unknown, fmt.Sprintf("%s %v", body, headers))
}

// The Go CLI sends the same requests (body, headers, address) and prints
// the same stdout, with the same exit code, as the Python tool's CLI on
// every recorded scenario: one reference, several keys and references,
// key names, --raw, error replies, the batch signer with two keys,
// clear-sign and blob-sign, --requester absent and present.
func TestSameRequestsAndStdoutAsThePythonTool(t *testing.T) {
	data, err := os.ReadFile("testdata/python/scenarios.json")
	require.NoError(t, err)
	var golden pythonScenarios
	require.NoError(t, json.Unmarshal(data, &golden))
	require.NotEmpty(t, golden.Scenarios)
	blob := filepath.Join(t.TempDir(), "blob.bin")
	blobBytes, err := base64.StdEncoding.DecodeString(golden.BlobFileBase64)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(blob, blobBytes, 0o600))

	for _, sc := range golden.Scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			// A request the fixture lacks is never answered: fail fast.
			h := newHarness(t, "main", confOptions{timeout: 2, retries: 1, sendRetries: 1})
			srv := &replayServer{t: t, env: h.env, golden: golden.Environment, ids: map[string]string{}}
			for i, r := range sc.Requests {
				require.Len(t, sc.Listen, 1)
				srv.want = append(srv.want, replayRequest{body: r.Body, reply: r.Reply, listen: sc.Listen[0], headers: r.Headers,
					replyHeaders: r.ReplyHeaders, id: fmt.Sprintf("REQ-%d", i)})
				assert.Equal(t, "/topic/robosignatory."+golden.Environment+".sign", r.Address, "the harness's topic_send_to")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			client, err := amqp.Dial(ctx, amqp.Options{URLs: []string{h.broker.AMQPURL}, Sink: srv, ContainerID: "python-replay-" + h.env,
				Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
			require.NoError(t, err)
			srv.client = client
			defer client.Close()
			_, err = client.Listen(ctx, "/topic/robosignatory."+h.env+".sign", true)
			require.NoError(t, err)

			args := make([]string, len(sc.Args))
			for i, a := range sc.Args {
				args[i] = strings.ReplaceAll(a, "BLOB", blob)
			}
			stdout, stderr, code := h.run(args...)
			srv.wg.Wait()

			srv.mu.Lock()
			defer srv.mu.Unlock()
			assert.Empty(t, srv.unknown, "requests the Python tool did not send")
			for _, w := range srv.want {
				assert.True(t, w.matched, "the Python tool sent %s", w.body)
			}
			for id, n := range srv.ids {
				stdout = strings.ReplaceAll(stdout, id, n)
			}
			stdout = strings.ReplaceAll(stdout, h.env, golden.Environment)
			assert.Equal(t, sc.Stdout, stdout, "stderr: %s", stderr)
			assert.Equal(t, sc.ExitCode, code, "stderr: %s", stderr)
		})
	}
}
