package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
)

// NewSigner returns a Signer for issuer with key ID kid. The algorithm
// follows from the key: a P-256 *ecdsa.PrivateKey signs ES256, an
// ed25519.PrivateKey signs EdDSA; any other key is an error.
//
// Every kid byte is carried in every CWT; prefer a short kid (ShortKeyID).
func NewSigner(issuer, kid string, key crypto.Signer) (*Signer, error) {
	var alg Algorithm
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k == nil || k.Curve == nil || k.Curve.Params() != elliptic.P256().Params() {
			return nil, fmt.Errorf("token: unsupported signing key: ECDSA key not on P-256")
		}
		alg = ES256
	case ed25519.PrivateKey:
		alg = EdDSA
	default:
		return nil, fmt.Errorf("token: unsupported signing key type %T: want P-256 *ecdsa.PrivateKey or ed25519.PrivateKey", key)
	}
	s := &Signer{Issuer: issuer, KeyID: kid, Algorithm: alg, Key: key}
	if err := s.checkFull(); err != nil {
		return nil, err
	}
	return s, nil
}

// check validates a Signer, which callers may also build as a literal,
// before each signature. A P-256 *ecdsa.PrivateKey with ES256 or an
// Ed25519 key with EdDSA passes without re-validating its public point on
// every call: the signing itself rejects an invalid ECDSA key.
func (s *Signer) check() error {
	if s != nil && s.Key != nil && s.Issuer != "" && s.KeyID != "" {
		switch k := s.Key.(type) {
		case *ecdsa.PrivateKey:
			if s.Algorithm == ES256 && k != nil && k.Curve != nil && k.X != nil && k.Y != nil && k.D != nil &&
				k.Curve.Params() == elliptic.P256().Params() {
				return nil
			}
		case ed25519.PrivateKey:
			if s.Algorithm == EdDSA && len(k) == ed25519.PrivateKeySize {
				return nil
			}
		}
	}
	return s.checkFull()
}

// checkFull validates a Signer completely, its public key included.
func (s *Signer) checkFull() error {
	if s == nil || s.Key == nil {
		return fmt.Errorf("token: signer has no key")
	}
	if s.Issuer == "" {
		return fmt.Errorf("token: signer has no issuer")
	}
	if s.KeyID == "" {
		return fmt.Errorf("token: signer of %q has no kid", s.Issuer)
	}
	if k, ok := s.Key.(ed25519.PrivateKey); ok && len(k) != ed25519.PrivateKeySize {
		return fmt.Errorf("token: signer %q of %q: Ed25519 private key of %d bytes, want %d", s.KeyID, s.Issuer, len(k), ed25519.PrivateKeySize)
	}
	if k, ok := s.Key.(*ecdsa.PrivateKey); ok && (k == nil || k.Curve == nil) {
		return fmt.Errorf("token: signer %q of %q: invalid ECDSA private key", s.KeyID, s.Issuer)
	}
	if _, err := checkKeyAlg(s.Algorithm, s.Key.Public()); err != nil {
		return fmt.Errorf("token: signer %q of %q: %v", s.KeyID, s.Issuer, err)
	}
	return nil
}

// Public returns the issuer key that verifies this signer's tokens.
func (s *Signer) Public() IssuerKey {
	k := IssuerKey{Issuer: s.Issuer, KeyID: s.KeyID, Algorithm: s.Algorithm}
	if s.Key != nil {
		k.Key = s.Key.Public()
	}
	return k
}

// Sign signs c as an access token in format f. Issuer may be empty (the
// signer's issuer is used) or must equal the signer's issuer; Expiry is
// required; times are truncated to whole seconds.
func (s *Signer) Sign(c *Claims, f Format) ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if err := s.checkClaims(c); err != nil {
		return nil, err
	}
	switch f {
	case JWT:
		payload, err := encodeJWTClaims(c, s.Issuer)
		if err != nil {
			return nil, err
		}
		return s.signJWS(payload, typAccessTokenJWT)
	case CWT:
		payload, err := encodeCWTClaims(c, s.Issuer, s.UncompressedCnf)
		if err != nil {
			return nil, err
		}
		return s.signCOSE(payload, "")
	}
	return nil, fmt.Errorf("token: unknown format %d", int(f))
}

func (s *Signer) checkClaims(c *Claims) error {
	if c == nil {
		return fmt.Errorf("token: nil claims")
	}
	if c.Issuer != "" && c.Issuer != s.Issuer {
		return fmt.Errorf("token: claims issuer %q differs from signer issuer %q", c.Issuer, s.Issuer)
	}
	if c.Expiry.IsZero() {
		return fmt.Errorf("token: claims have no expiry")
	}
	for _, a := range c.Audience {
		if a == "" {
			return fmt.Errorf("token: claims have an empty audience")
		}
	}
	for _, sc := range c.Scopes {
		if !sc.Valid() {
			return fmt.Errorf("token: invalid scope {%q, %#x}", sc.Role, uint32(sc.RSC))
		}
	}
	if c.Status != nil && c.Status.URI == "" {
		return fmt.Errorf("token: status reference has no URI")
	}
	return nil
}

// signJWS signs payload as a JWS compact serialization (RFC 7515 §7.1)
// with the protected header {"alg","kid","typ"}: the bytes go-jose writes
// for the same header, without its generic machinery (a signer object, a
// header map and JSON re-marshalling per call).
func (s *Signer) signJWS(payload []byte, typ string) ([]byte, error) {
	hdr := make([]byte, 0, 32+len(s.KeyID)+len(typ))
	hdr = append(hdr, `{"alg":`...)
	hdr = appendJSONString(hdr, string(s.Algorithm))
	hdr = append(hdr, `,"kid":`...)
	hdr = appendJSONString(hdr, s.KeyID)
	hdr = append(hdr, `,"typ":`...)
	hdr = appendJSONString(hdr, typ)
	hdr = append(hdr, '}')
	hl, pl := b64.EncodedLen(len(hdr)), b64.EncodedLen(len(payload))
	out := make([]byte, hl+1+pl+1, hl+1+pl+1+b64.EncodedLen(ed25519.SignatureSize))
	b64.Encode(out, hdr)
	out[hl] = '.'
	b64.Encode(out[hl+1:], payload)
	out[hl+1+pl] = '.'
	sig, err := s.signRaw(out[:hl+1+pl])
	if err != nil {
		return nil, err
	}
	n := len(out)
	out = out[:n+b64.EncodedLen(len(sig))]
	b64.Encode(out[n:], sig)
	return out, nil
}

// signRaw signs msg and returns the raw signature: r || s (32 octets each)
// for ES256 (RFC 9053 §2.1, RFC 7518 §3.4), the 64-octet signature for
// EdDSA. ECDSA signing draws on crypto/rand.
func (s *Signer) signRaw(msg []byte) ([]byte, error) {
	switch s.Algorithm {
	case ES256:
		h := sha256.Sum256(msg)
		der, err := s.Key.Sign(rand.Reader, h[:], crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("token: ES256 signing: %v", err)
		}
		out := make([]byte, 64)
		if !derToRaw(out, der) {
			return nil, fmt.Errorf("token: ES256 signer returned a malformed signature")
		}
		return out, nil
	case EdDSA:
		sig, err := s.Key.Sign(rand.Reader, msg, crypto.Hash(0))
		if err != nil {
			return nil, fmt.Errorf("token: EdDSA signing: %v", err)
		}
		if len(sig) != ed25519.SignatureSize {
			return nil, fmt.Errorf("token: EdDSA signer returned %d bytes, want %d", len(sig), ed25519.SignatureSize)
		}
		return sig, nil
	}
	return nil, fmt.Errorf("token: algorithm %q not supported", s.Algorithm)
}

// derToRaw converts a DER Ecdsa-Sig-Value (SEQUENCE {INTEGER r, INTEGER
// s}) with 0 < r, s < 2^256 into r || s in out (64 bytes). It reports
// false for anything else: trailing data, long-form lengths (a P-256
// signature is at most 72 bytes), negative or zero integers, integers that
// do not fit 32 bytes.
func derToRaw(out, der []byte) bool {
	if len(der) < 2 || der[0] != 0x30 || int(der[1]) != len(der)-2 || der[1] >= 0x80 {
		return false
	}
	rest := der[2:]
	for i := range 2 {
		if len(rest) < 2 || rest[0] != 0x02 || rest[1] >= 0x80 || int(rest[1]) > len(rest)-2 {
			return false
		}
		v := rest[2 : 2+int(rest[1])]
		rest = rest[2+len(v):]
		if len(v) == 0 || v[0]&0x80 != 0 { // empty or negative
			return false
		}
		v = trimZeros(v)
		if len(v) == 0 || len(v) > 32 {
			return false
		}
		copy(out[32*i+32-len(v):32*i+32], v)
	}
	return len(rest) == 0
}

// verifyRaw checks a raw signature (see signRaw) over msg with a trusted
// key of algorithm alg.
func verifyRaw(k *trustedKey, msg, sig []byte) bool {
	switch k.Algorithm {
	case ES256:
		if len(sig) != 64 || k.ec == nil {
			return false
		}
		var buf [72]byte
		der := rawToDER(buf[:0], sig)
		if der == nil {
			return false
		}
		h := sha256.Sum256(msg)
		return ecdsa.VerifyASN1(k.ec, h[:], der)
	case EdDSA:
		return len(sig) == ed25519.SignatureSize && k.ed != nil && ed25519.Verify(k.ed, msg, sig)
	}
	return false
}

// rawToDER converts r || s to an ASN.1 DER Ecdsa-Sig-Value, or returns nil
// if r or s is zero.
func rawToDER(dst, sig []byte) []byte {
	r := trimZeros(sig[:32])
	s := trimZeros(sig[32:])
	if len(r) == 0 || len(s) == 0 {
		return nil
	}
	lr, ls := len(r)+int(r[0]>>7), len(s)+int(s[0]>>7)
	dst = append(dst, 0x30, byte(2+lr+2+ls))
	dst = appendDERInt(dst, r, lr)
	return appendDERInt(dst, s, ls)
}

func appendDERInt(dst, v []byte, l int) []byte {
	dst = append(dst, 0x02, byte(l))
	if l > len(v) {
		dst = append(dst, 0)
	}
	return append(dst, v...)
}

func trimZeros(b []byte) []byte {
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	return b
}
