package amqp_test

import (
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/release-engineering/pubtools-sign-go/broker/amqp"
	"github.com/release-engineering/pubtools-sign-go/internal/testenv"
)

func dialTLS(t *testing.T, url, certKey, ca string) error {
	t.Helper()
	cfg, err := amqp.LoadTLS(certKey, ca)
	require.NoError(t, err)
	c, err := amqp.Dial(context.Background(), amqp.Options{URLs: []string{url}, TLS: cfg, Sink: newCollector(1), Log: quiet(), ConnectTimeout: 5 * time.Second})
	if err == nil {
		c.Close()
	}
	return err
}

// The broker verifies client certificates: one that has expired is
// refused, with an error that points at messaging_cert_key.
func TestExpiredClientCertificateIsRefused(t *testing.T) {
	b := testenv.RabbitMQ(t, "main")
	expired := b.IssueClientCert(t, pkix.Name{CommonName: "pubtools-sign-test"}, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	err := dialTLS(t, b.AMQPSURL, expired, b.CACert)
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "messaging_cert_key") || strings.Contains(err.Error(), "expired"), err.Error())
	// The same subject, valid today, is let in: the refusal was the date.
	valid := b.IssueClientCert(t, pkix.Name{CommonName: "pubtools-sign-test"}, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	require.NoError(t, dialTLS(t, b.AMQPSURL, valid, b.CACert))
}

// TLS 1.2 is the floor: a server offering only TLS 1.1 is refused by the
// client before any credential is sent.
func TestTLSBelow12IsRefused(t *testing.T) {
	cfg, err := amqp.LoadTLS("", "")
	require.NoError(t, err)
	assert.Equal(t, uint16(tls.VersionTLS12), cfg.MinVersion)

	b := testenv.RabbitMQ(t, "main")
	serverCert, err := tls.LoadX509KeyPair(strings.TrimSuffix(b.CACert, "ca.pem")+"server.pem", strings.TrimSuffix(b.CACert, "ca.pem")+"server.key")
	require.NoError(t, err)
	ln := tls.NewListener(testenv.Listen(t), &tls.Config{Certificates: []tls.Certificate{serverCert}, MaxVersion: tls.VersionTLS11})
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_ = conn.(*tls.Conn).Handshake()
			conn.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	err = dialTLS(t, "amqps://localhost:"+port, b.ClientCertKey, b.CACert)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "protocol version")
}
