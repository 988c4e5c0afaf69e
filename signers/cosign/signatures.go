package cosign

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// SignatureStatus says whether a reference has a cosign signature.
type SignatureStatus struct {
	Reference string `json:"reference"`
	// Signature is where cosign keeps the signature (the triangulated tag).
	Signature string `json:"signature"`
	Exists    bool   `json:"exists"`
	Error     string `json:"error"`
}

// ExistingSignatures reports, for each image (repo@digest or repo:tag),
// whether its signature is in the registry: cosign triangulate names the
// signature tag, the registry is asked whether it exists.
func (s *Signer) ExistingSignatures(ctx context.Context, images []string) ([]SignatureStatus, error) {
	creds, err := newDockerConfig(s.cfg, s.credentialRegistries(images), !s.daemon)
	if err != nil {
		return nil, err
	}
	defer creds.Remove()
	env := s.environment(creds)
	out := make([]SignatureStatus, len(images))
	for i, img := range images {
		st := SignatureStatus{Reference: img}
		stdout, stderr, err := s.run.Run(ctx, triangulateArgs(s.cfg, img), env)
		if err != nil {
			st.Error = strings.TrimSpace(stderr)
			if st.Error == "" {
				st.Error = err.Error()
			}
			out[i] = st
			continue
		}
		st.Signature = strings.TrimSpace(stdout)
		st.Exists, err = s.exists(ctx, st.Signature)
		if err != nil {
			st.Error = err.Error()
		}
		out[i] = st
	}
	return out, nil
}

func (s *Signer) exists(ctx context.Context, ref string) (bool, error) {
	var opts []name.Option
	if s.cfg.AllowHTTPRegistry {
		opts = append(opts, name.Insecure)
	}
	r, err := name.ParseReference(ref, opts...)
	if err != nil {
		return false, fmt.Errorf("signature reference %q: %w", ref, err)
	}
	auth := remote.WithAuthFromKeychain(authn.DefaultKeychain)
	if s.cfg.RegistryUser != "" {
		auth = remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: s.cfg.RegistryUser, Password: s.cfg.RegistryPassword}))
	}
	_, err = remote.Head(r, remote.WithContext(ctx), auth)
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up %s: %w", ref, err)
	}
	return true, nil
}
