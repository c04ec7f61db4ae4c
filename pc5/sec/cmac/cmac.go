// Package cmac owns CMAC (NIST SP 800-38B; AES-CMAC is RFC 4493) over bit
// strings of any length, as 128-NIA2 needs it (TS 33.401 Annex B.2.3): a
// final partial block is padded with a 1 bit and then 0 bits and masked with
// the subkey K2, a complete final block with K1.
//
// The message is given as an octet-aligned prefix followed by the first
// msgBits bits of a second slice, so that a caller can MAC a header it builds
// (for 128-NIA2, COUNT‖BEARER‖DIRECTION‖0^26) and a message in place,
// without copying the message.
package cmac

import (
	"crypto/cipher"
	"encoding/binary"
	"fmt"
)

// Size is the block and tag size of CMAC with a 128-bit block cipher.
const Size = 16

// MAC is a keyed CMAC instance. Its Sum method does not allocate. It keeps
// its working block inside the instance, so it is not safe for concurrent
// use; use one MAC per goroutine.
type MAC struct {
	b      cipher.Block
	k1, k2 [2]uint64  // subkeys as big-endian halves
	x      [Size]byte // CBC-MAC chaining value, scratch
}

// New returns a CMAC instance over the 128-bit block cipher b (for AES-CMAC,
// an AES block from crypto/aes) and derives the subkeys K1 and K2
// (SP 800-38B §6.1).
func New(b cipher.Block) (*MAC, error) {
	if b.BlockSize() != Size {
		return nil, fmt.Errorf("pc5/sec/cmac: block size %d octets, want %d", b.BlockSize(), Size)
	}
	m := &MAC{b: b}
	b.Encrypt(m.x[:], m.x[:]) // L = CIPH_K(0^128)
	l := [2]uint64{binary.BigEndian.Uint64(m.x[:8]), binary.BigEndian.Uint64(m.x[8:])}
	m.k1 = double(l)
	m.k2 = double(m.k1)
	m.x = [Size]byte{}
	return m, nil
}

// double multiplies v by x in GF(2^128) with the CMAC polynomial
// (R128 = 0^120‖10000111).
func double(v [2]uint64) [2]uint64 {
	carry := v[0] >> 63
	return [2]uint64{v[0]<<1 | v[1]>>63, v[1]<<1 ^ 0x87*carry}
}

// Sum returns the 128-bit CMAC tag of the bit string prefix‖M, where M is the
// first msgBits bits of msg (first bit = most significant bit of msg[0]).
// Bits of msg beyond msgBits are ignored. prefix may be empty. It returns an
// error if msgBits is negative or msg holds fewer than ceil(msgBits/8)
// octets.
func (m *MAC) Sum(prefix, msg []byte, msgBits int) ([Size]byte, error) {
	if msgBits < 0 || len(msg) < (msgBits+7)/8 {
		return [Size]byte{}, fmt.Errorf("pc5/sec/cmac: message of %d bits needs %d octets, have %d",
			msgBits, (msgBits+7)/8, len(msg))
	}
	in := split{prefix, msg[:(msgBits+7)/8]}
	total := 8*len(prefix) + msgBits
	blocks := max((total+127)/128, 1)

	// CBC-MAC over every block but the last (SP 800-38B §6.2 step 6). These
	// blocks hold only message bits.
	// CBC-MAC over every block but the last, chaining in m.x. Blocks that
	// start inside prefix are assembled; the rest are read from msg in place.
	x := &m.x
	*x = [Size]byte{}
	full := (blocks - 1) * Size
	off := 0
	for ; off < full && off < len(prefix); off += Size {
		var blk [Size]byte
		in.copyFrom(blk[:], off)
		xor16(x, blk[:])
		m.b.Encrypt(x[:], x[:])
	}
	if off < full {
		for p := in.b[off-len(prefix) : full-len(prefix)]; len(p) >= Size; p = p[Size:] {
			xor16(x, p[:Size])
			m.b.Encrypt(x[:], x[:])
		}
		off = full
	}
	x0, x1 := binary.BigEndian.Uint64(x[:8]), binary.BigEndian.Uint64(x[8:])

	rem := total - 8*off // bits in the last block, 0..128
	var last [Size]byte
	in.copyFrom(last[:(rem+7)/8], off)
	k := m.k1
	if rem < 8*Size {
		last[rem/8] &= ^byte(0xff >> (rem % 8)) // drop bits beyond the message
		last[rem/8] |= 0x80 >> (rem % 8)
		k = m.k2
	}
	x0 ^= binary.BigEndian.Uint64(last[:8]) ^ k[0]
	x1 ^= binary.BigEndian.Uint64(last[8:]) ^ k[1]
	x0, x1 = m.encrypt(x0, x1)

	var tag [Size]byte
	binary.BigEndian.PutUint64(tag[:8], x0)
	binary.BigEndian.PutUint64(tag[8:], x1)
	return tag, nil
}

// encrypt enciphers the block x0‖x1 through the instance's working block.
func (m *MAC) encrypt(x0, x1 uint64) (uint64, uint64) {
	binary.BigEndian.PutUint64(m.x[:8], x0)
	binary.BigEndian.PutUint64(m.x[8:], x1)
	m.b.Encrypt(m.x[:], m.x[:])
	return binary.BigEndian.Uint64(m.x[:8]), binary.BigEndian.Uint64(m.x[8:])
}

// xor16 XORs the 16 octets of b into x (byte order is irrelevant to XOR).
func xor16(x *[Size]byte, b []byte) {
	_ = b[Size-1]
	binary.LittleEndian.PutUint64(x[:8], binary.LittleEndian.Uint64(x[:8])^binary.LittleEndian.Uint64(b[:8]))
	binary.LittleEndian.PutUint64(x[8:], binary.LittleEndian.Uint64(x[8:])^binary.LittleEndian.Uint64(b[8:16]))
}

// split is the octet string a‖b read without copying it.
type split struct{ a, b []byte }

// copyFrom fills dst from a‖b starting at offset off; octets beyond the end
// of a‖b are left as they are.
func (s split) copyFrom(dst []byte, off int) {
	if off < len(s.a) {
		n := copy(dst, s.a[off:])
		dst, off = dst[n:], len(s.a)
	}
	copy(dst, s.b[off-len(s.a):])
}
