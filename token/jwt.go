package token

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// JOSE header values (RFC 9068 §2.1, draft-ietf-oauth-status-list §5.1).
const (
	typAccessTokenJWT = "at+jwt"
	typStatusListJWT  = "statuslist+jwt"
)

var b64 = base64.RawURLEncoding.Strict()

// JWT claims of an access token, as written (encodeJWTClaims) and read
// (parseJWTClaims, with the strict reader of json.go).
type jwtCnf struct {
	JWK *jwkJSON `json:"jwk"`
}

// jwkJSON is the public JWK (RFC 7517/7518/8037) of a confirmation key.
type jwkJSON struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y,omitempty"`
	D   bool   `json:"-"` // decoded only: a "d" member is present
}

type jwtStatus struct {
	StatusList *jwtStatusRef `json:"status_list"`
}

type jwtStatusRef struct {
	Idx *uint64 `json:"idx"`
	URI string  `json:"uri"`
}

// jwkOfKey returns the JWK of a confirmation key.
func jwkOfKey(pub crypto.PublicKey) (*jwkJSON, error) {
	// Fast path: a P-256 key whose encoding (which validates the point)
	// succeeds is exactly what publicKey would accept.
	if k, ok := pub.(*ecdsa.PublicKey); ok && k != nil && k.Curve != nil && k.X != nil && k.Y != nil && k.Curve.Params() == elliptic.P256().Params() {
		if b, err := k.Bytes(); err == nil && len(b) == 65 {
			return &jwkJSON{Kty: "EC", Crv: "P-256", X: b64.EncodeToString(b[1:33]), Y: b64.EncodeToString(b[33:])}, nil
		}
	}
	k, _, err := publicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("token: cnf: %v", err)
	}
	switch k := k.(type) {
	case *ecdsa.PublicKey:
		b, _ := k.Bytes()
		return &jwkJSON{Kty: "EC", Crv: "P-256", X: b64.EncodeToString(b[1:33]), Y: b64.EncodeToString(b[33:])}, nil
	case ed25519.PublicKey:
		return &jwkJSON{Kty: "OKP", Crv: "Ed25519", X: b64.EncodeToString(k)}, nil
	}
	return nil, fmt.Errorf("token: cnf: unsupported key type %T", pub)
}

// publicKey converts a confirmation JWK. Errors wrap ErrMalformed.
func (j *jwkJSON) publicKey() (crypto.PublicKey, error) {
	if j.D {
		return nil, errorf(ErrMalformed, "cnf JWK holds a private key")
	}
	switch {
	case j.Kty == "EC" && j.Crv == "P-256":
		var pt [65]byte
		pt[0] = 0x04
		if b64.DecodedLen(len(j.X)) != 32 || b64.DecodedLen(len(j.Y)) != 32 {
			return nil, errorf(ErrMalformed, "cnf P-256 JWK coordinates are not 32 bytes")
		}
		if _, err := b64.Decode(pt[1:33], []byte(j.X)); err != nil {
			return nil, errorf(ErrMalformed, "cnf JWK x: %v", err)
		}
		if _, err := b64.Decode(pt[33:], []byte(j.Y)); err != nil {
			return nil, errorf(ErrMalformed, "cnf JWK y: %v", err)
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pt[:])
		if err != nil {
			return nil, errorf(ErrMalformed, "cnf P-256 JWK: %v", err)
		}
		return pub, nil
	case j.Kty == "OKP" && j.Crv == "Ed25519":
		if j.Y != "" || b64.DecodedLen(len(j.X)) != ed25519.PublicKeySize {
			return nil, errorf(ErrMalformed, "cnf Ed25519 JWK is not a 32-byte x")
		}
		k := make([]byte, ed25519.PublicKeySize)
		if _, err := b64.Decode(k, []byte(j.X)); err != nil {
			return nil, errorf(ErrMalformed, "cnf JWK x: %v", err)
		}
		return ed25519.PublicKey(k), nil
	}
	return nil, errorf(ErrMalformed, "cnf JWK kty %q crv %q not supported, want EC/P-256 or OKP/Ed25519", j.Kty, j.Crv)
}

// encodeJWTClaims writes the JWT claims set of c: the members, order and
// escaping encoding/json writes for the jwt* structs of this file, written
// directly (TestEncodeJWTClaimsMatchesEncodingJSON checks the equivalence).
func encodeJWTClaims(c *Claims, issuer string) ([]byte, error) {
	b := make([]byte, 0, 512)
	b = append(b, '{')
	b = appendJSONMember(b, "iss", true)
	b = appendJSONString(b, issuer)
	if c.Subject != "" {
		b = appendJSONMember(b, "sub", false)
		b = appendJSONString(b, c.Subject)
	}
	switch len(c.Audience) {
	case 0:
	case 1:
		b = appendJSONMember(b, "aud", false)
		b = appendJSONString(b, c.Audience[0])
	default:
		b = appendJSONMember(b, "aud", false)
		b = append(b, '[')
		for i, a := range c.Audience {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, a)
		}
		b = append(b, ']')
	}
	if c.ClientID != "" {
		b = appendJSONMember(b, "client_id", false)
		b = appendJSONString(b, c.ClientID)
	}
	if !c.IssuedAt.IsZero() {
		b = appendJSONMember(b, "iat", false)
		b = appendJSONInt(b, c.IssuedAt.Unix())
	}
	if !c.NotBefore.IsZero() {
		b = appendJSONMember(b, "nbf", false)
		b = appendJSONInt(b, c.NotBefore.Unix())
	}
	b = appendJSONMember(b, "exp", false)
	if c.Expiry.IsZero() {
		b = append(b, "null"...)
	} else {
		b = appendJSONInt(b, c.Expiry.Unix())
	}
	if c.ID != "" {
		b = appendJSONMember(b, "jti", false)
		b = appendJSONString(b, c.ID)
	}
	if scope := FormatScopes(c.Scopes); scope != "" {
		b = appendJSONMember(b, "scope", false)
		b = appendJSONString(b, scope)
	}
	if c.Confirmation != nil {
		jwk, err := jwkOfKey(c.Confirmation)
		if err != nil {
			return nil, err
		}
		b = appendJSONMember(b, "cnf", false)
		b = append(b, `{"jwk":{"kty":`...)
		b = appendJSONString(b, jwk.Kty)
		b = append(b, `,"crv":`...)
		b = appendJSONString(b, jwk.Crv)
		b = append(b, `,"x":`...)
		b = appendJSONString(b, jwk.X)
		if jwk.Y != "" {
			b = append(b, `,"y":`...)
			b = appendJSONString(b, jwk.Y)
		}
		b = append(b, "}}"...)
	}
	if c.Status != nil {
		b = appendJSONMember(b, "status", false)
		b = append(b, `{"status_list":{"idx":`...)
		b = strconv.AppendUint(b, c.Status.Index, 10)
		b = append(b, `,"uri":`...)
		b = appendJSONString(b, c.Status.URI)
		b = append(b, "}}"...)
	}
	return append(b, '}'), nil
}

// jwsHeader is the subset of the JOSE header (RFC 7515 §4.1) read here.
type jwsHeader struct {
	Alg, Kid, Typ string
	Crit          bool // a crit member is present
}

func parseJWSHeader(b []byte) (h jwsHeader, err error) {
	r := newJSONReader(b, "JWS header")
	var seen uint32
	err = r.object(func(k []byte) error {
		switch string(k) {
		case "alg":
			return r.strMember(&seen, 0, k, &h.Alg)
		case "kid":
			return r.strMember(&seen, 1, k, &h.Kid)
		case "typ":
			return r.strMember(&seen, 2, k, &h.Typ)
		case "crit":
			h.Crit = true
		}
		return r.skip()
	})
	if err == nil {
		err = r.end()
	}
	return h, err
}

// jwsMessage is a decoded JWS compact serialization before verification.
type jwsMessage struct {
	hdr     jwsHeader
	tbs     []byte // ASCII(BASE64URL(header) || '.' || BASE64URL(payload))
	payload []byte
	sig     []byte
}

// decodeJWS splits and decodes a JWS compact serialization (RFC 7515
// §7.1) without verifying it. Errors wrap ErrMalformed.
func decodeJWS(raw []byte) (*jwsMessage, error) {
	d1 := bytes.IndexByte(raw, '.')
	if d1 < 0 {
		return nil, errorf(ErrMalformed, "JWS compact serialization has no '.'")
	}
	d2 := bytes.IndexByte(raw[d1+1:], '.')
	if d2 < 0 {
		return nil, errorf(ErrMalformed, "JWS compact serialization has 2 parts, want 3")
	}
	d2 += d1 + 1
	if bytes.IndexByte(raw[d2+1:], '.') >= 0 {
		return nil, errorf(ErrMalformed, "JWS compact serialization has more than 3 parts (JWE?)")
	}
	h, p, s := raw[:d1], raw[d1+1:d2], raw[d2+1:]
	buf := make([]byte, b64.DecodedLen(len(h))+b64.DecodedLen(len(p))+b64.DecodedLen(len(s)))
	hb, err := decodeB64(buf, h, "header")
	if err != nil {
		return nil, err
	}
	pb, err := decodeB64(buf[len(hb):], p, "payload")
	if err != nil {
		return nil, err
	}
	sb, err := decodeB64(buf[len(hb)+len(pb):], s, "signature")
	if err != nil {
		return nil, err
	}
	m := &jwsMessage{tbs: raw[:d2], payload: pb, sig: sb}
	if m.hdr, err = parseJWSHeader(hb); err != nil {
		return nil, err
	}
	if m.hdr.Crit {
		return nil, errorf(ErrMalformed, "JWS crit header parameter not supported")
	}
	if m.hdr.Alg == "" {
		return nil, errorf(ErrMalformed, "JWS header has no alg")
	}
	return m, nil
}

func decodeB64(dst, src []byte, what string) ([]byte, error) {
	n, err := b64.Decode(dst, src)
	if err != nil {
		return nil, errorf(ErrMalformed, "JWS %s is not unpadded base64url: %v", what, err)
	}
	return dst[:n:n], nil
}

// typIs reports whether a JOSE typ equals want, case-insensitively and
// with or without the "application/" prefix (RFC 7515 §4.1.9).
func typIs(typ, want string) bool {
	if len(typ) > len("application/") && strings.EqualFold(typ[:len("application/")], "application/") {
		typ = typ[len("application/"):]
	}
	return strings.EqualFold(typ, want)
}

// parseJWT decodes an RFC 9068 access token JWT. Errors wrap ErrMalformed.
// The algorithm is checked against algs first, so that "none" and MAC
// algorithms fail as ErrAlgorithmNotAllowed whatever else the token holds.
func parseJWT(raw []byte, algs []Algorithm) (*parsedToken, error) {
	m, err := decodeJWS(raw)
	if err != nil {
		return nil, err
	}
	if err := checkAlgAllowed(Algorithm(m.hdr.Alg), algs); err != nil {
		return nil, err
	}
	if !typIs(m.hdr.Typ, typAccessTokenJWT) {
		return nil, errorf(ErrMalformed, "JWS typ %q, want %q (RFC 9068)", m.hdr.Typ, typAccessTokenJWT)
	}
	if m.hdr.Kid == "" {
		return nil, errorf(ErrMalformed, "JWS header has no kid")
	}
	p := &parsedToken{alg: Algorithm(m.hdr.Alg), kid: m.hdr.Kid, tbs: m.tbs, sig: m.sig}
	if err := parseJWTClaims(m.payload, p); err != nil {
		return nil, err
	}
	return p, nil
}

// parseJWTClaims reads an access token claims set (RFC 9068 §2.2, RFC 7800
// cnf, draft-ietf-oauth-status-list status) into p.
func parseJWTClaims(b []byte, p *parsedToken) error {
	r := newJSONReader(b, "JWT claims")
	c := &p.c
	var seen uint32
	var exp, nbf, iat *int64
	err := r.object(func(k []byte) error {
		switch string(k) {
		case "iss":
			return r.strMember(&seen, 0, k, &c.Issuer)
		case "sub":
			return r.strMember(&seen, 1, k, &c.Subject)
		case "aud":
			if err := r.once(&seen, 2, k); err != nil {
				return err
			}
			a, err := r.strOrStrings()
			c.Audience = a
			return err
		case "client_id":
			return r.strMember(&seen, 3, k, &c.ClientID)
		case "iat":
			return r.dateMember(&seen, 4, k, &iat)
		case "nbf":
			return r.dateMember(&seen, 5, k, &nbf)
		case "exp":
			return r.dateMember(&seen, 6, k, &exp)
		case "jti":
			return r.strMember(&seen, 7, k, &c.ID)
		case "scope":
			return r.strMember(&seen, 8, k, &p.scope)
		case "cnf":
			if err := r.once(&seen, 9, k); err != nil {
				return err
			}
			jwk, err := r.cnf()
			if err == nil {
				p.cnf = jwk.publicKey
			}
			return err
		case "status":
			if err := r.once(&seen, 10, k); err != nil {
				return err
			}
			ref, err := r.status()
			c.Status = ref
			return err
		}
		return r.skip()
	})
	if err == nil {
		err = r.end()
	}
	if err != nil {
		return err
	}
	if exp == nil {
		return errorf(ErrMalformed, "JWT has no exp")
	}
	ts, err := fromNumericDates(iat, nbf, exp)
	if err != nil {
		return err
	}
	c.IssuedAt, c.NotBefore, c.Expiry = ts[0], ts[1], ts[2]
	c.defaults()
	return nil
}

func (r *jsonReader) strMember(seen *uint32, bit uint, key []byte, dst *string) (err error) {
	if err = r.once(seen, bit, key); err != nil {
		return err
	}
	*dst, err = r.str()
	return err
}

func (r *jsonReader) dateMember(seen *uint32, bit uint, key []byte, dst **int64) error {
	if err := r.once(seen, bit, key); err != nil {
		return err
	}
	v, err := r.int64()
	*dst = &v
	return err
}

// cnf reads {"jwk": {...}} (RFC 7800 §3.2); other confirmation methods
// are not supported.
func (r *jsonReader) cnf() (*jwkJSON, error) {
	var jwk *jwkJSON
	var seen uint32
	err := r.object(func(k []byte) error {
		if string(k) != "jwk" {
			return r.skip()
		}
		if err := r.once(&seen, 0, k); err != nil {
			return err
		}
		jwk = &jwkJSON{}
		var s2 uint32
		return r.object(func(k []byte) error {
			switch string(k) {
			case "kty":
				return r.strMember(&s2, 0, k, &jwk.Kty)
			case "crv":
				return r.strMember(&s2, 1, k, &jwk.Crv)
			case "x":
				return r.strMember(&s2, 2, k, &jwk.X)
			case "y":
				return r.strMember(&s2, 3, k, &jwk.Y)
			case "d":
				jwk.D = true
			}
			return r.skip()
		})
	})
	if err == nil && jwk == nil {
		err = r.fail("cnf has no jwk")
	}
	return jwk, err
}

// status reads {"status_list": {"idx": n, "uri": "..."}}
// (draft-ietf-oauth-status-list §6.2); other members are skipped, but
// status_list is required.
func (r *jsonReader) status() (*StatusRef, error) {
	var ref *StatusRef
	var seen uint32
	err := r.object(func(k []byte) error {
		if string(k) != "status_list" {
			return r.skip()
		}
		if err := r.once(&seen, 0, k); err != nil {
			return err
		}
		ref = &StatusRef{}
		var s2 uint32
		err := r.object(func(k []byte) error {
			switch string(k) {
			case "idx":
				if err := r.once(&s2, 0, k); err != nil {
					return err
				}
				v, err := r.uint64()
				ref.Index = v
				return err
			case "uri":
				return r.strMember(&s2, 1, k, &ref.URI)
			}
			return r.skip()
		})
		if err == nil && (s2 != 3 || ref.URI == "") {
			err = r.fail("status_list needs idx and a non-empty uri")
		}
		return err
	})
	if err == nil && ref == nil {
		err = r.fail("status has no status_list")
	}
	return ref, err
}
