package sec

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
)

// KDFLen is the output length in octets of the generic 3GPP KDF.
const KDFLen = sha256.Size

// kdfInline is the largest S = FC ‖ P0 ‖ L0 ‖ … that KDF hashes from a
// stack buffer; longer inputs go through crypto/hmac. The PC5 derivations
// (TS 33.536 Annex A) use at most 37 octets.
const kdfInline = 192

// KDF is the generic 3GPP key derivation function of TS 33.220 Annex B.2:
//
//	derived key = HMAC-SHA-256(key, S),  S = FC ‖ P0 ‖ L0 ‖ P1 ‖ L1 ‖ …
//
// where Li is the length of Pi in octets as 2 octets, big endian (TS 33.220
// B.2.1.2). It returns the full 256-bit output; a 128-bit algorithm key is
// its 128 least significant bits, the last 16 octets (TS 33.220 B.2.1.3, as
// used by TS 33.536 Annex A). The PC5 derivations are offered with typed keys
// in keys.go; KDF itself is the generic building block.
//
// KDF does not allocate when the key is at most 64 octets and S at most 192
// octets, which covers every PC5 derivation. A parameter longer
// than 65535 octets cannot be encoded in Li; KDF panics then, since every
// caller in this project passes fixed-size parameters.
func KDF(key []byte, fc byte, params ...[]byte) [KDFLen]byte {
	sLen := 1
	for i, p := range params {
		if len(p) > 0xFFFF {
			panic(fmt.Sprintf("pc5/sec: KDF parameter P%d is %d octets, expected at most 65535", i, len(p)))
		}
		sLen += len(p) + 2
	}
	if sLen > kdfInline || len(key) > sha256.BlockSize {
		return kdfHMAC(key, fc, params, sLen)
	}

	// HMAC (RFC 2104) over sha256.Sum256 with stack buffers:
	// inner = H((K ⊕ ipad) ‖ S), out = H((K ⊕ opad) ‖ inner).
	var in [sha256.BlockSize + kdfInline]byte
	var outer [sha256.BlockSize + sha256.Size]byte
	copy(in[:], key)
	copy(outer[:], key)
	for i := 0; i < sha256.BlockSize; i++ {
		in[i] ^= 0x36
		outer[i] ^= 0x5c
	}
	n := sha256.BlockSize
	in[n] = fc
	n++
	for _, p := range params {
		n += copy(in[n:], p)
		in[n] = byte(len(p) >> 8)
		in[n+1] = byte(len(p))
		n += 2
	}
	inner := sha256.Sum256(in[:n])
	copy(outer[sha256.BlockSize:], inner[:])
	out := sha256.Sum256(outer[:])
	clear(in[:n])
	clear(outer[:])
	clear(inner[:])
	return out
}

// kdfHMAC is KDF through crypto/hmac, for long keys or long S. It copies
// key and builds S in fresh buffers so that KDF's arguments do not escape
// to the heap on the inline path.
func kdfHMAC(key []byte, fc byte, params [][]byte, sLen int) [KDFLen]byte {
	k := append([]byte(nil), key...)
	s := make([]byte, 0, sLen)
	s = append(s, fc)
	for _, p := range params {
		s = append(s, p...)
		s = append(s, byte(len(p)>>8), byte(len(p)))
	}
	h := hmac.New(sha256.New, k)
	h.Write(s)
	var out [KDFLen]byte
	h.Sum(out[:0])
	clear(k)
	clear(s)
	return out
}
