// Package testenv starts the real components integration tests run
// against: the project's RabbitMQ (scripts/broker.sh), embedded NATS, the
// cosign binary. Outside CI a missing component skips the test with a loud
// message; with CI=true it fails the test.
package testenv

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Broker is a running RabbitMQ instance with the AMQP 1.0 plugin.
type Broker struct {
	Name string
	// AMQPURL is the plain listener, AMQPSURL the mutual-TLS one.
	AMQPURL, AMQPSURL string
	// CACert signs the broker's certificate; OtherCACert does not.
	CACert, OtherCACert string
	// ClientCertKey has subject CN=pubtools-sign-test, ClientUIDCertKey
	// only UID=pubtools-uid.
	ClientCertKey, ClientUIDCertKey string
}

// RabbitMQ starts (or reuses) the broker instance name and returns it.
func RabbitMQ(t testing.TB, name string) *Broker {
	t.Helper()
	out, err := runScript("scripts/broker.sh", "env", name)
	if err != nil {
		Missing(t, "RabbitMQ (scripts/broker.sh env "+name+")", string(out))
	}
	env := parseEnv(out)
	return &Broker{
		Name: name, AMQPURL: env["AMQP_URL"], AMQPSURL: env["AMQPS_URL"],
		CACert: env["CA_CERT"], OtherCACert: env["OTHER_CA_CERT"],
		ClientCertKey: env["CLIENT_CERT_KEY"], ClientUIDCertKey: env["CLIENT_UID_CERT_KEY"],
	}
}

// Stop stops the instance (for restart tests; use a private instance name).
func (b *Broker) Stop(t testing.TB) {
	t.Helper()
	if out, err := runScript("scripts/broker.sh", "down", b.Name); err != nil {
		t.Fatalf("stop broker %s: %v\n%s", b.Name, err, out)
	}
}

// Start starts the instance again after Stop.
func (b *Broker) Start(t testing.TB) {
	t.Helper()
	if out, err := runScript("scripts/broker.sh", "up", b.Name); err != nil {
		t.Fatalf("start broker %s: %v\n%s", b.Name, err, out)
	}
}

// Missing skips (or, in CI, fails) a test whose component is not there.
func Missing(t testing.TB, what, detail string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("required component missing in CI: %s\n%s", what, detail)
	}
	t.Skipf("SKIPPED: %s is not available (set CI=true to make this a failure)\n%s", what, detail)
}

// RepoRoot is the directory holding go.mod.
func RepoRoot() string {
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

func runScript(script string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(RepoRoot(), script), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return append(out, stderr.Bytes()...), err
	}
	return out, nil
}

func parseEnv(out []byte) map[string]string {
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	return env
}
