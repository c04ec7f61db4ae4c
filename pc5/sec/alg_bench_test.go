package sec

import (
	"fmt"
	"testing"
)

// Throughput of the keyed 128-NEA/NIA instances on a 64-octet and a
// 1400-octet message (about a small PC5-S message and a full IP packet).
// Steady-state calls allocate nothing.

var algBenchSizes = []int{64, 1400}

func BenchmarkCipher(b *testing.B) {
	for _, alg := range []CipherAlg{NEA1, NEA2, NEA3} {
		c := newTestCipher(b, alg, testKey)
		for _, size := range algBenchSizes {
			b.Run(fmt.Sprintf("%v/%d", alg, size), func(b *testing.B) {
				buf := make([]byte, size)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if err := c.XORKeyStream(0x1234, 3, DirectionInitiator, buf, buf, 8*size); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkIntegrity(b *testing.B) {
	for _, alg := range []IntegrityAlg{NIA1, NIA2, NIA3} {
		m := newTestIntegrity(b, alg, testKey)
		for _, size := range algBenchSizes {
			b.Run(fmt.Sprintf("%v/%d", alg, size), func(b *testing.B) {
				msg := make([]byte, size)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := m.MAC(0x1234, 3, DirectionInitiator, msg, 8*size); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
