package ue

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"

	"github.com/prosesec/prosesec/token"
)

// GenerateIdentityKey makes a PC5 identity key: ECDSA P-256 for
// token.ES256 (the default), Ed25519 for token.EdDSA.
func GenerateIdentityKey(alg token.Algorithm, rand io.Reader) (crypto.Signer, error) {
	switch alg {
	case token.ES256, "":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand)
		if err != nil {
			return nil, fmt.Errorf("ue: generating a P-256 key: %v", err)
		}
		return k, nil
	case token.EdDSA:
		_, k, err := ed25519.GenerateKey(rand)
		if err != nil {
			return nil, fmt.Errorf("ue: generating an Ed25519 key: %v", err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("ue: identity key algorithm %q, want %q or %q", alg, token.ES256, token.EdDSA)
}

// KeyAlgorithm returns the signature algorithm of an identity key: ES256
// for a P-256 ECDSA key, EdDSA for Ed25519.
func KeyAlgorithm(k crypto.Signer) (token.Algorithm, error) {
	switch p := k.Public().(type) {
	case *ecdsa.PublicKey:
		if p.Curve == elliptic.P256() {
			return token.ES256, nil
		}
		return "", fmt.Errorf("ue: identity key on curve %s, want P-256", p.Curve.Params().Name)
	case ed25519.PublicKey:
		return token.EdDSA, nil
	}
	return "", fmt.Errorf("ue: identity key of type %T, want ECDSA P-256 or Ed25519", k.Public())
}

// MarshalIdentityKey encodes a P-256 or Ed25519 private key as a PKCS #8
// PEM block ("PRIVATE KEY"), the form prose-as keygen writes.
func MarshalIdentityKey(k crypto.Signer) ([]byte, error) {
	if _, err := KeyAlgorithm(k); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("ue: encoding identity key: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseIdentityKey parses a PEM identity key: PKCS #8 ("PRIVATE KEY") or
// SEC 1 ("EC PRIVATE KEY"), P-256 or Ed25519.
func ParseIdentityKey(pemBytes []byte) (crypto.Signer, error) {
	block, rest := pem.Decode(pemBytes)
	if block == nil {
		return nil, fmt.Errorf("ue: identity key is not PEM")
	}
	if len(rest) != 0 {
		if more, _ := pem.Decode(rest); more != nil {
			return nil, fmt.Errorf("ue: identity key file holds more than one PEM block")
		}
	}
	var k any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("ue: identity key PEM block %q, want \"PRIVATE KEY\"", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("ue: parsing identity key: %v", err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("ue: identity key of type %T cannot sign", k)
	}
	if _, err := KeyAlgorithm(s); err != nil {
		return nil, err
	}
	return s, nil
}

// publicEqual reports whether two public keys are the same key.
func publicEqual(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}
