package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pythonConfig is a msg_signer section as Python pubtools-sign users have it.
const pythonConfig = `
msg_signer:
  messaging_brokers:
    - amqps://broker-01:5671
    - amqp://broker-02:5672
  messaging_cert_key: CERT
  messaging_ca_cert: CERT
  topic_send_to: topic://VirtualTopic.eng.robosignatory.{env}.sign
  topic_listen_to: queue://Consumer.{creator}.{task_id}.VirtualTopic.eng.robosignatory.{env}.client
  environment: prod
  service: pubtools-sign
  timeout: 10
  retries: 2
  send_retries: 3
  message_id_key: request_id
  log_level: debug
  key_aliases:
    beta: "4096R/ABCDEF0123456789"
cosign_signer:
  rekor_url: https://rekor.example
  upload_tlog: false
  registry_user: robot
  registry_password: s3cret
  timeout: 3m0s
`

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	cert := filepath.Join(dir, "cert.pem")
	require.NoError(t, os.WriteFile(cert, []byte("x"), 0o600))
	p := filepath.Join(dir, "conf.yaml")
	require.NoError(t, os.WriteFile(p, []byte(strings.ReplaceAll(body, "CERT", cert)), 0o600))
	return p
}

func noEnv() envconfig.Lookuper { return envconfig.MapLookuper(nil) }

func TestPythonConfigLoadsUnchanged(t *testing.T) {
	f, err := LoadWith(writeConfig(t, pythonConfig), noEnv())
	require.NoError(t, err)
	m := f.MsgSigner
	require.NotNil(t, m)
	assert.Equal(t, []string{"amqps://broker-01:5671", "amqp://broker-02:5672"}, m.MessagingBrokers)
	assert.Equal(t, 10, m.Timeout)
	assert.Equal(t, 3, m.SendRetries)
	assert.Equal(t, "pub_task_id", m.TaskIDAttribute, "Python default")
	assert.Equal(t, "4096R/ABCDEF0123456789", m.KeyAliases["beta"])
	require.NotNil(t, f.CosignSigner)
	assert.False(t, *f.CosignSigner.UploadTlog)
	assert.Equal(t, "/usr/bin/cosign", f.CosignSigner.CosignBin)
	assert.Nil(t, f.MsgBatchSigner)
	assert.Equal(t, 64, f.Worker.Concurrency, "daemon defaults without a worker section")
}

func TestEnvironmentWinsOverFile(t *testing.T) {
	env := envconfig.MapLookuper(map[string]string{
		"PUBTOOLS_SIGN_MSG_SIGNER_TIMEOUT":     "42",
		"PUBTOOLS_SIGN_MSG_SIGNER_ENVIRONMENT": "stage",
		"PUBTOOLS_SIGN_NATS_URL":               "nats://10.0.0.1:4222",
		"PUBTOOLS_SIGN_WORKER_SHUTDOWN_GRACE":  "5s",
		"PUBTOOLS_SIGN_HTTP_LISTEN":            "",
	})
	f, err := LoadWith(writeConfig(t, pythonConfig), env)
	require.NoError(t, err)
	assert.Equal(t, 42, f.MsgSigner.Timeout)
	assert.Equal(t, "stage", f.MsgSigner.Environment)
	assert.Equal(t, "nats://10.0.0.1:4222", f.NATS.URL)
	assert.Equal(t, 5*time.Second, f.Worker.ShutdownGrace)
	assert.Equal(t, 3, f.MsgSigner.SendRetries, "untouched keys keep the file's value")
}

func TestEnvironmentAloneCanDefineASection(t *testing.T) {
	f, err := LoadWith("", envconfig.MapLookuper(map[string]string{
		"PUBTOOLS_SIGN_COSIGN_SIGNER_NUM_THREADS": "4",
	}))
	require.NoError(t, err)
	require.NotNil(t, f.CosignSigner)
	assert.Equal(t, 4, f.CosignSigner.NumThreads)
	assert.Nil(t, f.MsgSigner, "no msg_signer variable, no section")
}

func TestMistakesNameTheKeyAndTheFile(t *testing.T) {
	cases := []struct {
		name, edit, key, problem string
	}{
		{"wrong type", "timeout: 10|timeout: soon", "msg_signer.timeout", "cannot unmarshal a string `soon` into int"},
		{"unknown key", "retries: 2|retries: 2\n  retires: 2", "msg_signer.retires", "unknown key"},
		{"missing key", "  service: pubtools-sign\n|", "msg_signer.service", "required"},
		{"negative timeout", "timeout: 10|timeout: -1", "msg_signer.timeout", "at least 1"},
		{"unknown template field", "{env}.sign|{nope}.sign", "msg_signer.topic_send_to", "unknown template field {nope}"},
		{"template injection", "{env}.sign|{__class__.__init__}.sign", "msg_signer.topic_send_to", "only {name} is allowed"},
		{"bad broker scheme", "amqp://broker-02:5672|http://broker-02:5672", "msg_signer.messaging_brokers[1]", "scheme must be amqp or amqps"},
		{"unreadable cert", "messaging_cert_key: CERT|messaging_cert_key: /nonexistent/cert.pem", "msg_signer.messaging_cert_key", "no such file"},
		{"bad cosign timeout", "timeout: 3m0s|timeout: forever", "cosign_signer.timeout", "want a duration"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			parts := strings.SplitN(tc.edit, "|", 2)
			require.Contains(t, pythonConfig, parts[0])
			p := writeConfig(t, strings.Replace(pythonConfig, parts[0], parts[1], 1))
			_, err := LoadWith(p, noEnv())
			require.Error(t, err)
			var cerr *Error
			require.ErrorAs(t, err, &cerr)
			assert.Equal(t, p, cerr.File)
			assert.Equal(t, tc.key, cerr.Key)
			assert.Contains(t, cerr.Problem, tc.problem)
			assert.Contains(t, err.Error(), p)
		})
	}
}

func TestBrokerPasswordIsRedactedInErrors(t *testing.T) {
	p := writeConfig(t, strings.Replace(pythonConfig, "amqp://broker-02:5672", "amqp://user:hunter2@broker-02", 1))
	_, err := LoadWith(p, noEnv())
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "hunter2")
}

func TestFindFallsBackToSearchPaths(t *testing.T) {
	dir := t.TempDir()
	fallback := filepath.Join(dir, "etc.yaml")
	require.NoError(t, os.WriteFile(fallback, nil, 0o600))
	old := SearchPaths
	SearchPaths = []string{filepath.Join(dir, "missing.yaml"), fallback}
	t.Cleanup(func() { SearchPaths = old })

	got, err := Find(filepath.Join(dir, "nope.yaml"))
	require.NoError(t, err)
	assert.Equal(t, fallback, got)

	SearchPaths = []string{filepath.Join(dir, "missing.yaml")}
	_, err = Find("")
	assert.ErrorIs(t, err, ErrNotFound)
}
