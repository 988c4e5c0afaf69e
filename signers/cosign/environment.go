package cosign

import (
	"os"
	"slices"
	"strings"
)

// passedThrough are the variables of this process cosign gets: what it
// needs to run, reach the network and find CAs. Anything else (the
// daemon's PUBTOOLS_SIGN_* settings, a registry password among them) is
// not inherited; env_variables add what a deployment needs.
var passedThrough = []string{"PATH", "HOME", "TMPDIR", "USER", "LANG", "LC_ALL", "TZ",
	"SSL_CERT_FILE", "SSL_CERT_DIR", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"}

// cliPrefixes are passed through by the CLI only: its operator's own
// cosign settings (COSIGN_PASSWORD for a key, SIGSTORE_*, TUF_ROOT), as
// the Python tool's cosign inherited them. The daemon never passes them.
var cliPrefixes = []string{"COSIGN_", "SIGSTORE_", "TUF_"}

// environment is cosign's whole environment: passedThrough, env_variables
// and the private DOCKER_CONFIG (which wins).
func (s *Signer) environment(creds *dockerConfig) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if s.passes(name) {
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

func (s *Signer) passes(name string) bool {
	if slices.Contains(passedThrough, name) {
		return true
	}
	if s.daemon {
		return false
	}
	for _, p := range cliPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
