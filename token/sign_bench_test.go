package token

import "testing"

// BenchmarkSign measures Signer.Sign of the typical access token (cnf P-256
// key, status reference) in both formats.
func BenchmarkSign(b *testing.B) {
	e := newTestEnv(b)
	for _, alg := range []Algorithm{ES256, EdDSA} {
		for _, f := range []Format{JWT, CWT} {
			name := string(alg) + "/jwt"
			if f == CWT {
				name = string(alg) + "/cwt"
			}
			b.Run(name, func(b *testing.B) {
				s, c := e.signer(alg), e.typicalClaims()
				b.ReportAllocs()
				for b.Loop() {
					if _, err := s.Sign(c, f); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
