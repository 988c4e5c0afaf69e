package emulator

import (
	"bytes"
	"fmt"
	"io"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Key is the emulator's OpenPGP signing key.
type Key struct {
	entity *openpgp.Entity
	config *packet.Config
}

// NewKey generates an Ed25519 key (fast enough to make one per start).
func NewKey() (*Key, error) {
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA}
	e, err := openpgp.NewEntity("pubtools-sign emulator", "signing-server emulator", "emulator@localhost", cfg)
	if err != nil {
		return nil, fmt.Errorf("generate OpenPGP key: %w", err)
	}
	return &Key{entity: e, config: cfg}, nil
}

// KeyID is the key id in upper-case hex, the way signing keys are named.
func (k *Key) KeyID() string { return fmt.Sprintf("%016X", k.entity.PrimaryKey.KeyId) }

// ArmoredPublicKey exports the public key so callers can verify.
func (k *Key) ArmoredPublicKey() ([]byte, error) {
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, err
	}
	if err := k.entity.Serialize(w); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// SignMessage returns a binary OpenPGP signed message holding data, the
// form of an atomic container signature.
func (k *Key) SignMessage(data []byte) ([]byte, error) {
	return signThrough(data, func(w io.Writer) (io.WriteCloser, error) {
		return openpgp.Sign(w, k.entity, nil, k.config)
	})
}

// ClearSign returns data as an armored clearsigned text.
func (k *Key) ClearSign(data []byte) ([]byte, error) {
	return signThrough(data, func(w io.Writer) (io.WriteCloser, error) {
		return clearsign.Encode(w, k.entity.PrivateKey, k.config)
	})
}

// signThrough writes data through the signing writer open returns.
func signThrough(data []byte, open func(io.Writer) (io.WriteCloser, error)) ([]byte, error) {
	var buf bytes.Buffer
	w, err := open(&buf)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// DetachSign returns an armored detached signature of data.
func (k *Key) DetachSign(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&buf, k.entity, bytes.NewReader(data), k.config); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// VerifyMessage checks a signed message made by SignMessage against the
// armored public key and returns the signed data.
func VerifyMessage(armoredPublicKey, signed []byte) ([]byte, error) {
	keys, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(armoredPublicKey))
	if err != nil {
		return nil, fmt.Errorf("read public key: %w", err)
	}
	md, err := openpgp.ReadMessage(bytes.NewReader(signed), keys, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("read signed message: %w", err)
	}
	data, err := io.ReadAll(md.UnverifiedBody)
	if err != nil {
		return nil, err
	}
	if md.SignatureError != nil {
		return nil, fmt.Errorf("bad signature: %w", md.SignatureError)
	}
	if md.SignedBy == nil {
		return nil, fmt.Errorf("message not signed by the given key")
	}
	return data, nil
}
