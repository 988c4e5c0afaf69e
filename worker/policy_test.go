package worker

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/config"
)

func policyConfig() *config.File {
	cfg := config.Defaults()
	cfg.MsgSigner = &config.MsgSigner{KeyAliases: map[string]string{"release": "0123456789ABCDEF"}}
	cfg.CosignSigner = &config.CosignSigner{KeyAliases: map[string]string{"a-key": "/keys/a.key", "b-key": "/keys/b.key"}, Registries: []string{"reg.a.io"}}
	cfg.Tenants = map[string]*config.Tenant{
		"a": {Signers: []string{"msg-clear", "cosign-container"}, SigningKeys: []string{"release"}, CosignKeys: []string{"a-key"},
			Registries: []string{"reg.a.io/team-a"}, Requester: "pipeline-a", Requesters: []string{"alice"}},
		"b": {Signers: []string{"*"}, SigningKeys: []string{"*"}, CosignKeys: []string{"b-key"}, Registries: []string{"reg.b.io"}},
	}
	return cfg
}

const dg = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// Every refusal names the task field and the rule; what passes gets the
// tenant's requester.
func TestPolicyAdmitsOnlyWhatTheTenantMay(t *testing.T) {
	p := NewPolicy(policyConfig())
	tasks := func(tenant, signer string) Route {
		return ParseTaskSubject("pubtools.sign.tasks.>", "pubtools.sign.tasks."+tenant+"."+signer)
	}
	clear := func(mut func(*Task)) *Task {
		t := &Task{TaskID: "t-1", Signer: SignerMsgClear, SigningKeys: []string{"release"}, Inputs: []string{"x"}}
		if mut != nil {
			mut(t)
		}
		return t
	}
	cosign := func(mut func(*Task)) *Task {
		t := &Task{TaskID: "t-1", Signer: SignerCosignContainer, SigningKeys: []string{"a-key"}, References: []string{"reg.a.io/team-a/app:1"}, Digests: []string{dg}}
		if mut != nil {
			mut(t)
		}
		return t
	}
	cases := []struct {
		name         string
		route        Route
		task         *Task
		field, words string
	}{
		{"ok msg", tasks("a", "msg-clear"), clear(nil), "", ""},
		{"alias names its key too", tasks("a", "msg-clear"), clear(func(t *Task) { t.SigningKeys = []string{"0123456789ABCDEF"} }), "", ""},
		{"ok cosign", tasks("a", "cosign-container"), cosign(nil), "", ""},
		{"no tenant token", Route{Subject: "pubtools.sign.tasks.msg-clear"}, clear(nil), "subject", "names no tenant"},
		{"unknown tenant", tasks("c", "msg-clear"), clear(nil), "subject", "not in the tenants policy"},
		{"subject/body signer mismatch", tasks("a", "msg-clear"), cosign(nil), "signer", `differs from the signer "msg-clear" of the subject`},
		{"signer not allowed", tasks("a", "msg-blob"), clear(func(t *Task) { t.Signer = SignerMsgBlob }), "signer", "tenants.a.signers"},
		{"key not allowed", tasks("a", "msg-clear"), clear(func(t *Task) { t.SigningKeys = []string{"release", "FEDCBA9876543210"} }), "signing_keys[1]", "tenants.a.signing_keys"},
		{"key name not allowed", tasks("a", "msg-clear"), clear(func(t *Task) { t.SigningKeyNames = []string{"prod"} }), "signing_key_names[0]", "tenants.a.signing_key_names"},
		{"raw cosign key", tasks("a", "cosign-container"), cosign(func(t *Task) { t.SigningKeys = []string{"env://SECRET"} }), "signing_keys[0]", "cosign_signer.key_aliases"},
		{"other tenant's cosign alias", tasks("a", "cosign-container"), cosign(func(t *Task) { t.SigningKeys = []string{"b-key"} }), "signing_keys[0]", "tenants.a.cosign_keys"},
		{"registry outside", tasks("a", "cosign-container"), cosign(func(t *Task) { t.References = []string{"attacker.example/ns/app:1"} }), "references[0]", "tenants.a.registries"},
		{"namespace outside", tasks("a", "cosign-container"), cosign(func(t *Task) { t.References = []string{"reg.a.io/team-ab/app:1"} }), "references[0]", "tenants.a.registries"},
		{"dot-dot out of the namespace", tasks("a", "cosign-container"), cosign(func(t *Task) { t.References = []string{"reg.a.io/team-a/../team-b/app:1"} }), "references[0]", "'..'"},
		{"dot-dot as a digest", tasks("a", "cosign-container"), cosign(func(t *Task) { t.References = nil; t.Digests = []string{"reg.a.io/team-a/../team-b/app@" + dg} }), "digests[0]", "'..'"},
		{"empty path component", tasks("a", "cosign-container"), cosign(func(t *Task) { t.References = []string{"reg.a.io/team-a//x:1"} }), "references[0]", "empty"},
		{"requester not allowed", tasks("a", "msg-clear"), clear(func(t *Task) { t.Requester = "release-bot" }), "requester", "tenants.a.requesters"},
		{"reply_to another tenant", tasks("a", "msg-clear"), clear(func(t *Task) { t.ReplyTo = "pubtools.sign.results.b.t-1" }), "reply_to", "own results subject"},
		{"reply_to JetStream API", tasks("a", "msg-clear"), clear(func(t *Task) { t.ReplyTo = "$JS.API.STREAM.PURGE.PUBTOOLS_SIGN_TASKS" }), "reply_to", "own results subject"},
		{"reply_to inbox", tasks("a", "msg-clear"), clear(func(t *Task) { t.ReplyTo = "_INBOX.abc" }), "reply_to", "own results subject"},
		{"reply_to own subject", tasks("a", "msg-clear"), clear(func(t *Task) { t.ReplyTo = "pubtools.sign.results.a.t-1" }), "", ""},
		{"micro on own inbox", ParseRequestSubject("pubtools.sign.request", "pubtools.sign.request.a", "_INBOX_a.x1"), clear(nil), "", ""},
		{"micro reply elsewhere", ParseRequestSubject("pubtools.sign.request", "pubtools.sign.request.a", "$KV.bucket.key"), clear(nil), "reply subject", "_INBOX_a"},
		{"micro reply shared inbox", ParseRequestSubject("pubtools.sign.request", "pubtools.sign.request.a", "_INBOX.x1"), clear(nil), "reply subject", "_INBOX_a"},
		{"micro through a service import", ParseRequestSubject("pubtools.sign.request", "pubtools.sign.request.a", "_R_.aBc.dEf"), clear(nil), "", ""},
		{"micro server-made reply with a wildcard", ParseRequestSubject("pubtools.sign.request", "pubtools.sign.request.a", "_R_.>"), clear(nil), "reply subject", "_INBOX_a"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := p.Admit(tc.route, tc.task)
			if tc.field == "" {
				require.NoError(t, err)
				return
			}
			var te *TaskError
			require.ErrorAs(t, err, &te)
			assert.Equal(t, tc.field, te.Field, te.Error())
			assert.Contains(t, te.Problem, tc.words)
		})
	}
}

func TestPolicyRequester(t *testing.T) {
	p := NewPolicy(policyConfig())
	r := ParseTaskSubject("pubtools.sign.tasks.>", "pubtools.sign.tasks.a.msg-clear")
	tk := &Task{TaskID: "t", Signer: SignerMsgClear, SigningKeys: []string{"release"}}
	require.NoError(t, p.Admit(r, tk))
	assert.Equal(t, "pipeline-a", tk.Requester, "the tenant's recorded requester")
	tk = &Task{TaskID: "t", Signer: SignerMsgClear, SigningKeys: []string{"release"}, Requester: "alice"}
	require.NoError(t, p.Admit(r, tk))
	assert.Equal(t, "alice", tk.Requester, "a name the policy lets it give")
}

// Without a tenants section there is one tenant, default: every signer
// and key, cosign only by alias, no requester of its own, results only.
func TestDefaultTenant(t *testing.T) {
	cfg := policyConfig()
	cfg.Tenants = nil
	p := NewPolicy(cfg)
	r := ParseTaskSubject(cfg.NATS.TasksSubject, "pubtools.sign.tasks.default.msg-clear")
	require.Equal(t, "default", r.Tenant)
	require.NoError(t, p.Admit(r, &Task{TaskID: "t", Signer: SignerMsgClear, SigningKeys: []string{"ANY"}}))
	var te *TaskError
	require.ErrorAs(t, p.Admit(r, &Task{TaskID: "t", Signer: SignerMsgClear, Requester: "x"}), &te)
	assert.Equal(t, "requester", te.Field)
	rc := ParseTaskSubject(cfg.NATS.TasksSubject, "pubtools.sign.tasks.default.cosign-container")
	require.ErrorAs(t, p.Admit(rc, &Task{TaskID: "t", Signer: SignerCosignContainer, SigningKeys: []string{"/keys/a.key"}}), &te)
	assert.Equal(t, "signing_keys[0]", te.Field)
	require.ErrorAs(t, p.Admit(rc, &Task{TaskID: "t", Signer: SignerCosignContainer, SigningKeys: []string{"a-key"},
		References: []string{"elsewhere.io/ns/app:1"}, Digests: []string{dg}}), &te)
	assert.Equal(t, "references[0]", te.Field, "cosign_signer.registries bound the default tenant")
	micro := ParseRequestSubject(cfg.NATS.RequestSubject, "pubtools.sign.request.default", "_INBOX.abc")
	require.NoError(t, p.Admit(micro, &Task{TaskID: "t", Signer: SignerMsgClear}))
}

func TestSubjects(t *testing.T) {
	assert.Equal(t, "pubtools.sign.tasks.a.msg-clear", TaskSubject("pubtools.sign.tasks.>", "a", "msg-clear"))
	assert.Equal(t, "pubtools.sign.results.a.t.1", ResultSubject("pubtools.sign.results", "a", "t.1"))
	assert.Equal(t, "pubtools.sign.results.a.invalid", ResultSubject("pubtools.sign.results", "a", ""))
	assert.Equal(t, "pubtools.sign.results.invalid", ResultSubject("pubtools.sign.results", "", "t"))
	for _, bad := range []string{"pubtools.sign.tasks.msg-clear", "pubtools.sign.tasks.A.msg-clear", "pubtools.sign.tasks.a.b.c", "other.a.msg-clear"} {
		assert.Empty(t, ParseTaskSubject("pubtools.sign.tasks.>", bad).Tenant, bad)
	}
}

// BenchmarkPolicyAdmit: what the policy costs a task (a cosign task with
// ten references, the most work Admit does: parsing each reference).
func BenchmarkPolicyAdmit(b *testing.B) {
	p := NewPolicy(policyConfig())
	r := ParseTaskSubject("pubtools.sign.tasks.>", "pubtools.sign.tasks.a.cosign-container")
	refs := make([]string, 10)
	digests := make([]string, 10)
	for i := range refs {
		refs[i], digests[i] = "reg.a.io/team-a/app:"+string(rune('0'+i)), dg
	}
	for b.Loop() {
		t := &Task{TaskID: "t-1", Signer: SignerCosignContainer, SigningKeys: []string{"a-key"}, References: refs, Digests: digests}
		if err := p.Admit(r, t); err != nil {
			b.Fatal(err)
		}
	}
}
