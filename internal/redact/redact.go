// Package redact hides secrets in URLs before they reach a log line, an
// error, `config check` output or a metric: the one place that knows
// what a URL secret looks like (NATS, AMQP, anything with userinfo).
package redact

import (
	"net/url"
	"regexp"
	"strings"
)

// Mask replaces a secret.
const Mask = "xxxxx"

// tokenSchemes are URL schemes whose userinfo without a password is a
// secret token (nats://TOKEN@host), not a user name.
var tokenSchemes = map[string]bool{"nats": true, "tls": true, "ws": true, "wss": true}

// URL hides the password (and a NATS token) in raw, which may be a comma
// separated list of URLs (nats.url) and need not parse: an unparsable URL
// is where a careless redactor leaks.
func URL(raw string) string {
	if !strings.Contains(raw, "@") {
		return raw
	}
	parts := strings.Split(raw, ",")
	for i, p := range parts {
		parts[i] = one(p)
	}
	return strings.Join(parts, ",")
}

func one(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.User == nil {
		return userinfo.ReplaceAllString(raw, "//"+Mask+"@")
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), Mask)
	} else if tokenSchemes[strings.ToLower(u.Scheme)] {
		u.User = url.User(Mask)
	} else {
		return raw
	}
	return strings.Replace(u.String(), url.QueryEscape(Mask), Mask, 1)
}

// userinfo is everything between "//" and the last "@" before the host,
// for URLs url.Parse refuses (a password with a "/" or "%" in it).
var userinfo = regexp.MustCompile(`//[^@]*@`)

// Text hides every URL secret inside free text (an error message that
// quotes a URL).
func Text(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	return inText.ReplaceAllStringFunc(s, one)
}

var inText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"',]*@[^\s"',]*`)
