package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Policy mistakes name the key and the file.
func TestPolicyMistakesNameTheKey(t *testing.T) {
	// What the signer registry (worker.Kinds) sets when it is linked in.
	saved := TaskSigners
	TaskSigners = []string{"msg-clear", "cosign-container"}
	t.Cleanup(func() { TaskSigners = saved })
	cases := []struct{ name, body, key, words string }{
		{"tenant name", "tenants:\n  Team_A:\n    signers: [msg-clear]\n", "tenants.Team_A", "subject token"},
		{"empty tenant", "tenants:\n  a:\n", "tenants.a", "empty"},
		{"unknown signer", "tenants:\n  a:\n    signers: [msg-clear, gpg]\n", "tenants.a.signers[1]", `unknown signer "gpg"`},
		{"empty value", "tenants:\n  a:\n    signing_keys: [\"\"]\n", "tenants.a.signing_keys[0]", "empty"},
		{"cosign key not an alias", "cosign_signer:\n  key_aliases: {k: /k}\ntenants:\n  a:\n    cosign_keys: [other]\n", "tenants.a.cosign_keys[0]", "cosign_signer.key_aliases"},
		{"registry URL", "tenants:\n  a:\n    registries: [\"https://reg.io\"]\n", "tenants.a.registries[0]", "registry host"},
		{"cosign registries", "cosign_signer:\n  registries: [reg.io/ns]\n", "cosign_signer.registries[0]", "registry host"},
		{"tasks subject", "nats:\n  tasks_subject: pubtools.sign.tasks.*\n", "nats.tasks_subject", "<prefix>.>"},
		{"results prefix", "nats:\n  results_prefix: $JS.API\n", "nats.results_prefix", "plain subject prefix"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := writeConfig(t, tc.body)
			_, err := LoadWith(p, noEnv())
			var ce *Error
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.key, ce.Key, ce.Error())
			assert.Equal(t, p, ce.File)
			assert.Contains(t, ce.Problem, tc.words)
		})
	}
}

func TestDefaultPolicy(t *testing.T) {
	f, err := LoadWith(writeConfig(t, "cosign_signer:\n  registries: [reg.io]\n"), noEnv())
	require.NoError(t, err)
	p := f.Policy()
	require.Len(t, p, 1)
	d := p[DefaultTenant]
	assert.True(t, Allows(d.Signers, "cosign-container"))
	assert.Equal(t, []string{"reg.io"}, d.Registries, "cosign_signer.registries bound the default tenant")
	assert.Empty(t, d.Requesters, "no requester of the task's choosing")
	assert.True(t, RegistryAllowed([]string{"reg.io/team"}, "reg.io/team/app"))
	assert.False(t, RegistryAllowed([]string{"reg.io/team"}, "reg.io/team-b/app"))
	assert.False(t, RegistryAllowed([]string{"reg.io"}, "reg.io.evil/app"))
}
