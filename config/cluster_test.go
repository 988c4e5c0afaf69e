package config

import (
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClusterKeys(t *testing.T) {
	f, err := Parse(nil, "", noEnv())
	require.NoError(t, err)
	assert.Equal(t, 1, f.NATS.StreamReplicas, "one machine: one replica")
	assert.Equal(t, 7*24*time.Hour, f.NATS.ResultsMaxAge)
	assert.Equal(t, 4*time.Second, f.NATS.PullExpiry)

	f, err = Parse([]byte("nats:\n  stream_replicas: 3\n  placement_tags: [signing]\n  results_max_age: 0s\n"), "c.yaml",
		envconfig.MapLookuper(map[string]string{"PUBTOOLS_SIGN_NATS_STREAM_REPLICAS": "5"}))
	require.NoError(t, err)
	assert.Equal(t, 5, f.NATS.StreamReplicas, "the environment wins")
	assert.Equal(t, []string{"signing"}, f.NATS.PlacementTags)
	assert.Zero(t, f.NATS.ResultsMaxAge, "0: keep for ever")

	for yaml, key := range map[string]string{
		"nats:\n  stream_replicas: 7\n":   "nats.stream_replicas",
		"nats:\n  stream_replicas: 0\n":   "nats.stream_replicas",
		"nats:\n  results_max_age: -1h\n": "nats.results_max_age",
		"nats:\n  pull_expiry: 100ms\n":   "nats.pull_expiry",
		"nats:\n  store_timeout: 10ms\n":  "nats.store_timeout",
	} {
		_, err := Parse([]byte(yaml), "c.yaml", noEnv())
		require.Error(t, err, yaml)
		assert.Contains(t, err.Error(), key, yaml)
	}
}
