package worker

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An alias covers the key it stands for, but only as that key: a task
// naming the target of a listed alias signs with what the signer makes
// of that name, which is another key when the target is itself an alias.
func TestPolicyAliasTargetThatIsAnAlias(t *testing.T) {
	cfg := policyConfig()
	cfg.MsgSigner.KeyAliases = map[string]string{"release": "prod", "prod": "FEDCBA9876543210"} // prod: team b's key
	p := NewPolicy(cfg)
	r := ParseTaskSubject("pubtools.sign.tasks.>", "pubtools.sign.tasks.a.msg-clear")
	require.NoError(t, p.Admit(r, &Task{TaskID: "t", Signer: SignerMsgClear, SigningKeys: []string{"release"}, Inputs: []string{"x"}}))
	var te *TaskError
	require.ErrorAs(t, p.Admit(r, &Task{TaskID: "t", Signer: SignerMsgClear, SigningKeys: []string{"prod"}, Inputs: []string{"x"}}), &te,
		"prod resolves to FEDCBA9876543210, which tenant a may not use")
	assert.Equal(t, "signing_keys[0]", te.Field)
}
