package discovery

import (
	"errors"
	"fmt"

	"github.com/prosesec/prosesec/internal/wire"
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

// builder is the shared length-owning cursor (wire.Builder, in the manner
// of x/crypto/cryptobyte) with this package's errors: a prefixed field is
// written by a callback and its length filled in afterwards, checked against
// bounds. In counting mode nothing is written; MarshalLen uses it. The first
// error is sticky.
type builder struct{ wire.Builder }

func newCounter(msg string) *builder { return &builder{wire.NewCounter(msg, wireError)} }

func newWriter(msg string, b []byte) *builder { return &builder{wire.NewWriter(msg, wireError, b)} }

func (b *builder) fail(field string, kind error, format string, args ...any) {
	if b.Err() == nil {
		b.Fail(newError(b.Context(), field, kind, format, args...))
	}
}

func (b *builder) addLV(field string, min, max int, p []byte) {
	b.AddPrefixed(1, field, min, max, func() { b.AddBytes(p) })
}

// addUserInfoList writes the UE-to-UE relay UE info: a 2-octet length,
// then each user info as an LV.
func (b *builder) addUserInfoList(field string, list [][]byte) {
	if len(list) > MaxReachableUEs {
		b.fail(field, ErrLength, "%d entries, at most %d", len(list), MaxReachableUEs)
		return
	}
	b.AddPrefixed(2, field, 0, MaxReachableUEs*(1+MaxUserInfoLen), func() {
		for _, ui := range list {
			b.addLV(field+" entry", 1, MaxUserInfoLen, ui)
		}
	})
}

// reader is the shared bounds-checked cursor (wire.Reader) with this
// package's errors: every read checks the remaining length, never panics,
// never allocates from a peer-supplied length.
type reader struct{ wire.Reader }

func newReader(msg string, b []byte) *reader { return &reader{wire.NewReader(msg, wireError, b)} }

func (r *reader) errf(field string, kind error, format string, args ...any) error {
	return newError(r.Context(), field, kind, format, args...)
}

// lv reads an LV and returns a copy (nil when empty).
func (r *reader) lv(field string, min, max int) ([]byte, error) {
	s, err := r.ReadLV(field, min, max)
	if err != nil {
		return nil, err
	}
	return clone(s), nil
}

func (r *reader) userInfoList(field string) ([][]byte, error) {
	s, err := r.ReadLVE(field, 0, MaxReachableUEs*(1+MaxUserInfoLen))
	if err != nil {
		return nil, err
	}
	sub := newReader(r.Context(), s)
	var out [][]byte
	for !sub.Empty() {
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

// wireError words the failures that the wire cursor detects as *Error
// values of this package.
func wireError(msg string, f wire.Failure) error {
	switch f.Kind {
	case wire.Truncated:
		return newError(msg, f.Field, ErrTruncated, "need %d octets, have %d", f.Need, f.Have)
	case wire.TruncatedLength:
		return newError(msg, f.Field, ErrTruncated, "need %d octets for the length, have %d", f.Need, f.Have)
	case wire.Length:
		return newError(msg, f.Field, ErrLength, "%s", lengthDetail(f.Len, f.Min, f.Max))
	case wire.TrailingData:
		return newError(msg, f.Field, ErrTrailingData, "%d unexpected trailing octets", f.Have)
	case wire.Overflow:
		return newError(msg, f.Field, ErrInvalid, "value 0x%x does not fit in %d bits", f.Value, f.Bits)
	case wire.ShortBuffer:
		return newError(msg, f.Field, ErrShortBuffer, "need %d octets, have %d", f.Need, f.Have)
	}
	return newError(msg, f.Field, ErrInvalid, "%v", f.Kind)
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
