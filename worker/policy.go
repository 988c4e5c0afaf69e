package worker

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/release-engineering/pubtools-sign-go/config"
)

// Policy is what each tenant may ask for (config tenants, or the single
// default tenant). Admit applies it to every task before anything is
// sent anywhere.
type Policy struct {
	tenants       map[string]*config.Tenant
	resultsPrefix string
	aliases       map[string]map[string]string // by signer: its section's key_aliases
}

// NewPolicy reads the policy of cfg.
func NewPolicy(cfg *config.File) *Policy {
	p := &Policy{tenants: cfg.Policy(), resultsPrefix: cfg.NATS.ResultsPrefix, aliases: map[string]map[string]string{}}
	for _, k := range Kinds {
		if k.Configured(cfg) {
			p.aliases[k.Name] = k.KeyAliases(cfg)
		}
	}
	return p
}

// Admit checks a decoded, valid task against the rights of the tenant its
// route names, and sets the requester the tenant records. A refusal is a
// *TaskError naming the task field and the rule.
func (p *Policy) Admit(r Route, t *Task) error {
	if r.Tenant == "" {
		return &TaskError{Field: "subject", Problem: fmt.Sprintf("%q names no tenant: tasks go to <tasks prefix>.<tenant>.<signer> "+
			"or <request_subject>.<tenant>; the tenant comes from the subject, never from the task", r.Subject)}
	}
	ten, ok := p.tenants[r.Tenant]
	if !ok {
		return &TaskError{Field: "subject", Problem: fmt.Sprintf("tenant %q (from the subject %q) is not in the tenants policy", r.Tenant, r.Subject)}
	}
	rule := func(key string) string { return "tenants." + r.Tenant + "." + key }
	if r.micro && !r.ReplyAllowed() {
		return &TaskError{Field: "reply subject", Problem: fmt.Sprintf("%q refused: a request is answered only on the tenant's inbox %s.… "+
			"(nats.CustomInboxPrefix; the default tenant may also use %s.…)", r.Reply, InboxPrefix(r.Tenant), DefaultInboxPrefix)}
	}
	if r.Signer != "" && t.Signer != r.Signer {
		return &TaskError{Field: "signer", Problem: fmt.Sprintf("%q differs from the signer %q of the subject %q: a task's signer must be the one it was published for",
			t.Signer, r.Signer, r.Subject)}
	}
	if own := ResultSubject(p.resultsPrefix, r.Tenant, t.TaskID); t.ReplyTo != "" && t.ReplyTo != own {
		return &TaskError{Field: "reply_to", Problem: fmt.Sprintf("%q refused: the envelope goes only to the tenant's own results subject %s "+
			"(<results_prefix>.<tenant>.<task_id>); leave reply_to out", t.ReplyTo, own)}
	}
	if !config.Allows(ten.Signers, t.Signer) {
		return &TaskError{Field: "signer", Problem: fmt.Sprintf("%q is not in %s", t.Signer, rule("signers"))}
	}
	if err := p.admitKeys(t, ten, rule); err != nil {
		return err
	}
	for i, n := range t.SigningKeyNames {
		if !config.Allows(ten.SigningKeyNames, n) {
			return &TaskError{Field: fmt.Sprintf("signing_key_names[%d]", i), Problem: fmt.Sprintf("%q is not in %s", n, rule("signing_key_names"))}
		}
	}
	if k, _ := LookupKind(t.Signer); k != nil && k.Images {
		if err := admitRegistries(t, ten.Registries, rule("registries")); err != nil {
			return err
		}
	}
	switch {
	case t.Requester == "":
		t.Requester = ten.Requester
	case t.Requester != ten.Requester && !config.Allows(ten.Requesters, t.Requester):
		return &TaskError{Field: "requester", Problem: fmt.Sprintf("%q is not in %s: the requester recorded for the tenant is %s",
			t.Requester, rule("requesters"), describeRequester(ten.Requester, rule("requester")))}
	}
	return nil
}

func describeRequester(r, rule string) string {
	if r == "" {
		return "the certificate identity"
	}
	return fmt.Sprintf("%q (%s)", r, rule)
}

// admitKeys: msg keys must be in the tenant's signing_keys (as given, or
// the key an alias stands for); cosign keys must be aliases, and in the
// tenant's cosign_keys, so no raw key reference (a file, http://,
// env://) ever reaches cosign.
func (p *Policy) admitKeys(t *Task, ten *config.Tenant, rule func(string) string) error {
	kind, err := LookupKind(t.Signer)
	if err != nil {
		return err
	}
	aliases := p.aliases[t.Signer]
	for i, k := range t.SigningKeys {
		field := fmt.Sprintf("signing_keys[%d]", i)
		switch {
		case kind.AliasOnlyKeys:
			if _, ok := aliases[k]; !ok {
				return &TaskError{Field: field, Problem: fmt.Sprintf("%q is not an alias in %s.key_aliases: the daemon signs with %s only through key aliases",
					abbreviate(k), kind.Section, kind.Name)}
			}
			if !config.Allows(ten.CosignKeys, k) {
				return &TaskError{Field: field, Problem: fmt.Sprintf("%q is not in %s", k, rule("cosign_keys"))}
			}
		default:
			if !keyAllowed(ten.SigningKeys, aliases, k) {
				return &TaskError{Field: field, Problem: fmt.Sprintf("%q is not in %s", abbreviate(k), rule("signing_keys"))}
			}
		}
	}
	return nil
}

// keyAllowed: k is listed, or is an alias of a listed key, or is the key
// a listed alias stands for.
func keyAllowed(list []string, aliases map[string]string, k string) bool {
	if config.Allows(list, k) {
		return true
	}
	if real, ok := aliases[k]; ok && config.Allows(list, real) {
		return true
	}
	if _, isAlias := aliases[k]; isAlias {
		return false // the signer uses what k stands for, checked above
	}
	for _, a := range list {
		if real, ok := aliases[a]; ok && real == k {
			return true
		}
	}
	return false
}

// admitRegistries: every image a cosign task names must lie in the
// tenant's registries, judged by the repository cosign itself will push
// to (go-containerregistry's reading of the reference).
func admitRegistries(t *Task, registries []string, rule string) error {
	check := func(field, ref string) error {
		if strings.HasPrefix(ref, "-") {
			return &TaskError{Field: field, Problem: "starts with '-': cosign's command line would read it as a flag"}
		}
		parsed, err := name.ParseReference(ref)
		if err != nil {
			return &TaskError{Field: field, Problem: fmt.Sprintf("not an image reference: %v", err)}
		}
		if c := oddPathComponent(parsed.Context().RepositoryStr()); c != "" {
			return &TaskError{Field: field, Problem: fmt.Sprintf("a repository path component is %s: registries may resolve it out of the namespace %s allows", c, rule)}
		}
		if repo := parsed.Context().Name(); !config.RegistryAllowed(registries, repo) {
			return &TaskError{Field: field, Problem: fmt.Sprintf("%s is not in %s [%s]", repo, rule, strings.Join(registries, ", "))}
		}
		return nil
	}
	for i, ref := range t.References {
		if err := check(fmt.Sprintf("references[%d]", i), ref); err != nil {
			return err
		}
	}
	if len(t.References) == 0 {
		for i, d := range t.Digests {
			if err := check(fmt.Sprintf("digests[%d]", i), d); err != nil {
				return err
			}
		}
	}
	return nil
}

// abbreviate keeps a refusal readable when a task sends a huge value.
func abbreviate(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}
