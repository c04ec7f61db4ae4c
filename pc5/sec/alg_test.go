package sec

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"math/bits"
	"math/rand/v2"
	"testing"

	"github.com/prosesec/prosesec/pc5/sec/cmac"
	"github.com/prosesec/prosesec/pc5/sec/snow3g"
	"github.com/prosesec/prosesec/pc5/sec/zuc"
)

// The spec vectors are in vectors_test.go, the RFC 4493 examples in
// cmac/cmac_test.go, and the SNOW 3G and ZUC generators are checked against
// spec test data and straightforward formulations in their own packages.
// This file checks the 128-NEA/NIA layer: constructor and input errors,
// tail bits, and randomized cross-checks against spec-literal formulations.

var (
	allCiphers   = []CipherAlg{NEA0, NEA1, NEA2, NEA3}
	allIntegrity = []IntegrityAlg{NIA0, NIA1, NIA2, NIA3}
	testKey      = []byte("0123456789abcdef")
)

func newTestCipher(t testing.TB, alg CipherAlg, key []byte) Cipher {
	t.Helper()
	c, err := NewCipher(alg, key)
	if err != nil {
		t.Fatalf("NewCipher(%v): %v", alg, err)
	}
	return c
}

func newTestIntegrity(t testing.TB, alg IntegrityAlg, key []byte) Integrity {
	t.Helper()
	m, err := NewIntegrity(alg, key)
	if err != nil {
		t.Fatalf("NewIntegrity(%v): %v", alg, err)
	}
	return m
}

func TestAlgorithmNames(t *testing.T) {
	for alg, want := range map[CipherAlg]string{NEA0: "NEA0", NEA1: "128-NEA1", NEA2: "128-NEA2", NEA3: "128-NEA3", 4: "CipherAlg(4)"} {
		if alg.String() != want {
			t.Errorf("CipherAlg(%d).String() = %q, want %q", uint8(alg), alg.String(), want)
		}
	}
	for alg, want := range map[IntegrityAlg]string{NIA0: "NIA0", NIA1: "128-NIA1", NIA2: "128-NIA2", NIA3: "128-NIA3", 15: "IntegrityAlg(15)"} {
		if alg.String() != want {
			t.Errorf("IntegrityAlg(%d).String() = %q, want %q", uint8(alg), alg.String(), want)
		}
	}
	for _, alg := range allCiphers {
		if c := newTestCipher(t, alg, testKey); c.Alg() != alg {
			t.Errorf("NewCipher(%v).Alg() = %v", alg, c.Alg())
		}
	}
	for _, alg := range allIntegrity {
		if m := newTestIntegrity(t, alg, testKey); m.Alg() != alg {
			t.Errorf("NewIntegrity(%v).Alg() = %v", alg, m.Alg())
		}
	}
}

func TestConstructorErrors(t *testing.T) {
	for _, key := range [][]byte{nil, make([]byte, 15), make([]byte, 17), make([]byte, 32)} {
		for _, alg := range allCiphers {
			c, err := NewCipher(alg, key)
			if !errors.Is(err, ErrInvalidInput) || c != nil {
				t.Errorf("NewCipher(%v, %d-octet key) = %v, %v; want nil, ErrInvalidInput", alg, len(key), c, err)
			}
		}
		for _, alg := range allIntegrity {
			m, err := NewIntegrity(alg, key)
			if !errors.Is(err, ErrInvalidInput) || m != nil {
				t.Errorf("NewIntegrity(%v, %d-octet key) = %v, %v; want nil, ErrInvalidInput", alg, len(key), m, err)
			}
		}
	}
	for _, id := range []uint8{4, 7, 15, 255} {
		for _, key := range [][]byte{testKey, nil} {
			if c, err := NewCipher(CipherAlg(id), key); !errors.Is(err, ErrUnsupportedAlgorithm) || c != nil {
				t.Errorf("NewCipher(%d) = %v, %v; want nil, ErrUnsupportedAlgorithm", id, c, err)
			}
			if m, err := NewIntegrity(IntegrityAlg(id), key); !errors.Is(err, ErrUnsupportedAlgorithm) || m != nil {
				t.Errorf("NewIntegrity(%d) = %v, %v; want nil, ErrUnsupportedAlgorithm", id, m, err)
			}
		}
	}
}

// TestInputErrors checks that out-of-range inputs give ErrInvalidInput and
// leave the output untouched, for every algorithm including the null ones.
func TestInputErrors(t *testing.T) {
	cases := []struct {
		name           string
		bearer         uint8
		dir            Direction
		srcLen, dstLen int
		lengthBits     int
		forMAC         bool // the case applies to MAC too (which has no dst)
	}{
		{"BEARER 32", 32, 0, 16, 16, 128, true},
		{"BEARER 255", 255, 1, 16, 16, 128, true},
		{"DIRECTION 2", 1, 2, 16, 16, 128, true},
		{"negative LENGTH", 1, 0, 16, 16, -1, true},
		{"short input", 1, 0, 15, 16, 121, true},
		{"short input by one bit", 1, 0, 2, 2, 17, true},
		{"short output", 1, 0, 16, 15, 121, false},
	}
	for _, alg := range allCiphers {
		c := newTestCipher(t, alg, testKey)
		for _, tc := range cases {
			src := bytes.Repeat([]byte{0x5a}, tc.srcLen)
			dst := bytes.Repeat([]byte{0xa5}, tc.dstLen)
			err := c.XORKeyStream(1, tc.bearer, tc.dir, dst, src, tc.lengthBits)
			if !errors.Is(err, ErrInvalidInput) {
				t.Errorf("%v, %s: err = %v, want ErrInvalidInput", alg, tc.name, err)
			}
			if !bytes.Equal(dst, bytes.Repeat([]byte{0xa5}, tc.dstLen)) {
				t.Errorf("%v, %s: output written despite the error", alg, tc.name)
			}
		}
	}
	for _, alg := range allIntegrity {
		m := newTestIntegrity(t, alg, testKey)
		for _, tc := range cases {
			if !tc.forMAC {
				continue
			}
			mac, err := m.MAC(1, tc.bearer, tc.dir, make([]byte, tc.srcLen), tc.lengthBits)
			if !errors.Is(err, ErrInvalidInput) || mac != [MACLen]byte{} {
				t.Errorf("%v, %s: MAC = %x, %v; want zero, ErrInvalidInput", alg, tc.name, mac, err)
			}
		}
	}
}

// Spec-literal formulations used as references below.

// refSnow3gKey is the UEA2/UIA2 key loading: K3 = CK[0..31], …, K0 = CK[96..127].
func refSnow3gKey(key []byte) [4]uint32 {
	var k [4]uint32
	for i := range 4 {
		k[3-i] = binary.BigEndian.Uint32(key[4*i:])
	}
	return k
}

// bitAt returns bit i (0 = most significant bit of b[0]) of b.
func bitAt(b []byte, i int) uint64 { return uint64(b[i/8]>>(7-i%8)) & 1 }

// refXOR XORs n octets of src with the keystream words ks, octet by octet.
func refXOR(ks []uint32, src []byte, lengthBits int) []byte {
	n := (lengthBits + 7) / 8
	out := make([]byte, n)
	for i := range n {
		out[i] = src[i] ^ byte(ks[i/4]>>(24-8*(i%4)))
	}
	if r := lengthBits % 8; r != 0 {
		out[n-1] &= 0xff << (8 - r)
	}
	return out
}

func refNEA1(key []byte, count uint32, bearer uint8, dir Direction, src []byte, lengthBits int) []byte {
	iv := [4]uint32{uint32(bearer)<<27 | uint32(dir)<<26, count, uint32(bearer)<<27 | uint32(dir)<<26, count}
	ks := make([]uint32, (lengthBits+31)/32)
	snow3g.New(refSnow3gKey(key), iv).KeyStream(ks)
	return refXOR(ks, src, lengthBits)
}

func refNEA2(key []byte, count uint32, bearer uint8, dir Direction, src []byte, lengthBits int) []byte {
	b, _ := aes.NewCipher(key)
	iv := make([]byte, 16)
	binary.BigEndian.PutUint32(iv, count)
	iv[4] = bearer<<3 | byte(dir)<<2
	n := (lengthBits + 7) / 8
	out := make([]byte, n)
	cipher.NewCTR(b, iv).XORKeyStream(out, src[:n])
	if r := lengthBits % 8; r != 0 {
		out[n-1] &= 0xff << (8 - r)
	}
	return out
}

func zucIV(count uint32, bearer uint8, dir Direction, eia3 bool) [16]byte {
	var iv [16]byte
	binary.BigEndian.PutUint32(iv[:], count)
	if eia3 {
		iv[4] = bearer << 3
		copy(iv[8:], iv[:8])
		iv[8] ^= byte(dir) << 7
		iv[14] ^= byte(dir) << 7
	} else {
		iv[4] = bearer<<3 | byte(dir)<<2
		copy(iv[8:], iv[:8])
	}
	return iv
}

func refNEA3(key []byte, count uint32, bearer uint8, dir Direction, src []byte, lengthBits int) []byte {
	ks := make([]uint32, (lengthBits+31)/32)
	zuc.New([16]byte(key), zucIV(count, bearer, dir, false)).KeyStream(ks)
	return refXOR(ks, src, lengthBits)
}

// refMUL64 is MUL64(V, P, c) of TS 35.215 §4.3 with MUL64xPOW as a loop.
func refMUL64(v, p uint64) uint64 {
	var r uint64
	for i := range 64 {
		if p>>i&1 != 0 {
			r ^= v
		}
		if v>>63 != 0 {
			v = v<<1 ^ 0x1b
		} else {
			v <<= 1
		}
	}
	return r
}

// refNIA1 is UIA2 f9 (TS 35.215 §4.4) with FRESH = BEARER‖0^27, building
// the 64-bit blocks bit by bit.
func refNIA1(key []byte, count uint32, bearer uint8, dir Direction, msg []byte, lengthBits int) [MACLen]byte {
	fresh, d := uint32(bearer)<<27, uint32(dir)
	z := make([]uint32, 5)
	snow3g.New(refSnow3gKey(key), [4]uint32{fresh ^ d<<15, count ^ d<<31, fresh, count}).KeyStream(z)
	p, q := uint64(z[0])<<32|uint64(z[1]), uint64(z[2])<<32|uint64(z[3])
	dd := (lengthBits+63)/64 + 1
	var eval uint64
	for i := 0; i <= dd-2; i++ {
		var mi uint64
		for j := range 64 {
			if k := 64*i + j; k < lengthBits {
				mi |= bitAt(msg, k) << (63 - j)
			}
		}
		eval = refMUL64(eval^mi, p)
	}
	eval = refMUL64(eval^uint64(lengthBits), q)
	var mac [MACLen]byte
	binary.BigEndian.PutUint32(mac[:], uint32(eval>>32)^z[4])
	return mac
}

// refNIA2 copies COUNT‖BEARER‖DIRECTION‖0^26‖MESSAGE into one buffer.
func refNIA2(key []byte, count uint32, bearer uint8, dir Direction, msg []byte, lengthBits int) [MACLen]byte {
	m := make([]byte, 8, 8+len(msg))
	binary.BigEndian.PutUint32(m, count)
	m[4] = bearer<<3 | byte(dir)<<2
	m = append(m, msg[:(lengthBits+7)/8]...)
	b, _ := aes.NewCipher(key)
	c, _ := cmac.New(b)
	tag, _ := c.Sum(nil, m, 64+lengthBits)
	return [MACLen]byte(tag[:MACLen])
}

// refNIA3 is EIA3 (EEA3/EIA3 Document 1 §4.4) bit by bit.
func refNIA3(key []byte, count uint32, bearer uint8, dir Direction, msg []byte, lengthBits int) [MACLen]byte {
	l := (lengthBits+31)/32 + 2
	ks := make([]uint32, l)
	zuc.New([16]byte(key), zucIV(count, bearer, dir, true)).KeyStream(ks)
	word := func(i int) uint32 { // z_i: bits i..i+31 of the keystream
		var w uint32
		for j := range 32 {
			w = w<<1 | ks[(i+j)/32]>>(31-(i+j)%32)&1
		}
		return w
	}
	var t uint32
	for i := range lengthBits {
		if bitAt(msg, i) != 0 {
			t ^= word(i)
		}
	}
	t ^= word(lengthBits)
	var mac [MACLen]byte
	binary.BigEndian.PutUint32(mac[:], t^ks[l-1])
	return mac
}

// TestAgainstReference cross-checks every algorithm with random keys,
// inputs and lengths (mostly not whole octets), with junk in the bits after
// LENGTH, against the formulations above. It also checks that the output
// bits after LENGTH are zero, that octets of dst beyond LENGTH are left
// alone, and that the MAC ignores the bits after LENGTH.
func TestAgainstReference(t *testing.T) {
	refCiphers := map[CipherAlg]func([]byte, uint32, uint8, Direction, []byte, int) []byte{
		NEA1: refNEA1, NEA2: refNEA2, NEA3: refNEA3,
	}
	refMACs := map[IntegrityAlg]func([]byte, uint32, uint8, Direction, []byte, int) [MACLen]byte{
		NIA1: refNIA1, NIA2: refNIA2, NIA3: refNIA3,
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for trial := range 300 {
		key := make([]byte, KeyLen)
		for i := range key {
			key[i] = byte(rng.Uint32())
		}
		count, bearer, dir := rng.Uint32(), uint8(rng.IntN(32)), Direction(rng.IntN(2))
		lengthBits := rng.IntN(1200)
		if trial < 70 {
			lengthBits = trial // every short length, 0 included
		}
		n := (lengthBits + 7) / 8
		msg := make([]byte, n+2) // junk after LENGTH, also in the last octet
		for i := range msg {
			msg[i] = byte(rng.Uint32())
		}
		masked := bytes.Clone(msg[:n])
		if r := lengthBits % 8; r != 0 {
			masked[n-1] &= 0xff << (8 - r)
		}

		for alg, ref := range refCiphers {
			c := newTestCipher(t, alg, key)
			want := ref(key, count, bearer, dir, msg, lengthBits)
			dst := bytes.Repeat([]byte{0xee}, n+2)
			if err := c.XORKeyStream(count, bearer, dir, dst, msg, lengthBits); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(dst[:n], want) || dst[n] != 0xee || dst[n+1] != 0xee {
				t.Fatalf("%v, %d bits: got %x, want %x", alg, lengthBits, dst, want)
			}
			back := make([]byte, n)
			if err := c.XORKeyStream(count, bearer, dir, back, dst, lengthBits); err != nil || !bytes.Equal(back, masked) {
				t.Fatalf("%v, %d bits: decryption gives %x, want %x (err %v)", alg, lengthBits, back, masked, err)
			}
		}
		for alg, ref := range refMACs {
			m := newTestIntegrity(t, alg, key)
			want := ref(key, count, bearer, dir, masked, lengthBits)
			got, err := m.MAC(count, bearer, dir, msg, lengthBits)
			if err != nil || got != want {
				t.Fatalf("%v, %d bits: MAC-I %x, want %x (err %v)", alg, lengthBits, got, want, err)
			}
		}
	}
}

// TestNullAlgorithms checks NEA0 (copy, tail bits zeroed) and NIA0 (zero
// MAC-I) beyond their input checks.
func TestNullAlgorithms(t *testing.T) {
	c := newTestCipher(t, NEA0, testKey)
	src := []byte{0x12, 0x34, 0xff, 0x99}
	dst := make([]byte, 4)
	if err := c.XORKeyStream(7, 3, 1, dst, src, 19); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dst, []byte{0x12, 0x34, 0xe0, 0x00}) {
		t.Errorf("NEA0 over 19 bits: %x, want 1234e000", dst)
	}
	m := newTestIntegrity(t, NIA0, testKey)
	if mac, err := m.MAC(7, 3, 1, src, 32); err != nil || mac != [MACLen]byte{} {
		t.Errorf("NIA0: %x, %v; want zero MAC-I", mac, err)
	}
}

// TestCarrylessMultiply checks the GF(2^64) multiplication of 128-NIA1 and
// the carry-less product behind it against bit loops.
func TestCarrylessMultiply(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	vals := []uint64{0, 1, 2, 0x1b, 1 << 63, ^uint64(0), 0x8000000000000001}
	for range 2000 {
		vals = append(vals, rng.Uint64())
	}
	for i, x := range vals {
		y := vals[(i*7+3)%len(vals)]
		var lo uint64
		for j := range 64 {
			if y>>j&1 != 0 {
				lo ^= x << j
			}
		}
		if got := clmulLow(x, y); got != lo {
			t.Fatalf("clmulLow(%#x, %#x) = %#x, want %#x", x, y, got, lo)
		}
		if got, want := gfMul64(x, y, bits.Reverse64(y)), refMUL64(x, y); got != want {
			t.Fatalf("gfMul64(%#x, %#x) = %#x, want %#x", x, y, got, want)
		}
	}
}

// TestAlgorithmsDoNotAllocate checks that keyed instances protect and MAC a
// 1400-octet message without allocating.
func TestAlgorithmsDoNotAllocate(t *testing.T) {
	msg := make([]byte, 1400)
	dst := make([]byte, len(msg))
	for _, alg := range allCiphers {
		c := newTestCipher(t, alg, testKey)
		if n := testing.AllocsPerRun(20, func() { c.XORKeyStream(1, 2, 1, dst, msg, 8*len(msg)-5) }); n != 0 {
			t.Errorf("%v XORKeyStream allocates %v times", alg, n)
		}
	}
	for _, alg := range allIntegrity {
		m := newTestIntegrity(t, alg, testKey)
		if n := testing.AllocsPerRun(20, func() { m.MAC(1, 2, 1, msg, 8*len(msg)-5) }); n != 0 {
			t.Errorf("%v MAC allocates %v times", alg, n)
		}
	}
}
