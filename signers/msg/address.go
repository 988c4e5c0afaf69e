package msg

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/release-engineering/pubtools-sign-go/signers"
)

// addressValue is what a value templated into an AMQP address may be: a
// plain token. A '/' reaches other exchanges or queues ("../../amq/queue/
// victim"), '#' and '*' make a reply receiver a wildcard that takes other
// clients' replies, and non-ASCII (a right-to-left override) has crashed
// RabbitMQ's AMQP 1.0 session process. Dots separate routing-key words, so
// a single dot is fine, two in a row are not.
var addressValue = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$`)

// listFields are rendered as Python lists ("['a', 'b']"), as the Python
// tool formats them; their elements (references, key ids) hold '/' and
// ':', so they get the looser listValue rule: printable ASCII without
// wildcards or "..".
var listFields = map[string]bool{"signing_keys": true, "signing_key_names": true, "digests": true, "references": true,
	"identity_references": true, "inputs": true, "blobs": true, "messaging_brokers": true}

// listValue is printable ASCII without '#' or '*'.
var listValue = regexp.MustCompile(`^[ -"$-)+-~]*$`)

// maxAddressValue bounds one templated value (RabbitMQ's routing keys end
// at 255 bytes).
const maxAddressValue = 200

// checkAddressValues refuses, before any address is formatted, a templated
// value that is not a plain token. requester says whether "creator" came
// from the operation (then the error names the requester field).
func (s *Signer) checkAddressValues(values map[string]string, requester bool) error {
	names := make([]string, 0, len(s.templated))
	for name := range s.templated {
		names = append(names, name)
	}
	sort.Strings(names) // the first bad field is the same every time
	for _, name := range names {
		v := values[name]
		if v == "" || (len(v) <= maxAddressValue && addressValue.MatchString(v)) {
			continue
		}
		if listFields[name] && listValue.MatchString(v) && !strings.Contains(v, "..") {
			continue
		}
		field := name
		if name == "creator" && requester {
			field = "requester"
		}
		return &signers.InputError{Field: field, Problem: fmt.Sprintf(
			"%s is not usable in an AMQP address (topic templates use {%s}): want letters, digits, '_', '-' and single dots, at most %d characters, got %s",
			field, name, maxAddressValue, quoteClipped(v))}
	}
	return nil
}

// quoteClipped quotes at most 64 bytes of v, escaping what is not
// printable ASCII, so the refusal shows the culprit without echoing it
// whole.
func quoteClipped(v string) string {
	const max = 64
	if len(v) <= max {
		return fmt.Sprintf("%+q", v)
	}
	cut := max
	for cut > 0 && v[cut]&0xC0 == 0x80 {
		cut--
	}
	return fmt.Sprintf("%+q... (%d bytes)", v[:cut], len(v))
}
