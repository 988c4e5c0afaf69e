package msg

import (
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// oidUID is the LDAP userid attribute (0.9.2342.19200300.100.1.1).
var oidUID = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}

// ErrNoCreator is returned for a certificate with neither CN nor UID.
var ErrNoCreator = errors.New("certificate subject has neither CN nor UID")

// CreatorFromCert returns the subject CN, else the UID, of the first
// certificate in the PEM file: the Python tool's request creator.
func CreatorFromCert(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read certificate: %w", err)
	}
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return "", fmt.Errorf("%s: no PEM certificate found", path)
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return "", fmt.Errorf("%s: %w", path, err)
		}
		if cert.Subject.CommonName != "" {
			return cert.Subject.CommonName, nil
		}
		for _, n := range cert.Subject.Names {
			if n.Type.Equal(oidUID) {
				if s, ok := n.Value.(string); ok && s != "" {
					return s, nil
				}
			}
		}
		return "", fmt.Errorf("%s: %w", path, ErrNoCreator)
	}
}
