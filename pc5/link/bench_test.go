package link

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"testing"

	"github.com/prosesec/prosesec/pc5/msg"
	"github.com/prosesec/prosesec/pc5/sec"
	"github.com/prosesec/prosesec/token"
)

// benchSetup makes the two parties of one suite with real randomness.
func benchSetup(b *testing.B, s msg.Suite) (*world, *party, *party) {
	w := newWorld(b, 700)
	src := w.newParty(nameSource, suiteAlg(s), token.RoleUse, 1)
	rel := w.newParty(nameRelay, suiteAlg(s), token.RoleServe, 2)
	src.cfg.Suites = []msg.Suite{s}
	src.cfg.Rand, rel.cfg.Rand = rand.Reader, rand.Reader
	return w, src, rel
}

// runHandshake runs one hop's handshake, both sides, to Established.
func runHandshake(b *testing.B, ic, pc *Config) {
	i, err := NewInitiator(ic, initiatorPolicy())
	if err != nil {
		b.Fatal(err)
	}
	p, err := NewResponder(pc, responderPolicy())
	if err != nil {
		b.Fatal(err)
	}
	if err := i.Start(testNow); err != nil {
		b.Fatal(err)
	}
	est := 0
	for moved := true; moved; {
		moved = false
		for _, pair := range [2][2]*Link{{i, p}, {p, i}} {
			if !pair[0].HasReady() {
				continue
			}
			moved = true
			rd := pair[0].Ready()
			for _, e := range rd.Events {
				if _, ok := e.(Established); ok {
					est++
				}
			}
			for _, q := range rd.Send {
				if err := pair[1].Step(testNow, q); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	if est != 2 {
		b.Fatalf("%d sides established", est)
	}
}

// BenchmarkHandshake is the CPU of one established hop, both sides
// together: REQUEST, SMC, COMPLETE, ACCEPT, with ECDH, transcript
// signatures, offline token verification (with the status list) and the
// PDCP protection of the handshake messages.
func BenchmarkHandshake(b *testing.B) {
	for _, s := range testSuites {
		b.Run(s.String(), func(b *testing.B) {
			_, src, rel := benchSetup(b, s)
			b.ReportAllocs()
			for b.Loop() {
				runHandshake(b, src.cfg, rel.cfg)
			}
		})
	}
}

// BenchmarkPrimitives is the sum of the primitive operations one hop's
// handshake cannot avoid, on inputs of the handshake's sizes: 2 ephemeral
// keys, 2 ECDH (with the peer key decoding), 4 transcript hashes, 2
// transcript signatures and 2 verifications, 2 offline token verifications,
// 2 HKDF (KNRP), 2 KNRP-sess and 2 contexts (NRPEK/NRPIK, key schedules),
// and the MAC/cipher operations on the SMC, COMPLETE and ACCEPT. Compare
// with BenchmarkHandshake of the same suite: the ratio is the overhead of
// the state machine and the codec.
func BenchmarkPrimitives(b *testing.B) {
	for _, s := range testSuites {
		b.Run(s.String(), func(b *testing.B) {
			w, src, rel := benchSetup(b, s)
			// Record one real handshake for the message sizes.
			pr := newPair(b, src.cfg, rel.cfg, initiatorPolicy(), responderPolicy())
			pr.handshake()
			pr.mustEstablish()
			req := pr.log[0].pdu.Data
			_, smc, _ := sec.ParsePDU(pr.log[1].pdu.Data, snSize, true)
			complete := make([]byte, len(pr.log[2].pdu.Data)-8)
			accept := make([]byte, len(pr.log[3].pdu.Data)-8)
			alg := s.SignatureAlgorithm()
			curve := curveOf(s)
			sel := msg.NewSelectedAlgorithms(2, 2)
			var nonce1, nonce2 [msg.NonceLen]byte
			buf := make([]byte, 0, 1024)
			b.ReportAllocs()
			for b.Loop() {
				var raw [2][32]byte
				var pubs [2][]byte
				kI, kP := mustKey(b, curve, &raw[0]), mustKey(b, curve, &raw[1])
				pubs[0], pubs[1] = kI.PublicKey().Bytes(), kP.PublicKey().Bytes()
				pkP, err := curve.NewPublicKey(pubs[1])
				if err != nil {
					b.Fatal(err)
				}
				pkI, err := curve.NewPublicKey(pubs[0])
				if err != nil {
					b.Fatal(err)
				}
				zI, _ := kI.ECDH(pkP)
				zP, _ := kP.ECDH(pkI)
				var th [2][32]byte
				th[0], th[1] = sha256.Sum256(req), sha256.Sum256(req)
				fields := smcFields(pubs[1], &nonce2, 1, sel, pubs[0])
				knrpP, _ := deriveKNRP(zP, &nonce1, &th[1], fields)
				sigP, err := sign(rel.key, alg, rand.Reader, responderSigInput(&th[1], fields))
				if err != nil {
					b.Fatal(err)
				}
				knrpI, _ := deriveKNRP(zI, &nonce1, &th[0], fields)
				if _, err := w.verifier.Verify(rel.cfg.Token, token.CWT, testNow); err != nil {
					b.Fatal(err)
				}
				if err := verify(rel.pub(), alg, responderSigInput(&th[0], fields), sigP); err != nil {
					b.Fatal(err)
				}
				var ths [2][32]byte
				ths[0], ths[1] = sha256.Sum256(smc), sha256.Sum256(smc)
				sigI, err := sign(src.key, alg, rand.Reader, initiatorSigInput(&th[0], &ths[0]))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := w.verifier.Verify(src.cfg.Token, token.CWT, testNow); err != nil {
					b.Fatal(err)
				}
				if err := verify(src.pub(), alg, initiatorSigInput(&th[1], &ths[1]), sigI); err != nil {
					b.Fatal(err)
				}
				hI := &handshake{knrp: knrpI, nonce1: nonce1, nonce2: nonce2, sel: sel}
				hP := &handshake{knrp: knrpP, nonce1: nonce1, nonce2: nonce2, sel: sel}
				hI.newContext(0x0101, true, 0, nil)
				hP.newContext(0x0101, false, 0, nil)
				pdu, _ := hP.ctx.ProtectNoCipher(buf[:0], lcidSRB1, smc)
				if _, err := hI.ctx.UnprotectNoCipher(nil, lcidSRB1, pdu); err != nil {
					b.Fatal(err)
				}
				pdu, _ = hI.ctx.Protect(buf[:0], lcidSRB1, complete)
				if _, err := hP.ctx.Unprotect(nil, lcidSRB1, pdu); err != nil {
					b.Fatal(err)
				}
				pdu, _ = hP.ctx.Protect(buf[:0], lcidSRB2, accept)
				if _, err := hI.ctx.Unprotect(nil, lcidSRB2, pdu); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// mustKey makes an ephemeral key as newEphemeral does.
func mustKey(b *testing.B, c ecdh.Curve, raw *[32]byte) *ecdh.PrivateKey {
	for {
		io.ReadFull(rand.Reader, raw[:])
		if k, err := c.NewPrivateKey(raw[:]); err == nil {
			return k
		}
	}
}

// Data protection through the link does not allocate.
func TestDataZeroAlloc(t *testing.T) {
	w := newWorld(t, 701)
	pr, _, _ := stdPair(t, w, msg.SuiteP256ECDSAP256)
	pr.handshake()
	pr.mustEstablish()
	payload := make([]byte, 1200)
	buf := make([]byte, 0, 1300)
	allocs := testing.AllocsPerRun(100, func() {
		pdu, err := pr.i.SealData(buf[:0], 4, payload)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pr.p.OpenData(pdu[:0], 4, pdu); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per SealData+OpenData", allocs)
	}
}

// BenchmarkData is SealData + OpenData of a 1,200-octet packet.
func BenchmarkData(b *testing.B) {
	w := newWorld(b, 702)
	pr, _, _ := stdPair(b, w, msg.SuiteP256ECDSAP256)
	pr.handshake()
	pr.mustEstablish()
	payload := make([]byte, 1200)
	buf := make([]byte, 0, 1300)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		pdu, err := pr.i.SealData(buf[:0], 4, payload)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := pr.p.OpenData(pdu[:0], 4, pdu); err != nil {
			b.Fatal(err)
		}
	}
}
