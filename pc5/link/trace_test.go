package link

import (
	"bytes"
	"testing"
	"time"

	"github.com/prosesec/prosesec/pc5/msg"
	"github.com/prosesec/prosesec/pc5/sec"
	"github.com/prosesec/prosesec/token"
)

// tracedSide records what Config.TracePDU and Config.KeyLog report.
type tracedSide struct {
	pdus map[string]TracedPDU // by PDU octets
	keys []KeyLogEntry
}

func (s *tracedSide) hook(c *Config) {
	s.pdus = map[string]TracedPDU{}
	c.TracePDU = func(p TracedPDU) {
		s.pdus[string(p.PDU)] = TracedPDU{LCID: p.LCID, PDU: bytes.Clone(p.PDU), Plaintext: bytes.Clone(p.Plaintext), Ciphered: p.Ciphered}
	}
	c.KeyLog = func(e KeyLogEntry) { s.keys = append(s.keys, e) }
}

// TestTracePDUAndKeyLog: every protected PDU on the air is reported by its
// sender with its plaintext; both ends log the same keys for each context,
// once per establishment and rekeying; and the logged keys are the ones in
// use: the MAC-I of the SECURITY MODE COMMAND verifies with the logged
// NRPIK and the SECURITY MODE COMPLETE deciphers with the logged NRPEK,
// with the 3GPP algorithms alone.
func TestTracePDUAndKeyLog(t *testing.T) {
	w := newWorld(t, 41)
	s := w.newParty(nameSource, msg.SignatureECDSAP256SHA256, token.RoleUse, 1)
	r := w.newParty(nameRelay, msg.SignatureECDSAP256SHA256, token.RoleServe, 2)
	var ts, tr tracedSide
	ts.hook(s.cfg)
	tr.hook(r.cfg)
	pr := newPair(t, s.cfg, r.cfg, initiatorPolicy(), responderPolicy())
	pr.handshake()
	pr.mustEstablish()
	pr.exchangeData(2)
	if err := pr.i.Rekey(pr.now, false); err != nil {
		t.Fatal(err)
	}
	pr.pump()
	if n := countEvents[Rekeyed](pr.ev[0]); n != 1 {
		t.Fatalf("%d Rekeyed events at the initiator, want 1", n)
	}

	// Every protected signalling PDU on the air was reported by its sender.
	var smc, complete []byte
	for _, wr := range pr.log {
		if wr.pdu.LCID == lcidSRB0 || wr.pdu.Data[0]&sec.PDCPDataPDUBit == 0 {
			continue // bare messages: REQUEST, rejects
		}
		side := &tr
		if wr.fromI {
			side = &ts
		}
		got, ok := side.pdus[string(wr.pdu.Data)]
		if !ok {
			t.Fatalf("PDU on LCID %d from initiator=%v not reported by TracePDU", wr.pdu.LCID, wr.fromI)
		}
		m, err := msg.Parse(got.Plaintext)
		if err != nil {
			t.Fatalf("traced plaintext does not parse: %v", err)
		}
		switch m.(type) {
		case *msg.DirectLinkSecurityModeCommand:
			if got.Ciphered {
				t.Error("the SECURITY MODE COMMAND reported as ciphered")
			}
			if smc == nil {
				smc = wr.pdu.Data
			}
		case *msg.DirectLinkSecurityModeComplete:
			if !got.Ciphered {
				t.Error("the SECURITY MODE COMPLETE reported as not ciphered")
			}
			if complete == nil {
				complete = wr.pdu.Data
			}
		}
	}
	if smc == nil || complete == nil {
		t.Fatal("no SECURITY MODE COMMAND or COMPLETE on the air")
	}
	// User data is traced too.
	payload := []byte("traced user data")
	pdu, err := pr.i.SealData([]byte("prefix"), sec.LCIDDRBMin, payload)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := ts.pdus[string(pdu[len("prefix"):])]; !ok || !bytes.Equal(got.Plaintext, payload) || got.LCID != sec.LCIDDRBMin {
		t.Fatalf("SealData PDU traced as %+v (found %v)", got, ok)
	}

	// Keys: one entry per context at each end, equal but for the role.
	if len(ts.keys) != 2 || len(tr.keys) != 2 {
		t.Fatalf("key log entries: initiator %d, responder %d, want 2 each (establishment, rekeying)", len(ts.keys), len(tr.keys))
	}
	for k := range 2 {
		a, b := ts.keys[k], tr.keys[k]
		if !a.Initiator || b.Initiator {
			t.Errorf("context %d: Initiator %v at the initiator, %v at the responder", k, a.Initiator, b.Initiator)
		}
		b.Initiator = true
		if a != b {
			t.Errorf("context %d: the two ends logged different keys", k)
		}
		if a.NRPEK == (sec.NRPEK{}) || a.NRPIK == (sec.NRPIK{}) {
			t.Errorf("context %d: zero keys logged", k)
		}
	}
	if ts.keys[0].NRPIK == ts.keys[1].NRPIK || ts.keys[0].KNRPSessID == ts.keys[1].KNRPSessID {
		t.Error("the rekeyed context logged the keys or KNRP-sess ID of the first")
	}

	k := ts.keys[0]
	hdr, body, err := sec.ParsePDU(smc, sec.SNSize12, true)
	if err != nil {
		t.Fatal(err)
	}
	if hdr.SessID != k.KNRPSessID {
		t.Fatalf("SMC header KNRP-sess ID %v, logged %v", hdr.SessID, k.KNRPSessID)
	}
	integ, err := sec.NewIntegrity(k.IntegrityAlg, k.NRPIK[:])
	if err != nil {
		t.Fatal(err)
	}
	covered := smc[:len(smc)-sec.MACLen]
	mac, err := integ.MAC(hdr.SN, lcidSRB1, sec.DirectionResponder, covered, 8*len(covered))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mac[:], smc[len(smc)-sec.MACLen:]) {
		t.Fatal("the SMC's MAC-I does not verify with the logged NRPIK")
	}
	if !bytes.Equal(body, tr.pdus[string(smc)].Plaintext) {
		t.Fatal("the SMC body differs from its traced plaintext")
	}

	ch, _, err := sec.ParsePDU(complete, sec.SNSize12, true)
	if err != nil {
		t.Fatal(err)
	}
	ciph, err := sec.NewCipher(k.CipherAlg, k.NRPEK[:])
	if err != nil {
		t.Fatal(err)
	}
	clearText := bytes.Clone(complete)
	off := sec.PDCPHeaderLen12
	if err := ciph.XORKeyStream(ch.SN, lcidSRB1, sec.DirectionInitiator, clearText[off:], clearText[off:], 8*(len(clearText)-off)); err != nil {
		t.Fatal(err)
	}
	want := ts.pdus[string(complete)].Plaintext
	if !bytes.Equal(clearText[off:len(clearText)-sec.MACLen], want) {
		t.Fatal("the COMPLETE does not decipher to its traced plaintext with the logged NRPEK")
	}
}

// TestKeyLogNotForAForgedCommand: an SMC whose MAC-I fails keys no
// context at the initiator, so it logs nothing.
func TestKeyLogNotForAForgedCommand(t *testing.T) {
	w := newWorld(t, 42)
	s := w.newParty(nameSource, msg.SignatureECDSAP256SHA256, token.RoleUse, 1)
	r := w.newParty(nameRelay, msg.SignatureECDSAP256SHA256, token.RoleServe, 2)
	var ts tracedSide
	ts.hook(s.cfg)
	pr := newPair(t, s.cfg, r.cfg, initiatorPolicy(), responderPolicy())
	pr.filter = func(fromI bool, n int, pdu PDU) []PDU {
		if !fromI && pdu.LCID == lcidSRB1 {
			d := bytes.Clone(pdu.Data)
			d[len(d)-1] ^= 1 // break the MAC-I
			return []PDU{{LCID: pdu.LCID, Data: d}}
		}
		return []PDU{pdu}
	}
	pr.handshake()
	pr.advance(2*time.Second, 100*time.Millisecond)
	if len(ts.keys) != 0 {
		t.Fatalf("%d key log entries after a forged SECURITY MODE COMMAND, want 0", len(ts.keys))
	}
}

// TestKeyLogNotForAnUnauthorizedPeer: an SMC whose MAC-I verifies (the
// responder answered this very REQUEST with its own key share) but whose
// token fails the initiator's checks keys nothing worth logging: the
// initiator rejects it and logs no entry.
func TestKeyLogNotForAnUnauthorizedPeer(t *testing.T) {
	w := newWorld(t, 43)
	s := w.newParty(nameSource, msg.SignatureECDSAP256SHA256, token.RoleUse, 1)
	r := w.newParty(nameRelay, msg.SignatureECDSAP256SHA256, token.RoleUse, 2) // not allowed to serve
	var ts, tr tracedSide
	ts.hook(s.cfg)
	tr.hook(r.cfg)
	pr := newPair(t, s.cfg, r.cfg, initiatorPolicy(), responderPolicy())
	pr.handshake()
	rej, ok := findEvent[Rejected](pr.ev[0])
	if !ok || rej.Cause != msg.CauseRequiredServiceNotAllowed {
		t.Fatalf("initiator events %v, want a rejection with #11", pr.ev[0])
	}
	if len(ts.keys) != 0 {
		t.Fatalf("the initiator logged %d key entries for a peer it rejected, want 0", len(ts.keys))
	}
	if len(tr.keys) != 1 {
		t.Fatalf("the responder logged %d key entries, want 1 (it logs when it sends the SMC)", len(tr.keys))
	}
}
