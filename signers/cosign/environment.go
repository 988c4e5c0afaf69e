package cosign

import (
	"os"
	"slices"
	"strings"
)

// passedThrough are the variables of the daemon's environment cosign
// gets: what it needs to run, reach the network and find CAs. Anything
// else (the daemon's PUBTOOLS_SIGN_* settings, a registry password among
// them) is not inherited; env_variables add what a deployment needs (a
// KMS key's VAULT_TOKEN, AWS_REGION…).
var passedThrough = []string{"PATH", "HOME", "TMPDIR", "USER", "LANG", "LC_ALL", "TZ",
	"SSL_CERT_FILE", "SSL_CERT_DIR", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"}

// environment is cosign's whole environment plus env_variables and the
// private DOCKER_CONFIG (which wins). The daemon passes only
// passedThrough; the CLI, run by its operator in their own shell, passes
// everything, as the Python tool did (cosign's KMS providers read their
// credentials from there).
func (s *Signer) environment(creds *dockerConfig) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !s.daemon || slices.Contains(passedThrough, name) {
			env = append(env, kv)
		}
	}
	for k, v := range s.cfg.EnvVariables {
		env = append(env, k+"="+v)
	}
	if creds != nil {
		env = append(env, creds.Env())
	}
	return env
}
