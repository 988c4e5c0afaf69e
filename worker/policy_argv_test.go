package worker

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// go-containerregistry reads --key=x.io/ns/app:1 as an image on the
// registry "--key=x.io"; cosign's command line would read it as a flag.
// The default tenant may name any registry when cosign_signer.registries
// is unset, so the policy refuses references that start like a flag.
func TestPolicyRefusesReferencesThatReadAsFlags(t *testing.T) {
	cfg := policyConfig()
	cfg.Tenants, cfg.CosignSigner.Registries = nil, nil
	p := NewPolicy(cfg)
	r := ParseTaskSubject(cfg.NATS.TasksSubject, "pubtools.sign.tasks.default.cosign-container")
	require.NoError(t, p.Admit(r, &Task{TaskID: "t", Signer: SignerCosignContainer, SigningKeys: []string{"a-key"},
		References: []string{"anywhere.io/ns/app:1"}, Digests: []string{dg}}))
	for field, task := range map[string]*Task{
		"references[0]": {References: []string{"--key=x.io/ns/app:1"}, Digests: []string{dg}},
		"digests[0]":    {Digests: []string{"-k.io/ns/app@" + dg}},
	} {
		task.TaskID, task.Signer, task.SigningKeys = "t", SignerCosignContainer, []string{"a-key"}
		var te *TaskError
		require.ErrorAs(t, p.Admit(r, task), &te, field)
		assert.Equal(t, field, te.Field)
		assert.Contains(t, te.Problem, "flag")
	}
}
