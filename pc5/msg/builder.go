package msg

import "encoding/binary"

// builder is a cursor that writes an encoding and owns every length prefix,
// in the manner of golang.org/x/crypto/cryptobyte.Builder: a length-prefixed
// field is written by a callback, and the builder fills in the prefix
// afterwards and checks it against the field's bounds. No caller computes a
// length by hand.
//
// A builder runs in one of two modes with the same code path:
//   - counting (newCounter): nothing is written, n is the encoded length;
//     MarshalLen and validation use it without allocating.
//   - writing (newWriter): octets go into a caller buffer of fixed size. If the
//     buffer is too small the builder stops writing but keeps counting, so the
//     error can say how many octets were needed.
//
// The first error is sticky: later calls do nothing.
type builder struct {
	buf   []byte // destination (writing mode)
	n     int    // octets produced so far
	count bool   // counting mode
	short bool   // writing mode, destination exhausted
	ctx   string // context for errors
	err   error
}

func newCounter(ctx string) *builder { return &builder{count: true, ctx: ctx} }

func newWriter(ctx string, b []byte) *builder { return &builder{buf: b, ctx: ctx} }

// finish returns the encoded length or the first error.
func (b *builder) finish() (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.short {
		return 0, newError(b.ctx, "", ErrShortBuffer, "need %d octets, have %d", b.n, len(b.buf))
	}
	return b.n, nil
}

// fail records err unless an error is already recorded.
func (b *builder) fail(field string, kind error, format string, args ...any) {
	if b.err == nil {
		b.err = newError(b.ctx, field, kind, format, args...)
	}
}

// reserve advances by k octets and returns the slice to fill, or nil when
// counting, failed or out of room.
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

func (b *builder) AddUint8(v uint8) {
	if s := b.reserve(1); s != nil {
		s[0] = v
	}
}

func (b *builder) AddUint16(v uint16) {
	if s := b.reserve(2); s != nil {
		binary.BigEndian.PutUint16(s, v)
	}
}

// AddUint24 writes the low 24 bits of v; larger values are an error.
func (b *builder) AddUint24(field string, v uint32) {
	if v > 0xFFFFFF {
		b.fail(field, ErrInvalid, "value 0x%x does not fit in 24 bits", v)
		return
	}
	if s := b.reserve(3); s != nil {
		s[0], s[1], s[2] = byte(v>>16), byte(v>>8), byte(v)
	}
}

func (b *builder) AddUint32(v uint32) {
	if s := b.reserve(4); s != nil {
		binary.BigEndian.PutUint32(s, v)
	}
}

func (b *builder) AddBytes(p []byte) {
	if s := b.reserve(len(p)); s != nil {
		copy(s, p)
	}
}

// addPrefixed writes a lenOctets-octet big-endian length, then the contents
// produced by f, then back-fills the length after checking min ≤ length ≤ max.
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

// AddLV writes a 1-octet length and the contents written by f.
// max must be at most 255.
func (b *builder) AddLV(field string, min, max int, f func(*builder)) {
	b.addPrefixed(1, field, min, min2(max, 0xFF), f)
}

// AddLVE writes a 2-octet length and the contents written by f.
// max must be at most 65535.
func (b *builder) AddLVE(field string, min, max int, f func(*builder)) {
	b.addPrefixed(2, field, min, min2(max, 0xFFFF), f)
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
