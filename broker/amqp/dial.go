package amqp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"github.com/release-engineering/pubtools-sign-go/internal/redact"
)

// ErrNoBroker is wrapped when no broker of the failover list accepted a
// connection.
var ErrNoBroker = errors.New("no messaging broker reachable")

// dialAny tries the brokers in order starting at start and returns the first
// connection and its index. The error names every broker and why it failed.
func (c *Client) dialAny(ctx context.Context, start int) (*goamqp.Conn, int, error) {
	var problems []string
	n := len(c.opts.URLs)
	for i := 0; i < n; i++ {
		idx := (start + i) % n
		conn, err := c.dialOne(ctx, c.opts.URLs[idx])
		if err == nil {
			return conn, idx, nil
		}
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		problems = append(problems, err.Error())
	}
	return nil, 0, fmt.Errorf("%w: %s", ErrNoBroker, strings.Join(problems, "; "))
}

func (c *Client) dialOne(ctx context.Context, raw string) (*goamqp.Conn, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("broker URL %q: %w", Redact(raw), err)
	}
	shown := Redact(raw)
	opts := &goamqp.ConnOptions{
		ContainerID: c.opts.ContainerID,
		HostName:    u.Hostname(),
		// Without SASL RabbitMQ maps the connection to its default user, as
		// the Python tool (sasl_enabled=False) relies on.
		SASLType: nil,
	}
	if u.User != nil {
		pass, _ := u.User.Password()
		opts.SASLType = goamqp.SASLTypePlain(u.User.Username(), pass)
	}
	if u.Scheme == "amqps" {
		cfg := c.opts.TLS
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		cfg = cfg.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		opts.TLSConfig = cfg
	}
	dctx, cancel := context.WithTimeout(ctx, c.opts.ConnectTimeout)
	defer cancel()
	conn, err := c.open(dctx, u, opts)
	if err == nil {
		return conn, nil
	}
	return nil, explainDialError(shown, u.Scheme == "amqps", c.opts.ConnectTimeout, dctx, err)
}

// open dials the broker (TLS first for amqps, as go-amqp's Dial does) and
// opens the AMQP connection over a coalescingConn, which starts gathering
// writes (Options.WriteCoalesce) once the connection is open.
func (c *Client) open(ctx context.Context, u *url.URL, opts *goamqp.ConnOptions) (*goamqp.Conn, error) {
	host := u.Host
	if u.Port() == "" {
		port := "5672"
		if opts.TLSConfig != nil {
			port = "5671"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	var nc net.Conn
	var err error
	if opts.TLSConfig != nil {
		nc, err = (&tls.Dialer{Config: opts.TLSConfig}).DialContext(ctx, "tcp", host)
	} else {
		nc, err = (&net.Dialer{}).DialContext(ctx, "tcp", host)
	}
	if err != nil {
		return nil, err
	}
	cc := newCoalescingConn(nc, &c.wire)
	amqpOpts := *opts
	amqpOpts.TLSConfig = nil // TLS is already up under cc
	conn, err := goamqp.NewConn(ctx, cc, &amqpOpts)
	if err != nil {
		return nil, err // NewConn closed cc
	}
	cc.start(c.opts.WriteCoalesce)
	return conn, nil
}

// explainDialError turns go-amqp's dial failures into what an operator can
// act on. RabbitMQ does not refuse a wrong SASL password: it lets the dial
// hang, so a deadline means "authentication failed or not a broker".
func explainDialError(shown string, useTLS bool, timeout time.Duration, dctx context.Context, err error) error {
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var certErr *tls.CertificateVerificationError
	switch {
	case errors.As(err, &unknownCA) || (errors.As(err, &certErr) && errors.As(certErr.Err, &unknownCA)):
		return fmt.Errorf("%s: TLS: broker certificate is not signed by messaging_ca_cert: %w", shown, err)
	case errors.As(err, &hostErr):
		return fmt.Errorf("%s: TLS: broker certificate does not match the host name: %w", shown, err)
	case errors.Is(dctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: authentication failed or broker not answering at %s (no AMQP open within %s)", shown, shown, timeout)
	case strings.Contains(err.Error(), "tls:"):
		return fmt.Errorf("%s: TLS handshake failed (check messaging_cert_key and messaging_ca_cert): %w", shown, err)
	case useTLS && (errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF)):
		// With TLS 1.3 a server refuses the client certificate after the
		// handshake, by closing the connection.
		return fmt.Errorf("%s: TLS: broker closed the connection; is messaging_cert_key a certificate it trusts? (%w)", shown, err)
	}
	return fmt.Errorf("%s: %w", shown, err)
}

// Redact hides the password of a broker URL (also of one that does not
// parse): internal/redact is the one rule for every URL.
func Redact(raw string) string { return redact.URL(raw) }
