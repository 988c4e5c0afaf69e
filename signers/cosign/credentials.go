package cosign

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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
// It returns nil when the configuration has no credentials.
func newDockerConfig(c *config.CosignSigner, registries []string) (*dockerConfig, error) {
	if c.RegistryAuthFile == "" && c.RegistryUser == "" {
		return nil, nil
	}
	dir, err := os.MkdirTemp("", "pubtools-sign-docker-")
	if err != nil {
		return nil, fmt.Errorf("create private DOCKER_CONFIG: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	d := &dockerConfig{dir: dir}
	var data []byte
	if c.RegistryAuthFile != "" {
		data, err = os.ReadFile(config.ExpandHome(c.RegistryAuthFile))
		if err != nil {
			d.Remove()
			return nil, fmt.Errorf("read registry_auth_file: %w", err)
		}
	} else {
		auth := base64.StdEncoding.EncodeToString([]byte(c.RegistryUser + ":" + c.RegistryPassword))
		auths := map[string]map[string]string{}
		for _, r := range registries {
			auths[r] = map[string]string{"auth": auth}
		}
		data, _ = json.Marshal(map[string]any{"auths": auths})
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o600); err != nil {
		d.Remove()
		return nil, fmt.Errorf("write private DOCKER_CONFIG: %w", err)
	}
	return d, nil
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
