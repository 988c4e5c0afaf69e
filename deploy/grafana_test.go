package deploy

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The dashboard is valid JSON and every pubtools_sign_* series its panels
// query is one the daemon exports (a renamed metric fails here, not on an
// operator's screen).
func TestDashboardQueriesExportedMetrics(t *testing.T) {
	data, err := os.ReadFile("grafana/pubtools-sign.json")
	require.NoError(t, err)
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	require.NoError(t, json.Unmarshal(data, &dash))
	require.NotEmpty(t, dash.Panels)

	// Where the daemon's series are defined: the worker's, the serve
	// command's, each AMQP connection's, the flow-control window's and the
	// cosign process bound's.
	metric := regexp.MustCompile(`pubtools_sign_[a-z_]+`)
	exported := map[string]bool{}
	for _, f := range []string{"../worker/metrics.go", "../internal/cli/serve.go", "../signers/msg/transport.go", "../signers/msg/metrics.go",
		"../signers/cosign/metrics.go"} {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range regexp.MustCompile(`"(pubtools_sign_[a-z_]+)"`).FindAllStringSubmatch(string(b), -1) {
			exported[m[1]] = true
		}
	}
	for _, p := range dash.Panels {
		require.NotEmpty(t, p.Targets, p.Title)
		for _, target := range p.Targets {
			for _, name := range metric.FindAllString(target.Expr, -1) {
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					name = strings.TrimSuffix(name, suffix)
				}
				assert.True(t, exported[name], "panel %q queries %s, which the daemon does not export", p.Title, name)
			}
		}
	}
}
