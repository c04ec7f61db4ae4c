package link

import (
	"crypto"
	"encoding/binary"
	"testing"

	"github.com/prosesec/prosesec/pc5/msg"
	"github.com/prosesec/prosesec/token"
)

// Fuzz input: a sequence of PDUs, each LCID(1) ‖ length(2, big endian) ‖
// data; a short tail is ignored.
func encodePDUs(pdus []PDU) []byte {
	var b []byte
	for _, p := range pdus {
		b = append(b, p.LCID)
		b = binary.BigEndian.AppendUint16(b, uint16(len(p.Data)))
		b = append(b, p.Data...)
	}
	return b
}

func decodePDUs(b []byte) []PDU {
	var out []PDU
	for len(b) >= 3 {
		n := int(binary.BigEndian.Uint16(b[1:3]))
		lcid := b[0]
		b = b[3:]
		if n > len(b) {
			n = len(b)
		}
		out = append(out, PDU{LCID: lcid, Data: b[:n]})
		b = b[n:]
	}
	return out
}

// fuzzResponderSeed is the responder's randomness: fixed, so that the seed
// corpus (a real initiator's PDUs against this responder) establishes.
const fuzzResponderSeed = 4242

// FuzzResponder drives a responder with arbitrary PDU sequences. It must
// never panic, and an Established event must carry claims of a token that
// verifies and whose cnf key is the identity of the one initiator the
// harness controls (random bytes can never get there; the seed corpus, a
// recorded valid handshake, does).
func FuzzResponder(f *testing.F) {
	w := newWorld(f, 400)
	src := w.newParty(nameSource, msg.SignatureEd25519, token.RoleUse, 1)
	rel := w.newParty(nameRelay, msg.SignatureEd25519, token.RoleServe, fuzzResponderSeed)
	rel.cfg.Rand = seeded(fuzzResponderSeed)
	pr := newPair(f, src.cfg, rel.cfg, initiatorPolicy(), responderPolicy())
	pr.handshake()
	pr.mustEstablish()
	var fromI []PDU
	for _, x := range pr.log {
		if x.fromI {
			fromI = append(fromI, x.pdu)
		}
	}
	f.Add(encodePDUs(fromI))
	f.Add(encodePDUs(fromI[:1]))
	f.Add(encodePDUs([]PDU{fromI[0], fromI[0], fromI[1], fromI[1]}))
	f.Add([]byte{0, 0, 1, 1})
	srcPub := src.pub().(interface{ Equal(crypto.PublicKey) bool })

	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := *rel.cfg
		cfg.Rand = seeded(fuzzResponderSeed)
		p, err := NewResponder(&cfg, responderPolicy())
		if err != nil {
			t.Fatal(err)
		}
		now := testNow
		for _, in := range decodePDUs(data) {
			_ = p.Step(now, in)
			p.Tick(now)
			for _, ev := range p.Ready().Events {
				e, ok := ev.(Established)
				if !ok {
					continue
				}
				if e.PeerClaims == nil || e.PeerClaims.Confirmation == nil || !srcPub.Equal(e.PeerClaims.Confirmation) {
					t.Fatalf("established with a peer the harness does not control: %+v", e.PeerClaims)
				}
				if _, err := w.verifier.Verify(src.cfg.Token, token.CWT, now); err != nil || e.PeerClaims.Subject != nameSource {
					t.Fatalf("established with claims that do not verify: %v", err)
				}
			}
			if p.State() != StateEstablished && p.State() != StateReleasing && p.Context() != nil {
				t.Fatalf("context held in state %v", p.State())
			}
		}
	})
}
