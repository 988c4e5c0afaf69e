package reliability

import (
	"os"
	"testing"

	"github.com/release-engineering/pubtools-sign-go/internal/cli"
)

// asCLI makes the test binary behave as the pubtools-sign binary: the
// replicas the tests start are real processes without a separate build.
const asCLI = "PUBTOOLS_SIGN_TEST_AS_CLI"

func TestMain(m *testing.M) {
	if conf := os.Getenv(asNATS); conf != "" {
		os.Exit(runNATSServer(conf))
	}
	if os.Getenv(asCLI) == "1" {
		os.Exit(cli.Main(append([]string{"pubtools-sign"}, os.Args[1:]...), os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
