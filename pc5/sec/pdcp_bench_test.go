package sec

import "testing"

// The PDCP benchmarks protect a 1400-octet payload on an SL-DRB (BEARER 4,
// 12-bit SN, integrity and ciphering). The "PDCPAlgorithmsOnly" benchmarks
// run, over the same lengths, just what the algorithms must do per PDU: one
// MAC over header ‖ payload and one XORKeyStream over payload ‖ MAC-I.
// Overhead of Protect = Protect / AlgorithmsOnly − 1. The NEA0-NIA0 pair
// measures the per-PDU cost of this package alone in ns (its "algorithms"
// are a copy and a constant), which a loaded machine disturbs less than the
// ratios.

const benchPayload = 1400

var benchAlgs = []struct {
	ea CipherAlg
	ia IntegrityAlg
}{{NEA2, NIA2}, {NEA1, NIA1}, {NEA3, NIA3}, {NEA0, NIA0}}

const benchBearer = 4

func BenchmarkPDCPProtect(b *testing.B) {
	for _, a := range benchAlgs {
		b.Run(algName(a.ea, a.ia), func(b *testing.B) {
			ue1, _ := newPair(b, a.ea, a.ia, nil)
			p := payloadOf(benchPayload, 1)
			buf := make([]byte, 0, benchPayload+64)
			b.SetBytes(benchPayload)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ue1.Protect(buf, benchBearer, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPDCPUnprotect verifies the same genuine PDU (COUNT 0) again and
// again, resetting the bearer's receive window before each call (two
// stores), so that input and state stay in cache like the one buffer of the
// algorithms-only baseline. (A ring of distinct PDUs measured 10-20 % more
// on the shared test machine for all pairs alike, cache effects that the
// baseline does not have.)
func BenchmarkPDCPUnprotect(b *testing.B) {
	for _, a := range benchAlgs {
		b.Run(algName(a.ea, a.ia), func(b *testing.B) {
			ue1, ue2 := newPair(b, a.ea, a.ia, nil)
			pdu, err := ue1.Protect(nil, benchBearer, payloadOf(benchPayload, 1))
			if err != nil {
				b.Fatal(err)
			}
			rx := &ue2.bearers[benchBearer].rx
			buf := make([]byte, 0, benchPayload+64)
			b.SetBytes(benchPayload)
			b.ReportAllocs()
			for b.Loop() {
				rx.words[0], rx.next = 0, 0
				if _, err := ue2.Unprotect(buf, benchBearer, pdu); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkPDCPProtectUnprotect(b *testing.B) {
	for _, a := range benchAlgs {
		b.Run(algName(a.ea, a.ia), func(b *testing.B) {
			ue1, ue2 := newPair(b, a.ea, a.ia, nil)
			p := payloadOf(benchPayload, 1)
			pbuf := make([]byte, 0, benchPayload+64)
			ubuf := make([]byte, 0, benchPayload+64)
			b.SetBytes(benchPayload)
			b.ReportAllocs()
			for b.Loop() {
				pdu, err := ue1.Protect(pbuf, benchBearer, p)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := ue2.Unprotect(ubuf, benchBearer, pdu); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPDCPAlgorithmsOnly is the baseline: the algorithm work of one
// PDU, nothing else.
func BenchmarkPDCPAlgorithmsOnly(b *testing.B) {
	for _, a := range benchAlgs {
		b.Run(algName(a.ea, a.ia), func(b *testing.B) {
			sess := testSess()
			ek, ik := sess.NRPEK(a.ea), sess.NRPIK(a.ia)
			ciph, err := NewCipher(a.ea, ek[:])
			if err != nil {
				b.Fatal(err)
			}
			integ, err := NewIntegrity(a.ia, ik[:])
			if err != nil {
				b.Fatal(err)
			}
			const hdr = PDCPHeaderLen12
			buf := make([]byte, hdr+benchPayload+MACLen)
			copy(buf[hdr:], payloadOf(benchPayload, 1))
			b.SetBytes(benchPayload)
			b.ReportAllocs()
			var count uint32
			for b.Loop() {
				mac, err := integ.MAC(count, benchBearer, DirectionInitiator, buf[:hdr+benchPayload], 8*(hdr+benchPayload))
				if err != nil {
					b.Fatal(err)
				}
				copy(buf[hdr+benchPayload:], mac[:])
				if err := ciph.XORKeyStream(count, benchBearer, DirectionInitiator, buf[hdr:], buf[hdr:], 8*(benchPayload+MACLen)); err != nil {
					b.Fatal(err)
				}
				count++
			}
		})
	}
}
