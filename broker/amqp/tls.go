package amqp

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// LoadTLS builds a client TLS configuration from a PEM file holding the
// client key and certificate (the Python tool's messaging_cert_key) and a CA
// bundle. Either may be empty. TLS 1.2 is the minimum.
func LoadTLS(certKeyPath, caPath string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if certKeyPath != "" {
		pem, err := os.ReadFile(certKeyPath)
		if err != nil {
			return nil, fmt.Errorf("read client certificate: %w", err)
		}
		// One file carries both blocks; X509KeyPair picks each out.
		pair, err := tls.X509KeyPair(pem, pem)
		if err != nil {
			return nil, fmt.Errorf("client certificate %s: %w", certKeyPath, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if caPath != "" {
		pem, err := os.ReadFile(caPath)
		if err != nil {
			return nil, fmt.Errorf("read CA certificate: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("CA certificate " + caPath + ": no PEM certificate found")
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}
