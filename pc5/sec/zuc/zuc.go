// Package zuc owns the ZUC-128 keystream generator of the ETSI/SAGE
// "Specification of the 3GPP Confidentiality and Integrity Algorithms
// 128-EEA3 & 128-EIA3, Document 2: ZUC Specification" (version 1.6), the
// core of 128-NEA3 and 128-NIA3 (TS 33.401 Annex B.1.4 and B.2.4; the same
// document is TS 35.222).
//
// The generator is word-oriented: the 16 LFSR cells are 31-bit values in
// uint32 words kept in a ring (a clock moves no words; the ring is stored
// twice, so each cell is at a fixed offset from the current start), the
// feedback is computed with cyclic shifts and additions modulo 2^31-1 as in
// the informative notes of §3.2, and the S-box S applies the table-defined
// S0 and S1 byte-wise.
//
// How 128-NEA3/NIA3 build the IV from COUNT, BEARER and DIRECTION is not this
// package's business; package sec does it.
package zuc

import "math/bits"

// Generator is a ZUC-128 keystream generator. The zero value is not usable;
// call Reset (or New) first. A Generator holds key-dependent state and is not
// safe for concurrent use.
type Generator struct {
	s      [32]uint32 // LFSR ring stored twice (s[x] = s[x+16]): cell s_j is s[i+j]
	i      uint       // ring offset of s_0, 0..15
	r1, r2 uint32     // memory cells of F
}

// New returns a generator initialised with the 128-bit initial key
// k0‖…‖k15 and IV iv0‖…‖iv15 (§3.5, §3.6.1), ready to produce the first
// key-word.
func New(key, iv [16]byte) *Generator {
	g := new(Generator)
	g.Reset(key, iv)
	return g
}

// Reset loads key and iv into g (§3.5), runs the 32 initialisation rounds
// (§3.6.1) and the discarded first round of the working stage (§3.6.2), so
// that the next word produced by KeyStream is the first key-word Z.
func (g *Generator) Reset(key, iv [16]byte) {
	for j := range 16 {
		g.s[j] = uint32(key[j])<<23 | d[j]<<8 | uint32(iv[j])
		g.s[j+16] = g.s[j]
	}
	g.i = 0
	g.r1, g.r2 = 0, 0
	g.rounds(32, true, nil)
	g.rounds(1, false, nil)
}

// KeyStream fills dst with the next len(dst) key-words (§3.6.2).
func (g *Generator) KeyStream(dst []uint32) {
	g.rounds(len(dst), false, dst)
}

// rounds runs n rounds of bit-reorganization (§3.3), F (§3.4) and an LFSR
// clock (§3.2). In initialisation mode the LFSR takes u = W>>1; in working
// mode it takes no input and, if out is not nil, the key-word W XOR X3 of
// round k goes to out[k]. It works on local copies of the registers.
func (g *Generator) rounds(n int, init bool, out []uint32) {
	s := &g.s
	i := g.i
	r1, r2 := g.r1, g.r2
	for k := range n {
		j := i & 15
		t := s[j : j+16 : j+16] // t[m] is cell s_m
		s0, s15 := t[0], t[15]
		x0 := (s15&0x7fff8000)<<1 | t[14]&0xffff
		x1 := t[11]<<16 | t[9]>>15
		x2 := t[7]<<16 | t[5]>>15
		w := (x0 ^ r1) + r2
		w1 := r1 + x1
		w2 := r2 ^ x2
		r1 = sbox(l1(w1<<16 | w2>>16))
		r2 = sbox(l2(w2<<16 | w1>>16))
		var u uint64
		if init {
			u = uint64(w >> 1)
		} else if out != nil {
			out[k] = w ^ (t[2]<<16 | s0>>15) // W XOR X3
		}
		// s16 = 2^15·s15 + 2^17·s13 + 2^21·s10 + 2^20·s4 + (1+2^8)·s0 (+u)
		// mod 2^31-1; multiplying by 2^k is a 31-bit rotation.
		v := uint64(s0) + uint64(rot31(s0, 8)) + uint64(rot31(t[4], 20)) +
			uint64(rot31(t[10], 21)) + uint64(rot31(t[13], 17)) +
			uint64(rot31(s15, 15)) + u
		// The new s15 takes both slots of the old s0.
		s16 := fold(v)
		s[j], s[j+16] = s16, s16
		i = j + 1
	}
	g.i = i & 15
	g.r1, g.r2 = r1, r2
}

const p = 1<<31 - 1

// fold reduces a positive sum of at most eight 31-bit values modulo 2^31-1
// into 1..2^31-1.
func fold(v uint64) uint32 {
	v = v&p + v>>31
	v = v&p + v>>31
	return uint32(v)
}

// rot31 is the 31-bit cyclic left shift, i.e. multiplication by 2^k modulo
// 2^31-1.
func rot31(x uint32, k uint) uint32 {
	return (x<<k | x>>(31-k)) & p
}

func l1(x uint32) uint32 {
	return x ^ bits.RotateLeft32(x, 2) ^ bits.RotateLeft32(x, 10) ^
		bits.RotateLeft32(x, 18) ^ bits.RotateLeft32(x, 24)
}

func l2(x uint32) uint32 {
	return x ^ bits.RotateLeft32(x, 8) ^ bits.RotateLeft32(x, 14) ^
		bits.RotateLeft32(x, 22) ^ bits.RotateLeft32(x, 30)
}

// sbox is the 32-bit S-box S = (S0, S1, S0, S1) of §3.4.1.
func sbox(x uint32) uint32 {
	return uint32(sbox0[x>>24])<<24 | uint32(sbox1[byte(x>>16)])<<16 |
		uint32(sbox0[byte(x>>8)])<<8 | uint32(sbox1[byte(x)])
}
