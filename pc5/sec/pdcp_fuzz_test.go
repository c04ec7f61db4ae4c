package sec

import (
	"bytes"
	"slices"
	"testing"
)

// fuzzAlgs are the algorithm pairs FuzzUnprotect picks from; all have real
// integrity, so nothing but a genuine PDU may verify.
var fuzzAlgs = []struct {
	ea CipherAlg
	ia IntegrityAlg
}{{NEA2, NIA2}, {NEA1, NIA1}, {NEA3, NIA3}, {NEA0, NIA2}}

// fuzzGenuine returns the PDUs the initiator sends first on bearer under
// algorithm pair alg: the only inputs allowed to verify at a fresh receiver.
func fuzzGenuine(t testing.TB, alg int, bearer uint8, noCipher bool) [][]byte {
	a := fuzzAlgs[alg]
	ue1, _ := newPair(t, a.ea, a.ia, fuzzConfig)
	var out [][]byte
	for i := range 3 {
		var pdu []byte
		var err error
		if noCipher {
			pdu, err = ue1.ProtectNoCipher(nil, bearer, payloadOf(3+10*i, byte(i)))
		} else {
			pdu, err = ue1.Protect(nil, bearer, payloadOf(3+10*i, byte(i)))
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, pdu)
	}
	return out
}

// fuzzConfig gives bearer 4 an 18-bit SN, so both header layouts are fuzzed.
func fuzzConfig(c *Config) { c.Bearers = map[uint8]BearerConfig{4: {SNSize: SNSize18}} }

// FuzzUnprotect feeds arbitrary PDUs to a fresh responder. Unprotect must
// never panic, must leave the state unchanged when it fails, and must never
// accept anything but a PDU the initiator really produced.
func FuzzUnprotect(f *testing.F) {
	for alg := range fuzzAlgs {
		for _, bearer := range []uint8{1, 2, 4} {
			for _, noCipher := range []bool{false, true} {
				for _, pdu := range fuzzGenuine(f, alg, bearer, noCipher) {
					f.Add(uint8(alg), bearer, noCipher, pdu)
					for _, bit := range []int{0, 3, 9, 8*len(pdu) - 1, 8 * (len(pdu) - 5), 8 * 5} {
						bad := slices.Clone(pdu)
						bad[bit/8] ^= 0x80 >> (bit % 8)
						f.Add(uint8(alg), bearer, noCipher, bad)
					}
					f.Add(uint8(alg), bearer, noCipher, pdu[:len(pdu)-1])
				}
			}
		}
	}
	f.Add(uint8(0), uint8(2), false, []byte{})
	f.Add(uint8(0), uint8(0), false, []byte{0x80, 0, 0x5a, 0x3c})

	f.Fuzz(func(t *testing.T, alg, bearer uint8, noCipher bool, pdu []byte) {
		alg %= uint8(len(fuzzAlgs))
		a := fuzzAlgs[alg]
		_, ue2 := newPair(t, a.ea, a.ia, fuzzConfig)
		var before bearerSnapshot
		if bearer >= 1 && bearer <= MaxBearer {
			before = snapshot(ue2, bearer)
		}
		in := slices.Clone(pdu)
		var out []byte
		var err error
		if noCipher {
			out, err = ue2.UnprotectNoCipher(nil, bearer, in)
		} else {
			out, err = ue2.Unprotect(nil, bearer, in)
		}
		if err != nil {
			if out != nil {
				t.Fatalf("failed Unprotect returned %d octets", len(out))
			}
			if bearer >= 1 && bearer <= MaxBearer && !snapshot(ue2, bearer).equal(before) {
				t.Fatalf("failed Unprotect (%v) changed the state", err)
			}
			return
		}
		if bearer < 1 || bearer > MaxBearer {
			t.Fatalf("Unprotect accepted BEARER %d", bearer)
		}
		for _, g := range fuzzGenuine(t, int(alg), bearer, noCipher) {
			if bytes.Equal(g, pdu) {
				return
			}
		}
		t.Fatalf("Unprotect accepted a forged PDU %x on BEARER %d", pdu, bearer)
	})
}
