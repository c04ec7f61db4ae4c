package token

import (
	"bytes"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A small strict JSON (RFC 8259) reader for the few fixed objects of the
// verification path: the JOSE header and the claims sets. It is much
// faster than reflection-based decoding and stricter than encoding/json:
// member names match case-sensitively (after unescaping), a known member
// may appear once, null is not accepted for a known member, numbers read as
// integers must be integers, text must be valid UTF-8 and lone surrogates
// are errors. Unknown members are validated and skipped. Every error wraps
// ErrMalformed.

const maxJSONDepth = 16

type jsonReader struct {
	b     []byte
	i     int
	depth int
	what  string // what is being decoded, for error messages
}

func newJSONReader(b []byte, what string) *jsonReader {
	return &jsonReader{b: b, what: what}
}

func (r *jsonReader) fail(msg string) error {
	return errorf(ErrMalformed, "%s: JSON offset %d: %s", r.what, r.i, msg)
}

func (r *jsonReader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

func (r *jsonReader) peek() byte {
	r.ws()
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

// end checks that only whitespace follows.
func (r *jsonReader) end() error {
	r.ws()
	if r.i != len(r.b) {
		return r.fail("data after the top-level value")
	}
	return nil
}

// object reads an object, calling member for each member with the reader
// positioned at the value; member must consume the value (or call skip).
func (r *jsonReader) object(member func(key []byte) error) error {
	if r.peek() != '{' {
		return r.fail("want an object")
	}
	if r.depth++; r.depth > maxJSONDepth {
		return r.fail("nested too deeply")
	}
	r.i++
	if r.peek() == '}' {
		r.i++
		r.depth--
		return nil
	}
	for {
		if r.peek() != '"' {
			return r.fail("want a member name")
		}
		key, err := r.strBytes()
		if err != nil {
			return err
		}
		if r.peek() != ':' {
			return r.fail("want ':'")
		}
		r.i++
		r.ws()
		if err := member(key); err != nil {
			return err
		}
		switch r.peek() {
		case ',':
			r.i++
		case '}':
			r.i++
			r.depth--
			return nil
		default:
			return r.fail("want ',' or '}'")
		}
	}
}

// once marks member bit in seen and fails if it was already set.
func (r *jsonReader) once(seen *uint32, bit uint, key []byte) error {
	if *seen&(1<<bit) != 0 {
		return r.fail("duplicate member " + strconv.Quote(string(key)))
	}
	*seen |= 1 << bit
	return nil
}

// strBytes reads a string and returns its unescaped bytes, aliasing the
// input when the string has no escapes.
func (r *jsonReader) strBytes() ([]byte, error) {
	if r.peek() != '"' {
		return nil, r.fail("want a string")
	}
	r.i++
	start := r.i
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			s := r.b[start:r.i]
			r.i++
			if !utf8.Valid(s) {
				return nil, r.fail("string is not valid UTF-8")
			}
			return s, nil
		case c == '\\':
			return r.strSlow(start)
		case c < 0x20:
			return nil, r.fail("control character in string")
		}
		r.i++
	}
	return nil, r.fail("unterminated string")
}

func (r *jsonReader) strSlow(start int) ([]byte, error) {
	out := append([]byte(nil), r.b[start:r.i]...)
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			if !utf8.Valid(out) {
				return nil, r.fail("string is not valid UTF-8")
			}
			return out, nil
		case c < 0x20:
			return nil, r.fail("control character in string")
		case c != '\\':
			out = append(out, c)
			r.i++
			continue
		}
		if r.i+1 >= len(r.b) {
			break
		}
		e := r.b[r.i+1]
		r.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			c1, ok := r.hex4()
			if !ok {
				return nil, r.fail("invalid \\u escape")
			}
			cp := rune(c1)
			if utf16.IsSurrogate(cp) {
				if c1 >= 0xdc00 || r.i+1 >= len(r.b) || r.b[r.i] != '\\' || r.b[r.i+1] != 'u' {
					return nil, r.fail("lone surrogate in \\u escape")
				}
				r.i += 2
				c2, ok := r.hex4()
				if !ok || c2 < 0xdc00 || c2 > 0xdfff {
					return nil, r.fail("lone surrogate in \\u escape")
				}
				cp = utf16.DecodeRune(rune(c1), rune(c2))
			}
			out = utf8.AppendRune(out, cp)
		default:
			return nil, r.fail("invalid escape in string")
		}
	}
	return nil, r.fail("unterminated string")
}

func (r *jsonReader) hex4() (uint16, bool) {
	if r.i+4 > len(r.b) {
		return 0, false
	}
	var v uint16
	for _, c := range r.b[r.i : r.i+4] {
		d, ok := hexDigit(c, true)
		if !ok {
			return 0, false
		}
		v = v<<4 | uint16(d)
	}
	r.i += 4
	return v, true
}

func (r *jsonReader) str() (string, error) {
	b, err := r.strBytes()
	return string(b), err
}

// number reads a JSON number and returns its text.
func (r *jsonReader) number() ([]byte, error) {
	start := r.i
	if r.i < len(r.b) && r.b[r.i] == '-' {
		r.i++
	}
	switch {
	case r.i < len(r.b) && r.b[r.i] == '0':
		r.i++
	case r.i < len(r.b) && '1' <= r.b[r.i] && r.b[r.i] <= '9':
		r.digits()
	default:
		return nil, r.fail("want a number")
	}
	if r.i < len(r.b) && r.b[r.i] == '.' {
		r.i++
		if r.digits() == 0 {
			return nil, r.fail("invalid number")
		}
	}
	if r.i < len(r.b) && (r.b[r.i] == 'e' || r.b[r.i] == 'E') {
		r.i++
		if r.i < len(r.b) && (r.b[r.i] == '+' || r.b[r.i] == '-') {
			r.i++
		}
		if r.digits() == 0 {
			return nil, r.fail("invalid number")
		}
	}
	return r.b[start:r.i], nil
}

func (r *jsonReader) digits() int {
	n := 0
	for r.i < len(r.b) && '0' <= r.b[r.i] && r.b[r.i] <= '9' {
		r.i++
		n++
	}
	return n
}

// int64 reads an integer number (no fraction, no exponent).
func (r *jsonReader) int64() (int64, error) {
	if c := r.peek(); c != '-' && (c < '0' || c > '9') {
		return 0, r.fail("want an integer")
	}
	n, err := r.number()
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		return 0, r.fail("want an integer in int64 range, found " + strconv.Quote(string(n)))
	}
	return v, nil
}

// uint64 reads a non-negative integer.
func (r *jsonReader) uint64() (uint64, error) {
	if c := r.peek(); c < '0' || c > '9' {
		return 0, r.fail("want a non-negative integer")
	}
	n, err := r.number()
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(string(n), 10, 64)
	if err != nil {
		return 0, r.fail("want a non-negative integer in uint64 range, found " + strconv.Quote(string(n)))
	}
	return v, nil
}

// skip validates and skips any value.
func (r *jsonReader) skip() error {
	switch c := r.peek(); {
	case c == '"':
		_, err := r.strBytes()
		return err
	case c == '{':
		return r.object(func([]byte) error { return r.skip() })
	case c == '[':
		return r.array(r.skip)
	case c == '-' || ('0' <= c && c <= '9'):
		_, err := r.number()
		return err
	case c == 't':
		return r.literal("true")
	case c == 'f':
		return r.literal("false")
	case c == 'n':
		return r.literal("null")
	}
	return r.fail("want a value")
}

func (r *jsonReader) literal(lit string) error {
	if !bytes.HasPrefix(r.b[r.i:], []byte(lit)) {
		return r.fail("invalid literal")
	}
	r.i += len(lit)
	return nil
}

// array reads an array, calling elem for each element.
func (r *jsonReader) array(elem func() error) error {
	if r.peek() != '[' {
		return r.fail("want an array")
	}
	if r.depth++; r.depth > maxJSONDepth {
		return r.fail("nested too deeply")
	}
	r.i++
	if r.peek() == ']' {
		r.i++
		r.depth--
		return nil
	}
	for {
		r.ws()
		if err := elem(); err != nil {
			return err
		}
		switch r.peek() {
		case ',':
			r.i++
		case ']':
			r.i++
			r.depth--
			return nil
		default:
			return r.fail("want ',' or ']'")
		}
	}
}

// strOrStrings reads a string or an array of strings (the JWT aud).
func (r *jsonReader) strOrStrings() ([]string, error) {
	if r.peek() == '"' {
		s, err := r.str()
		if err != nil {
			return nil, err
		}
		return []string{s}, nil
	}
	out := []string{}
	err := r.array(func() error {
		s, err := r.str()
		out = append(out, s)
		return err
	})
	return out, err
}
