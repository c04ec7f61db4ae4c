package token

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"slices"
	"testing"
	"time"
)

// Benchmarks of Verify against "bare" signature verification over the same
// signed bytes (the JWS signing input, the COSE Sig_structure), with the
// key already parsed: the overhead of Verify is everything but the
// signature check. Run with
//
//	go test -run '^$' -bench 'Verify' -benchmem ./token/
func BenchmarkVerify(b *testing.B) {
	e := newTestEnv(b)
	for _, alg := range []Algorithm{ES256, EdDSA} {
		for _, f := range []Format{JWT, CWT} {
			for _, cnf := range []string{"cnfP256", "cnfP256y", "cnfEd25519", "nocnf"} {
				c := e.typicalClaims()
				s := *e.signer(alg)
				switch cnf {
				case "cnfEd25519":
					c.Confirmation = e.ueEd.Public()
				case "cnfP256y":
					if f == JWT {
						continue // JWTs always carry x and y
					}
					s.UncompressedCnf = true
				case "nocnf":
					c.Confirmation = nil
				}
				raw, err := s.Sign(c, f)
				if err != nil {
					b.Fatal(err)
				}
				v := e.verifier(alg)
				name := string(alg) + "/" + f.String() + "/" + cnf
				b.Run(name+"/Verify", func(b *testing.B) {
					b.ReportAllocs()
					b.SetBytes(int64(len(raw)))
					for b.Loop() {
						if _, err := v.Verify(raw, f, testNow); err != nil {
							b.Fatal(err)
						}
					}
				})
				b.Run(name+"/bare", func(b *testing.B) {
					benchBare(b, e, alg, f, raw)
				})
				b.Run(name+"/nosig", func(b *testing.B) {
					benchNoSig(b, v, f, raw)
				})
			}
		}
	}
}

// benchBare verifies only the signature of raw, over bytes prepared
// outside the loop: SHA-256 + ecdsa.VerifyASN1, or ed25519.Verify.
func benchBare(b *testing.B, e *testEnv, alg Algorithm, f Format, raw []byte) {
	var p *parsedToken
	var err error
	if f == JWT {
		p, err = parseJWT(raw, []Algorithm{alg})
	} else {
		p, err = parseCWT(raw, []Algorithm{alg})
	}
	if err != nil {
		b.Fatal(err)
	}
	tbs, sig := p.tbs, p.sig
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	switch alg {
	case ES256:
		der := rawToDER(nil, sig)
		pub := &e.ecKey.PublicKey
		for b.Loop() {
			h := sha256.Sum256(tbs)
			if !ecdsa.VerifyASN1(pub, h[:], der) {
				b.Fatal("bad signature")
			}
		}
	case EdDSA:
		pub := e.edKey.Public().(ed25519.PublicKey)
		for b.Loop() {
			if !ed25519.Verify(pub, tbs, sig) {
				b.Fatal("bad signature")
			}
		}
	}
}

// benchNoSig runs everything Verify does except the signature check: the
// overhead that Verify adds to bare verification.
func benchNoSig(b *testing.B, v *Verifier, f Format, raw []byte) {
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if err := v.Validate(); err != nil {
			b.Fatal(err)
		}
		var p *parsedToken
		var err error
		if f == JWT {
			p, err = parseJWT(raw, v.Algorithms)
		} else {
			p, err = parseCWT(raw, v.Algorithms)
		}
		if err != nil {
			b.Fatal(err)
		}
		if _, err := v.Trust.lookup(p.c.Issuer, p.kid); err != nil {
			b.Fatal(err)
		}
		c, err := p.finish()
		if err != nil {
			b.Fatal(err)
		}
		if err := checkTimes(c.Expiry, c.NotBefore, c.IssuedAt, testNow, v.Leeway); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyRatio interleaves Verify and bare verification of the same
// token call by call, so that load on a shared machine hits both alike, and
// reports the ratio of their median call times ("x-bare"). Run with
//
//	go test -run '^$' -bench VerifyRatio -benchtime 3000x ./token/
func BenchmarkVerifyRatio(b *testing.B) {
	e := newTestEnv(b)
	for _, alg := range []Algorithm{ES256, EdDSA} {
		for _, f := range []Format{JWT, CWT} {
			for _, cnf := range []string{"cnfP256", "cnfP256y", "cnfEd25519", "nocnf"} {
				if cnf == "cnfP256y" && f == JWT {
					continue
				}
				c := e.typicalClaims()
				s := *e.signer(alg)
				s.UncompressedCnf = cnf == "cnfP256y"
				switch cnf {
				case "nocnf":
					c.Confirmation = nil
				case "cnfEd25519":
					c.Confirmation = e.ueEd.Public()
				}
				raw, err := s.Sign(c, f)
				if err != nil {
					b.Fatal(err)
				}
				v := e.verifier(alg)
				bare := bareVerifier(b, e, alg, f, raw)
				b.Run(string(alg)+"/"+f.String()+"/"+cnf, func(b *testing.B) {
					var tv, tb []time.Duration
					for b.Loop() {
						t0 := time.Now()
						if _, err := v.Verify(raw, f, testNow); err != nil {
							b.Fatal(err)
						}
						t1 := time.Now()
						bare()
						t2 := time.Now()
						tv, tb = append(tv, t1.Sub(t0)), append(tb, t2.Sub(t1))
					}
					mv, mb := median(tv), median(tb)
					b.ReportMetric(float64(mv.Nanoseconds()), "verify-ns")
					b.ReportMetric(float64(mb.Nanoseconds()), "bare-ns")
					b.ReportMetric(float64(mv)/float64(mb), "x-bare")
				})
			}
		}
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// bareVerifier returns a function that verifies only the signature of raw.
func bareVerifier(b *testing.B, e *testEnv, alg Algorithm, f Format, raw []byte) func() {
	var p *parsedToken
	var err error
	if f == JWT {
		p, err = parseJWT(raw, []Algorithm{alg})
	} else {
		p, err = parseCWT(raw, []Algorithm{alg})
	}
	if err != nil {
		b.Fatal(err)
	}
	tbs, sig := p.tbs, p.sig
	if alg == ES256 {
		der := rawToDER(nil, sig)
		pub := &e.ecKey.PublicKey
		return func() {
			h := sha256.Sum256(tbs)
			if !ecdsa.VerifyASN1(pub, h[:], der) {
				b.Fatal("bad signature")
			}
		}
	}
	pub := e.edKey.Public().(ed25519.PublicKey)
	return func() {
		if !ed25519.Verify(pub, tbs, sig) {
			b.Fatal("bad signature")
		}
	}
}
