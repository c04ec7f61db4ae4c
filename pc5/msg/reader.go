package msg

import (
	"fmt"

	"github.com/prosesec/prosesec/internal/wire"
)

// reader is the shared bounds-checked cursor (wire.Reader) with this
// package's errors: every read checks the remaining length first and
// returns an *Error naming the context and the field ("need 16 octets, have
// 9"). It never panics and never allocates from a peer-supplied length:
// variable fields are returned as sub-slices of the input, bounded by what
// is actually there; callers copy what they keep.
type reader struct{ wire.Reader }

func newReader(ctx string, b []byte) *reader { return &reader{wire.NewReader(ctx, wireError, b)} }

func (r *reader) errf(field string, kind error, format string, args ...any) error {
	return newError(r.Context(), field, kind, format, args...)
}

// wireError words the failures that the wire cursor detects as *Error
// values of this package.
func wireError(ctx string, f wire.Failure) error {
	switch f.Kind {
	case wire.Truncated:
		return newError(ctx, f.Field, ErrTruncated, "need %d %s, have %d", f.Need, octets(f.Need), f.Have)
	case wire.TruncatedLength:
		return newError(ctx, f.Field, ErrTruncated, "need %d %s for the length, have %d", f.Need, octets(f.Need), f.Have)
	case wire.Length:
		return newError(ctx, f.Field, ErrLength, "%s", lengthDetail(f.Len, f.Min, f.Max))
	case wire.TrailingData:
		return newError(ctx, f.Field, ErrTrailingData, "%d unexpected trailing %s", f.Have, octets(f.Have))
	case wire.Overflow:
		return newError(ctx, f.Field, ErrInvalid, "value 0x%x does not fit in %d bits", f.Value, f.Bits)
	case wire.ShortBuffer:
		return newError(ctx, f.Field, ErrShortBuffer, "need %d octets, have %d", f.Need, f.Have)
	}
	return newError(ctx, f.Field, ErrInvalid, "%v", f.Kind)
}

func octets(n int) string {
	if n == 1 {
		return "octet"
	}
	return "octets"
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
