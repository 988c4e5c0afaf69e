// Package deploy holds deployment files; its test validates them, since
// CI machines have no container engine to run them.
package deploy

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/config"
)

func TestComposeStackIsComplete(t *testing.T) {
	opts, err := cli.NewProjectOptions([]string{"../docker-compose.yml"}, cli.WithWorkingDirectory(".."), cli.WithOsEnv)
	require.NoError(t, err)
	project, err := opts.LoadProject(context.Background())
	require.NoError(t, err)

	for _, name := range []string{"nats", "rabbitmq", "emulator", "worker-1", "worker-2"} {
		svc, ok := project.Services[name]
		require.True(t, ok, "service %s", name)
		require.NotNil(t, svc.HealthCheck, "service %s has a healthcheck", name)
		assert.NotEmpty(t, svc.HealthCheck.Test, name)
		for _, v := range svc.Volumes {
			if v.Type == "bind" {
				_, err := os.Stat(v.Source)
				assert.NoError(t, err, "%s mounts %s", name, v.Source)
			}
		}
	}
	assert.Contains(t, project.Services["nats"].Command, "-js", "JetStream on")
	assert.Equal(t, "worker-2", *project.Services["worker-2"].Environment["PUBTOOLS_SIGN_WORKER_ID"])
	assert.NotNil(t, project.Services["worker-1"].StopGracePeriod, "time to drain on SIGTERM")
}

func TestComposeFilesAreValid(t *testing.T) {
	plugins, err := os.ReadFile(filepath.Join("compose", "enabled_plugins"))
	require.NoError(t, err)
	assert.Contains(t, string(plugins), "rabbitmq_amqp1_0")
	cfg, err := config.Load(filepath.Join("compose", "conf.yaml"))
	require.NoError(t, err)
	assert.Equal(t, "nats://nats:4222", cfg.NATS.URL)
	require.NotNil(t, cfg.MsgSigner)

	// The broker boots with the definitions: the user the workers connect
	// as, and the policy expiring orphaned AMQP 1.0 topic queues.
	conf, err := os.ReadFile(filepath.Join("compose", "rabbitmq.conf"))
	require.NoError(t, err)
	assert.Contains(t, string(conf), "load_definitions = /etc/rabbitmq/definitions.json")
	data, err := os.ReadFile(filepath.Join("compose", "definitions.json"))
	require.NoError(t, err)
	var defs struct {
		Users    []struct{ Name string }
		Policies []struct {
			Pattern    string
			ApplyTo    string         `json:"apply-to"`
			Definition map[string]any `json:"definition"`
		}
	}
	require.NoError(t, json.Unmarshal(data, &defs))
	require.Len(t, defs.Users, 1)
	require.Len(t, defs.Policies, 1)
	assert.Equal(t, `^amq\.gen-`, defs.Policies[0].Pattern)
	assert.Equal(t, "queues", defs.Policies[0].ApplyTo)
	assert.Contains(t, defs.Policies[0].Definition, "expires")
}
