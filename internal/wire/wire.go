// Package wire owns the cursor mechanics of the project's binary codecs
// (pc5/msg, discovery): a Builder that owns every length prefix and a Reader
// whose every read is bounds-checked, in the manner of
// golang.org/x/crypto/cryptobyte.
//
// The package has no error type of its own. A codec hands the Builder or
// Reader an ErrorFunc and a context string (the message name); every check
// that fails is described as a Failure and turned into the codec's error by
// that function, so each codec keeps its own error type, sentinel kinds and
// wording. Failures the codec detects itself go into the Builder with Fail.
package wire

import (
	"encoding/binary"
	"strconv"
)

// Kind says which check failed.
type Kind uint8

const (
	// Truncated: the input ended inside a field. Need, Have.
	Truncated Kind = iota + 1
	// TruncatedLength: the input ended inside a length prefix. Need, Have.
	TruncatedLength
	// Length: a length, read or written, is outside Min..Max. Len, Min, Max.
	Length
	// TrailingData: octets are left after the end. Have.
	TrailingData
	// Overflow: a value does not fit in its field. Value, Bits.
	Overflow
	// ShortBuffer: the Builder's destination is too small. Need, Have.
	ShortBuffer
)

func (k Kind) String() string {
	switch k {
	case Truncated:
		return "truncated"
	case TruncatedLength:
		return "truncated length"
	case Length:
		return "bad length"
	case TrailingData:
		return "trailing data"
	case Overflow:
		return "overflow"
	case ShortBuffer:
		return "short buffer"
	}
	return "wire.Kind(" + strconv.Itoa(int(k)) + ")"
}

// Failure describes a failed check; which fields are set depends on Kind.
type Failure struct {
	Field    string // field name; empty for the whole structure
	Kind     Kind
	Need     int    // octets needed
	Have     int    // octets available, or left over (TrailingData)
	Len      int    // the offending length (Length)
	Min, Max int    // its bounds (Length)
	Value    uint64 // the offending value (Overflow)
	Bits     int    // the width it must fit in (Overflow)
}

// ErrorFunc turns a Failure in the structure named ctx into the codec's
// error. It runs only on failure paths.
type ErrorFunc func(ctx string, f Failure) error

// Builder writes an encoding and owns every length prefix: a prefixed field
// is written by a callback, and the Builder back-fills the prefix afterwards
// and checks it against the field's bounds. No caller computes a length.
//
// A Builder runs in one of two modes with the same code path:
//   - counting (NewCounter): nothing is written, Len is the encoded length;
//     MarshalLen and validation use it without allocating.
//   - writing (NewWriter): octets go into a caller buffer of fixed size. If
//     the buffer is too small the Builder stops writing but keeps counting,
//     so the error can say how many octets were needed.
//
// The first error is sticky: later calls do nothing.
type Builder struct {
	buf   []byte // destination (writing mode)
	n     int    // octets produced so far
	count bool   // counting mode
	short bool   // writing mode, destination exhausted
	ctx   string
	errf  ErrorFunc
	err   error
}

// NewCounter returns a counting Builder for the structure named ctx.
func NewCounter(ctx string, errf ErrorFunc) Builder {
	return Builder{count: true, ctx: ctx, errf: errf}
}

// NewWriter returns a Builder that writes into b.
func NewWriter(ctx string, errf ErrorFunc, b []byte) Builder {
	return Builder{buf: b, ctx: ctx, errf: errf}
}

// Context returns the structure name the Builder was made with.
func (b *Builder) Context() string { return b.ctx }

// Len returns the number of octets produced so far (also in counting mode
// and after the destination ran out).
func (b *Builder) Len() int { return b.n }

// Err returns the first error recorded, if any.
func (b *Builder) Err() error { return b.err }

// Fail records err unless an error is already recorded.
func (b *Builder) Fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

func (b *Builder) fail(f Failure) {
	if b.err == nil {
		b.err = b.errf(b.ctx, f)
	}
}

// Finish returns the encoded length or the first error; in writing mode a
// destination that ran out is a ShortBuffer failure.
func (b *Builder) Finish() (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.short {
		return 0, b.errf(b.ctx, Failure{Kind: ShortBuffer, Need: b.n, Have: len(b.buf)})
	}
	return b.n, nil
}

// reserve advances by k octets and returns the slice to fill, or nil when
// counting, failed or out of room.
func (b *Builder) reserve(k int) []byte {
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

// AddUint8 writes one octet.
func (b *Builder) AddUint8(v uint8) {
	if s := b.reserve(1); s != nil {
		s[0] = v
	}
}

// AddUint24 writes the low 24 bits of v big-endian; a larger v is an
// Overflow failure of field.
func (b *Builder) AddUint24(field string, v uint32) {
	if v > 0xFFFFFF {
		b.fail(Failure{Field: field, Kind: Overflow, Value: uint64(v), Bits: 24})
		return
	}
	if s := b.reserve(3); s != nil {
		s[0], s[1], s[2] = byte(v>>16), byte(v>>8), byte(v)
	}
}

// AddUint32 writes v big-endian.
func (b *Builder) AddUint32(v uint32) {
	if s := b.reserve(4); s != nil {
		binary.BigEndian.PutUint32(s, v)
	}
}

// AddBytes writes p.
func (b *Builder) AddBytes(p []byte) {
	if s := b.reserve(len(p)); s != nil {
		copy(s, p)
	}
}

// AddPrefixed writes a lenOctets-octet (1 or 2) big-endian length, then the
// contents that f writes into b, then back-fills the length after checking
// min ≤ length ≤ max, where max is capped at what the prefix can hold. A
// length outside the bounds is a Length failure of field.
//
// f takes no argument so that a codec can wrap b in its own builder type
// and hand that to its callbacks.
func (b *Builder) AddPrefixed(lenOctets int, field string, min, max int, f func()) {
	if b.err != nil {
		return
	}
	start := b.n
	slot := b.reserve(lenOctets)
	f()
	if b.err != nil {
		return
	}
	max = maxLen(lenOctets, max)
	l := b.n - start - lenOctets
	if l < min || l > max {
		b.fail(Failure{Field: field, Kind: Length, Len: l, Min: min, Max: max})
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

func maxLen(lenOctets, max int) int {
	if lenOctets == 1 {
		return min(max, 0xFF)
	}
	return min(max, 0xFFFF)
}

// Reader is a cursor over peer-supplied octets. Every read checks the
// remaining length first and fails with a Failure naming the field. It
// never panics and never allocates from a peer-supplied length: variable
// fields are returned as sub-slices of the input, bounded by what is
// actually there; callers copy what they keep.
type Reader struct {
	b    []byte
	off  int
	ctx  string
	errf ErrorFunc
}

// NewReader returns a Reader over b for the structure named ctx.
func NewReader(ctx string, errf ErrorFunc, b []byte) Reader {
	return Reader{b: b, ctx: ctx, errf: errf}
}

// Context returns the structure name the Reader was made with.
func (r *Reader) Context() string { return r.ctx }

// Len returns the number of unread octets.
func (r *Reader) Len() int { return len(r.b) - r.off }

// Empty reports whether everything has been read.
func (r *Reader) Empty() bool { return r.off >= len(r.b) }

func (r *Reader) failure(f Failure) error { return r.errf(r.ctx, f) }

// ReadFixed returns the next n octets (a sub-slice of the input).
func (r *Reader) ReadFixed(field string, n int) ([]byte, error) {
	if n < 0 || r.Len() < n {
		return nil, r.failure(Failure{Field: field, Kind: Truncated, Need: n, Have: r.Len()})
	}
	s := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return s, nil
}

// ReadFixedInto fills dst from the next len(dst) octets.
func (r *Reader) ReadFixedInto(field string, dst []byte) error {
	s, err := r.ReadFixed(field, len(dst))
	if err != nil {
		return err
	}
	copy(dst, s)
	return nil
}

// ReadUint8 reads one octet.
func (r *Reader) ReadUint8(field string) (uint8, error) {
	s, err := r.ReadFixed(field, 1)
	if err != nil {
		return 0, err
	}
	return s[0], nil
}

// ReadUint24 reads a big-endian 24-bit value.
func (r *Reader) ReadUint24(field string) (uint32, error) {
	s, err := r.ReadFixed(field, 3)
	if err != nil {
		return 0, err
	}
	return uint32(s[0])<<16 | uint32(s[1])<<8 | uint32(s[2]), nil
}

// ReadUint32 reads a big-endian uint32.
func (r *Reader) ReadUint32(field string) (uint32, error) {
	s, err := r.ReadFixed(field, 4)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(s), nil
}

// ReadPrefixed reads a lenOctets-octet (1 or 2) big-endian length, checks
// min ≤ length ≤ max, then returns that many octets (a sub-slice of the
// input).
func (r *Reader) ReadPrefixed(lenOctets int, field string, min, max int) ([]byte, error) {
	if r.Len() < lenOctets {
		return nil, r.failure(Failure{Field: field, Kind: TruncatedLength, Need: lenOctets, Have: r.Len()})
	}
	var l int
	if lenOctets == 1 {
		l = int(r.b[r.off])
	} else {
		l = int(binary.BigEndian.Uint16(r.b[r.off:]))
	}
	if l < min || l > max {
		return nil, r.failure(Failure{Field: field, Kind: Length, Len: l, Min: min, Max: max})
	}
	r.off += lenOctets
	return r.ReadFixed(field, l)
}

// ReadLV reads a 1-octet length and the contents.
func (r *Reader) ReadLV(field string, min, max int) ([]byte, error) {
	return r.ReadPrefixed(1, field, min, max)
}

// ReadLVE reads a 2-octet length and the contents.
func (r *Reader) ReadLVE(field string, min, max int) ([]byte, error) {
	return r.ReadPrefixed(2, field, min, max)
}

// ExpectEnd fails with TrailingData unless everything was read.
func (r *Reader) ExpectEnd() error {
	if !r.Empty() {
		return r.failure(Failure{Kind: TrailingData, Have: r.Len()})
	}
	return nil
}
