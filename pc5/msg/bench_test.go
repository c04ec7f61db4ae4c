package msg

import "testing"

// Benchmarks use the size-table handshake: P-256 suite, 250-octet CWT,
// 64-octet signatures.

func benchMarshal(b *testing.B, m Message) {
	buf := make([]byte, m.MarshalLen())
	b.Run("Marshal", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(buf)))
		for b.Loop() {
			if _, err := m.Marshal(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("MarshalTo", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(buf)))
		for b.Loop() {
			if _, err := m.MarshalTo(buf); err != nil {
				b.Fatal(err)
			}
		}
	})
	wire, _ := m.Marshal()
	b.Run("Parse", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(buf)))
		for b.Loop() {
			if _, err := Parse(wire); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkRequest(b *testing.B) {
	req, _, _, _, _, _, _ := handshake(SuiteP256ECDSAP256)
	benchMarshal(b, req)
}

func BenchmarkSecurityModeCommand(b *testing.B) {
	_, smc, _, _, _, _, _ := handshake(SuiteP256ECDSAP256)
	benchMarshal(b, smc)
}

func BenchmarkKeyEstResponse(b *testing.B) {
	_, _, _, _, _, kr, _ := handshake(SuiteP256ECDSAP256)
	wire, _ := kr.Marshal()
	b.Run("Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := kr.Marshal(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v KeyEstResponse
			if err := v.UnmarshalBinary(wire); err != nil {
				b.Fatal(err)
			}
		}
	})
}
