// Package testenv starts the real components integration tests run
// against: the project's RabbitMQ (scripts/broker.sh), embedded NATS, the
// cosign binary, and hands out their ports (Port). Outside CI a missing
// component skips the test with a loud message naming scripts/deps.sh; with
// CI=true it fails the test. Nothing here installs anything.
package testenv

import (
	"bufio"
	"bytes"
	"errors"
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

// notInstalled is broker.sh's exit status when RabbitMQ is not installed.
const notInstalled = 3

// RabbitMQ starts (or reuses) the broker instance name and returns it.
// "main" is shared by every test of the run (scripts/test.sh stops it at
// the end); any other name is a private instance for tests that stop and
// start their broker, stopped again when the test ends.
func RabbitMQ(t testing.TB, name string) *Broker {
	t.Helper()
	out, err := runScript("scripts/broker.sh", "env", name)
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == notInstalled:
		Missing(t, "RabbitMQ", string(out))
	case err != nil:
		t.Fatalf("scripts/broker.sh env %s: %v\n%s", name, err, out)
	}
	env := parseEnv(out)
	b := &Broker{
		Name: name, AMQPURL: env["AMQP_URL"], AMQPSURL: env["AMQPS_URL"],
		CACert: env["CA_CERT"], OtherCACert: env["OTHER_CA_CERT"],
		ClientCertKey: env["CLIENT_CERT_KEY"], ClientUIDCertKey: env["CLIENT_UID_CERT_KEY"],
	}
	if name != "main" {
		t.Cleanup(func() {
			if out, err := runScript("scripts/broker.sh", "down", name); err != nil {
				t.Errorf("stop private broker %s: %v\n%s", name, err, out)
			}
		})
	}
	return b
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

// Missing skips (or, in CI, fails) a test whose component is not there,
// naming the script that installs it.
func Missing(t testing.TB, what, detail string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("required component missing in CI: %s; run scripts/deps.sh\n%s", what, detail)
	}
	t.Skipf("SKIPPED: %s is not available: run scripts/deps.sh (set CI=true to make this a failure)\n%s", what, detail)
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
