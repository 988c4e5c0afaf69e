package config

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// DefaultTenant is the one tenant of a configuration without a tenants
// section.
const DefaultTenant = "default"

// Any in a tenant's list allows every value.
const Any = "*"

// SubjectToken is what a tenant or signer token of a task subject looks
// like (<tasks prefix>.<tenant>.<signer>).
var SubjectToken = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// TaskSigners are the signer names a task (and a tenant's signers list)
// may use. The signer registry (worker.Kinds) fills it in when it is
// linked in; this package cannot import it. Empty, any signer-shaped name
// passes.
var TaskSigners []string

// Policy returns the tenants' rights in effect: the tenants section, or
// else the single default tenant, which may use every signer and key the
// signer sections allow, cosign only through key_aliases, registries only
// cosign_signer.registries when that is set, and no requester of its own
// choosing.
func (f *File) Policy() map[string]*Tenant {
	if len(f.Tenants) > 0 {
		return f.Tenants
	}
	def := &Tenant{Signers: []string{Any}, SigningKeys: []string{Any}, SigningKeyNames: []string{Any},
		CosignKeys: []string{Any}, Registries: []string{Any}}
	if f.CosignSigner != nil && len(f.CosignSigner.Registries) > 0 {
		def.Registries = f.CosignSigner.Registries
	}
	return map[string]*Tenant{DefaultTenant: def}
}

// Allows says whether list (a tenant's allow-list) admits v.
func Allows(list []string, v string) bool {
	return slices.Contains(list, Any) || slices.Contains(list, v)
}

// RegistryAllowed says whether repo (registry/namespace/name) lies in one
// of registries: a host, or a host/path prefix matched by whole path
// components.
func RegistryAllowed(registries []string, repo string) bool {
	for _, r := range registries {
		if r == Any || repo == r || strings.HasPrefix(repo, strings.TrimSuffix(r, "/")+"/") {
			return true
		}
	}
	return false
}

func (f *File) validatePolicy() error {
	var p problems // reported in file order (firstInFile)
	if f.CosignSigner != nil {
		for i, r := range f.CosignSigner.Registries {
			if r == "" || strings.ContainsAny(r, "/ @") || strings.Contains(r, "://") {
				p.add(f.errorf(fmt.Sprintf("cosign_signer.registries[%d]", i), "want a registry host such as reg.io or localhost:5000, got %q", r))
			}
		}
	}
	if prefix, ok := strings.CutSuffix(f.NATS.TasksSubject, ".>"); !ok || prefix == "" || strings.ContainsAny(prefix, "*> ") {
		p.add(f.errorf("nats.tasks_subject", "must be <prefix>.> (tasks are published on <prefix>.<tenant>.<signer>), got %q", f.NATS.TasksSubject))
	}
	if strings.ContainsAny(f.NATS.ResultsPrefix, "*> ") || strings.HasPrefix(f.NATS.ResultsPrefix, "$") {
		p.add(f.errorf("nats.results_prefix", "must be a plain subject prefix, got %q", f.NATS.ResultsPrefix))
	}
	names := make([]string, 0, len(f.Tenants))
	for name := range f.Tenants {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p.add(f.validateTenant(name, f.Tenants[name]))
	}
	return p.err()
}

func (f *File) validateTenant(name string, t *Tenant) error {
	key := "tenants." + name
	if !SubjectToken.MatchString(name) {
		return f.errorf(key, "a tenant name is a subject token: lower-case letters, digits, '_' and '-', at most 64, got %q", name)
	}
	if t == nil {
		return f.errorf(key, "empty: list what the tenant may use (signers, signing_keys, cosign_keys, registries…)")
	}
	lists := []struct {
		key  string
		vals []string
	}{{"signers", t.Signers}, {"signing_keys", t.SigningKeys}, {"signing_key_names", t.SigningKeyNames},
		{"cosign_keys", t.CosignKeys}, {"registries", t.Registries}, {"requesters", t.Requesters}}
	for _, l := range lists {
		for i, v := range l.vals {
			if strings.TrimSpace(v) == "" {
				return f.errorf(fmt.Sprintf("%s.%s[%d]", key, l.key, i), "empty value")
			}
		}
	}
	for i, s := range t.Signers {
		if s != Any && len(TaskSigners) > 0 && !slices.Contains(TaskSigners, s) {
			return f.errorf(fmt.Sprintf("%s.signers[%d]", key, i), "unknown signer %q (want %s or %q)", s, strings.Join(TaskSigners, ", "), Any)
		}
	}
	if f.CosignSigner != nil {
		for i, k := range t.CosignKeys {
			if _, ok := f.CosignSigner.KeyAliases[k]; k != Any && !ok {
				return f.errorf(fmt.Sprintf("%s.cosign_keys[%d]", key, i), "%q is not an alias in cosign_signer.key_aliases", k)
			}
		}
	}
	for i, r := range t.Registries {
		if strings.Contains(r, "://") || strings.ContainsAny(r, " @") {
			return f.errorf(fmt.Sprintf("%s.registries[%d]", key, i), "want a registry host or host/namespace prefix, got %q", r)
		}
	}
	return nil
}
