package msg

import "github.com/prosesec/prosesec/internal/wire"

// builder is the shared length-owning cursor (wire.Builder: counting and
// writing modes, back-filled and bounds-checked length prefixes, a sticky
// first error) with this package's errors and callbacks that take a
// *builder, in the manner of golang.org/x/crypto/cryptobyte.Builder. No
// caller computes a length by hand.
type builder struct{ wire.Builder }

func newCounter(ctx string) *builder { return &builder{wire.NewCounter(ctx, wireError)} }

func newWriter(ctx string, b []byte) *builder {
	return &builder{wire.NewWriter(ctx, wireError, b)}
}

// fail records an *Error unless an error is already recorded.
func (b *builder) fail(field string, kind error, format string, args ...any) {
	if b.Err() == nil {
		b.Fail(newError(b.Context(), field, kind, format, args...))
	}
}

// AddLV writes a 1-octet length and the contents written by f.
// max must be at most 255.
func (b *builder) AddLV(field string, min, max int, f func(*builder)) {
	b.AddPrefixed(1, field, min, max, func() { f(b) })
}

// AddLVE writes a 2-octet length and the contents written by f.
// max must be at most 65535.
func (b *builder) AddLVE(field string, min, max int, f func(*builder)) {
	b.AddPrefixed(2, field, min, max, func() { f(b) })
}

// AddTV writes IEI ‖ value (fixed-length value).
func (b *builder) AddTV(iei IEI, value []byte) {
	b.AddUint8(uint8(iei))
	b.AddBytes(value)
}

// AddTLV writes IEI ‖ 1-octet length ‖ contents written by f.
func (b *builder) AddTLV(iei IEI, field string, min, max int, f func(*builder)) {
	b.AddUint8(uint8(iei))
	b.AddLV(field, min, max, f)
}

// AddTLVE writes IEI ‖ 2-octet length ‖ contents written by f.
func (b *builder) AddTLVE(iei IEI, field string, min, max int, f func(*builder)) {
	b.AddUint8(uint8(iei))
	b.AddLVE(field, min, max, f)
}

// bytesOf returns a callback that writes p; for AddLV and friends.
func bytesOf(p []byte) func(*builder) {
	return func(b *builder) { b.AddBytes(p) }
}

func min2(a, b int) int {
	if a < b {
		return a
	}
	return b
}
