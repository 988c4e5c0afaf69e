package redact

import (
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"nats://worker:s3cret@127.0.0.1:4222", "nats://worker:xxxxx@127.0.0.1:4222"},
		{"nats://TOKEN@h:4222", "nats://xxxxx@h:4222"},
		{"amqp://guest@h:5672", "amqp://guest@h:5672"},
		{"amqps://u:p%2Fw@h:5671", "amqps://u:xxxxx@h:5671"},
		{"nats://a:p1@h1:4222,nats://b:p2@h2:4222", "nats://a:xxxxx@h1:4222,nats://b:xxxxx@h2:4222"},
		{"amqp://u:pa ss%zz@h:1", "amqp://xxxxx@h:1"},
	} {
		if got := URL(c.in); got != c.want {
			t.Errorf("URL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestText(t *testing.T) {
	got := Text(`connect to NATS at nats://w:hunter2@h:1: dial tcp: refused; also "amqp://u:pw@x:5672"`)
	if strings.Contains(got, "hunter2") || strings.Contains(got, "pw@") {
		t.Fatalf("secret left in %q", got)
	}
}
