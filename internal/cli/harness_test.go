package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/config"
	"github.com/release-engineering/pubtools-sign-go/emulator"
	"github.com/release-engineering/pubtools-sign-go/internal/testenv"
)

// harness is a real RabbitMQ, a config file whose topics are private to
// the test, and (optionally) the emulator serving them.
type harness struct {
	t      *testing.T
	broker *testenv.Broker
	conf   string
	env    string
	server *emulator.Server
}

type confOptions struct {
	brokers                       []string
	timeout, retries, sendRetries int
	tls                           bool
	caCert                        string
	certKey                       string // default: the broker's CN=pubtools-sign-test client
	maxInFlight                   int    // default: the config's
}

func newHarness(t *testing.T, instance string, co confOptions) *harness {
	t.Helper()
	b := testenv.RabbitMQ(t, instance)
	h := &harness{t: t, broker: b, env: "e" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")}
	if co.brokers == nil {
		co.brokers = []string{b.AMQPURL}
		if co.tls {
			co.brokers = []string{b.AMQPSURL}
		}
	}
	if co.timeout == 0 {
		co.timeout, co.retries, co.sendRetries = 5, 2, 2
	}
	if co.caCert == "" {
		co.caCert = b.CACert
	}
	if co.certKey == "" {
		co.certKey = b.ClientCertKey
	}
	var brokers strings.Builder
	for _, u := range co.brokers {
		fmt.Fprintf(&brokers, "    - %s\n", u)
	}
	section := fmt.Sprintf(`  messaging_brokers:
%s  messaging_cert_key: %s
  messaging_ca_cert: %s
  topic_send_to: /topic/robosignatory.{env}.sign
  topic_listen_to: /topic/robosignatory.{env}.client.{creator}.{task_id}
  environment: %s
  service: pubtools-sign
  timeout: %d
  retries: %d
  send_retries: %d
  message_id_key: request_id
`, brokers.String(), co.certKey, co.caCert, h.env, co.timeout, co.retries, co.sendRetries)
	if co.maxInFlight > 0 {
		section += fmt.Sprintf("  max_in_flight: %d\n", co.maxInFlight)
	}
	body := "msg_signer:\n" + section + "  log_level: debug\nmsg_batch_signer:\n" + section + "  chunk_size: 3\n"
	h.conf = filepath.Join(t.TempDir(), "conf.yaml")
	require.NoError(t, os.WriteFile(h.conf, []byte(body), 0o600))
	return h
}

// serve starts the emulator on the harness's topics.
func (h *harness) serve(f emulator.Faults) *emulator.Server {
	h.t.Helper()
	return h.startEmulator(emulator.Options{Faults: f})
}

// serveCapacity starts the emulator on the harness's topics with a bounded
// serving rate.
func (h *harness) serveCapacity(c emulator.Capacity) *emulator.Server {
	h.t.Helper()
	return h.startEmulator(emulator.Options{Capacity: c})
}

// startEmulator starts the emulator with opts on the harness's broker and
// topics, quiet, until the test ends.
func (h *harness) startEmulator(opts emulator.Options) *emulator.Server {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	opts.URLs, opts.RequestAddress = []string{h.broker.AMQPURL}, "/topic/robosignatory."+h.env+".sign"
	opts.ReplyAddress = config.Template("/topic/robosignatory." + h.env + ".client.{requested_by}.{task_id}")
	opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := emulator.Start(ctx, opts)
	require.NoError(h.t, err)
	h.t.Cleanup(srv.Close)
	h.server = srv
	return srv
}

// run runs the CLI in-process and returns stdout, stderr and the exit code.
func (h *harness) run(args ...string) (string, string, int) {
	h.t.Helper()
	return runCLI(h.t, append(args, "--config-file", h.conf)...)
}

func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	code := Run(ctx, append([]string{"pubtools-sign"}, args...), IO{Stdout: &out, Stderr: &errOut})
	return out.String(), errOut.String(), code
}

// cliResult is the printed JSON document.
type cliResult struct {
	SignerResult struct {
		Status       string `json:"status"`
		ErrorMessage string `json:"error_message"`
	} `json:"signer_result"`
	OperationResults []json.RawMessage `json:"operation_results"`
	Operation        map[string]any    `json:"operation"`
	SigningKeys      []string          `json:"signing_keys"`
}

func parseResult(t *testing.T, stdout string) cliResult {
	t.Helper()
	var r cliResult
	require.NoError(t, json.Unmarshal([]byte(stdout), &r), stdout)
	return r
}

// replyMsg decodes the msg of one [reply_body, headers] operation result.
func replyMsg(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var pair []map[string]any
	require.NoError(t, json.Unmarshal(raw, &pair), string(raw))
	require.Len(t, pair, 2)
	return pair[0]["msg"].(map[string]any)
}

func digestN(i int) string { return fmt.Sprintf("sha256:%064x", i) }

// containerArgs is msg-container-sign for n references.
func containerArgs(n int, taskID string) []string {
	args := []string{"msg-container-sign", "--signing-key", "0123456789ABCDEF", "--task-id", taskID}
	for i := 0; i < n; i++ {
		args = append(args, "--reference", fmt.Sprintf("registry.example/ns/app%d:%d", i%7, i), "--digest", digestN(i))
	}
	return args
}

// verifyClaim checks a signed_claim with the emulator's public key and
// returns the claim it signs.
func verifyClaim(t *testing.T, srv *emulator.Server, signedClaim string) map[string]any {
	t.Helper()
	pub, err := srv.Key().ArmoredPublicKey()
	require.NoError(t, err)
	sig, err := base64.StdEncoding.DecodeString(signedClaim)
	require.NoError(t, err)
	data, err := emulator.VerifyMessage(pub, sig)
	require.NoError(t, err)
	var claim map[string]any
	require.NoError(t, json.Unmarshal(data, &claim))
	return claim
}
