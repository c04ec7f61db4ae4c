package token

import (
	"crypto"
	"encoding/base64"
	"fmt"
	"io"
	"time"
)

// parsedToken is an access token decoded from either format, before its
// signature is verified. Conversions that cost more than decoding (the
// cnf key, the scope list) wait until the signature is good.
type parsedToken struct {
	alg   Algorithm
	kid   string
	tbs   []byte // what the signature covers
	sig   []byte
	c     Claims // all but Scopes and Confirmation
	scope string
	cnf   func() (crypto.PublicKey, error) // nil: no cnf
}

// finish converts the deferred claims. Errors wrap ErrMalformed.
func (p *parsedToken) finish() (*Claims, error) {
	c := p.c
	if p.scope != "" {
		sc, err := ParseScopes(p.scope)
		if err != nil {
			return nil, errorf(ErrMalformed, "scope claim: %v", err)
		}
		c.Scopes = sc
	}
	if p.cnf != nil {
		k, err := p.cnf()
		if err != nil {
			return nil, err
		}
		c.Confirmation = k
	}
	return &c, nil
}

// numericDate returns t as a NumericDate (RFC 7519 §2: whole seconds since
// the epoch), or nil for the zero time.
func numericDate(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	v := t.Unix()
	return &v
}

// latestNumericDate is 9999-12-31T23:59:59Z. A decoded NumericDate outside
// [0, latestNumericDate] is malformed: far beyond it, time.Unix wraps, and a
// token with nbf or iat near 2^63 would read as issued in the distant past.
const latestNumericDate = 253402300799

// fromNumericDates converts decoded NumericDates (nil: absent, the zero
// time), refusing values outside [0, latestNumericDate] with ErrMalformed.
func fromNumericDates(vs ...*int64) ([]time.Time, error) {
	ts := make([]time.Time, len(vs))
	for i, v := range vs {
		if v == nil {
			continue
		}
		if *v < 0 || *v > latestNumericDate {
			return nil, errorf(ErrMalformed, "NumericDate %d is outside 1970-01-01 to 9999-12-31", *v)
		}
		ts[i] = time.Unix(*v, 0).UTC()
	}
	return ts, nil
}

// defaults applies the rules shared by both formats to decoded claims: a
// missing nbf means nbf = iat, a missing client_id means client_id = sub.
func (c *Claims) defaults() {
	if c.NotBefore.IsZero() {
		c.NotBefore = c.IssuedAt
	}
	if c.ClientID == "" {
		c.ClientID = c.Subject
	}
}

// ctiOf returns the CWT cti bytes of a token ID: the ID must be the
// unpadded base64url encoding (RFC 4648 §5) of 1 to 64 bytes, and cti is
// those bytes. JWT jti and CWT cti thus name the same token.
func ctiOf(id string) ([]byte, error) {
	if id == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(id)
	if err != nil || len(b) == 0 || len(b) > 64 {
		return nil, fmt.Errorf("token: jti %q is not the unpadded base64url encoding of 1 to 64 bytes, which a CWT cti needs", id)
	}
	return b, nil
}

// NewID reads 16 bytes from r and returns them as a token ID (jti) in the
// form a CWT cti needs: unpadded base64url.
func NewID(r io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("token: reading randomness for a token ID: %v", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
