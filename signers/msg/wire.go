package msg

import (
	"encoding/base64"
	"fmt"
	"time"

	"github.com/release-engineering/pubtools-sign-go/internal/pyjson"
)

// RequestType is the "mtype" header of a request.
type RequestType string

// Request types and the body attribute that carries their data.
const (
	ContainerSignature RequestType = "container_signature"
	ClearsignSignature RequestType = "clearsign_signature"
	GPGSignature       RequestType = "gpg_signature"
	Batch              RequestType = "batch"
)

// dataAttribute is the body key holding what is to be signed.
func (t RequestType) dataAttribute() string {
	switch t {
	case ContainerSignature:
		return "claim_file"
	case GPGSignature:
		return "artifact"
	case Batch:
		return "claims"
	default:
		return "data"
	}
}

// ContainerClaim is the base64 of the atomic container signature claim,
// byte-identical to the Python tool's json.dumps of it.
func ContainerClaim(digest, reference string) string {
	claim := pyjson.Object{
		{Key: "critical", Value: pyjson.Object{
			{Key: "type", Value: "atomic container signature"},
			{Key: "image", Value: pyjson.Object{{Key: "docker-manifest-digest", Value: digest}}},
			{Key: "identity", Value: pyjson.Object{{Key: "docker-reference", Value: reference}}},
		}},
		{Key: "optional", Value: pyjson.Object{{Key: "creator", Value: "pubtools-sign"}}},
	}
	// The claim's fixed text is ~170 bytes: one allocation, not a growing slice.
	text, err := pyjson.Append(make([]byte, 0, 192+len(digest)+len(reference)), claim)
	if err != nil { // only strings inside: cannot fail
		panic(err)
	}
	// Python encodes the ASCII-only json.dumps output as latin-1: same bytes.
	return base64.StdEncoding.EncodeToString(text)
}

// Latin1Base64 is base64 of text encoded as latin-1, as the Python tool
// prepares clearsign input; a character beyond U+00FF cannot be encoded.
func Latin1Base64(text string) (string, error) {
	buf := make([]byte, 0, len(text))
	for i, r := range text {
		if r > 0xff {
			return "", fmt.Errorf("character %q (U+%04X) at byte %d cannot be encoded as latin-1", r, r, i)
		}
		buf = append(buf, byte(r))
	}
	return base64.StdEncoding.EncodeToString(buf), nil
}

// Created formats t as Python's datetime.utcnow().isoformat() + "Z": the
// microseconds are left out when they are zero.
func Created(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()/1000 == 0 {
		return t.Format("2006-01-02T15:04:05") + "Z"
	}
	return t.Format("2006-01-02T15:04:05.000000") + "Z"
}

// keyID is the last 8 characters of a signing key, the body's sig_key_id.
func keyID(key string) string {
	if len(key) <= 8 {
		return key
	}
	return key[len(key)-8:]
}
