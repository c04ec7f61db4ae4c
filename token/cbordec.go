package token

import (
	"math"
	"unicode/utf8"
)

// This file decodes the CBOR maps of a CWT access token — the claims set,
// its cnf COSE_Key and status reference, and COSE headers — by hand
// instead of through fxamacker/cbor's reflection, which cost more than
// half of a CWT verification's work besides the signature. The rules are
// those of cborDec (cose.go), and never more lenient:
//
//   - any item: definite lengths only, no tags, no reserved or
//     not-well-formed heads (additional information 28–31, simple values
//     below 32 in the two-byte form), nesting at most cborMaxDepth maps
//     and arrays, at most cborMaxItems items in an array or pairs in a map,
//     and nothing after the item;
//   - a map read into known fields: keys are integers or text (UTF-8);
//     a known key at most once; an unknown key at most once (compared by
//     value, text and integer keys being distinct); unknown values are
//     checked as above and skipped;
//   - values: text strings (valid UTF-8), byte strings, integers in int64
//     range (uint64 for idx), maps where a structure is expected. Where
//     fxamacker/cbor reads a CBOR null or undefined as "absent", this
//     decoder refuses it.
//
// TestCBORDecoderNeverMoreLenient and FuzzCBORDecoders compare both
// decoders on the same inputs.

// Limits of the strict decoder, the same as cborDec's.
const (
	cborMaxDepth = 6
	cborMaxItems = 16
)

// cborReader reads CBOR items from b[i:]. Byte strings alias b.
type cborReader struct {
	b    []byte
	i    int
	what string // for error messages: "CWT claims", "COSE protected header"
}

func (r *cborReader) fail(format string, args ...any) error {
	return errorf(ErrMalformed, r.what+": "+format, args...)
}

// head reads a well-formed definite-length head.
func (r *cborReader) head() (major byte, arg uint64, err error) {
	major, arg, next, ok := cborHeadAt(r.b, r.i)
	if !ok {
		return 0, 0, r.fail("truncated, indefinite-length or reserved CBOR item at offset %d", r.i)
	}
	if major == 7 && r.b[r.i]&0x1f == 24 && arg < 32 {
		return 0, 0, r.fail("invalid simple value %d at offset %d", arg, r.i)
	}
	if major == 6 {
		return 0, 0, r.fail("CBOR tag %d at offset %d: tags are not allowed inside the message", arg, r.i)
	}
	r.i = next
	return major, arg, nil
}

// str reads the content of a byte or text string whose head was read.
func (r *cborReader) str(n uint64) ([]byte, error) {
	if n > uint64(len(r.b)-r.i) {
		return nil, r.fail("string of %d bytes at offset %d, %d left", n, r.i, len(r.b)-r.i)
	}
	s := r.b[r.i : r.i+int(n) : r.i+int(n)]
	r.i += int(n)
	return s, nil
}

// container checks the size and depth of an array or map whose head was
// read; depth is the nesting level of the container itself.
func (r *cborReader) container(n uint64, depth int) error {
	if depth > cborMaxDepth {
		return r.fail("nested deeper than %d levels", cborMaxDepth)
	}
	if n > cborMaxItems {
		return r.fail("array or map of %d items, at most %d", n, cborMaxItems)
	}
	return nil
}

// skip checks and skips one item inside a container at level depth.
func (r *cborReader) skip(depth int) error {
	major, n, err := r.head()
	if err != nil {
		return err
	}
	switch major {
	case 2, 3:
		_, err = r.str(n)
		return err
	case 4, 5:
		if err := r.container(n, depth+1); err != nil {
			return err
		}
		if major == 5 {
			n *= 2
		}
		for range n {
			if err := r.skip(depth + 1); err != nil {
				return err
			}
		}
	}
	return nil // integers, simple values, floats
}

// raw returns the bytes of the next item, checked as by skip.
func (r *cborReader) raw(depth int) ([]byte, error) {
	start := r.i
	if err := r.skip(depth); err != nil {
		return nil, err
	}
	return r.b[start:r.i:r.i], nil
}

func (r *cborReader) text() (string, error) {
	major, n, err := r.head()
	if err != nil {
		return "", err
	}
	if major != 3 {
		return "", r.fail("CBOR major type %d, want a text string", major)
	}
	s, err := r.str(n)
	if err != nil {
		return "", err
	}
	if !utf8.Valid(s) {
		return "", r.fail("text string is not valid UTF-8")
	}
	return string(s), nil
}

func (r *cborReader) bytes() ([]byte, error) {
	major, n, err := r.head()
	if err != nil {
		return nil, err
	}
	if major != 2 {
		return nil, r.fail("CBOR major type %d, want a byte string", major)
	}
	return r.str(n)
}

func (r *cborReader) int64() (int64, error) {
	major, n, err := r.head()
	if err != nil {
		return 0, err
	}
	switch {
	case (major == 0 || major == 1) && n > math.MaxInt64:
		return 0, r.fail("integer out of int64 range")
	case major == 0:
		return int64(n), nil
	case major == 1:
		return -1 - int64(n), nil
	}
	return 0, r.fail("CBOR major type %d, want an integer", major)
}

func (r *cborReader) uint64() (uint64, error) {
	major, n, err := r.head()
	if err != nil {
		return 0, err
	}
	if major != 0 {
		return 0, r.fail("CBOR major type %d, want an unsigned integer", major)
	}
	return n, nil
}

// mapKey is a decoded map key: an integer, or text when isText.
type mapKey struct {
	isText bool
	n      int64
	s      string
}

// mapFields reads a map at level depth whose head is next and calls field
// for each key; field reads the value and returns handled = false for an
// unknown key, whose value is then checked and skipped. It enforces the
// key rules of the file comment.
func (r *cborReader) mapFields(depth int, field func(k mapKey) (handled bool, err error)) error {
	major, n, err := r.head()
	if err != nil {
		return err
	}
	if major != 5 {
		return r.fail("CBOR major type %d, want a map", major)
	}
	if err := r.container(n, depth); err != nil {
		return err
	}
	var seen [cborMaxItems]mapKey
	for i := range int(n) {
		var k mapKey
		major, arg, err := r.head()
		if err != nil {
			return err
		}
		switch {
		case (major == 0 || major == 1) && arg > math.MaxInt64:
			return r.fail("map key out of int64 range")
		case major == 0:
			k.n = int64(arg)
		case major == 1:
			k.n = -1 - int64(arg)
		case major == 3:
			s, err := r.str(arg)
			if err != nil {
				return err
			}
			if !utf8.Valid(s) {
				return r.fail("map key is not valid UTF-8")
			}
			k.isText, k.s = true, string(s)
		default:
			return r.fail("map key of CBOR major type %d, want an integer or text", major)
		}
		for _, p := range seen[:i] {
			if p == k {
				return r.fail("duplicate map key %v", k.value())
			}
		}
		seen[i] = k
		handled, err := field(k)
		if err != nil {
			return err
		}
		if !handled {
			if err := r.skip(depth); err != nil {
				return err
			}
		}
	}
	return nil
}

func (k mapKey) value() any {
	if k.isText {
		return k.s
	}
	return k.n
}

// end fails if anything follows the item read.
func (r *cborReader) end() error {
	if r.i != len(r.b) {
		return r.fail("%d bytes after the item", len(r.b)-r.i)
	}
	return nil
}

// decodeCWTClaims reads a CWT claims set (§1 of docs/token-format.md).
func decodeCWTClaims(b []byte) (*cwtClaims, error) {
	r := &cborReader{b: b, what: "CWT claims"}
	c := &cwtClaims{}
	err := r.mapFields(1, func(k mapKey) (bool, error) {
		var err error
		switch {
		case k.isText && k.s == cwtKeyClientID:
			c.ClientID, err = r.text()
		case k.isText:
			return false, nil
		case k.n == cwtKeyIss:
			c.Iss, err = r.text()
		case k.n == cwtKeySub:
			c.Sub, err = r.text()
		case k.n == cwtKeyAud:
			c.Aud, err = r.audience(2)
		case k.n == cwtKeyExp:
			c.Exp, err = r.int64Ptr()
		case k.n == cwtKeyNbf:
			c.Nbf, err = r.int64Ptr()
		case k.n == cwtKeyIat:
			c.Iat, err = r.int64Ptr()
		case k.n == cwtKeyCti:
			c.Cti, err = r.bytes()
		case k.n == cwtKeyCnf:
			c.Cnf, err = r.cnf(2)
		case k.n == cwtKeyScope:
			c.Scope, err = r.text()
		case k.n == cwtKeyStatus:
			c.Status, err = r.status(2)
		default:
			return false, nil
		}
		return true, err
	})
	if err == nil {
		err = r.end()
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (r *cborReader) int64Ptr() (*int64, error) {
	v, err := r.int64()
	return &v, err
}

// audience reads aud: a text string or an array of text strings.
func (r *cborReader) audience(depth int) (cwtAudience, error) {
	if r.i < len(r.b) && r.b[r.i]>>5 == 3 {
		s, err := r.text()
		return cwtAudience{s}, err
	}
	major, n, err := r.head()
	if err != nil {
		return nil, err
	}
	if major != 4 {
		return nil, r.fail("aud is neither a text string nor an array of text strings")
	}
	if err := r.container(n, depth); err != nil {
		return nil, err
	}
	a := make(cwtAudience, 0, n)
	for range n {
		s, err := r.text()
		if err != nil {
			return nil, err
		}
		a = append(a, s)
	}
	return a, nil
}

// cnf reads {1: COSE_Key} (RFC 8747 §3.1); other confirmation methods
// are skipped.
func (r *cborReader) cnf(depth int) (*cwtCnf, error) {
	c := &cwtCnf{}
	err := r.mapFields(depth, func(k mapKey) (bool, error) {
		if k.isText || k.n != cnfMethodCOSEKey {
			return false, nil
		}
		var err error
		c.Key, err = r.coseKey(depth + 1)
		return true, err
	})
	return c, err
}

// coseKey reads the parameters of a COSE_Key that publicKey looks at;
// y and d are kept as raw items.
func (r *cborReader) coseKey(depth int) (*coseKey, error) {
	k := &coseKey{}
	err := r.mapFields(depth, func(mk mapKey) (bool, error) {
		if mk.isText {
			return false, nil
		}
		var err error
		switch mk.n {
		case coseKeyKty:
			k.Kty, err = r.int64()
		case coseKeyCrv:
			k.Crv, err = r.int64()
		case coseKeyX:
			k.X, err = r.bytes()
		case coseKeyY:
			k.Y, err = r.raw(depth)
		case coseKeyD:
			k.D, err = r.raw(depth)
		default:
			return false, nil
		}
		return true, err
	})
	return k, err
}

// status reads {"status_list": {"idx": uint, "uri": text}}.
func (r *cborReader) status(depth int) (*cwtStatus, error) {
	s := &cwtStatus{}
	err := r.mapFields(depth, func(k mapKey) (bool, error) {
		if !k.isText || k.s != "status_list" {
			return false, nil
		}
		ref := &cwtStatusRef{}
		s.StatusList = ref
		return true, r.mapFields(depth+1, func(k mapKey) (bool, error) {
			var err error
			switch {
			case k.isText && k.s == "idx":
				var v uint64
				v, err = r.uint64()
				ref.Idx = &v
			case k.isText && k.s == "uri":
				ref.URI, err = r.text()
			default:
				return false, nil
			}
			return true, err
		})
	})
	return s, err
}

// decodeCOSEHeader reads a COSE header map (RFC 9052 §3) at b[i:] into h
// and returns the index after it. crit and typ are kept as raw items.
func decodeCOSEHeader(b []byte, i int, what string, h *coseHeader) (int, error) {
	r := &cborReader{b: b, i: i, what: what}
	err := r.mapFields(1, func(k mapKey) (bool, error) {
		if k.isText {
			return false, nil
		}
		var err error
		switch k.n {
		case coseHdrAlg:
			h.Alg, err = r.int64Ptr()
		case coseHdrCrit:
			h.Crit, err = r.raw(1)
		case coseHdrKid:
			h.Kid, err = r.bytes()
		case coseHdrTyp:
			h.Typ, err = r.raw(1)
		default:
			return false, nil
		}
		return true, err
	})
	return r.i, err
}

// decodeText reads b as exactly one text string.
func decodeText(b []byte, what string) (string, error) {
	r := &cborReader{b: b, what: what}
	s, err := r.text()
	if err == nil {
		err = r.end()
	}
	return s, err
}
