package token

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"fmt"
	"reflect"

	"github.com/fxamacker/cbor/v2"
)

// COSE and CBOR code points used here (RFC 9052, RFC 9053, RFC 9596,
// RFC 8392, RFC 8747, draft-ietf-oauth-status-list). They are the only
// numbers of the CWT/COSE layouts; docs/token-format.md lists them with
// their sources. Struct tags below repeat some of them (tags cannot refer
// to constants); TestCWTLayout checks the encoded numbers.
const (
	cborTagCOSESign1 = 18 // COSE_Sign1_Tagged (RFC 9052 §2)
	cborTagCWT       = 61 // CWT tag (RFC 8392 §6)

	coseHdrAlg  = 1  // alg (RFC 9052 §3.1)
	coseHdrCrit = 2  // crit
	coseHdrKid  = 4  // kid
	coseHdrTyp  = 16 // typ (RFC 9596)

	coseKtyOKP     = 1  // RFC 9053 §7.2
	coseKtyEC2     = 2  // RFC 9053 §7.1
	coseCrvP256    = 1  // RFC 9053 §7.1
	coseCrvEd25519 = 6  // RFC 9053 §7.2
	coseKeyKty     = 1  // COSE_Key common parameter kty (RFC 9052 §7.1)
	coseKeyCrv     = -1 // EC2/OKP crv
	coseKeyX       = -2 // EC2/OKP x
	coseKeyY       = -3 // EC2 y (bstr, or bool = sign bit of a compressed point)
	coseKeyD       = -4 // private key (rejected)

	sigContextSign1 = "Signature1" // Sig_structure context (RFC 9052 §4.4)
)

// CBOR options. Decoding is strict: duplicate map keys, indefinite-length
// items and tags inside the message are errors, nesting and container sizes
// are capped well above what a token needs, text must be valid UTF-8 and
// map keys match struct fields case-sensitively. Encoding is RFC 8949 §4.2.1
// core deterministic. Both modes are immutable once built.
var (
	cborDec = mustDecMode(cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   6,
		MaxArrayElements:  16,
		MaxMapPairs:       16,
		UTF8:              cbor.UTF8RejectInvalid,
		FieldNameMatching: cbor.FieldNameMatchingCaseSensitive,
		DefaultMapType:    reflect.TypeOf(map[any]any(nil)),
	})
	cborEnc = mustEncMode(cbor.CoreDetEncOptions())
)

func mustDecMode(o cbor.DecOptions) cbor.DecMode {
	m, err := o.DecMode()
	if err != nil {
		panic("token: CBOR decoding options: " + err.Error())
	}
	return m
}

func mustEncMode(o cbor.EncOptions) cbor.EncMode {
	m, err := o.EncMode()
	if err != nil {
		panic("token: CBOR encoding options: " + err.Error())
	}
	return m
}

// sign1Parts are the items of a COSE_Sign1 array (RFC 9052 §4.2): the
// byte strings alias the input, the unprotected header is decoded.
type sign1Parts struct {
	protected, payload, sig []byte
	uh                      coseHeader
}

// coseHeader is the subset of COSE header parameters this package reads.
type coseHeader struct {
	Alg  *int64          `cbor:"1,keyasint,omitempty"`
	Crit cbor.RawMessage `cbor:"2,keyasint,omitempty"`
	Kid  []byte          `cbor:"4,keyasint,omitempty"`
	Typ  cbor.RawMessage `cbor:"16,keyasint,omitempty"`
}

// coseProtected is the protected header this package writes.
type coseProtected struct {
	Alg int64  `cbor:"1,keyasint"`
	Kid []byte `cbor:"4,keyasint,omitempty"`
	Typ string `cbor:"16,keyasint,omitempty"`
}

// coseMessage is a decoded COSE_Sign1 before signature verification.
type coseMessage struct {
	alg     Algorithm
	kid     string
	typ     string // "" if absent
	tbs     []byte // Sig_structure
	payload []byte
	sig     []byte
}

// cborHead appends a CBOR head (RFC 8949 §3) of major type major and
// argument n, in its shortest form.
func cborHead(dst []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(dst, m|byte(n))
	case n <= 0xff:
		return append(dst, m|24, byte(n))
	case n <= 0xffff:
		return append(dst, m|25, byte(n>>8), byte(n))
	case n <= 0xffffffff:
		return append(dst, m|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, m|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// sigStructure returns the COSE Sig_structure for COSE_Sign1 (RFC 9052
// §4.4): ["Signature1", body_protected, external_aad = h”, payload].
func sigStructure(protected, payload []byte) []byte {
	b := make([]byte, 0, 1+1+len(sigContextSign1)+9+len(protected)+1+9+len(payload))
	b = append(b, 0x84)
	b = cborHead(b, 3, uint64(len(sigContextSign1)))
	b = append(b, sigContextSign1...)
	b = cborHead(b, 2, uint64(len(protected)))
	b = append(b, protected...)
	b = append(b, 0x40)
	b = cborHead(b, 2, uint64(len(payload)))
	return append(b, payload...)
}

// encodeSign1 builds a tagged COSE_Sign1 with an empty unprotected header.
func encodeSign1(protected, payload, sig []byte) []byte {
	b := make([]byte, 0, 2+9+len(protected)+1+9+len(payload)+2+len(sig))
	b = cborHead(b, 6, cborTagCOSESign1)
	b = append(b, 0x84)
	b = cborHead(b, 2, uint64(len(protected)))
	b = append(b, protected...)
	b = append(b, 0xa0)
	b = cborHead(b, 2, uint64(len(payload)))
	b = append(b, payload...)
	b = cborHead(b, 2, uint64(len(sig)))
	return append(b, sig...)
}

// readTag reads a CBOR tag head at the start of b and returns the tag
// number and the rest, or ok = false if b does not start with a tag.
func readTag(b []byte) (tag uint64, rest []byte, ok bool) {
	if len(b) == 0 || b[0]>>5 != 6 {
		return 0, b, false
	}
	ai := b[0] & 0x1f
	switch {
	case ai < 24:
		return uint64(ai), b[1:], true
	case ai == 24 && len(b) >= 2:
		return uint64(b[1]), b[2:], true
	case ai == 25 && len(b) >= 3:
		return uint64(b[1])<<8 | uint64(b[2]), b[3:], true
	case ai == 26 && len(b) >= 5:
		return uint64(b[1])<<24 | uint64(b[2])<<16 | uint64(b[3])<<8 | uint64(b[4]), b[5:], true
	case ai == 27 && len(b) >= 9:
		var v uint64
		for _, c := range b[1:9] {
			v = v<<8 | uint64(c)
		}
		return v, b[9:], true
	}
	return 0, b, false
}

// cborHeadAt reads the CBOR head at b[i:]: major type, argument, and the
// index after the head. Indefinite lengths and reserved values fail.
func cborHeadAt(b []byte, i int) (major byte, arg uint64, next int, ok bool) {
	if i >= len(b) {
		return 0, 0, 0, false
	}
	major, ai := b[i]>>5, b[i]&0x1f
	i++
	switch {
	case ai < 24:
		return major, uint64(ai), i, true
	case ai <= 27:
		n := 1 << (ai - 24)
		if len(b)-i < n {
			return 0, 0, 0, false
		}
		for _, c := range b[i : i+n] {
			arg = arg<<8 | uint64(c)
		}
		return major, arg, i + n, true
	}
	return 0, 0, 0, false
}

// bstrAt reads a definite-length byte string at b[i:], aliasing b.
func bstrAt(b []byte, i int, what string) ([]byte, int, error) {
	major, n, j, ok := cborHeadAt(b, i)
	switch {
	case !ok:
		return nil, 0, errorf(ErrMalformed, "COSE_Sign1 %s: truncated or indefinite-length item", what)
	case major == 7 && n == 22 && what == "payload":
		return nil, 0, errorf(ErrMalformed, "COSE_Sign1 has a detached (nil) payload")
	case major != 2:
		return nil, 0, errorf(ErrMalformed, "COSE_Sign1 %s is CBOR major type %d, want a byte string", what, major)
	case n > uint64(len(b)-j):
		return nil, 0, errorf(ErrMalformed, "COSE_Sign1 %s: %d bytes announced, %d left", what, n, len(b)-j)
	}
	return b[j : j+int(n)], j + int(n), nil
}

// splitSign1 splits an untagged COSE_Sign1 array into its four items
// without copying them. The unprotected header map is checked by the
// strict decoder; the array must be the whole input.
func splitSign1(b []byte, m *sign1Parts) error {
	major, n, i, ok := cborHeadAt(b, 0)
	if !ok || major != 4 || n != 4 {
		return errorf(ErrMalformed, "COSE_Sign1 is not a definite-length array of 4 items")
	}
	var err error
	if m.protected, i, err = bstrAt(b, i, "protected header"); err != nil {
		return err
	}
	switch {
	case i < len(b) && b[i] == 0xa0: // the usual empty map
		i++
	case i < len(b) && b[i]>>5 == 5:
		if i, err = decodeCOSEHeader(b, i, "COSE unprotected header", &m.uh); err != nil {
			return err
		}
	default:
		return errorf(ErrMalformed, "COSE_Sign1 unprotected header is not a map")
	}
	if m.payload, i, err = bstrAt(b, i, "payload"); err != nil {
		return err
	}
	if m.sig, i, err = bstrAt(b, i, "signature"); err != nil {
		return err
	}
	if i != len(b) {
		return errorf(ErrMalformed, "COSE_Sign1 is followed by %d bytes", len(b)-i)
	}
	return nil
}

// decodeSign1 parses a COSE_Sign1 message: tagged 18, optionally wrapped
// in the CWT tag 61 (if allowCWTTag), or untagged (if allowUntagged). Any
// other tag, and any tag inside the message, is an error. The protected
// header must hold alg; kid may be in either header, not both; crit is not
// supported. Errors wrap ErrMalformed.
func decodeSign1(raw []byte, allowUntagged, allowCWTTag bool) (*coseMessage, error) {
	b := raw
	tag, rest, tagged := readTag(b)
	if tagged && tag == cborTagCWT {
		if !allowCWTTag {
			return nil, errorf(ErrMalformed, "CWT tag 61 not allowed here, want COSE_Sign1 tag 18")
		}
		tag, rest, tagged = readTag(rest)
		if !tagged {
			return nil, errorf(ErrMalformed, "CWT tag 61 wraps an untagged item, want COSE_Sign1 tag 18")
		}
	}
	switch {
	case tagged && tag == cborTagCOSESign1:
		b = rest
	case tagged:
		return nil, errorf(ErrMalformed, "wrong COSE tag %d, want %d (COSE_Sign1)", tag, cborTagCOSESign1)
	case !allowUntagged:
		return nil, errorf(ErrMalformed, "untagged COSE message, want COSE_Sign1 tag 18")
	}
	var m sign1Parts
	if err := splitSign1(b, &m); err != nil {
		return nil, err
	}
	var ph coseHeader
	uh := &m.uh
	if len(m.protected) > 0 {
		n, err := decodeCOSEHeader(m.protected, 0, "COSE protected header", &ph)
		if err == nil && n != len(m.protected) {
			err = errorf(ErrMalformed, "COSE protected header: %d bytes after the map", len(m.protected)-n)
		}
		if err != nil {
			return nil, err
		}
	}
	if ph.Crit != nil || uh.Crit != nil {
		return nil, errorf(ErrMalformed, "COSE crit header parameter not supported")
	}
	if uh.Alg != nil {
		return nil, errorf(ErrMalformed, "COSE alg in the unprotected header, want it protected")
	}
	if ph.Alg == nil {
		return nil, errorf(ErrMalformed, "COSE protected header has no alg")
	}
	if uh.Typ != nil {
		return nil, errorf(ErrMalformed, "COSE typ in the unprotected header, want it protected")
	}
	kid := ph.Kid
	if uh.Kid != nil {
		if ph.Kid != nil {
			return nil, errorf(ErrMalformed, "COSE kid in both headers")
		}
		kid = uh.Kid
	}
	msg := &coseMessage{
		alg:     algFromCOSE(*ph.Alg),
		kid:     string(kid),
		tbs:     sigStructure(m.protected, m.payload),
		payload: m.payload,
		sig:     m.sig,
	}
	if ph.Typ != nil {
		typ, err := decodeText(ph.Typ, "COSE typ")
		if err != nil {
			return nil, err
		}
		if typ == "" {
			return nil, errorf(ErrMalformed, "COSE typ is empty")
		}
		msg.typ = typ
	}
	return msg, nil
}

// signCOSE signs payload as a tagged COSE_Sign1 with protected header
// {alg, kid, typ?}.
func (s *Signer) signCOSE(payload []byte, typ string) ([]byte, error) {
	ph, err := cborEnc.Marshal(coseProtected{Alg: s.Algorithm.coseAlg(), Kid: []byte(s.KeyID), Typ: typ})
	if err != nil {
		return nil, fmt.Errorf("token: encoding COSE header: %v", err)
	}
	sig, err := s.signRaw(sigStructure(ph, payload))
	if err != nil {
		return nil, err
	}
	return encodeSign1(ph, payload, sig), nil
}

// coseKey is a COSE_Key (RFC 9052 §7) as read from a cnf claim.
type coseKey struct {
	Kty int64           `cbor:"1,keyasint"`
	Crv int64           `cbor:"-1,keyasint"`
	X   []byte          `cbor:"-2,keyasint"`
	Y   cbor.RawMessage `cbor:"-3,keyasint,omitempty"`
	D   cbor.RawMessage `cbor:"-4,keyasint,omitempty"`
}

// coseKeyEC2Out and coseKeyOKPOut are the COSE_Keys this package writes.
// EC2 keys carry the compressed form (y = sign bit, RFC 9053 §7.1.1) unless
// the Signer asks for the y coordinate.
type coseKeyEC2Out struct {
	Kty int64  `cbor:"1,keyasint"`
	Crv int64  `cbor:"-1,keyasint"`
	X   []byte `cbor:"-2,keyasint"`
	Y   any    `cbor:"-3,keyasint"`
}

type coseKeyOKPOut struct {
	Kty int64  `cbor:"1,keyasint"`
	Crv int64  `cbor:"-1,keyasint"`
	X   []byte `cbor:"-2,keyasint"`
}

// coseKeyOf returns the COSE_Key of a confirmation key, to be encoded.
func coseKeyOf(pub crypto.PublicKey, uncompressed bool) (any, error) {
	k, _, err := publicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("token: cnf: %v", err)
	}
	switch k := k.(type) {
	case *ecdsa.PublicKey:
		b, _ := k.Bytes() // 0x04 || x || y, valid: checked by publicKey
		out := coseKeyEC2Out{Kty: coseKtyEC2, Crv: coseCrvP256, X: b[1:33]}
		if uncompressed {
			out.Y = b[33:65]
		} else {
			out.Y = b[64]&1 == 1
		}
		return out, nil
	case ed25519.PublicKey:
		return coseKeyOKPOut{Kty: coseKtyOKP, Crv: coseCrvEd25519, X: k}, nil
	}
	return nil, fmt.Errorf("token: cnf: unsupported key type %T", pub)
}

// publicKey converts a COSE_Key to a P-256 or Ed25519 public key,
// decompressing and validating EC2 points. Errors wrap ErrMalformed.
func (k *coseKey) publicKey() (crypto.PublicKey, error) {
	if k.D != nil {
		return nil, errorf(ErrMalformed, "cnf COSE_Key holds a private key")
	}
	switch {
	case k.Kty == coseKtyEC2 && k.Crv == coseCrvP256:
		if len(k.X) != 32 {
			return nil, errorf(ErrMalformed, "cnf P-256 x is %d bytes, want 32", len(k.X))
		}
		var pt [65]byte
		switch {
		case len(k.Y) == 1 && (k.Y[0] == 0xf4 || k.Y[0] == 0xf5): // false / true
			pt[0] = 0x02 | k.Y[0]&1
			copy(pt[1:], k.X)
			x, y := elliptic.UnmarshalCompressed(elliptic.P256(), pt[:33])
			if x == nil {
				return nil, errorf(ErrMalformed, "cnf compressed P-256 point is not on the curve")
			}
			return &ecdsa.PublicKey{Curve: elliptic.P256(), X: x, Y: y}, nil
		case len(k.Y) == 34 && k.Y[0] == 0x58 && k.Y[1] == 32: // bstr .size 32
			pt[0] = 0x04
			copy(pt[1:], k.X)
			copy(pt[33:], k.Y[2:])
			pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pt[:])
			if err != nil {
				return nil, errorf(ErrMalformed, "cnf P-256 point: %v", err)
			}
			return pub, nil
		}
		return nil, errorf(ErrMalformed, "cnf P-256 y is neither a 32-byte string nor a sign bit")
	case k.Kty == coseKtyOKP && k.Crv == coseCrvEd25519:
		if len(k.X) != ed25519.PublicKeySize {
			return nil, errorf(ErrMalformed, "cnf Ed25519 x is %d bytes, want 32", len(k.X))
		}
		if k.Y != nil {
			return nil, errorf(ErrMalformed, "cnf OKP key has a y parameter")
		}
		// A copy: k.X may alias the caller's token bytes.
		return ed25519.PublicKey(bytes.Clone(k.X)), nil
	}
	return nil, errorf(ErrMalformed, "cnf COSE_Key kty %d crv %d not supported, want EC2/P-256 or OKP/Ed25519", k.Kty, k.Crv)
}
