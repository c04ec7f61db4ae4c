package wire

import (
	"bytes"
	"errors"
	"testing"
)

// failure is the test codec's error: the context and the Failure verbatim.
type failure struct {
	ctx string
	f   Failure
}

func (e *failure) Error() string { return e.ctx + ": " + e.f.Field + ": " + e.f.Kind.String() }

func errf(ctx string, f Failure) error { return &failure{ctx, f} }

func asFailure(t *testing.T, err error) Failure {
	t.Helper()
	var e *failure
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not from the ErrorFunc", err)
	}
	if e.ctx != "MSG" {
		t.Fatalf("context %q, want MSG", e.ctx)
	}
	return e.f
}

// build writes a small structure: a type octet, a 1-octet-prefixed field
// holding a 2-octet-prefixed field, a 24-bit value and a uint32.
func build(b *Builder) {
	b.AddUint8(0x7e)
	b.AddPrefixed(1, "outer", 0, 10, func() {
		b.AddPrefixed(2, "inner", 1, 4, func() {
			b.AddBytes([]byte{1, 2})
			b.AddBytes([]byte{3})
		})
	})
	b.AddUint24("rsc", 0xaabbcc)
	b.AddUint32(0xdeadbeef)
}

var built = []byte{0x7e, 5, 0, 3, 1, 2, 3, 0xaa, 0xbb, 0xcc, 0xde, 0xad, 0xbe, 0xef}

func TestBuilderCountAndWrite(t *testing.T) {
	c := NewCounter("MSG", errf)
	build(&c)
	n, err := c.Finish()
	if err != nil || n != len(built) || c.Len() != n {
		t.Fatalf("count: %d, %v; want %d", n, err, len(built))
	}
	buf := make([]byte, n)
	w := NewWriter("MSG", errf, buf)
	build(&w)
	if n, err := w.Finish(); err != nil || n != len(built) || !bytes.Equal(buf, built) {
		t.Fatalf("write: %d, %v, % x; want % x", n, err, buf, built)
	}
}

func TestBuilderShortBuffer(t *testing.T) {
	for size := range len(built) {
		w := NewWriter("MSG", errf, make([]byte, size))
		build(&w)
		_, err := w.Finish()
		f := asFailure(t, err)
		if f.Kind != ShortBuffer || f.Need != len(built) || f.Have != size || f.Field != "" {
			t.Fatalf("size %d: %+v", size, f)
		}
	}
}

func TestBuilderLength(t *testing.T) {
	for _, c := range []struct {
		name      string
		lenOctets int
		min, max  int
		n         int
		wantMax   int // the bound reported, capped by the prefix
	}{
		{"short", 1, 2, 4, 1, 4},
		{"long", 1, 2, 4, 5, 4},
		{"exact", 2, 3, 3, 2, 3},
		{"over one octet", 1, 0, 1000, 256, 0xFF},
		{"over two octets", 2, 0, 1 << 20, 0x10000, 0xFFFF},
	} {
		b := NewCounter("MSG", errf)
		b.AddPrefixed(c.lenOctets, "f", c.min, c.max, func() { b.AddBytes(make([]byte, c.n)) })
		_, err := b.Finish()
		f := asFailure(t, err)
		if f.Kind != Length || f.Field != "f" || f.Len != c.n || f.Min != c.min || f.Max != c.wantMax {
			t.Errorf("%s: %+v", c.name, f)
		}
	}
}

func TestBuilderStickyError(t *testing.T) {
	first := errors.New("first")
	b := NewWriter("MSG", errf, make([]byte, 16))
	b.AddUint8(1)
	b.Fail(first)
	b.Fail(errors.New("second"))
	b.AddUint24("rsc", 1<<24)
	b.AddPrefixed(1, "f", 0, 0, func() { t.Fatal("callback ran after an error") })
	b.AddBytes([]byte{1, 2, 3})
	if _, err := b.Finish(); err != first || b.Err() != first || b.Len() != 1 {
		t.Fatalf("Finish: %v, Len %d; want the first error, 1", err, b.Len())
	}

	// An error inside a prefixed field leaves the prefix alone.
	b = NewCounter("MSG", errf)
	b.AddPrefixed(1, "outer", 5, 5, func() { b.AddUint24("rsc", 1<<24) })
	_, err := b.Finish()
	if f := asFailure(t, err); f.Kind != Overflow || f.Field != "rsc" || f.Value != 1<<24 || f.Bits != 24 {
		t.Fatalf("%+v", f)
	}
}

func TestReader(t *testing.T) {
	r := NewReader("MSG", errf, built)
	if v, err := r.ReadUint8("type"); err != nil || v != 0x7e {
		t.Fatalf("type: %x, %v", v, err)
	}
	outer, err := r.ReadLV("outer", 0, 10)
	if err != nil || len(outer) != 5 {
		t.Fatalf("outer: % x, %v", outer, err)
	}
	in := NewReader("MSG", errf, outer)
	if v, err := in.ReadLVE("inner", 1, 4); err != nil || !bytes.Equal(v, []byte{1, 2, 3}) {
		t.Fatalf("inner: % x, %v", v, err)
	}
	if err := in.ExpectEnd(); err != nil {
		t.Fatal(err)
	}
	if v, err := r.ReadUint24("rsc"); err != nil || v != 0xaabbcc {
		t.Fatalf("rsc: %x, %v", v, err)
	}
	var d [2]byte
	if err := r.ReadFixedInto("d", d[:]); err != nil || d != [2]byte{0xde, 0xad} {
		t.Fatalf("d: % x, %v", d, err)
	}
	if v, err := r.ReadFixed("e", 2); err != nil || !bytes.Equal(v, []byte{0xbe, 0xef}) || !r.Empty() || r.Len() != 0 {
		t.Fatalf("e: % x, %v, Len %d", v, err, r.Len())
	}
	r = NewReader("MSG", errf, built[10:])
	if v, err := r.ReadUint32("u"); err != nil || v != 0xdeadbeef {
		t.Fatalf("u: %x, %v", v, err)
	}
}

func TestReaderFailures(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []byte
		read func(r *Reader) error
		want Failure
	}{
		{"truncated", []byte{1, 2}, func(r *Reader) error { _, err := r.ReadUint24("x"); return err },
			Failure{Field: "x", Kind: Truncated, Need: 3, Have: 2}},
		{"negative", []byte{1}, func(r *Reader) error { _, err := r.ReadFixed("x", -1); return err },
			Failure{Field: "x", Kind: Truncated, Need: -1, Have: 1}},
		{"truncated length", []byte{1}, func(r *Reader) error { _, err := r.ReadLVE("x", 0, 9); return err },
			Failure{Field: "x", Kind: TruncatedLength, Need: 2, Have: 1}},
		{"length", []byte{9, 0}, func(r *Reader) error { _, err := r.ReadLV("x", 1, 4); return err },
			Failure{Field: "x", Kind: Length, Len: 9, Min: 1, Max: 4}},
		{"truncated contents", []byte{3, 0}, func(r *Reader) error { _, err := r.ReadLV("x", 1, 4); return err },
			Failure{Field: "x", Kind: Truncated, Need: 3, Have: 1}},
		{"trailing", []byte{1, 2, 3}, func(r *Reader) error { r.ReadUint8("x"); return r.ExpectEnd() },
			Failure{Kind: TrailingData, Have: 2}},
	} {
		r := NewReader("MSG", errf, c.in)
		if f := asFailure(t, c.read(&r)); f != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, f, c.want)
		}
	}
}

// TestNoTruncationParses: every proper prefix of an encoding fails to read.
func TestNoTruncationParses(t *testing.T) {
	read := func(b []byte) error {
		r := NewReader("MSG", errf, b)
		if _, err := r.ReadUint8("type"); err != nil {
			return err
		}
		if _, err := r.ReadLV("outer", 0, 10); err != nil {
			return err
		}
		if _, err := r.ReadUint24("rsc"); err != nil {
			return err
		}
		if _, err := r.ReadUint32("u"); err != nil {
			return err
		}
		return r.ExpectEnd()
	}
	if err := read(built); err != nil {
		t.Fatal(err)
	}
	for n := range len(built) {
		if err := read(built[:n]); err == nil {
			t.Fatalf("%d-octet prefix parsed", n)
		}
	}
}

func TestNoAllocations(t *testing.T) {
	buf := make([]byte, len(built))
	if n := testing.AllocsPerRun(100, func() {
		c := NewCounter("MSG", errf)
		build(&c)
		w := NewWriter("MSG", errf, buf)
		build(&w)
		if _, err := w.Finish(); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("building: %v allocations", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		r := NewReader("MSG", errf, built)
		r.ReadUint8("type")
		r.ReadLV("outer", 0, 10)
		r.ReadUint24("rsc")
		r.ReadUint32("u")
		if err := r.ExpectEnd(); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("reading: %v allocations", n)
	}
}

func TestKindString(t *testing.T) {
	if s := Length.String(); s != "bad length" {
		t.Errorf("Length: %q", s)
	}
	if s := Kind(99).String(); s != "wire.Kind(99)" {
		t.Errorf("Kind(99): %q", s)
	}
}
