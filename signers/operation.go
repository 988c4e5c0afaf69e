// Package signers holds what every signer shares: the signing operations a
// caller asks for and the result document the Python tool prints. The
// messaging signer lives in signers/msg, the cosign signer in
// signers/cosign. signers never imports NATS or AMQP.
//
// Stability: v0. The package is a documented Go API, but its exported
// identifiers may change between minor versions; each change is listed in
// CHANGELOG.md.
package signers

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/release-engineering/pubtools-sign-go/internal/pyjson"
)

// ContainerSign asks for signatures of container images: each reference
// (registry/repo:tag) is paired with the manifest digest at the same index.
type ContainerSign struct {
	Digests         []string
	References      []string
	SigningKeys     []string
	SigningKeyNames []string
	TaskID          string
	Requester       string
	// IdentityReferences (cosign) are the identities recorded in the
	// signatures, paired with References by position; empty: References.
	IdentityReferences []string
}

// Dict is the Python ContainerSignOperation.to_dict(), in its key order.
func (o *ContainerSign) Dict() pyjson.Object {
	return pyjson.Object{
		{Key: "digests", Value: list(o.Digests)},
		{Key: "references", Value: list(o.References)},
		{Key: "signing_key_names", Value: list(o.SigningKeyNames)},
		{Key: "signing_keys", Value: list(o.SigningKeys)},
		{Key: "task_id", Value: o.TaskID},
		{Key: "requester", Value: optional(o.Requester)},
	}
}

// Validate reports the first field that makes the operation unusable.
func (o *ContainerSign) Validate() error {
	if len(o.References) == 0 {
		return &InputError{Field: "references", Problem: "at least one reference is required"}
	}
	if len(o.Digests) != len(o.References) {
		return &InputError{Field: "digests", Problem: fmt.Sprintf("%d digests for %d references: they pair up by position", len(o.Digests), len(o.References))}
	}
	for i, d := range o.Digests {
		if err := checkDigest(d); err != nil {
			return &InputError{Field: fmt.Sprintf("digests[%d]", i), Problem: err.Error()}
		}
	}
	for i, r := range o.References {
		if err := checkReference(r); err != nil {
			return &InputError{Field: fmt.Sprintf("references[%d]", i), Problem: err.Error()}
		}
	}
	if len(o.IdentityReferences) > len(o.References) {
		return &InputError{Field: "identity_references", Problem: fmt.Sprintf("%d identities for %d references", len(o.IdentityReferences), len(o.References))}
	}
	return checkKeys(o.SigningKeys, o.SigningKeyNames)
}

// ClearSign asks for clearsigned copies of texts.
type ClearSign struct {
	Inputs      []string
	SigningKeys []string
	TaskID      string
	Repo        string
	Requester   string
}

// Dict is the Python ClearSignOperation.to_dict(), in its key order.
func (o *ClearSign) Dict() pyjson.Object {
	return pyjson.Object{
		{Key: "inputs", Value: list(o.Inputs)},
		{Key: "signing_keys", Value: list(o.SigningKeys)},
		{Key: "task_id", Value: o.TaskID},
		{Key: "repo", Value: optional(o.Repo)},
		{Key: "requester", Value: optional(o.Requester)},
	}
}

// Validate reports the first field that makes the operation unusable.
func (o *ClearSign) Validate() error {
	if len(o.Inputs) == 0 {
		return &InputError{Field: "inputs", Problem: "at least one input is required"}
	}
	for i, in := range o.Inputs {
		for at, r := range in {
			if r > 0xff {
				return &InputError{Field: fmt.Sprintf("inputs[%d]", i),
					Problem: fmt.Sprintf("character %q (U+%04X) at byte %d cannot be encoded as latin-1, as the signing server expects", r, r, at)}
			}
		}
	}
	return checkKeys(o.SigningKeys, nil)
}

// BlobSign asks for detached signatures of blobs, each given base64-encoded.
type BlobSign struct {
	Blobs           []string
	SigningKeys     []string
	SigningKeyNames []string
	TaskID          string
	Requester       string
}

// Dict is the Python BlobSignOperation.to_dict(), in its key order.
func (o *BlobSign) Dict() pyjson.Object {
	return pyjson.Object{
		{Key: "blobs", Value: list(o.Blobs)},
		{Key: "signing_key_names", Value: list(o.SigningKeyNames)},
		{Key: "signing_keys", Value: list(o.SigningKeys)},
		{Key: "task_id", Value: o.TaskID},
		{Key: "requester", Value: optional(o.Requester)},
	}
}

// Validate reports the first field that makes the operation unusable.
func (o *BlobSign) Validate() error {
	if len(o.Blobs) == 0 {
		return &InputError{Field: "blobs", Problem: "at least one blob is required"}
	}
	return checkKeys(o.SigningKeys, o.SigningKeyNames)
}

// InputError is a bad operation field; the daemon reports it in an error
// envelope, the CLI as a usage error.
type InputError struct {
	Field   string
	Problem string
}

// Error is "field: problem".
func (e *InputError) Error() string { return e.Field + ": " + e.Problem }

// RepoOf is the repository of a reference as the Python tool computes it:
// reference.split("/", 1)[1].split(":")[0]. It runs once per request, so
// it only finds the parts; Validate checks the reference's grammar.
func RepoOf(reference string) (string, error) {
	_, rest, ok := strings.Cut(reference, "/")
	if !ok || rest == "" {
		return "", fmt.Errorf("reference %q has no repository after the registry (want registry/namespace/repo:tag)", abbreviated(reference))
	}
	repo, _, _ := strings.Cut(rest, ":")
	if repo == "" {
		return "", fmt.Errorf("reference %q has an empty repository", abbreviated(reference))
	}
	return repo, nil
}

// checkReference refuses what no registry would take: a space or a
// look-alike letter would be signed as a different image.
func checkReference(reference string) error {
	if _, err := RepoOf(reference); err != nil {
		return err
	}
	if len(reference) > maxReference {
		return fmt.Errorf("reference %q is %d characters, over %d", abbreviated(reference), len(reference), maxReference)
	}
	if _, err := name.ParseReference(reference); err != nil {
		return fmt.Errorf("reference %q is not a valid image reference: %v", abbreviated(reference), err)
	}
	return nil
}

// abbreviated keeps error messages about huge inputs readable.
func abbreviated(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// maxReference bounds a reference: registries refuse repository names
// over 255 characters; tags add at most 128.
const maxReference = 512

// digestHexLength is the length of the hex part of the digests registries
// use.
var digestHexLength = map[string]int{"sha256": 64, "sha384": 96, "sha512": 128}

// checkDigest refuses what is not algorithm:hex. Any length of hex is
// signed, as the Python tool does: pipelines test with digests such as
// sha256:0000, and the seed README's own example is sha256:123456.
// DigestWarnings says which lengths are not their algorithm's.
func checkDigest(d string) error {
	algo, hex, ok := strings.Cut(d, ":")
	if !ok || algo == "" || hex == "" {
		return fmt.Errorf("digest %q is not algorithm:hex", d)
	}
	for _, c := range hex {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return fmt.Errorf("digest %q: %q is not lower-case hex", d, c)
		}
	}
	return nil
}

// DigestWarnings names the digests whose hex part is not as long as
// their algorithm's (a test digest, or a truncated one): they are signed
// as given, and the caller tells its user.
func (o *ContainerSign) DigestWarnings() []string {
	var out []string
	for i, d := range o.Digests {
		algo, hex, _ := strings.Cut(d, ":")
		if n, known := digestHexLength[algo]; known && len(hex) != n {
			out = append(out, fmt.Sprintf("digests[%d]: digest %q has %d hex digits; a %s digest has %d. Signing it as given.", i, d, len(hex), algo, n))
		}
	}
	return out
}

func checkKeys(keys, names []string) error {
	if len(keys) == 0 {
		return &InputError{Field: "signing_keys", Problem: "at least one signing key is required"}
	}
	for i, k := range keys {
		if strings.TrimSpace(k) == "" {
			return &InputError{Field: fmt.Sprintf("signing_keys[%d]", i), Problem: "empty signing key"}
		}
	}
	if len(names) > 0 && len(names) != len(keys) {
		return &InputError{Field: "signing_key_names", Problem: fmt.Sprintf("%d names for %d signing keys: give one per key or none", len(names), len(keys))}
	}
	return nil
}

// optional is an option the Python CLI leaves at None when it is not
// given (click options without a default): "" prints as null, the way
// the Python tool prints a missing --requester or --repo.
func optional(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// list keeps a nil slice from printing as null: Python prints [].
func list(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
