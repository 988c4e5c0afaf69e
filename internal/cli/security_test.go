package cli

import (
	"crypto/x509/pkix"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/emulator"
	"github.com/release-engineering/pubtools-sign-go/internal/testenv"
)

// A client certificate the broker trusts but that names no one (no CN, no
// UID) cannot say who requests the signature: refused before anything is
// sent, as a usage error that says what to do.
func TestCertificateWithoutCNOrUIDIsRefused(t *testing.T) {
	b := testenv.RabbitMQ(t, "main")
	anonymous := b.IssueClientCert(t, pkix.Name{Organization: []string{"pubtools"}}, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	h := newHarness(t, "main", confOptions{tls: true, certKey: anonymous})
	srv := h.serve(emulator.Faults{})
	_, stderr, code := h.run(containerArgs(1, "t-anon")...)
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, stderr, "no requester")
	assert.Contains(t, stderr, "--requester")
	assert.Zero(t, srv.Stats().Requests, "nothing was sent")
}

// A NATS TLS setup with a certificate but no key is refused before the
// daemon starts: exit 2 naming the key, no half-secured connection. (No
// broker needed: the refusal comes before any connection.)
func TestServeRefusesHalfConfiguredNATSTLS(t *testing.T) {
	path := writeMinimalConfig(t)
	conf, err := os.ReadFile(path)
	require.NoError(t, err)
	cert := testenv.SelfSignedCertKey(t, pkix.Name{CommonName: "pubtools-sign-test"})
	require.NoError(t, os.WriteFile(path, append(conf, []byte("nats:\n  url: tls://127.0.0.1:1\n  tls_cert: "+cert+"\n")...), 0o600))
	_, stderr, code := runCLI(t, "serve", "--config-file", path)
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, stderr, "nats.tls_key")
	assert.Contains(t, stderr, path)
}
