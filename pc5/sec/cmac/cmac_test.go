package cmac

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newAES(t testing.TB, key []byte) *MAC {
	t.Helper()
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

const rfcKey = "2b7e151628aed2a6abf7158809cf4f3c"

const rfcMsg = "6bc1bee22e409f96e93d7e117393172a" + "ae2d8a571e03ac9c9eb76fac45af8e51" +
	"30c81c46a35ce411e5fbc1191a0a52ef" + "f69f2445df4f9b17ad2b417be66c3710"

// TestRFC4493 checks the subkeys of RFC 4493 §4 and its four examples.
func TestRFC4493(t *testing.T) {
	m := newAES(t, unhex(t, rfcKey))
	k1, k2 := unhex(t, "fbeed618357133667c85e08f7236a8de"), unhex(t, "f7ddac306ae266ccf90bc11ee46d513b")
	got := func(k [2]uint64) []byte {
		return []byte{byte(k[0] >> 56), byte(k[0] >> 48), byte(k[0] >> 40), byte(k[0] >> 32),
			byte(k[0] >> 24), byte(k[0] >> 16), byte(k[0] >> 8), byte(k[0]),
			byte(k[1] >> 56), byte(k[1] >> 48), byte(k[1] >> 40), byte(k[1] >> 32),
			byte(k[1] >> 24), byte(k[1] >> 16), byte(k[1] >> 8), byte(k[1])}
	}
	if !bytes.Equal(got(m.k1), k1) || !bytes.Equal(got(m.k2), k2) {
		t.Errorf("subkeys K1=%x K2=%x, want %x %x", got(m.k1), got(m.k2), k1, k2)
	}
	msg := unhex(t, rfcMsg)
	for _, c := range []struct {
		n   int
		tag string
	}{
		{0, "bb1d6929e95937287fa37d129b756746"},
		{16, "070a16b46b4d4144f79bdd9dd04a287c"},
		{40, "dfa66747de9ae63030ca32611497c827"},
		{64, "51f0bebf7e3b9d92fc49741779363cfe"},
	} {
		tag, err := m.Sum(nil, msg[:c.n], 8*c.n)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(tag[:]) != c.tag {
			t.Errorf("Mlen=%d: tag %x, want %s", c.n, tag, c.tag)
		}
		// The same bit string split into a prefix and a message gives the
		// same tag, wherever the split falls.
		for cut := 0; cut <= c.n; cut++ {
			tag2, err := m.Sum(msg[:cut], msg[cut:c.n], 8*(c.n-cut))
			if err != nil || tag2 != tag {
				t.Errorf("Mlen=%d split at %d: tag %x, want %x (err %v)", c.n, cut, tag2, tag, err)
			}
		}
	}
}

// refCMAC is SP 800-38B §6.2 written out on a copy of the bit string:
// subkeys by shifting, padding appended to the string, then CBC-MAC.
func refCMAC(b cipher.Block, bitstr []byte, nbits int) [Size]byte {
	dbl := func(v []byte) []byte {
		out := make([]byte, Size)
		for i := range Size {
			out[i] = v[i] << 1
			if i+1 < Size {
				out[i] |= v[i+1] >> 7
			}
		}
		if v[0]&0x80 != 0 {
			out[Size-1] ^= 0x87
		}
		return out
	}
	l := make([]byte, Size)
	b.Encrypt(l, l)
	k1 := dbl(l)
	k2 := dbl(k1)

	n := (nbits + 127) / 128
	complete := n > 0 && nbits%128 == 0
	if n == 0 {
		n = 1
	}
	m := make([]byte, n*Size)
	for i := range nbits {
		if bitstr[i/8]&(0x80>>(i%8)) != 0 {
			m[i/8] |= 0x80 >> (i % 8)
		}
	}
	k := k1
	if !complete {
		m[nbits/8] |= 0x80 >> (nbits % 8)
		k = k2
	}
	for i := range Size {
		m[(n-1)*Size+i] ^= k[i]
	}
	var c [Size]byte
	for j := range n {
		for i := range Size {
			c[i] ^= m[j*Size+i]
		}
		b.Encrypt(c[:], c[:])
	}
	return c
}

// TestBitLengths cross-checks Sum against the reference for random bit
// strings of every length up to 400 bits, with random junk beyond the
// message and random octet-aligned prefixes.
func TestBitLengths(t *testing.T) {
	key := unhex(t, rfcKey)
	m := newAES(t, key)
	b, _ := aes.NewCipher(key)
	rng := rand.New(rand.NewPCG(5, 6))
	for nbits := 0; nbits <= 400; nbits++ {
		plen := rng.IntN(3) * 8 // 0, 8 or 16 octets, as for 128-NIA2
		buf := make([]byte, plen+(nbits+7)/8+rng.IntN(3))
		for i := range buf {
			buf[i] = byte(rng.Uint32())
		}
		want := refCMAC(b, buf, 8*plen+nbits)
		got, err := m.Sum(buf[:plen], buf[plen:], nbits)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("prefix %d octets, %d bits: tag %x, want %x", plen, nbits, got, want)
		}
	}
}

func TestErrors(t *testing.T) {
	m := newAES(t, unhex(t, rfcKey))
	for _, c := range []struct{ n, bits int }{{0, 1}, {1, 9}, {2, -1}, {16, 129}} {
		if _, err := m.Sum(nil, make([]byte, c.n), c.bits); err == nil {
			t.Errorf("Sum over %d octets with %d bits: no error", c.n, c.bits)
		}
	}
	if _, err := New(badBlock{}); err == nil {
		t.Error("New accepted a 64-bit block cipher")
	}
}

type badBlock struct{}

func (badBlock) BlockSize() int          { return 8 }
func (badBlock) Encrypt(dst, src []byte) {}
func (badBlock) Decrypt(dst, src []byte) {}

func TestSumDoesNotAllocate(t *testing.T) {
	m := newAES(t, unhex(t, rfcKey))
	prefix, msg := make([]byte, 8), make([]byte, 1400)
	if n := testing.AllocsPerRun(100, func() { m.Sum(prefix, msg, 8*len(msg)-3) }); n != 0 {
		t.Errorf("Sum allocates %v times per call", n)
	}
}

func BenchmarkSum1400(b *testing.B) {
	m := newAES(b, unhex(b, rfcKey))
	prefix, msg := make([]byte, 8), make([]byte, 1400)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		m.Sum(prefix, msg, 8*len(msg))
	}
}
