package cosign

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/release-engineering/pubtools-sign-go/config"
)

// dockerConfig is a private DOCKER_CONFIG directory for one operation.
type dockerConfig struct {
	dir string
}

// newDockerConfig writes the registry credentials where cosign reads them
// ($DOCKER_CONFIG/config.json), readable by this user only, so the
// password never appears in cosign's argv as it did in the Python tool.
// Only registries get credentials: registry_user's, or the entries of
// registry_auth_file for them (keepStore keeps its credsStore, a helper
// that answers for every registry: the CLI's own file, not the daemon's).
// The directory is made even without credentials, so cosign never reads
// the daemon's own ~/.docker. It returns nil only on error.
func newDockerConfig(c *config.CosignSigner, registries []string, keepStore bool) (*dockerConfig, error) {
	var data []byte
	switch {
	case c.RegistryAuthFile != "":
		raw, err := os.ReadFile(config.ExpandHome(c.RegistryAuthFile))
		if err != nil {
			return nil, fmt.Errorf("read registry_auth_file: %w", err)
		}
		if data, err = filterAuthFile(raw, registries, keepStore); err != nil {
			return nil, fmt.Errorf("registry_auth_file %s: %w", c.RegistryAuthFile, err)
		}
	case c.RegistryUser != "":
		auth := base64.StdEncoding.EncodeToString([]byte(c.RegistryUser + ":" + c.RegistryPassword))
		auths := map[string]map[string]string{}
		for _, r := range registries {
			auths[r] = map[string]string{"auth": auth}
		}
		data, _ = json.Marshal(map[string]any{"auths": auths})
	default:
		data = []byte(`{"auths": {}}`)
	}
	dir, err := os.MkdirTemp("", "pubtools-sign-docker-")
	if err != nil {
		return nil, fmt.Errorf("create private DOCKER_CONFIG: %w", err)
	}
	d := &dockerConfig{dir: dir}
	if err := os.Chmod(dir, 0o700); err != nil {
		d.Remove()
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o600); err != nil {
		d.Remove()
		return nil, fmt.Errorf("write private DOCKER_CONFIG: %w", err)
	}
	return d, nil
}

// filterAuthFile keeps the auths and credHelpers entries of a docker
// config.json that belong to registries, and drops the rest.
func filterAuthFile(raw []byte, registries []string, keepStore bool) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("not a docker config.json: %w", err)
	}
	out := map[string]any{}
	for _, section := range []string{"auths", "credHelpers"} {
		var entries map[string]json.RawMessage
		if doc[section] == nil {
			continue
		}
		if err := json.Unmarshal(doc[section], &entries); err != nil {
			return nil, fmt.Errorf("%s: %w", section, err)
		}
		kept := map[string]json.RawMessage{}
		for k, v := range entries {
			if slices.Contains(registries, authHost(k)) {
				kept[k] = v
			}
		}
		out[section] = kept
	}
	if keepStore && doc["credsStore"] != nil {
		out["credsStore"] = doc["credsStore"]
	}
	return json.Marshal(out)
}

// authHost is the registry host of a config.json key, which may be a
// bare host or a URL (https://index.docker.io/v1/).
func authHost(key string) string {
	if strings.Contains(key, "://") {
		if u, err := url.Parse(key); err == nil {
			return u.Host
		}
	}
	host, _, _ := strings.Cut(key, "/")
	return host
}

// Env is the environment entry pointing cosign at the directory.
func (d *dockerConfig) Env() string { return "DOCKER_CONFIG=" + d.dir }

// Remove deletes the directory and the credentials in it.
func (d *dockerConfig) Remove() {
	if d != nil {
		os.RemoveAll(d.dir)
	}
}

// registryOf is the registry host of repo (the part before the first "/").
func registryOf(repo string) string {
	host, _, _ := strings.Cut(repo, "/")
	return host
}
