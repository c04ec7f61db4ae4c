package snow3g

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

func words(t *testing.T, s string) [4]uint32 {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		t.Fatalf("bad test hex %q", s)
	}
	var w [4]uint32
	for i := range w {
		w[i] = binary.BigEndian.Uint32(b[4*i:])
	}
	return w
}

// TestSpecTestSets checks the generator against the ETSI/SAGE UEA2/UIA2
// Document 3 (implementors' test data) §3.3–§3.6, test sets 1–4. The key and
// IV are printed as k0‖k1‖k2‖k3 and IV0‖IV1‖IV2‖IV3.
func TestSpecTestSets(t *testing.T) {
	sets := []struct {
		key, iv string
		z       map[int]uint32 // t -> z_t
	}{
		{"2bd6459f82c5b300952c49104881ff48", "ea024714ad5c4d84df1f9b251c0bf45f",
			map[int]uint32{1: 0xabee9704, 2: 0x7ac31373}},
		{"8ce33e2cc3c0b5fc1f3de8a6dc66b1f3", "d3c5d592327fb11cde551988ceb2f9b7",
			map[int]uint32{1: 0xeff8a342, 2: 0xf751480f}},
		{"4035c6680af8c6d1a8ff8667b1714013", "62a540981ba6f9b74592b0e78690f71b",
			map[int]uint32{1: 0xa8c874a9, 2: 0x7ae7c4f8}},
		{"0ded7263109cf92e3352255a140e0f76", "6b68079a41a7c4c91befd79f7fdcc233",
			map[int]uint32{1: 0xd712c05c, 2: 0xa937c2a6, 3: 0xeb7eaae3, 2500: 0x9c0db3aa}},
	}
	for n, set := range sets {
		g := New(words(t, set.key), words(t, set.iv))
		z := make([]uint32, 2500)
		g.KeyStream(z)
		for at, want := range set.z {
			if got := z[at-1]; got != want {
				t.Errorf("test set %d: z%d = %08x, want %08x", n+1, at, got, want)
			}
		}
	}
}

// Straightforward formulation of the specification, for cross-checking the
// table-driven generator: byte-level S-boxes computed from their algebraic
// definitions (Annex 1), MULxPOW loops, and a shifting LFSR.

func gfMul(a, b byte, poly uint16) byte {
	var r uint16
	x := uint16(a)
	for ; b != 0; b >>= 1 {
		if b&1 != 0 {
			r ^= x
		}
		x <<= 1
		if x&0x100 != 0 {
			x ^= poly
		}
	}
	return byte(r)
}

func gfPow(a byte, e int, poly uint16) byte {
	r := byte(1)
	for range e {
		r = gfMul(r, a, poly)
	}
	return r
}

// refSR is the Rijndael S-box: inversion in GF(2^8) mod x^8+x^4+x^3+x+1
// followed by the affine map with constant 0x63.
func refSR(x byte) byte {
	inv := gfPow(x, 254, 0x11b) // x^254 = x^-1, and 0 for 0
	r := inv
	for i := 1; i <= 4; i++ {
		r ^= inv<<i | inv>>(8-i)
	}
	return r ^ 0x63
}

// refSQ is g49(x) XOR 0x25 over GF(2^8) mod x^8+x^6+x^5+x^3+1 (Annex 1.3).
func refSQ(x byte) byte {
	var r byte
	for _, e := range []int{1, 9, 13, 15, 33, 41, 45, 47, 49} {
		r ^= gfPow(x, e, 0x169)
	}
	return r ^ 0x25
}

func refS(w uint32, box func(byte) byte, c byte) uint32 {
	x0, x1, x2, x3 := box(byte(w>>24)), box(byte(w>>16)), box(byte(w>>8)), box(byte(w))
	r0 := mulx(x0, c) ^ x1 ^ x2 ^ mulx(x3, c) ^ x3
	r1 := mulx(x0, c) ^ x0 ^ mulx(x1, c) ^ x2 ^ x3
	r2 := x0 ^ mulx(x1, c) ^ x1 ^ mulx(x2, c) ^ x3
	r3 := x0 ^ x1 ^ mulx(x2, c) ^ x2 ^ mulx(x3, c)
	return uint32(r0)<<24 | uint32(r1)<<16 | uint32(r2)<<8 | uint32(r3)
}

func refMUL(c byte) uint32 {
	return uint32(mulxPow(c, 23, 0xa9))<<24 | uint32(mulxPow(c, 245, 0xa9))<<16 |
		uint32(mulxPow(c, 48, 0xa9))<<8 | uint32(mulxPow(c, 239, 0xa9))
}

func refDIV(c byte) uint32 {
	return uint32(mulxPow(c, 16, 0xa9))<<24 | uint32(mulxPow(c, 39, 0xa9))<<16 |
		uint32(mulxPow(c, 6, 0xa9))<<8 | uint32(mulxPow(c, 64, 0xa9))
}

type refSnow struct {
	s          [16]uint32
	r1, r2, r3 uint32
}

func (r *refSnow) fsm() uint32 {
	f := (r.s[15] + r.r1) ^ r.r2
	v := r.r2 + (r.r3 ^ r.s[5])
	r.r3 = refS(r.r2, refSQ, 0x69)
	r.r2 = refS(r.r1, refSR, 0x1b)
	r.r1 = v
	return f
}

func (r *refSnow) lfsr(f uint32) {
	s0, s11 := r.s[0], r.s[11]
	v := (s0 << 8) ^ refMUL(byte(s0>>24)) ^ r.s[2] ^ (s11 >> 8) ^ refDIV(byte(s11)) ^ f
	copy(r.s[:15], r.s[1:])
	r.s[15] = v
}

func refKeyStream(k, iv [4]uint32, n int) []uint32 {
	var r refSnow
	one := uint32(0xffffffff)
	r.s[15], r.s[14], r.s[13], r.s[12] = k[3]^iv[0], k[2], k[1], k[0]^iv[1]
	r.s[11], r.s[10], r.s[9], r.s[8] = k[3]^one, k[2]^one^iv[2], k[1]^one^iv[3], k[0]^one
	r.s[7], r.s[6], r.s[5], r.s[4] = k[3], k[2], k[1], k[0]
	r.s[3], r.s[2], r.s[1], r.s[0] = k[3]^one, k[2]^one, k[1]^one, k[0]^one
	for range 32 {
		r.lfsr(r.fsm())
	}
	r.fsm()
	r.lfsr(0)
	z := make([]uint32, n)
	for t := range z {
		z[t] = r.fsm() ^ r.s[0]
		r.lfsr(0)
	}
	return z
}

// TestTables checks every derived table entry against the definitions.
func TestTables(t *testing.T) {
	for x := range 256 {
		c := byte(x)
		if sr[x] != refSR(c) {
			t.Errorf("SR(%#02x) = %#02x, want %#02x", x, sr[x], refSR(c))
		}
		if sq[x] != refSQ(c) {
			t.Errorf("SQ(%#02x) = %#02x, want %#02x", x, sq[x], refSQ(c))
		}
		if mulAlpha[x] != refMUL(c) || divAlpha[x] != refDIV(c) {
			t.Errorf("MUL/DIV(%#02x) mismatch", x)
		}
		for _, w := range []uint32{uint32(x) << 24, uint32(x) << 16, uint32(x) << 8, uint32(x), uint32(x) * 0x01010101} {
			if s1(w) != refS(w, refSR, 0x1b) || s2(w) != refS(w, refSQ, 0x69) {
				t.Errorf("S1/S2(%08x) mismatch", w)
			}
		}
	}
	// Spot values printed in the specification.
	if sr[0x2a] != 0xe5 || sq[0x2a] != 0xac || mulx(0x96, 0x1b) != 0x37 {
		t.Error("specification examples of §3.1.1 / §5 do not hold")
	}
}

// TestAgainstReference compares the table-driven generator with the
// straightforward formulation for random keys and IVs, drawing the
// keystream in chunks of varying size to exercise the LFSR ring.
func TestAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var g Generator
	for trial := range 200 {
		var k, iv [4]uint32
		for i := range 4 {
			k[i], iv[i] = rng.Uint32(), rng.Uint32()
		}
		const n = 100
		want := refKeyStream(k, iv, n)
		g.Reset(k, iv)
		got := make([]uint32, 0, n)
		for len(got) < n {
			c := min(1+rng.IntN(20), n-len(got))
			buf := make([]uint32, c)
			g.KeyStream(buf)
			got = append(got, buf...)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("trial %d (k=%08x iv=%08x): z%d = %08x, want %08x", trial, k, iv, i+1, got[i], want[i])
			}
		}
	}
}

func BenchmarkKeyStream(b *testing.B) {
	g := New([4]uint32{1, 2, 3, 4}, [4]uint32{5, 6, 7, 8})
	buf := make([]uint32, 256)
	b.SetBytes(int64(4 * len(buf)))
	for b.Loop() {
		g.KeyStream(buf)
	}
}
