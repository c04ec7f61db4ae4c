package link

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prosesec/prosesec/pc5/msg"
	"github.com/prosesec/prosesec/pc5/sec"
	"github.com/prosesec/prosesec/token"
)

// Regression tests for the security review of pc5/link (HIGH-1, LOW-1,
// LOW-2, LOW-4, LOW-5). The rule they pin down (docs/protocol.md §7,
// "Discard before the MAC-I"): a PDU that nothing authenticates changes
// nothing; an established link ends only through protected messages.

// establishedPair returns a pair that completed its handshake and
// exchanged data.
func establishedPair(t *testing.T, seed uint64, s msg.Suite) (*pair, *world) {
	t.Helper()
	w := newWorld(t, seed)
	pr, _, _ := stdPair(t, w, s)
	pr.handshake()
	pr.mustEstablish()
	pr.exchangeData(1)
	return pr, w
}

// take returns what side s has to send, keeping its events in pr.ev.
func (pr *pair) take(s int) []PDU {
	rd := pr.side(s).Ready()
	pr.ev[s] = append(pr.ev[s], rd.Events...)
	return rd.Send
}

// mustDiscard hands in to side s and requires a discard: ErrDiscarded (and
// no *Error), nothing sent, no event, the state unchanged.
func (pr *pair) mustDiscard(t *testing.T, s int, what string, in PDU) {
	t.Helper()
	l := pr.side(s)
	before := l.State()
	err := l.Step(pr.now, in)
	var e *Error
	if !errors.Is(err, ErrDiscarded) || errors.As(err, &e) {
		t.Fatalf("side %d, %s: Step returned %v, want a discard", s, what, err)
	}
	rd := l.Ready()
	if len(rd.Send) != 0 || len(rd.Events) != 0 || l.State() != before {
		t.Fatalf("side %d, %s: state %v → %v, output %+v", s, what, before, l.State(), rd)
	}
}

// onSRB1 is junk an off-path attacker can put on SL-SRB1 without any key,
// plus PDUs made from a genuine one (nil: none yet).
func junkSRB1(genuine []byte) map[string]PDU {
	smr, _ := (&msg.DirectLinkSecurityModeReject{Cause: msg.CauseAuthenticationFailure}).Marshal()
	j := map[string]PDU{
		"one octet 0x80":            {lcidSRB1, []byte{0x80}},
		"PDCP header only":          {lcidSRB1, []byte{0x80, 0, 0x12, 0x34}},
		"PDCP PDU of random octets": {lcidSRB1, []byte{0x80, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
		"bare SECURITY MODE REJECT": {lcidSRB1, smr},
		"unknown bare message":      {lcidSRB1, []byte{0x42, 0}},
	}
	if genuine != nil {
		flipped := bytes.Clone(genuine)
		flipped[10] ^= 0x80 // inside the PC5-S message: the MAC-I fails
		j["genuine PDU, one bit flipped"] = PDU{lcidSRB1, flipped}
		j["genuine PDU truncated"] = PDU{lcidSRB1, bytes.Clone(genuine[:len(genuine)/2])}
		j["genuine header, junk body"] = PDU{lcidSRB1, append(bytes.Clone(genuine[:4]), 0, 1, 2, 3, 4, 5, 6, 7)}
	}
	return j
}

func mustRekeyed(t *testing.T, pr *pair, n int) {
	t.Helper()
	for s := 0; s < 2; s++ {
		if got := countEvents[Rekeyed](pr.ev[s]); got != n || pr.side(s).State() != StateEstablished {
			t.Fatalf("side %d: %d Rekeyed, state %v (events %v, errs %v)", s, got, pr.side(s).State(), pr.ev[s], pr.errs[s])
		}
	}
	pr.exchangeData(2)
}

// HIGH-1, requester side: while a rekeying waits for its SMC, nothing
// unauthenticated on SL-SRB1 (one octet 0x80, a forged SMC, a bare
// SECURITY MODE REJECT) ends the link or spoils the genuine SMC that
// follows. Either side may request the rekeying.
func TestRekeyRequesterDiscardsUnauthenticatedSRB1(t *testing.T) {
	for _, reauth := range []bool{false, true} {
		for _, fromResponder := range []bool{false, true} {
			t.Run(fmt.Sprintf("reauth=%v/fromResponder=%v", reauth, fromResponder), func(t *testing.T) {
				pr, _ := establishedPair(t, 900, msg.SuiteP256ECDSAP256)
				a, b := 0, 1
				if fromResponder {
					a, b = 1, 0
				}
				if err := pr.side(a).Rekey(pr.now, reauth); err != nil {
					t.Fatal(err)
				}
				req := pr.take(a)[0]
				for name, j := range junkSRB1(nil) {
					pr.mustDiscard(t, a, name, j)
				}
				if err := pr.side(b).Step(pr.now, req); err != nil {
					t.Fatal(err)
				}
				smc := pr.take(b)[0]
				for name, j := range junkSRB1(smc.Data) {
					pr.mustDiscard(t, a, name, j)
				}
				if err := pr.side(a).Step(pr.now, smc); err != nil {
					t.Fatalf("genuine SMC after the forgeries: %v", err)
				}
				pr.pump()
				mustRekeyed(t, pr, 1)
			})
		}
	}
}

// HIGH-1, responder side: a bare SECURITY MODE REJECT, the responder's own
// SMC reflected, and PDUs under the new KNRP-sess ID that do not verify are
// discarded while it waits for the COMPLETE; the rekeying then completes.
func TestRekeyResponderDiscardsForgedRejectAndReflection(t *testing.T) {
	for _, reauth := range []bool{false, true} {
		t.Run(fmt.Sprintf("reauth=%v", reauth), func(t *testing.T) {
			pr, _ := establishedPair(t, 901, msg.SuiteX25519Ed25519)
			if err := pr.i.Rekey(pr.now, reauth); err != nil {
				t.Fatal(err)
			}
			req := pr.take(0)[0]
			if err := pr.p.Step(pr.now, req); err != nil {
				t.Fatal(err)
			}
			smc := pr.take(1)[0]
			pr.mustDiscard(t, 1, "reflected SMC", smc)
			for name, j := range junkSRB1(smc.Data) {
				pr.mustDiscard(t, 1, name, j)
			}
			if err := pr.i.Step(pr.now, smc); err != nil {
				t.Fatal(err)
			}
			pr.pump()
			mustRekeyed(t, pr, 1)
		})
	}
}

// HIGH-1, forged bare rejects on an established link without a rekeying
// in progress are discarded too (both rejects, both sides).
func TestEstablishedDiscardsBareRejects(t *testing.T) {
	pr, _ := establishedPair(t, 906, msg.SuiteP256ECDSAP256)
	smr, _ := (&msg.DirectLinkSecurityModeReject{Cause: msg.CauseIntegrityFailure}).Marshal()
	rej, _ := (&msg.DirectLinkEstablishmentReject{Cause: msg.CauseIntegrityFailure}).Marshal()
	for s := 0; s < 2; s++ {
		pr.mustDiscard(t, s, "SECURITY MODE REJECT", PDU{lcidSRB1, smr})
		pr.mustDiscard(t, s, "ESTABLISHMENT REJECT", PDU{lcidSRB0, rej})
	}
	pr.exchangeData(1)
}

// HIGH-1, a failure after the MAC-I during a rekeying (here: the peer's
// token revoked at re-authentication) is reported by a protected RELEASE
// REQUEST on SL-SRB2, never by a bare SECURITY MODE REJECT.
func TestRekeyFailureReleasesProtected(t *testing.T) {
	pr, w := establishedPair(t, 907, msg.SuiteP256ECDSAP256)
	claims := pr.i.PeerClaims()
	if err := w.list.Set(claims.Status.Index, token.StatusInvalid); err != nil {
		t.Fatal(err)
	}
	w.publishStatus(w.now.Add(-time.Minute))
	start := len(pr.log)
	if err := pr.i.Rekey(pr.now, true); err != nil {
		t.Fatal(err)
	}
	pr.pump()
	for _, x := range pr.log[start:] {
		if x.pdu.LCID == lcidSRB1 && x.pdu.Data[0]&sec.PDCPDataPDUBit == 0 {
			t.Fatalf("bare %v on SL-SRB1", msg.MessageType(x.pdu.Data[0]))
		}
	}
	ri, ok1 := findEvent[Released](pr.ev[0])
	rp, ok2 := findEvent[Released](pr.ev[1])
	if !ok1 || !ok2 || ri.Remote || !rp.Remote || ri.Cause != msg.CauseAuthenticationFailure || rp.Cause != msg.CauseAuthenticationFailure || !errors.Is(ri.Err, token.ErrRevoked) {
		t.Fatalf("Released: %+v / %+v", ri, rp)
	}
	if pr.i.State() != StateClosed || pr.p.State() != StateClosed || pr.i.Context() != nil || pr.p.Context() != nil {
		t.Fatal("context kept")
	}
}

// HIGH-1 under NEA0: the REKEYING REQUEST of a re-authentication travels in
// clear, so an attacker with a valid token of its own can answer its E_I
// with an own key share and an SMC whose MAC-I verifies. Its signature is
// not the link peer's: discarded, and the genuine SMC still completes.
func TestRekeyReauthForgedCommandUnderNEA0(t *testing.T) {
	w := newWorld(t, 908)
	pr, src, rel := stdPair(t, w, msg.SuiteP256ECDSAP256)
	pol := msg.NewUnicastSecurityPolicy(msg.PolicyRequired, msg.PolicyNotNeeded)
	for _, c := range []*Config{src.cfg, rel.cfg} {
		c.Ciphering = []sec.CipherAlg{sec.NEA0}
		c.SignallingPolicy = &pol
	}
	pr = newPair(t, src.cfg, rel.cfg, initiatorPolicy(), responderPolicy())
	pr.handshake()
	pr.mustEstablish()
	if err := pr.i.Rekey(pr.now, true); err != nil {
		t.Fatal(err)
	}
	req := pr.take(0)[0]

	// The attacker reads the REKEYING REQUEST (NEA0) and answers it.
	mallory := w.newParty("ue-mallory-0001", msg.SignatureECDSAP256SHA256, token.RoleServe, 66)
	_, body, err := sec.ParsePDU(req.Data, snSize, true)
	if err != nil {
		t.Fatal(err)
	}
	var rr msg.DirectLinkRekeyingRequest
	if err := rr.UnmarshalBinary(body); err != nil {
		t.Fatal(err)
	}
	var ki msg.KeyEstInit
	if err := ki.UnmarshalBinary(rr.KeyEstInfo); err != nil {
		t.Fatal(err)
	}
	suite, sel := pr.i.suite, pr.i.algs
	eph, err := newEphemeral(suite, seeded(67))
	if err != nil {
		t.Fatal(err)
	}
	z, err := eph.shared(suite, ki.EphemeralPublicKey)
	if err != nil {
		t.Fatal(err)
	}
	thReq := sha256.Sum256(body)
	var nonce2 [msg.NonceLen]byte
	lsb := uint8(0x5a)
	fields := smcFields(eph.pub, &nonce2, lsb, sel, ki.EphemeralPublicKey)
	knrp, err := deriveKNRP(z, &rr.Nonce1, &thReq, fields)
	if err != nil {
		t.Fatal(err)
	}
	ctx, e := newContext(&knrp, &rr.Nonce1, &nonce2, sel, sec.NewKNRPSessID(rr.KNRPSessIDMSB, lsb), false, 0, nil)
	if e != nil {
		t.Fatal(e)
	}
	sig, err := sign(mallory.key, suite.SignatureAlgorithm(), nil, responderSigInput(&thReq, fields))
	if err != nil {
		t.Fatal(err)
	}
	keic, err := (&msg.KeyEstResponse{Suite: suite, EphemeralPublicKey: eph.pub, TokenFormat: msg.TokenCWT, Token: mallory.cfg.Token, Signature: sig}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	msbs := uint16(0xbeef)
	octets, err := (&msg.DirectLinkSecurityModeCommand{
		UESecurityCapabilities: rr.UESecurityCapabilities, Nonce2: nonce2, SelectedAlgorithms: sel,
		SignallingSecurityPolicy: pr.i.estPolicy, KNRPSessIDLSB: lsb, KeyEstInfo: keic, KNRPIDMSBs: &msbs,
	}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	forged, err := ctx.ProtectNoCipher(nil, lcidSRB1, octets)
	if err != nil {
		t.Fatal(err)
	}
	pr.mustDiscard(t, 0, "SMC of another token holder", PDU{lcidSRB1, forged})

	if err := pr.p.Step(pr.now, req); err != nil {
		t.Fatal(err)
	}
	pr.pump()
	mustRekeyed(t, pr, 1)
}

// LOW-1: during establishment, junk and forged SMCs at the initiator
// waiting for the SMC, and junk or its own SMC reflected at the responder
// waiting for the COMPLETE, are discarded; the genuine messages that follow
// establish the link.
func TestHandshakeDiscardsUnauthenticatedSRB1(t *testing.T) {
	w := newWorld(t, 903)
	pr, _, _ := stdPair(t, w, msg.SuiteP256ECDSAP256)
	if err := pr.i.Start(pr.now); err != nil {
		t.Fatal(err)
	}
	req := pr.take(0)[0]
	for name, j := range junkSRB1(nil) {
		if msg.MessageType(j.Data[0]) == msg.MsgSecurityModeReject {
			continue // a bare reject still aborts a handshake (as in 3GPP)
		}
		pr.mustDiscard(t, 0, name, j)
	}
	if err := pr.p.Step(pr.now, req); err != nil {
		t.Fatal(err)
	}
	smc := pr.take(1)[0]
	for name, j := range junkSRB1(smc.Data) {
		if msg.MessageType(j.Data[0]) == msg.MsgSecurityModeReject {
			continue
		}
		pr.mustDiscard(t, 0, name, j)
		pr.mustDiscard(t, 1, name, j)
	}
	pr.mustDiscard(t, 1, "reflected SMC", smc)
	if err := pr.i.Step(pr.now, smc); err != nil {
		t.Fatalf("genuine SMC after the forgeries: %v", err)
	}
	pr.pump()
	pr.mustEstablish()
	pr.exchangeData(1)
}

// LOW-1: a handshake whose SMC is discarded is not stuck: the initiator's
// T5080 retransmission makes the responder resend the SMC, which completes.
func TestHandshakeRecoversAfterDiscardedCommand(t *testing.T) {
	w := newWorld(t, 909)
	pr, _, _ := stdPair(t, w, msg.SuiteX25519Ed25519)
	tampered := false
	pr.filter = func(fromI bool, n int, p PDU) []PDU {
		if !fromI && p.LCID == lcidSRB1 && !tampered {
			tampered = true
			d := bytes.Clone(p.Data)
			d[len(d)-1] ^= 0x01 // the MAC-I
			return []PDU{{p.LCID, d}}
		}
		return []PDU{p}
	}
	pr.handshake()
	if pr.i.State() != StateRequestSent || pr.p.State() != StateCommandSent {
		t.Fatalf("states %v / %v", pr.i.State(), pr.p.State())
	}
	pr.advance(msg.T5080.Default()+time.Second, time.Second)
	pr.mustEstablish()
	pr.exchangeData(1)
}

// LOW-2: the initiator checks its own user plane policy against the
// selection. A responder that selects NEA0 (allowed by both signalling
// policies) for an initiator whose UP policy REQUIRES ciphering is refused
// with #12 by the initiator itself, whatever the responder checks.
func TestInitiatorChecksOwnUPPolicy(t *testing.T) {
	w := newWorld(t, 904)
	src := w.newParty(nameSource, msg.SignatureECDSAP256SHA256, token.RoleUse, 1)
	rel := w.newParty(nameRelay, msg.SignatureECDSAP256SHA256, token.RoleServe, 2)
	sig := msg.NewUnicastSecurityPolicy(msg.PolicyRequired, msg.PolicyNotNeeded)
	up := msg.NewUnicastSecurityPolicy(msg.PolicyRequired, msg.PolicyRequired)
	relUP := msg.NewUnicastSecurityPolicy(msg.PolicyRequired, msg.PolicyNotNeeded)
	src.cfg.SignallingPolicy, src.cfg.UPPolicy = &sig, &up
	src.cfg.Ciphering = []sec.CipherAlg{sec.NEA2, sec.NEA0}
	rel.cfg.SignallingPolicy, rel.cfg.UPPolicy = &sig, &relUP
	rel.cfg.Ciphering = []sec.CipherAlg{sec.NEA0}
	pr := newPair(t, src.cfg, rel.cfg, initiatorPolicy(), responderPolicy())
	pr.handshake()
	r := checkRejected(t, pr, msg.CauseSecurityPolicyNotAligned, 0)
	if !errors.Is(r.Err, ErrUPPolicy) {
		t.Fatalf("Rejected.Err = %v", r.Err)
	}
	for _, x := range pr.log {
		if x.fromI && x.pdu.LCID == lcidSRB1 && x.pdu.Data[0]&sec.PDCPDataPDUBit != 0 {
			t.Fatal("the initiator sent a SECURITY MODE COMPLETE")
		}
	}
}

// LOW-4: a paused responder is supervised by TimerPause; when it runs out
// the responder rejects the initiator with #4 and keeps no key.
func TestPausedResponderTimesOut(t *testing.T) {
	for _, pause := range []time.Duration{0, 20 * time.Second} {
		t.Run(fmt.Sprintf("pause=%s", pause), func(t *testing.T) {
			w := newWorld(t, 905)
			src := w.newParty(nameSource, msg.SignatureECDSAP256SHA256, token.RoleUse, 1)
			rel := w.newParty(nameRelay, msg.SignatureECDSAP256SHA256, token.RoleServe, 2)
			rel.cfg.Timers.Pause = pause
			pp := responderPolicy()
			pp.PauseBeforeAccept = true
			pr := newPair(t, src.cfg, rel.cfg, initiatorPolicy(), pp)
			pr.handshake()
			if pr.p.State() != StatePaused {
				t.Fatalf("state %v", pr.p.State())
			}
			want := pause
			if want == 0 {
				want = time.Duration(msg.T5080.MaxRetransmissions()+1) * msg.T5080.Default()
			}
			if d, ok := pr.p.NextDeadline(); !ok || !d.Equal(pr.now.Add(want)) {
				t.Fatalf("paused responder: deadline %v %v, want %v", d, ok, pr.now.Add(want))
			}
			pr.advance(want, time.Second)
			rp := checkRejectedSide(t, pr, 1, causePauseExpired, false)
			if !errors.Is(rp.Err, ErrTimeout) {
				t.Fatalf("Rejected.Err = %v", rp.Err)
			}
			if pause != 0 { // the initiator, still waiting, hears the reject
				checkRejectedSide(t, pr, 0, causePauseExpired, true)
			}
			if err := pr.p.Accept(pr.now, AcceptParams{}); !errors.Is(err, ErrState) {
				t.Fatalf("Accept after the pause ran out: %v", err)
			}
		})
	}
}

// LOW-5 (i): before the COMPLETE has authenticated the initiator, a
// responder answers a REQUEST for a target or RSC it does not serve (or
// from a source it does not expect) exactly as one it serves: with an SMC
// of the same length. The specific cause (#1, #11) reaches only an
// authenticated initiator, after its COMPLETE.
func TestNoPresenceOracleBeforeAuthentication(t *testing.T) {
	w := newWorld(t, 910)
	src := w.newParty(nameSource, msg.SignatureECDSAP256SHA256, token.RoleUse, 1)
	rel := w.newParty(nameRelay, msg.SignatureECDSAP256SHA256, token.RoleServe, 2)
	policies := map[string]struct {
		pp    Policy
		cause msg.Cause
	}{
		"served":              {responderPolicy(), 0},
		"target not served":   {Policy{RSC: testRSC, PeerRole: token.RoleUse}, msg.CauseDirectCommunicationNotAllowed},
		"RSC not served":      {Policy{RSC: testRSC + 1, PeerRole: token.RoleUse, AcceptTarget: func([]byte) bool { return true }}, msg.CauseRequiredServiceNotAllowed},
		"source not expected": {Policy{RSC: testRSC, PeerRole: token.RoleUse, PeerUserInfo: []byte("ue-other-000001"), AcceptTarget: func([]byte) bool { return true }}, msg.CauseDirectCommunicationNotAllowed},
	}
	smcLen := -1
	for name, c := range policies {
		t.Run(name, func(t *testing.T) {
			src.cfg.Rand, rel.cfg.Rand = seeded(1), seeded(2)
			pr := newPair(t, src.cfg, rel.cfg, initiatorPolicy(), c.pp)
			pr.handshake()
			if len(pr.log) < 2 || pr.log[1].pdu.LCID != lcidSRB1 || pr.log[1].pdu.Data[0]&sec.PDCPDataPDUBit == 0 {
				t.Fatalf("the REQUEST was not answered with an SMC: %v", pr.log)
			}
			if smcLen >= 0 && len(pr.log[1].pdu.Data) != smcLen {
				t.Fatalf("SMC of %d octets, %d when served", len(pr.log[1].pdu.Data), smcLen)
			}
			smcLen = len(pr.log[1].pdu.Data)
			if c.cause == 0 {
				pr.mustEstablish()
				return
			}
			r := checkRejected(t, pr, c.cause, 1)
			if !errors.Is(r.Err, ErrNotAllowed) {
				t.Fatalf("Rejected.Err = %v", r.Err)
			}
			if len(pr.log) != 4 || messageName(pr.log[2].pdu) != "PDCP" || msg.MessageType(pr.log[3].pdu.Data[0]) != msg.MsgEstablishmentReject {
				t.Fatalf("the reject did not follow an authenticated COMPLETE: %d PDUs", len(pr.log))
			}
		})
	}
}

// LOW-5 (ii): a REQUEST repeated (replayed) makes the responder resend its
// SMC at most as often as a genuine initiator retransmits (T5080
// retransmissions); further copies are discarded.
func TestCommandResendCap(t *testing.T) {
	w := newWorld(t, 911)
	pr, _, _ := stdPair(t, w, msg.SuiteP256ECDSAP256)
	if err := pr.i.Start(pr.now); err != nil {
		t.Fatal(err)
	}
	req := pr.take(0)[0]
	if err := pr.p.Step(pr.now, req); err != nil {
		t.Fatal(err)
	}
	smc := pr.take(1)[0]
	max := msg.T5080.MaxRetransmissions()
	for k := 1; k <= max+5; k++ {
		err := pr.p.Step(pr.now, req)
		sent := pr.take(1)
		if k <= max {
			if err != nil || len(sent) != 1 || !bytes.Equal(sent[0].Data, smc.Data) {
				t.Fatalf("copy %d: %v, sent %d", k, err, len(sent))
			}
			continue
		}
		if !errors.Is(err, ErrDiscarded) || len(sent) != 0 {
			t.Fatalf("copy %d: %v, sent %d PDUs", k, err, len(sent))
		}
	}
	// The genuine exchange still completes.
	if err := pr.i.Step(pr.now, smc); err != nil {
		t.Fatal(err)
	}
	pr.pump()
	pr.mustEstablish()
}
