package sec

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"math/rand/v2"
	"testing"
)

// kdfReference is TS 33.220 Annex B.2 written the obvious way: build S,
// then crypto/hmac. KDF must agree with it on every input.
func kdfReference(key []byte, fc byte, params ...[]byte) []byte {
	s := []byte{fc}
	for _, p := range params {
		s = append(s, p...)
		s = append(s, byte(len(p)>>8), byte(len(p)))
	}
	h := hmac.New(sha256.New, key)
	h.Write(s)
	return h.Sum(nil)
}

func TestKDFMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	randBytes := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	keyLens := []int{0, 1, 16, 32, 63, 64, 65, 100, 200}
	for _, kl := range keyLens {
		for np := 0; np <= 5; np++ {
			for trial := 0; trial < 8; trial++ {
				key := randBytes(kl)
				params := make([][]byte, np)
				for i := range params {
					// Mix short parameters with ones that push S past the
					// inline buffer, and empty ones.
					switch rng.IntN(4) {
					case 0:
						params[i] = nil
					case 1:
						params[i] = randBytes(1 + rng.IntN(16))
					case 2:
						params[i] = randBytes(16)
					default:
						params[i] = randBytes(rng.IntN(300))
					}
				}
				fc := byte(rng.Uint32())
				got := KDF(key, fc, params...)
				want := kdfReference(key, fc, params...)
				if !bytes.Equal(got[:], want) {
					t.Fatalf("KDF(key %d octets, fc %#x, %d params) = %x, want %x", kl, fc, np, got, want)
				}
			}
		}
	}
}

// The boundary between the stack path and crypto/hmac: S of exactly
// kdfInline and kdfInline+1 octets.
func TestKDFInlineBoundary(t *testing.T) {
	key := bytes.Repeat([]byte{0x5a}, 32)
	for _, sLen := range []int{kdfInline - 1, kdfInline, kdfInline + 1} {
		p := bytes.Repeat([]byte{0xa5}, sLen-3) // S = FC ‖ P0 ‖ L0
		got := KDF(key, 0x7f, p)
		if want := kdfReference(key, 0x7f, p); !bytes.Equal(got[:], want) {
			t.Errorf("S of %d octets: KDF = %x, want %x", sLen, got, want)
		}
	}
}

func TestKDFMaxParamLength(t *testing.T) {
	p := make([]byte, 0xFFFF)
	got := KDF([]byte("k"), 0x01, p)
	if want := kdfReference([]byte("k"), 0x01, p); !bytes.Equal(got[:], want) {
		t.Fatalf("KDF with a 65535-octet parameter = %x, want %x", got, want)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("KDF with a 65536-octet parameter did not panic")
		}
	}()
	KDF([]byte("k"), 0x01, make([]byte, 0x10000))
}

func TestKDFNoAllocs(t *testing.T) {
	var knrp KNRP
	var n1, n2 [NonceLen]byte
	allocs := testing.AllocsPerRun(100, func() {
		s := knrp.DeriveSess(&n1, &n2)
		_ = s.NRPEK(NEA2)
		_ = s.NRPIK(NIA2)
	})
	if allocs != 0 {
		t.Errorf("KNRP-sess, NRPEK and NRPIK derivation: %v allocations, want 0", allocs)
	}
}

func BenchmarkKDF(b *testing.B) {
	var k KNRPSess
	b.ReportAllocs()
	for b.Loop() {
		_ = k.NRPEK(NEA2)
	}
}
