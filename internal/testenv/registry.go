package testenv

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Registry is an in-process OCI registry on 127.0.0.1.
type Registry struct {
	// Host is host:port.
	Host string
	// User and Password are required when set.
	User, Password string
	server         *httptest.Server
	denied         atomic.Value // string: repository refusing pushes
	mu             sync.Mutex
	authorizations []string // Authorization headers received, in order
}

// Authorizations are the non-empty Authorization headers the registry
// received: what a client sent it as credentials.
func (r *Registry) Authorizations() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.authorizations...)
}

// DenyPushTo makes the registry refuse writes to repository (e.g.
// "ns/repo1") with 403, as a registry does for a robot account without
// push rights there.
func (r *Registry) DenyPushTo(repository string) { r.denied.Store(repository) }

func (r *Registry) refuses(req *http.Request) bool {
	repo, _ := r.denied.Load().(string)
	return repo != "" && req.Method != http.MethodGet && req.Method != http.MethodHead &&
		strings.HasPrefix(req.URL.Path, "/v2/"+repo+"/")
}

// StartRegistry serves a registry; with user set it demands basic auth.
func StartRegistry(t testing.TB, user, password string) *Registry {
	t.Helper()
	reg := &Registry{User: user, Password: password}
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	guarded := h
	h = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if reg.refuses(req) {
			http.Error(w, `{"errors": [{"code": "DENIED", "message": "requested access to the resource is denied"}]}`, http.StatusForbidden)
			return
		}
		guarded.ServeHTTP(w, req)
	})
	if user != "" {
		inner := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, p, ok := r.BasicAuth()
			if !ok || u != user || p != password {
				w.Header().Set("WWW-Authenticate", `Basic realm="test registry"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			inner.ServeHTTP(w, r)
		})
	}
	served := h
	srv := HTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if a := req.Header.Get("Authorization"); a != "" {
			reg.mu.Lock()
			reg.authorizations = append(reg.authorizations, a)
			reg.mu.Unlock()
		}
		served.ServeHTTP(w, req)
	}))
	reg.Host, reg.server = strings.TrimPrefix(srv.URL, "http://"), srv
	return reg
}

// Stop takes the registry down (a "registry down" fault).
func (r *Registry) Stop() { r.server.Close() }

// Cosign returns the project's pinned cosign (scripts/cosign.sh builds it).
func Cosign(t testing.TB) string {
	t.Helper()
	p := filepath.Join(RepoRoot(), "bin", "cosign")
	if _, err := os.Stat(p); err != nil {
		Missing(t, "the cosign binary "+p, err.Error())
	}
	return p
}

// PushRandomImage writes a random one-layer image to ref (Host/repo:tag),
// with the registry's credentials, and returns its digest.
func (r *Registry) PushRandomImage(t testing.TB, ref string) string {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	auth := remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: r.User, Password: r.Password}))
	if err := remote.Write(tag, img, auth); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// CosignKeyPair makes a cosign key pair with an empty password in dir
// and returns the paths of the private and the public key.
func CosignKeyPair(t testing.TB, cosign, dir string) (key, pub string) {
	t.Helper()
	cmd := exec.Command(cosign, "generate-key-pair")
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "COSIGN_PASSWORD=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	return filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
}
