package sec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"fmt"

	"github.com/prosesec/prosesec/pc5/sec/snow3g"
	"github.com/prosesec/prosesec/pc5/sec/zuc"
)

// This file implements the ciphering algorithms 128-NEA0..3, which are the
// EPS algorithms 128-EEA0..3 of TS 33.401 Annex B.1 applied unchanged
// (TS 33.501 Annex D.2): the inputs are KEY (128 bits), COUNT (32 bits),
// BEARER (5 bits), DIRECTION (1 bit) and LENGTH (in bits).

// String returns the algorithm name as the specifications write it:
// "NEA0", "128-NEA1", "128-NEA2", "128-NEA3", or "CipherAlg(n)" for an
// identity without an algorithm.
func (a CipherAlg) String() string {
	switch a {
	case NEA0:
		return "NEA0"
	case NEA1, NEA2, NEA3:
		return fmt.Sprintf("128-NEA%d", uint8(a))
	}
	return fmt.Sprintf("CipherAlg(%d)", uint8(a))
}

// NewCipher returns a keyed instance of the ciphering algorithm alg. The key
// must be 16 octets (NRPEK), also for NEA0, which ignores it. An identity
// without an algorithm gives an error wrapping ErrUnsupportedAlgorithm.
//
// An instance keeps scratch buffers so that XORKeyStream does not allocate;
// it must not be used by two goroutines at once.
func NewCipher(alg CipherAlg, key []byte) (Cipher, error) {
	if alg > NEA3 {
		return nil, fmt.Errorf("%w: ciphering algorithm identity %d (defined: 0..3)", ErrUnsupportedAlgorithm, uint8(alg))
	}
	if len(key) != KeyLen {
		return nil, fmt.Errorf("%w: %v key is %d octets, want %d", ErrInvalidInput, alg, len(key), KeyLen)
	}
	switch alg {
	case NEA0:
		return nea0{}, nil
	case NEA1:
		return &nea1{k: snow3gKey(key)}, nil
	case NEA2:
		b, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("pc5/sec: 128-NEA2: %w", err)
		}
		g, err := cipher.NewGCM(b)
		if err != nil {
			return nil, fmt.Errorf("pc5/sec: 128-NEA2: %w", err)
		}
		return &nea2{block: b, gcm: g}, nil
	default: // NEA3
		return &nea3{key: [16]byte(key)}, nil
	}
}

// cipherInput validates the inputs of XORKeyStream and returns the number
// of octets that carry the LENGTH bits.
func cipherInput(bearer uint8, dir Direction, dst, src []byte, lengthBits int) (int, error) {
	if err := checkInput(bearer, dir, min(len(dst), len(src)), lengthBits); err != nil {
		return 0, err
	}
	return (lengthBits + 7) / 8, nil
}

// zeroTail clears the bits of the last octet of out beyond lengthBits.
func zeroTail(out []byte, lengthBits int) {
	if r := lengthBits % 8; r != 0 {
		out[len(out)-1] &= 0xff << (8 - r)
	}
}

// nea0 is the null ciphering algorithm (TS 33.501 Annex D.1): the keystream
// is all zeros.
type nea0 struct{}

func (nea0) Alg() CipherAlg { return NEA0 }

func (nea0) XORKeyStream(_ uint32, bearer uint8, dir Direction, dst, src []byte, lengthBits int) error {
	n, err := cipherInput(bearer, dir, dst, src, lengthBits)
	if err != nil {
		return err
	}
	copy(dst[:n], src[:n])
	zeroTail(dst[:n], lengthBits)
	return nil
}

// wordKeyStream XORs src with the keystream words of g, each taken big
// endian, into dst (len(dst) >= len(src)), using ks as scratch.
func wordKeyStream(g interface{ KeyStream([]uint32) }, ks *keyStreamBuf, dst, src []byte) {
	for len(src) > 0 {
		m := min(len(src), len(ks.octets))
		w := ks.words[:(m+3)/4]
		g.KeyStream(w)
		for i, z := range w {
			binary.BigEndian.PutUint32(ks.octets[4*i:], z)
		}
		subtle.XORBytes(dst[:m], src[:m], ks.octets[:m])
		dst, src = dst[m:], src[m:]
	}
}

// keyStreamBuf is the scratch space of wordKeyStream.
type keyStreamBuf struct {
	words  [16]uint32
	octets [64]byte
}

// snow3gKey maps a 128-bit key onto the SNOW 3G key words: k3 is the first
// 32 bits of the key and k0 the last (TS 35.215 §3.4 for UEA2, TS 33.401
// Annex B.1.2 for 128-EEA1; UIA2 §4.4 alike).
func snow3gKey(key []byte) [4]uint32 {
	return [4]uint32{
		binary.BigEndian.Uint32(key[12:]), binary.BigEndian.Uint32(key[8:]),
		binary.BigEndian.Uint32(key[4:]), binary.BigEndian.Uint32(key[0:]),
	}
}

// nea1 is 128-NEA1 = 128-EEA1 = UEA2 (f8, TS 35.215 §3) with the 5-bit
// BEARER: IV0 = IV2 = BEARER‖DIRECTION‖0^26, IV1 = IV3 = COUNT.
type nea1 struct {
	k  [4]uint32
	g  snow3g.Generator
	ks keyStreamBuf
}

func (*nea1) Alg() CipherAlg { return NEA1 }

func (c *nea1) XORKeyStream(count uint32, bearer uint8, dir Direction, dst, src []byte, lengthBits int) error {
	n, err := cipherInput(bearer, dir, dst, src, lengthBits)
	if err != nil {
		return err
	}
	bd := uint32(bearer)<<27 | uint32(dir)<<26
	c.g.Reset(c.k, [4]uint32{bd, count, bd, count})
	wordKeyStream(&c.g, &c.ks, dst[:n], src[:n])
	zeroTail(dst[:n], lengthBits)
	return nil
}

// nea2 is 128-NEA2 = 128-EEA2 (TS 33.401 Annex B.1.3): AES-128 in counter
// mode (NIST SP 800-38A) with the initial counter block
// T1 = COUNT‖BEARER‖DIRECTION‖0^26‖0^64, each further block incrementing the
// counter by one. Only the low bits of the counter block change: they start
// at zero and cannot wrap for any LENGTH that fits an int.
//
// Speed: the standard library exposes its assembly AES-CTR only through
// cipher.NewCTR, which allocates per message. Its AES-GCM, created once per
// key, runs the same assembly counter mode without allocating: with the
// 96-bit nonce N, GCM encrypts with the counter blocks N‖2, N‖3, … (NIST
// SP 800-38D §7.1, inc32). With N = the first 96 bits of T1, those are
// exactly the NEA2 counter blocks T1+2, T1+3, …, so GCM's ciphertext of
// the message from octet 32 on is the NEA2 ciphertext; its tag is
// discarded. Blocks T1 and T1+1 are encrypted directly. The test vectors and
// a cross-check against cipher.NewCTR hold both paths to the definition.
type nea2 struct {
	block   cipher.Block
	gcm     cipher.AEAD
	ctr     [aes.BlockSize]byte
	ks      [8 * aes.BlockSize]byte
	scratch []byte // GCM output (message tail plus tag), grown once
}

// nea2GCMMin is the message length from which the GCM path pays off;
// nea2GCMMax keeps the 32-bit GCM counter from wrapping (it starts at 2).
const (
	nea2GCMMin = 64
	nea2GCMMax = (1<<32 - 3) * aes.BlockSize
)

func (*nea2) Alg() CipherAlg { return NEA2 }

func (c *nea2) XORKeyStream(count uint32, bearer uint8, dir Direction, dst, src []byte, lengthBits int) error {
	n, err := cipherInput(bearer, dir, dst, src, lengthBits)
	if err != nil {
		return err
	}
	out := dst[:n]
	dst, src = out, src[:n]
	binary.BigEndian.PutUint32(c.ctr[0:], count)
	binary.BigEndian.PutUint32(c.ctr[4:], uint32(bearer)<<27|uint32(dir)<<26)
	if n >= nea2GCMMin && n-2*aes.BlockSize <= nea2GCMMax {
		binary.BigEndian.PutUint64(c.ctr[8:], 0)
		c.block.Encrypt(c.ks[0:aes.BlockSize], c.ctr[:])
		binary.BigEndian.PutUint64(c.ctr[8:], 1)
		c.block.Encrypt(c.ks[aes.BlockSize:2*aes.BlockSize], c.ctr[:])
		tail := n - 2*aes.BlockSize
		if cap(c.scratch) < tail+c.gcm.Overhead() {
			c.scratch = make([]byte, 0, tail+c.gcm.Overhead())
		}
		sealed := c.gcm.Seal(c.scratch[:0], c.ctr[:12], src[2*aes.BlockSize:], nil)
		subtle.XORBytes(dst[:2*aes.BlockSize], src[:2*aes.BlockSize], c.ks[:2*aes.BlockSize])
		copy(dst[2*aes.BlockSize:], sealed[:tail])
		zeroTail(out, lengthBits)
		return nil
	}
	var lo uint64 // the 64 least significant bits of the counter block
	for len(src) > 0 {
		m := min(len(src), len(c.ks))
		for off := 0; off < m; off += aes.BlockSize {
			binary.BigEndian.PutUint64(c.ctr[8:], lo)
			lo++
			c.block.Encrypt(c.ks[off:off+aes.BlockSize], c.ctr[:])
		}
		subtle.XORBytes(dst[:m], src[:m], c.ks[:m])
		dst, src = dst[m:], src[m:]
	}
	zeroTail(out, lengthBits)
	return nil
}

// nea3 is 128-NEA3 = 128-EEA3 (ETSI/SAGE EEA3/EIA3 Document 1 §3): ZUC with
// the IV COUNT‖BEARER‖DIRECTION‖0^26 repeated twice.
type nea3 struct {
	key [16]byte
	g   zuc.Generator
	ks  keyStreamBuf
}

func (*nea3) Alg() CipherAlg { return NEA3 }

func (c *nea3) XORKeyStream(count uint32, bearer uint8, dir Direction, dst, src []byte, lengthBits int) error {
	n, err := cipherInput(bearer, dir, dst, src, lengthBits)
	if err != nil {
		return err
	}
	var iv [16]byte
	binary.BigEndian.PutUint32(iv[0:], count)
	iv[4] = bearer<<3 | byte(dir)<<2
	copy(iv[8:], iv[:8])
	c.g.Reset(c.key, iv)
	wordKeyStream(&c.g, &c.ks, dst[:n], src[:n])
	zeroTail(dst[:n], lengthBits)
	return nil
}
