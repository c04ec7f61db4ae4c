package token

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// COSE algorithm identifiers (RFC 9053 §2.1 ES256 = -7, §2.2 EdDSA = -8).
const (
	coseAlgES256 = -7
	coseAlgEdDSA = -8
)

// supported reports whether a is one of the two algorithms this package
// signs and verifies with.
func (a Algorithm) supported() bool { return a == ES256 || a == EdDSA }

// coseAlg returns the COSE algorithm identifier of a.
func (a Algorithm) coseAlg() int64 {
	if a == EdDSA {
		return coseAlgEdDSA
	}
	return coseAlgES256
}

// algFromCOSE maps a COSE algorithm identifier to an Algorithm. Unknown
// identifiers map to a descriptive name that is never allowed.
func algFromCOSE(v int64) Algorithm {
	switch v {
	case coseAlgES256:
		return ES256
	case coseAlgEdDSA:
		return EdDSA
	}
	return Algorithm(fmt.Sprintf("COSE(%d)", v))
}

// publicKey validates pub as a verification key of this package and returns
// an unaliased copy with the algorithm it implies: a P-256 *ecdsa.PublicKey
// (ES256) or a 32-byte ed25519.PublicKey (EdDSA).
func publicKey(pub crypto.PublicKey) (crypto.PublicKey, Algorithm, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil || k.X == nil || k.Y == nil {
			return nil, "", fmt.Errorf("token: invalid public key: nil ECDSA key")
		}
		if k.Curve.Params() != elliptic.P256().Params() {
			return nil, "", fmt.Errorf("token: unsupported public key: ECDSA curve %s, want P-256", k.Curve.Params().Name)
		}
		b, err := k.Bytes()
		if err != nil {
			return nil, "", fmt.Errorf("token: invalid P-256 public key: %v", err)
		}
		c, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), b)
		if err != nil {
			return nil, "", fmt.Errorf("token: invalid P-256 public key: %v", err)
		}
		return c, ES256, nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return nil, "", fmt.Errorf("token: invalid Ed25519 public key: %d bytes, want %d", len(k), ed25519.PublicKeySize)
		}
		return ed25519.PublicKey(bytes.Clone(k)), EdDSA, nil
	case *ecdsa.PrivateKey, ed25519.PrivateKey, *ed25519.PrivateKey, crypto.Signer:
		return nil, "", fmt.Errorf("token: got a private key (%T) where a public key is expected", pub)
	case nil:
		return nil, "", fmt.Errorf("token: missing public key")
	}
	return nil, "", fmt.Errorf("token: unsupported public key type %T: want P-256 *ecdsa.PublicKey or ed25519.PublicKey", pub)
}

// checkKeyAlg validates pub and checks that it is a key for alg.
func checkKeyAlg(alg Algorithm, pub crypto.PublicKey) (crypto.PublicKey, error) {
	if !alg.supported() {
		return nil, fmt.Errorf("token: algorithm %q not supported: want %q or %q", alg, ES256, EdDSA)
	}
	k, kalg, err := publicKey(pub)
	if err != nil {
		return nil, err
	}
	if kalg != alg {
		return nil, fmt.Errorf("token: key type %T is a %s key, not a %s key", pub, kalg, alg)
	}
	return k, nil
}

// ParsePublicKey parses a verification key given as a JWK (JSON object,
// RFC 7517) or as a PEM "PUBLIC KEY" block (PKIX, RFC 5280). It returns a
// P-256 *ecdsa.PublicKey or an ed25519.PublicKey; private keys, symmetric
// keys and other curves are rejected.
func ParsePublicKey(data []byte) (crypto.PublicKey, error) {
	d := bytes.TrimSpace(data)
	switch {
	case len(d) == 0:
		return nil, fmt.Errorf("token: empty public key")
	case d[0] == '{':
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(d); err != nil {
			return nil, fmt.Errorf("token: parsing JWK: %v", err)
		}
		if !jwk.IsPublic() {
			return nil, fmt.Errorf("token: JWK holds a private or symmetric key (%T), want a public key", jwk.Key)
		}
		k, _, err := publicKey(jwk.Key)
		return k, err
	case bytes.HasPrefix(d, []byte("-----BEGIN")):
		block, rest := pem.Decode(d)
		if block == nil {
			return nil, fmt.Errorf("token: invalid PEM data")
		}
		if len(bytes.TrimSpace(rest)) != 0 {
			return nil, fmt.Errorf("token: PEM data has %d bytes after the first block, want one block", len(rest))
		}
		if block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("token: PEM block %q, want \"PUBLIC KEY\"", block.Type)
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("token: parsing PKIX public key: %v", err)
		}
		k, _, err := publicKey(pub)
		return k, err
	}
	return nil, fmt.Errorf("token: public key is neither a JWK nor a PEM block")
}

// Thumbprint returns the RFC 7638 JWK thumbprint (SHA-256, base64url
// without padding) of a P-256 or Ed25519 public key.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	k, _, err := publicKey(pub)
	if err != nil {
		return "", err
	}
	t, err := (&jose.JSONWebKey{Key: k}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("token: thumbprint: %v", err)
	}
	return base64.RawURLEncoding.EncodeToString(t), nil
}

// ShortKeyIDLen is the length of a key ID made by ShortKeyID.
const ShortKeyIDLen = 8

// ShortKeyID returns the first ShortKeyIDLen characters (48 bits) of the
// key's RFC 7638 thumbprint: a key ID short enough for CWTs carried over
// PC5 (every kid byte is in every token). TrustStore.Add refuses a second
// key under the same (issuer, kid), so a collision cannot go unnoticed.
func ShortKeyID(pub crypto.PublicKey) (string, error) {
	t, err := Thumbprint(pub)
	if err != nil {
		return "", err
	}
	return t[:ShortKeyIDLen], nil
}

// jwkOf returns the go-jose JWK of a validated issuer key.
func jwkOf(k IssuerKey) (jose.JSONWebKey, error) {
	pub, err := checkKeyAlg(k.Algorithm, k.Key)
	if err != nil {
		return jose.JSONWebKey{}, err
	}
	if k.KeyID == "" {
		return jose.JSONWebKey{}, fmt.Errorf("token: key of issuer %q has no kid", k.Issuer)
	}
	return jose.JSONWebKey{Key: pub, KeyID: k.KeyID, Algorithm: string(k.Algorithm), Use: "sig"}, nil
}

// MarshalJWKS writes keys as a JWK Set (RFC 7517 §5): {"keys":[...]}, each
// key with kid, alg, use "sig" and its public parameters (kty, crv, x, y).
func MarshalJWKS(keys []IssuerKey) ([]byte, error) {
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(keys))}
	for _, k := range keys {
		jwk, err := jwkOf(k)
		if err != nil {
			return nil, err
		}
		set.Keys = append(set.Keys, jwk)
	}
	return json.Marshal(set)
}

// parseJWKS parses a JWK Set into issuer keys of issuer. Every key must be
// a public P-256 or Ed25519 key with a kid; alg, if present, must be ES256
// or EdDSA and match the key (if absent it is implied by the key type);
// use, if present, must be "sig".
func parseJWKS(issuer string, data []byte) ([]IssuerKey, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("token: parsing JWKS of %q: %v", issuer, err)
	}
	out := make([]IssuerKey, 0, len(set.Keys))
	for i, jwk := range set.Keys {
		if jwk.KeyID == "" {
			return nil, fmt.Errorf("token: JWKS of %q: key %d has no kid", issuer, i)
		}
		if !jwk.IsPublic() {
			return nil, fmt.Errorf("token: JWKS of %q: key %q is private or symmetric (%T), want a public key", issuer, jwk.KeyID, jwk.Key)
		}
		if jwk.Use != "" && jwk.Use != "sig" {
			return nil, fmt.Errorf("token: JWKS of %q: key %q has use %q, want \"sig\"", issuer, jwk.KeyID, jwk.Use)
		}
		pub, kalg, err := publicKey(jwk.Key)
		if err != nil {
			return nil, fmt.Errorf("token: JWKS of %q: key %q: %v", issuer, jwk.KeyID, err)
		}
		alg := Algorithm(jwk.Algorithm)
		if alg == "" {
			alg = kalg
		}
		if !alg.supported() {
			return nil, fmt.Errorf("token: JWKS of %q: key %q has alg %q, want %q or %q", issuer, jwk.KeyID, alg, ES256, EdDSA)
		}
		if alg != kalg {
			return nil, fmt.Errorf("token: JWKS of %q: key %q has alg %q but is a %s key", issuer, jwk.KeyID, alg, kalg)
		}
		out = append(out, IssuerKey{Issuer: issuer, KeyID: jwk.KeyID, Algorithm: alg, Key: pub})
	}
	return out, nil
}
