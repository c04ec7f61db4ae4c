package zuc

import (
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

func bytes16(t *testing.T, s string) [16]byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		t.Fatalf("bad test hex %q", s)
	}
	return [16]byte(b)
}

// TestSpecTestSets checks the generator against the ETSI/SAGE EEA3/EIA3
// Document 3 (implementor's test data) §3.3–§3.6, test sets 1–4.
func TestSpecTestSets(t *testing.T) {
	sets := []struct {
		key, iv string
		z       map[int]uint32 // t -> z_t
	}{
		{"00000000000000000000000000000000", "00000000000000000000000000000000",
			map[int]uint32{1: 0x27bede74, 2: 0x018082da}},
		{"ffffffffffffffffffffffffffffffff", "ffffffffffffffffffffffffffffffff",
			map[int]uint32{1: 0x0657cfa0, 2: 0x7096398b}},
		{"3d4c4be96a82fdaeb58f641db17b455b", "84319aa8de6915ca1f6bda6bfbd8c766",
			map[int]uint32{1: 0x14f1c272, 2: 0x3279c419}},
		{"4d320bfad4c285bfd6b8bd00f39d8b41", "52959daba0bf176ece2dc315049eb574",
			map[int]uint32{1: 0xed4400e7, 2: 0x0633e5c5, 2000: 0x7a574cdb}},
	}
	for n, set := range sets {
		g := New(bytes16(t, set.key), bytes16(t, set.iv))
		z := make([]uint32, 2000)
		g.KeyStream(z)
		for at, want := range set.z {
			if got := z[at-1]; got != want {
				t.Errorf("test set %d: z%d = %08x, want %08x", n+1, at, got, want)
			}
		}
	}
}

// TestSBoxExamples checks the examples of §3.4.1 and that S0 and S1 are
// permutations.
func TestSBoxExamples(t *testing.T) {
	if sbox0[0x12] != 0xf9 || sbox1[0x34] != 0xc0 || sbox(0x12345678) != 0xf9c05a4e {
		t.Error("S-box examples 7 and 8 of §3.4.1 do not hold")
	}
	var seen0, seen1 [256]bool
	for x := range 256 {
		seen0[sbox0[x]], seen1[sbox1[x]] = true, true
	}
	for x := range 256 {
		if !seen0[x] || !seen1[x] {
			t.Fatalf("S0 or S1 is not a permutation (%#02x missing)", x)
		}
	}
}

// refZUC is a straightforward formulation of the specification: a shifting
// LFSR whose feedback is computed with integer products modulo 2^31-1 (not
// with cyclic shifts), explicit H/L halves, and a byte-wise S-box.
type refZUC struct {
	s      [16]uint64
	r1, r2 uint32
}

func (r *refZUC) br() (x0, x1, x2, x3 uint32) {
	h := func(v uint64) uint32 { return uint32(v>>15) & 0xffff }
	l := func(v uint64) uint32 { return uint32(v) & 0xffff }
	return h(r.s[15])<<16 | l(r.s[14]), l(r.s[11])<<16 | h(r.s[9]),
		l(r.s[7])<<16 | h(r.s[5]), l(r.s[2])<<16 | h(r.s[0])
}

func (r *refZUC) f(x0, x1, x2 uint32) uint32 {
	w := (x0 ^ r.r1) + r.r2
	w1 := r.r1 + x1
	w2 := r.r2 ^ x2
	r.r1 = refS(refL(w1<<16|w2>>16, 2, 10, 18, 24))
	r.r2 = refS(refL(w2<<16|w1>>16, 8, 14, 22, 30))
	return w
}

// refL is L1 (shifts 2, 10, 18, 24) or L2 (8, 14, 22, 30) of §3.4.2.
func refL(x uint32, k ...int) uint32 {
	r := x
	for _, k := range k {
		r ^= x<<k | x>>(32-k)
	}
	return r
}

func refS(x uint32) uint32 {
	b := [4]byte{sbox0[x>>24], sbox1[(x>>16)&0xff], sbox0[(x>>8)&0xff], sbox1[x&0xff]}
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func (r *refZUC) lfsr(u uint64) {
	const m = 1<<31 - 1
	v := (1<<15*r.s[15] + 1<<17*r.s[13] + 1<<21*r.s[10] + 1<<20*r.s[4] + (1+1<<8)*r.s[0]) % m
	s16 := (v + u) % m
	if s16 == 0 {
		s16 = m
	}
	copy(r.s[:15], r.s[1:])
	r.s[15] = s16
}

func refKeyStream(key, iv [16]byte, n int) []uint32 {
	var r refZUC
	for i := range r.s {
		r.s[i] = uint64(key[i])<<23 | uint64(d[i])<<8 | uint64(iv[i])
	}
	for range 32 {
		x0, x1, x2, _ := r.br()
		r.lfsr(uint64(r.f(x0, x1, x2) >> 1))
	}
	x0, x1, x2, _ := r.br()
	r.f(x0, x1, x2)
	r.lfsr(0)
	z := make([]uint32, n)
	for t := range z {
		x0, x1, x2, x3 := r.br()
		z[t] = r.f(x0, x1, x2) ^ x3
		r.lfsr(0)
	}
	return z
}

// TestAgainstReference compares the generator with the straightforward
// formulation for random keys and IVs, drawing the keystream in chunks of
// varying size to exercise the LFSR ring.
func TestAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var g Generator
	for trial := range 200 {
		var key, iv [16]byte
		for i := range key {
			key[i], iv[i] = byte(rng.Uint32()), byte(rng.Uint32())
		}
		const n = 100
		want := refKeyStream(key, iv, n)
		g.Reset(key, iv)
		got := make([]uint32, 0, n)
		for len(got) < n {
			c := min(1+rng.IntN(20), n-len(got))
			buf := make([]uint32, c)
			g.KeyStream(buf)
			got = append(got, buf...)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("trial %d (key=%x iv=%x): z%d = %08x, want %08x", trial, key, iv, i+1, got[i], want[i])
			}
		}
	}
}

func BenchmarkKeyStream(b *testing.B) {
	g := New([16]byte{1, 2, 3}, [16]byte{4, 5, 6})
	buf := make([]uint32, 256)
	b.SetBytes(int64(4 * len(buf)))
	for b.Loop() {
		g.KeyStream(buf)
	}
}
