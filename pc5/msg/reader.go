package msg

import (
	"encoding/binary"
	"fmt"
)

// reader is a cursor over peer-supplied octets. Every read checks the
// remaining length first and returns an *Error naming the context and the
// field ("need 16 octets, have 9"). It never panics and never allocates
// from a peer-supplied length: variable fields are returned as sub-slices of
// the input, bounded by what is actually there; callers copy what they keep.
type reader struct {
	b   []byte
	off int
	ctx string
}

func newReader(ctx string, b []byte) *reader { return &reader{b: b, ctx: ctx} }

// Len returns the number of unread octets.
func (r *reader) Len() int { return len(r.b) - r.off }

// Empty reports whether everything has been read.
func (r *reader) Empty() bool { return r.off >= len(r.b) }

func (r *reader) errf(field string, kind error, format string, args ...any) error {
	return newError(r.ctx, field, kind, format, args...)
}

func octets(n int) string {
	if n == 1 {
		return "octet"
	}
	return "octets"
}

// ReadFixed returns the next n octets (a sub-slice of the input).
func (r *reader) ReadFixed(field string, n int) ([]byte, error) {
	if n < 0 || r.Len() < n {
		return nil, r.errf(field, ErrTruncated, "need %d %s, have %d", n, octets(n), r.Len())
	}
	s := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return s, nil
}

// ReadFixedInto fills dst from the next len(dst) octets.
func (r *reader) ReadFixedInto(field string, dst []byte) error {
	s, err := r.ReadFixed(field, len(dst))
	if err != nil {
		return err
	}
	copy(dst, s)
	return nil
}

func (r *reader) ReadUint8(field string) (uint8, error) {
	s, err := r.ReadFixed(field, 1)
	if err != nil {
		return 0, err
	}
	return s[0], nil
}

func (r *reader) ReadUint16(field string) (uint16, error) {
	s, err := r.ReadFixed(field, 2)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint16(s), nil
}

func (r *reader) ReadUint24(field string) (uint32, error) {
	s, err := r.ReadFixed(field, 3)
	if err != nil {
		return 0, err
	}
	return uint32(s[0])<<16 | uint32(s[1])<<8 | uint32(s[2]), nil
}

func (r *reader) ReadUint32(field string) (uint32, error) {
	s, err := r.ReadFixed(field, 4)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(s), nil
}

// readPrefixed reads a lenOctets-octet length, checks min ≤ length ≤ max,
// then returns that many octets.
func (r *reader) readPrefixed(lenOctets int, field string, min, max int) ([]byte, error) {
	if r.Len() < lenOctets {
		return nil, r.errf(field, ErrTruncated, "need %d %s for the length, have %d", lenOctets, octets(lenOctets), r.Len())
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
	return r.ReadFixed(field, l)
}

// ReadLV reads a 1-octet length and the contents.
func (r *reader) ReadLV(field string, min, max int) ([]byte, error) {
	return r.readPrefixed(1, field, min, max)
}

// ReadLVE reads a 2-octet length and the contents.
func (r *reader) ReadLVE(field string, min, max int) ([]byte, error) {
	return r.readPrefixed(2, field, min, max)
}

// ExpectEnd fails with ErrTrailingData unless everything was read.
func (r *reader) ExpectEnd() error {
	if !r.Empty() {
		return r.errf("", ErrTrailingData, "%d unexpected trailing %s", r.Len(), octets(r.Len()))
	}
	return nil
}

func lengthDetail(l, min, max int) string {
	if min == max {
		return fmt.Sprintf("length %d, need exactly %d", l, min)
	}
	return fmt.Sprintf("length %d out of range %d..%d", l, min, max)
}

// clone copies p; nil for an empty p so that decoded values compare equal
// to values built with nil slices.
func clone(p []byte) []byte {
	if len(p) == 0 {
		return nil
	}
	return append([]byte(nil), p...)
}
