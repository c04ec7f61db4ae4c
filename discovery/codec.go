package discovery

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Error kinds of the codec. Every codec error is an *Error whose Kind is one
// of these.
var (
	ErrTruncated    = errors.New("discovery: truncated")
	ErrLength       = errors.New("discovery: bad length")
	ErrTrailingData = errors.New("discovery: trailing data")
	ErrInvalid      = errors.New("discovery: invalid value")
	ErrUnknownType  = errors.New("discovery: unknown message type")
	ErrShortBuffer  = errors.New("discovery: buffer too short")
)

// Error is a codec error: the message, the field, the kind, and what was
// expected and found.
type Error struct {
	Msg    string // message name, e.g. "ANNOUNCEMENT"
	Field  string // field name; empty for the whole message
	Kind   error
	Detail string
}

func (e *Error) Error() string {
	s := "discovery: " + e.Msg
	if e.Field != "" {
		s += ": " + e.Field
	}
	return s + ": " + e.Detail
}

func (e *Error) Unwrap() error { return e.Kind }

func newError(msg, field string, kind error, format string, args ...any) *Error {
	return &Error{Msg: msg, Field: field, Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

// builder writes an encoding and owns every length prefix (in the manner of
// x/crypto/cryptobyte and pc5/msg): a prefixed field is written by a
// callback and its length filled in afterwards, checked against bounds. In
// counting mode nothing is written; MarshalLen uses it. The first error is
// sticky.
type builder struct {
	buf   []byte
	n     int
	count bool
	short bool
	msg   string
	err   error
}

func (b *builder) fail(field string, kind error, format string, args ...any) {
	if b.err == nil {
		b.err = newError(b.msg, field, kind, format, args...)
	}
}

func (b *builder) reserve(k int) []byte {
	if b.err != nil {
		return nil
	}
	start := b.n
	b.n += k
	if b.count || b.short {
		return nil
	}
	if b.n > len(b.buf) {
		b.short = true
		return nil
	}
	return b.buf[start:b.n:b.n]
}

func (b *builder) finish() (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.short {
		return 0, newError(b.msg, "", ErrShortBuffer, "need %d octets, have %d", b.n, len(b.buf))
	}
	return b.n, nil
}

func (b *builder) addUint8(v uint8) {
	if s := b.reserve(1); s != nil {
		s[0] = v
	}
}

func (b *builder) addUint24(field string, v uint32) {
	if v > 0xFFFFFF {
		b.fail(field, ErrInvalid, "value 0x%x does not fit in 24 bits", v)
		return
	}
	if s := b.reserve(3); s != nil {
		s[0], s[1], s[2] = byte(v>>16), byte(v>>8), byte(v)
	}
}

func (b *builder) addBytes(p []byte) {
	if s := b.reserve(len(p)); s != nil {
		copy(s, p)
	}
}

// addPrefixed writes a lenOctets-octet length (1 or 2), the contents
// written by f, and back-fills the length after checking min..max.
func (b *builder) addPrefixed(lenOctets int, field string, min, max int, f func(*builder)) {
	if b.err != nil {
		return
	}
	start := b.n
	slot := b.reserve(lenOctets)
	f(b)
	if b.err != nil {
		return
	}
	l := b.n - start - lenOctets
	if l < min || l > max {
		b.fail(field, ErrLength, "%s", lengthDetail(l, min, max))
		return
	}
	if slot != nil {
		if lenOctets == 1 {
			slot[0] = byte(l)
		} else {
			binary.BigEndian.PutUint16(slot, uint16(l))
		}
	}
}

func (b *builder) addLV(field string, min, max int, p []byte) {
	b.addPrefixed(1, field, min, max, func(b *builder) { b.addBytes(p) })
}

// addUserInfoList writes the UE-to-UE relay UE info: a 2-octet length,
// then each user info as an LV.
func (b *builder) addUserInfoList(field string, list [][]byte) {
	if len(list) > MaxReachableUEs {
		b.fail(field, ErrLength, "%d entries, at most %d", len(list), MaxReachableUEs)
		return
	}
	b.addPrefixed(2, field, 0, MaxReachableUEs*(1+MaxUserInfoLen), func(b *builder) {
		for _, ui := range list {
			b.addLV(field+" entry", 1, MaxUserInfoLen, ui)
		}
	})
}

// reader is a cursor over peer octets: every read checks the remaining
// length, never panics, never allocates from a peer-supplied length.
type reader struct {
	b   []byte
	off int
	msg string
}

func (r *reader) remaining() int { return len(r.b) - r.off }

func (r *reader) errf(field string, kind error, format string, args ...any) error {
	return newError(r.msg, field, kind, format, args...)
}

func (r *reader) fixed(field string, n int) ([]byte, error) {
	if r.remaining() < n {
		return nil, r.errf(field, ErrTruncated, "need %d octets, have %d", n, r.remaining())
	}
	s := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return s, nil
}

func (r *reader) uint8(field string) (uint8, error) {
	s, err := r.fixed(field, 1)
	if err != nil {
		return 0, err
	}
	return s[0], nil
}

func (r *reader) uint24(field string) (uint32, error) {
	s, err := r.fixed(field, 3)
	if err != nil {
		return 0, err
	}
	return uint32(s[0])<<16 | uint32(s[1])<<8 | uint32(s[2]), nil
}

func (r *reader) prefixed(lenOctets int, field string, min, max int) ([]byte, error) {
	if r.remaining() < lenOctets {
		return nil, r.errf(field, ErrTruncated, "need %d octets for the length, have %d", lenOctets, r.remaining())
	}
	var l int
	if lenOctets == 1 {
		l = int(r.b[r.off])
	} else {
		l = int(binary.BigEndian.Uint16(r.b[r.off:]))
	}
	if l < min || l > max {
		return nil, r.errf(field, ErrLength, "%s", lengthDetail(l, min, max))
	}
	r.off += lenOctets
	return r.fixed(field, l)
}

// lv reads an LV and returns a copy (nil when empty).
func (r *reader) lv(field string, min, max int) ([]byte, error) {
	s, err := r.prefixed(1, field, min, max)
	if err != nil {
		return nil, err
	}
	return clone(s), nil
}

func (r *reader) userInfoList(field string) ([][]byte, error) {
	s, err := r.prefixed(2, field, 0, MaxReachableUEs*(1+MaxUserInfoLen))
	if err != nil {
		return nil, err
	}
	sub := &reader{b: s, msg: r.msg}
	var out [][]byte
	for sub.remaining() > 0 {
		if len(out) == MaxReachableUEs {
			return nil, r.errf(field, ErrLength, "more than %d entries", MaxReachableUEs)
		}
		ui, err := sub.lv(field+" entry", 1, MaxUserInfoLen)
		if err != nil {
			return nil, err
		}
		out = append(out, ui)
	}
	return out, nil
}

func (r *reader) end() error {
	if r.remaining() != 0 {
		return r.errf("", ErrTrailingData, "%d unexpected trailing octets", r.remaining())
	}
	return nil
}

func lengthDetail(l, min, max int) string {
	if min == max {
		return fmt.Sprintf("length %d, need exactly %d", l, min)
	}
	return fmt.Sprintf("length %d out of range %d..%d", l, min, max)
}

func clone(p []byte) []byte {
	if len(p) == 0 {
		return nil
	}
	return append([]byte(nil), p...)
}
