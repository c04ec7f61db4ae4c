// Package snow3g owns the SNOW 3G keystream generator of the ETSI/SAGE
// "Specification of the 3GPP Confidentiality and Integrity Algorithms UEA2 &
// UIA2, Document 2: SNOW 3G Specification" (version 1.1; the same document is
// TS 35.216), the core of UEA2/UIA2 (TS 35.215) and so of 128-NEA1 and
// 128-NIA1 (TS 33.401 Annex B.1.2 and B.2.2).
//
// The generator is word-oriented and table-driven: the FSM S-boxes S1 and S2
// are one 256-entry word table each (used with rotations), and the LFSR
// feedback uses the 256-entry word tables MUL and DIV of §3.4.2/§3.4.3. The
// 16 LFSR stages live in a ring, so a clock moves no words.
//
// How 128-NEA1/NIA1 map COUNT, BEARER, DIRECTION and the key onto the words
// k0..k3 and IV0..IV3 is not this package's business; package sec does it.
package snow3g

import "math/bits"

// Generator is a SNOW 3G keystream generator. The zero value is not usable;
// call Reset (or New) first. A Generator holds key-dependent state and is
// not safe for concurrent use.
type Generator struct {
	s          [16]uint32 // LFSR ring: stage s_j is s[(i+j)&15]
	i          uint       // ring offset of s_0
	r1, r2, r3 uint32     // FSM registers
}

// New returns a generator initialised with the key words k0..k3 and the IV
// words IV0..IV3 of the specification (§4.1), ready to produce z_1.
func New(k, iv [4]uint32) *Generator {
	g := new(Generator)
	g.Reset(k, iv)
	return g
}

// Reset initialises g with the key words k = (k0, k1, k2, k3) and the IV
// words iv = (IV0, IV1, IV2, IV3) as in §4.1, runs the 32 initialisation
// clocks and the discarded clock of §4.2, so that the next word produced by
// KeyStream is z_1.
func (g *Generator) Reset(k, iv [4]uint32) {
	const one = 0xffffffff
	g.s = [16]uint32{
		k[0] ^ one, k[1] ^ one, k[2] ^ one, k[3] ^ one,
		k[0], k[1], k[2], k[3],
		k[0] ^ one, k[1] ^ one ^ iv[3], k[2] ^ one ^ iv[2], k[3] ^ one,
		k[0] ^ iv[1], k[1], k[2], k[3] ^ iv[0],
	}
	g.i = 0
	g.r1, g.r2, g.r3 = 0, 0, 0
	g.clock(32, true, nil)
	g.clock(1, false, nil)
}

// s1 is the S-box S1 of §3.3.1.
func s1(w uint32) uint32 {
	return s1T[w>>24] ^ bits.RotateLeft32(s1T[byte(w>>16)], -8) ^
		bits.RotateLeft32(s1T[byte(w>>8)], -16) ^ bits.RotateLeft32(s1T[byte(w)], -24)
}

// s2 is the S-box S2 of §3.3.2.
func s2(w uint32) uint32 {
	return s2T[w>>24] ^ bits.RotateLeft32(s2T[byte(w>>16)], -8) ^
		bits.RotateLeft32(s2T[byte(w>>8)], -16) ^ bits.RotateLeft32(s2T[byte(w)], -24)
}

// KeyStream fills dst with the next len(dst) keystream words z_t (§4.2).
func (g *Generator) KeyStream(dst []uint32) {
	g.clock(len(dst), false, dst)
}

// clock clocks the FSM (§3.4.6) and then the LFSR n times. In
// initialisation mode the LFSR takes the FSM output F (§3.4.4); in
// keystream mode it takes no input (§3.4.5) and, if out is not nil, the
// keystream word z = F XOR s0 of clock k goes to out[k] (§4.2). It works on
// local copies of the FSM registers.
func (g *Generator) clock(n int, init bool, out []uint32) {
	s := &g.s
	i := g.i
	r1, r2, r3 := g.r1, g.r2, g.r3
	for k := range n {
		s0 := s[i&15]
		f := (s[(i+15)&15] + r1) ^ r2
		r := r2 + (r3 ^ s[(i+5)&15])
		r3 = s2(r2)
		r2 = s1(r1)
		r1 = r
		var u uint32
		if init {
			u = f
		} else if out != nil {
			out[k] = f ^ s0
		}
		// v = (s0 << 8) ⊕ MUL(s0,0) ⊕ s2 ⊕ (s11 >> 8) ⊕ DIV(s11,3) ⊕ F, where
		// s0,0 is the most and s11,3 the least significant byte; the new s15
		// takes the slot of the old s0.
		s11 := s[(i+11)&15]
		s[i&15] = s0<<8 ^ mulAlpha[s0>>24] ^ s[(i+2)&15] ^ s11>>8 ^ divAlpha[byte(s11)] ^ u
		i = (i + 1) & 15
	}
	g.i = i
	g.r1, g.r2, g.r3 = r1, r2, r3
}
