// Package cosign is the cosign signer: it runs the real cosign binary once
// per reference and signing key, pushing signatures to the image's
// registry. Credentials reach cosign through a private DOCKER_CONFIG,
// never through argv.
//
// Stability: v0. The package is a documented Go API, but its exported
// identifiers may change between minor versions; each change is listed in
// CHANGELOG.md.
package cosign

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/release-engineering/pubtools-sign-go/config"
)

// target is one image to sign: what cosign is pointed at, the tag
// annotation and the identity recorded in the signature.
type target struct {
	index    int    // position in the operation's references
	repo     string // registry/namespace/repo, the grouping key
	image    string // repo@digest
	tag      string // "" when the reference has none
	identity string
}

// targets pairs references, digests and identities by position, as the
// Python tool does; without references each digest is a full repo@digest.
func targets(refs, digests, identities []string) ([]target, error) {
	if len(refs) > 0 && len(refs) != len(digests) {
		return nil, fmt.Errorf("%d digests for %d references: they pair up by position", len(digests), len(refs))
	}
	out := make([]target, len(digests))
	for i, d := range digests {
		t := target{index: i}
		if i < len(identities) {
			t.identity = identities[i]
		}
		if len(refs) == 0 {
			repo, _, ok := strings.Cut(d, "@")
			if !ok {
				return nil, fmt.Errorf("digest %q: without --reference each digest must be repo@sha256:…", d)
			}
			t.repo, t.image = repo, d
		} else {
			t.repo, t.tag = splitTag(refs[i])
			t.image = t.repo + "@" + d
		}
		out[i] = t
	}
	return out, nil
}

// splitTag is Python's ref.rsplit(":", 1), except that a colon inside the
// registry host (localhost:5000/ns/app) is not a tag separator.
func splitTag(ref string) (repo, tag string) {
	i := strings.LastIndexByte(ref, ':')
	if i < 0 || strings.Contains(ref[i+1:], "/") {
		return ref, ""
	}
	return ref[:i], ref[i+1:]
}

// signArgs is the cosign command line for one target and key, the Python
// tool's (secrets go through DOCKER_CONFIG, never argv):
// cosign -t T sign -y --key K --allow-http-registry=B --allow-insecure-registry=B
// --rekor-url U --tlog-upload=B [--sign-container-identity I] [-a tag=T] repo@digest
func signArgs(c *config.CosignSigner, key string, t target) []string {
	args := []string{
		c.CosignBin, "-t", c.Timeout, "sign", "-y", "--key", key,
		"--allow-http-registry=" + strconv.FormatBool(c.AllowHTTPRegistry),
		"--allow-insecure-registry=" + strconv.FormatBool(c.AllowInsecureRegistry),
		"--rekor-url", c.RekorURL,
		"--tlog-upload=" + strconv.FormatBool(c.UploadTlog != nil && *c.UploadTlog),
	}
	if t.identity != "" {
		args = append(args, "--sign-container-identity", t.identity)
	}
	if t.tag != "" {
		args = append(args, "-a", "tag="+t.tag)
	}
	return append(args, t.image)
}

// triangulateArgs asks cosign where the signature of image lives.
func triangulateArgs(c *config.CosignSigner, image string) []string {
	return []string{
		c.CosignBin, "-t", c.Timeout, "triangulate",
		"--allow-http-registry=" + strconv.FormatBool(c.AllowHTTPRegistry),
		"--allow-insecure-registry=" + strconv.FormatBool(c.AllowInsecureRegistry),
		image,
	}
}
