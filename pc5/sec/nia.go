package sec

import (
	"crypto/aes"
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/prosesec/prosesec/pc5/sec/cmac"
	"github.com/prosesec/prosesec/pc5/sec/snow3g"
	"github.com/prosesec/prosesec/pc5/sec/zuc"
)

// This file implements the integrity algorithms 128-NIA0..3, which are the
// EPS algorithms 128-EIA0..3 of TS 33.401 Annex B.2 applied unchanged
// (TS 33.501 Annex D.3). MAC-I is 32 bits.

// String returns the algorithm name as the specifications write it:
// "NIA0", "128-NIA1", "128-NIA2", "128-NIA3", or "IntegrityAlg(n)" for an
// identity without an algorithm.
func (a IntegrityAlg) String() string {
	switch a {
	case NIA0:
		return "NIA0"
	case NIA1, NIA2, NIA3:
		return fmt.Sprintf("128-NIA%d", uint8(a))
	}
	return fmt.Sprintf("IntegrityAlg(%d)", uint8(a))
}

// NewIntegrity returns a keyed instance of the integrity algorithm alg. The
// key must be 16 octets (NRPIK), also for NIA0, which ignores it. An identity
// without an algorithm gives an error wrapping ErrUnsupportedAlgorithm.
//
// An instance keeps scratch buffers so that MAC does not allocate; it must
// not be used by two goroutines at once.
func NewIntegrity(alg IntegrityAlg, key []byte) (Integrity, error) {
	if alg > NIA3 {
		return nil, fmt.Errorf("%w: integrity algorithm identity %d (defined: 0..3)", ErrUnsupportedAlgorithm, uint8(alg))
	}
	if len(key) != KeyLen {
		return nil, fmt.Errorf("%w: %v key is %d octets, want %d", ErrInvalidInput, alg, len(key), KeyLen)
	}
	switch alg {
	case NIA0:
		return nia0{}, nil
	case NIA1:
		return &nia1{k: snow3gKey(key)}, nil
	case NIA2:
		b, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("pc5/sec: 128-NIA2: %w", err)
		}
		m, err := cmac.New(b)
		if err != nil {
			return nil, fmt.Errorf("pc5/sec: 128-NIA2: %w", err)
		}
		return &nia2{mac: m}, nil
	default: // NIA3
		return &nia3{key: [16]byte(key)}, nil
	}
}

// nia0 is the null integrity algorithm (TS 33.501 Annex D.3.1): MAC-I is 32
// zero bits. The inputs are still checked.
type nia0 struct{}

func (nia0) Alg() IntegrityAlg { return NIA0 }

func (nia0) MAC(_ uint32, bearer uint8, dir Direction, msg []byte, lengthBits int) ([MACLen]byte, error) {
	return [MACLen]byte{}, checkInput(bearer, dir, len(msg), lengthBits)
}

// nia1 is 128-NIA1 = 128-EIA1 (TS 33.401 Annex B.2.2): UIA2 (f9, TS 35.215
// §4) with FRESH = BEARER‖0^27. SNOW 3G gives z1..z5; the message, cut into
// 64-bit blocks, is evaluated as a polynomial at P = z1‖z2 in GF(2^64), then
// LENGTH is added and the result multiplied by Q = z3‖z4; MAC-I is its
// leftmost 32 bits XOR z5.
type nia1 struct {
	k [4]uint32
	g snow3g.Generator
}

func (*nia1) Alg() IntegrityAlg { return NIA1 }

func (m *nia1) MAC(count uint32, bearer uint8, dir Direction, msg []byte, lengthBits int) ([MACLen]byte, error) {
	if err := checkInput(bearer, dir, len(msg), lengthBits); err != nil {
		return [MACLen]byte{}, err
	}
	fresh, d := uint32(bearer)<<27, uint32(dir)
	m.g.Reset(m.k, [4]uint32{fresh ^ d<<15, count ^ d<<31, fresh, count})
	var z [5]uint32
	m.g.KeyStream(z[:])
	p := uint64(z[0])<<32 | uint64(z[1])
	q := uint64(z[2])<<32 | uint64(z[3])

	eval := uint64(0)
	pRev := bits.Reverse64(p)
	full := lengthBits / 64
	for i := range full {
		eval = gfMul64(eval^binary.BigEndian.Uint64(msg[8*i:]), p, pRev)
	}
	if r := lengthBits % 64; r != 0 {
		eval = gfMul64(eval^loadBits64(msg[8*full:(lengthBits+7)/8], r), p, pRev)
	}
	eval ^= uint64(lengthBits)
	eval = gfMul64(eval, q, bits.Reverse64(q))

	var mac [MACLen]byte
	binary.BigEndian.PutUint32(mac[:], uint32(eval>>32)^z[4])
	return mac, nil
}

// loadBits64 returns the first r (1..64) bits of b as the most significant
// bits of a 64-bit block, zero-padded; b holds ceil(r/8) octets.
func loadBits64(b []byte, r int) uint64 {
	var w [8]byte
	copy(w[:], b)
	return binary.BigEndian.Uint64(w[:]) & (^uint64(0) << (64 - r))
}

// clmulLow returns the 64 least significant bits of the carry-less product
// of x and y. It multiplies integers with holes (every fourth bit kept) so
// that carries never reach a bit that is kept, and runs in constant time; it
// is the method of BearSSL's ghash_ctmul64 and Go's generic GHASH.
func clmulLow(x, y uint64) uint64 {
	const m0, m1, m2, m3 = 0x1111111111111111, 0x2222222222222222, 0x4444444444444444, 0x8888888888888888
	x0, x1, x2, x3 := x&m0, x&m1, x&m2, x&m3
	y0, y1, y2, y3 := y&m0, y&m1, y&m2, y&m3
	z0 := x0*y0 ^ x1*y3 ^ x2*y2 ^ x3*y1
	z1 := x0*y1 ^ x1*y0 ^ x2*y3 ^ x3*y2
	z2 := x0*y2 ^ x1*y1 ^ x2*y0 ^ x3*y3
	z3 := x0*y3 ^ x1*y2 ^ x2*y1 ^ x3*y0
	return z0&m0 | z1&m1 | z2&m2 | z3&m3
}

// gfMul64 is MUL64(x, y, 0x1b) of UIA2 (TS 35.215 §4.3): the product of x
// and y in GF(2^64) with the polynomial x^64 + x^4 + x^3 + x + 1. yRev is
// bits.Reverse64(y). The high half of the 128-bit carry-less product comes
// from the low half of the product of the bit-reversed operands.
func gfMul64(x, y, yRev uint64) uint64 {
	lo := clmulLow(x, y)
	hi := bits.Reverse64(clmulLow(bits.Reverse64(x), yRev)) >> 1
	// hi·x^64 = hi·(x^4 + x^3 + x + 1); the bits that hi<<4 and hi<<3 push
	// past x^63 are folded in the same way once more (hi<<1 pushes none out:
	// the product has degree at most 126, so hi>>63 is 0).
	o := hi>>60 ^ hi>>61
	return lo ^ hi ^ hi<<1 ^ hi<<3 ^ hi<<4 ^ o ^ o<<1 ^ o<<3 ^ o<<4
}

// nia2 is 128-NIA2 = 128-EIA2 (TS 33.401 Annex B.2.3): AES-CMAC over
// M = COUNT‖BEARER‖DIRECTION‖0^26‖MESSAGE of 64+LENGTH bits; MAC-I is the
// first 32 bits of the tag. The 64-bit header is built in the instance and
// the message is read in place.
type nia2 struct {
	mac    *cmac.MAC
	header [8]byte
}

func (*nia2) Alg() IntegrityAlg { return NIA2 }

func (m *nia2) MAC(count uint32, bearer uint8, dir Direction, msg []byte, lengthBits int) ([MACLen]byte, error) {
	if err := checkInput(bearer, dir, len(msg), lengthBits); err != nil {
		return [MACLen]byte{}, err
	}
	binary.BigEndian.PutUint32(m.header[0:], count)
	binary.BigEndian.PutUint32(m.header[4:], uint32(bearer)<<27|uint32(dir)<<26)
	tag, err := m.mac.Sum(m.header[:], msg, lengthBits)
	if err != nil {
		return [MACLen]byte{}, fmt.Errorf("pc5/sec: 128-NIA2: %w", err)
	}
	return [MACLen]byte(tag[:MACLen]), nil
}

// nia3 is 128-NIA3 = 128-EIA3 (ETSI/SAGE EEA3/EIA3 Document 1 §4): ZUC,
// with IV = COUNT‖BEARER‖0^27 twice and DIRECTION XORed into bits 64 and
// 112, produces L = ceil(LENGTH/32)+2 key-words Z_0..Z_{L-1}. With z_i the
// 32 keystream bits starting at bit i, T is the XOR of z_i over the message
// bits m_i = 1 and of z_LENGTH, and MAC-I = T XOR Z_{L-1}.
type nia3 struct {
	key [16]byte
	g   zuc.Generator
	ks  [17]uint32
}

func (*nia3) Alg() IntegrityAlg { return NIA3 }

func (m *nia3) MAC(count uint32, bearer uint8, dir Direction, msg []byte, lengthBits int) ([MACLen]byte, error) {
	if err := checkInput(bearer, dir, len(msg), lengthBits); err != nil {
		return [MACLen]byte{}, err
	}
	var iv [16]byte
	binary.BigEndian.PutUint32(iv[0:], count)
	iv[4] = bearer << 3
	copy(iv[8:], iv[:8])
	iv[8] ^= byte(dir) << 7
	iv[14] ^= byte(dir) << 7
	m.g.Reset(m.key, iv)

	// Message word w (bits 32w..32w+31) needs Z_w‖Z_{w+1}. ks[0] carries
	// Z_w over from the previous round; ks[1:] receives Z_{w+1}, Z_{w+2}, ….
	ks := &m.ks
	m.g.KeyStream(ks[:1])
	words, r := lengthBits/32, lengthBits%32
	var t uint32
	for w := 0; w < words; {
		c := min(words-w, len(ks)-1)
		m.g.KeyStream(ks[1 : 1+c])
		for j := range c {
			t ^= eia3Word(ks[j], ks[j+1], binary.BigEndian.Uint32(msg[4*(w+j):]))
		}
		ks[0] = ks[c]
		w += c
	}
	// Now ks[0] = Z_words. Still needed: Z_{words+1}, and Z_{words+2} when
	// the message ends inside a word, for that partial word, z_LENGTH and
	// the final key-word Z_{L-1}.
	last := 1
	if r != 0 {
		last = 2
	}
	m.g.KeyStream(ks[1 : 1+last])
	if r != 0 {
		t ^= eia3Word(ks[0], ks[1], loadBits32(msg[4*words:(lengthBits+7)/8], r))
	}
	t ^= uint32((uint64(ks[0])<<32 | uint64(ks[1])) << r >> 32) // z_LENGTH
	t ^= ks[last]

	var mac [MACLen]byte
	binary.BigEndian.PutUint32(mac[:], t)
	return mac, nil
}

// eia3Word returns the XOR of z_j for the set bits j of the 32-bit message
// word mw (j = 0 is its most significant bit), where z_j is the 32-bit
// window starting at bit j of the keystream words k0‖k1. That is the high
// half of the low 64 bits of the carry-less product (k0‖k1)·rev(mw).
func eia3Word(k0, k1, mw uint32) uint32 {
	return uint32(clmulLow(uint64(k0)<<32|uint64(k1), uint64(bits.Reverse32(mw))) >> 32)
}

// loadBits32 returns the first r (1..31) bits of b as the most significant
// bits of a 32-bit word, zero-padded; b holds ceil(r/8) octets.
func loadBits32(b []byte, r int) uint32 {
	var w [4]byte
	copy(w[:], b)
	return binary.BigEndian.Uint32(w[:]) & (^uint32(0) << (32 - r))
}
