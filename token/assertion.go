package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"math"
	"strconv"
	"time"
)

// MaxClientAssertionSize bounds a client assertion before it is decoded.
const MaxClientAssertionSize = 8192

// ClientAssertion is a JWT with which an OAuth client authenticates
// (private_key_jwt: RFC 7523 §2.2 and §3), decoded but not verified. The
// AS reads it once: the claimed issuer for rate limiting, then the key of
// that client for VerifySignature, then the claims.
//
// Nothing in it may be trusted before VerifySignature succeeds.
type ClientAssertion struct {
	Alg      Algorithm // the header's alg as sent: not checked against any allow-list
	KeyID    string    // the header's kid, if any
	Issuer   string
	Subject  string
	Audience []string
	ID       string // jti
	// Expiry, NotBefore and IssuedAt are zero when the claim is absent.
	// Non-integer NumericDates (RFC 7519 §2 allows them) are truncated to
	// whole seconds.
	Expiry, NotBefore, IssuedAt time.Time

	tbs, sig []byte
}

// ParseClientAssertion decodes a client assertion strictly: the JWS
// compact serialization in unpadded base64url, a header with alg and no
// crit, a claims object whose known members (iss, sub, aud, exp, nbf,
// iat, jti) appear at most once with their JSON types (aud a string or an
// array of strings; times numbers), valid UTF-8, case-sensitive member
// names. Other members are ignored. Errors wrap ErrTooLarge (more than
// MaxClientAssertionSize bytes, before any decoding) or ErrMalformed.
func ParseClientAssertion(raw string) (*ClientAssertion, error) {
	if len(raw) > MaxClientAssertionSize {
		return nil, errorf(ErrTooLarge, "client assertion of %d bytes exceeds %d", len(raw), MaxClientAssertionSize)
	}
	m, err := decodeJWS([]byte(raw))
	if err != nil {
		return nil, err
	}
	a := &ClientAssertion{Alg: Algorithm(m.hdr.Alg), KeyID: m.hdr.Kid, tbs: m.tbs, sig: m.sig}
	if err := a.parseClaims(m.payload); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *ClientAssertion) parseClaims(b []byte) error {
	r := newJSONReader(b, "client assertion claims")
	var seen uint32
	err := r.object(func(k []byte) error {
		switch string(k) {
		case "iss":
			return r.strMember(&seen, 0, k, &a.Issuer)
		case "sub":
			return r.strMember(&seen, 1, k, &a.Subject)
		case "aud":
			if err := r.once(&seen, 2, k); err != nil {
				return err
			}
			aud, err := r.strOrStrings()
			a.Audience = aud
			return err
		case "exp":
			return r.numericDateMember(&seen, 3, k, &a.Expiry)
		case "nbf":
			return r.numericDateMember(&seen, 4, k, &a.NotBefore)
		case "iat":
			return r.numericDateMember(&seen, 5, k, &a.IssuedAt)
		case "jti":
			return r.strMember(&seen, 6, k, &a.ID)
		}
		return r.skip()
	})
	if err == nil {
		err = r.end()
	}
	return err
}

// maxNumericDate bounds NumericDates read as JSON numbers: every integer
// up to 2^53 is exact in a float64, and it is far beyond any real date.
const maxNumericDate = 1 << 53

// numericDateMember reads a NumericDate (RFC 7519 §2): a JSON number of
// seconds, possibly with a fraction, which is truncated.
func (r *jsonReader) numericDateMember(seen *uint32, bit uint, key []byte, dst *time.Time) error {
	if err := r.once(seen, bit, key); err != nil {
		return err
	}
	n, err := r.number()
	if err != nil {
		return err
	}
	v, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(string(n), 64)
		if ferr != nil || math.Abs(f) > maxNumericDate {
			return r.fail("NumericDate out of range: " + strconv.Quote(string(n)))
		}
		v = int64(f) // truncation toward zero
	}
	if v > maxNumericDate || v < -maxNumericDate {
		return r.fail("NumericDate out of range: " + strconv.Quote(string(n)))
	}
	*dst = time.Unix(v, 0).UTC()
	return nil
}

// VerifySignature checks the assertion's signature with the client's key:
// an ES256 assertion needs a P-256 *ecdsa.PublicKey, an EdDSA one an
// ed25519.PublicKey. Any other alg, or an alg that does not fit the key,
// is ErrAlgorithmNotAllowed; a signature that does not verify is
// ErrBadSignature. The signature is checked in full in every case where
// alg and key fit, so that its cost does not depend on whether it is good.
func (a *ClientAssertion) VerifySignature(pub crypto.PublicKey) error {
	k := trustedKey{IssuerKey: IssuerKey{Algorithm: a.Alg}}
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		if a.Alg == ES256 && p != nil && p.Curve != nil && p.Curve.Params() == elliptic.P256().Params() {
			k.ec = p
		}
	case ed25519.PublicKey:
		if a.Alg == EdDSA && len(p) == ed25519.PublicKeySize {
			k.ed = p
		}
	}
	if k.ec == nil && k.ed == nil {
		return errorf(ErrAlgorithmNotAllowed, "client assertion alg %q does not fit the client's %T key", a.Alg, pub)
	}
	if !verifyRaw(&k, a.tbs, a.sig) {
		return errorf(ErrBadSignature, "client assertion %s signature does not verify", a.Alg)
	}
	return nil
}
