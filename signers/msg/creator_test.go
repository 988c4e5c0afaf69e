package msg

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// certFile writes a self-signed certificate (with its key, as the Python
// tool's messaging_cert_key holds both) for subject.
func certFile(t *testing.T, subject pkix.Name) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: subject, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), "cert.pem")
	data := append(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return p
}

func TestCreatorIsTheSubjectCNElseUID(t *testing.T) {
	got, err := CreatorFromCert(certFile(t, pkix.Name{CommonName: "release-bot", Organization: []string{"x"}}))
	require.NoError(t, err)
	assert.Equal(t, "release-bot", got)

	uid := pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{{Type: asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}, Value: "uid-bot"}}}
	got, err = CreatorFromCert(certFile(t, uid))
	require.NoError(t, err)
	assert.Equal(t, "uid-bot", got)

	_, err = CreatorFromCert(certFile(t, pkix.Name{Organization: []string{"nobody"}}))
	assert.ErrorIs(t, err, ErrNoCreator)

	_, err = CreatorFromCert(filepath.Join(t.TempDir(), "missing.pem"))
	assert.Error(t, err)
}
