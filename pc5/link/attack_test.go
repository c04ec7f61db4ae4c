package link

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prosesec/prosesec/pc5/msg"
	"github.com/prosesec/prosesec/pc5/sec"
	"github.com/prosesec/prosesec/token"
)

// checkRejectedSide checks that side s ended with Rejected{cause, remote},
// never established, holds no context and no handshake secrets.
func checkRejectedSide(t testing.TB, pr *pair, s int, cause msg.Cause, remote bool) Rejected {
	t.Helper()
	l := pr.side(s)
	r, ok := findEvent[Rejected](pr.ev[s])
	if !ok {
		t.Fatalf("side %d: no Rejected (state %v, events %v, errs %v)", s, l.State(), pr.ev[s], pr.errs[s])
	}
	if r.Cause != cause || r.Remote != remote {
		t.Fatalf("side %d: Rejected %v remote=%v (%v), want %v remote=%v", s, r.Cause, r.Remote, r.Err, cause, remote)
	}
	if n := countEvents[Established](pr.ev[s]); n != 0 {
		t.Fatalf("side %d: %d Established events", s, n)
	}
	if l.State() != StateClosed || l.Context() != nil || l.hs != nil || l.cur != nil || l.knrp != (sec.KNRP{}) {
		t.Fatalf("side %d: state %v, context or secrets kept", s, l.State())
	}
	return r
}

// checkRejected checks the detector's local rejection and the peer's
// remote one.
func checkRejected(t testing.TB, pr *pair, cause msg.Cause, detector int) Rejected {
	t.Helper()
	r := checkRejectedSide(t, pr, detector, cause, false)
	checkRejectedSide(t, pr, 1-detector, cause, true)
	var e *Error
	if !errors.As(r.Err, &e) || e.Cause != cause || !strings.HasPrefix(e.Error(), "pc5/link: ") {
		t.Fatalf("Rejected.Err = %v, want a *Error with %v", r.Err, cause)
	}
	if errors.Is(r.Err, ErrLocal) {
		return r
	}
	if len(pr.errs[detector]) == 0 || !errors.As(pr.errs[detector][len(pr.errs[detector])-1], &e) {
		t.Fatalf("Step at the detector returned %v", pr.errs[detector])
	}
	return r
}

// checkTimedOut is for a handshake whose decisive PDU was discarded because
// nothing authenticated it (docs/protocol.md §7, "Discard before the
// MAC-I"): right after the exchange neither side has failed or
// established, the discarding side's Step errors wrap ErrDiscarded and
// kind; then the virtual clock runs the timers out and both sides end
// locally (the initiator with #5 after T5080, the responder with #4 after
// TimerSecurityMode), never established and holding no context.
func checkTimedOut(t testing.TB, pr *pair, discarder int, kind error) {
	t.Helper()
	for s := 0; s < 2; s++ {
		if _, ok := findEvent[Rejected](pr.ev[s]); ok {
			t.Fatalf("side %d: rejected before the timers ran out: %v", s, pr.ev[s])
		}
		if n := countEvents[Established](pr.ev[s]); n != 0 {
			t.Fatalf("side %d: %d Established events", s, n)
		}
	}
	errs := pr.errs[discarder]
	if len(errs) == 0 {
		t.Fatalf("side %d discarded nothing", discarder)
	}
	for _, err := range errs {
		var e *Error
		if !errors.Is(err, ErrDiscarded) || errors.As(err, &e) || (kind != nil && !errors.Is(err, kind)) {
			t.Fatalf("side %d: Step returned %v, want a discard wrapping %v", discarder, err, kind)
		}
	}
	pr.advance(40*time.Second, time.Second)
	ri := checkRejectedSide(t, pr, 0, causeT5080Exhausted, false)
	rp := checkRejectedSide(t, pr, 1, causeNoResponse, false)
	if !errors.Is(ri.Err, ErrTimeout) || !errors.Is(rp.Err, ErrTimeout) {
		t.Fatalf("Rejected: %v / %v, want timeouts", ri.Err, rp.Err)
	}
}

// discarded in the cause column of TestAttacks: the detector discards the
// PDU, which fails before its MAC-I verifies, and the handshake ends when
// the timers run out (checkTimedOut).
const discarded msg.Cause = 0

type attack struct {
	w        *world
	src, rel *party
	ip, pp   Policy
	filter   func(pr *pair, fromI bool, n int, p PDU) []PDU
}

// reprotectSMC rebuilds the SMC as a responder holding the keys would:
// decode, modify, re-protect with the responder's own context.
func reprotectSMC(t testing.TB, pr *pair, p PDU, mod func(*msg.DirectLinkSecurityModeCommand)) PDU {
	_, body, err := sec.ParsePDU(p.Data, snSize, true)
	if err != nil {
		t.Fatal(err)
	}
	var smc msg.DirectLinkSecurityModeCommand
	if err := smc.UnmarshalBinary(body); err != nil {
		t.Fatal(err)
	}
	mod(&smc)
	octets, err := smc.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out, err := pr.p.hs.ctx.ProtectNoCipher(nil, lcidSRB1, octets)
	if err != nil {
		t.Fatal(err)
	}
	return PDU{LCID: p.LCID, Data: out}
}

func TestAttacks(t *testing.T) {
	other := func(a *attack) *token.Signer {
		s, err := token.NewSigner("https://evil.example", "k1", ecdsaKey(t, seeded(666)))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	cases := []struct {
		name     string
		setup    func(a *attack)
		cause    msg.Cause
		detector int
		err      error
	}{
		{"expired token", func(a *attack) {
			a.w.reissue(a.rel, func(c *token.Claims) { c.IssuedAt, c.Expiry = a.w.now.Add(-2*time.Hour), a.w.now.Add(-time.Hour) })
		}, msg.CauseAuthenticationFailure, 0, token.ErrExpired},
		{"not-yet-valid token", func(a *attack) {
			a.w.reissue(a.rel, func(c *token.Claims) { c.NotBefore, c.Expiry = a.w.now.Add(time.Hour), a.w.now.Add(2*time.Hour) })
		}, msg.CauseAuthenticationFailure, 0, token.ErrNotYetValid},
		{"unknown issuer", func(a *attack) {
			raw, err := other(a).Sign(a.rel.claims, token.CWT)
			if err != nil {
				t.Fatal(err)
			}
			a.rel.cfg.Token = raw
		}, msg.CauseAuthenticationFailure, 0, token.ErrUnknownIssuer},
		{"forged signature", func(a *attack) {
			tok := bytes.Clone(a.rel.cfg.Token)
			tok[len(tok)-1] ^= 0x01
			a.rel.cfg.Token = tok
		}, msg.CauseAuthenticationFailure, 0, token.ErrBadSignature},
		{"alg none (JWT)", func(a *attack) {
			jwt := string(a.w.sign(a.rel.claims, token.JWT))
			payload := strings.Split(jwt, ".")[1]
			hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt","kid":"k1"}`))
			a.rel.cfg.Token, a.rel.cfg.TokenFormat = []byte(hdr+"."+payload+"."), msg.TokenJWT
		}, msg.CauseAuthenticationFailure, 0, nil},
		{"another UE's token, bytes intact", func(a *attack) {
			thief := a.w.newParty(nameRelay, msg.SignatureECDSAP256SHA256, token.RoleServe, 77)
			thief.cfg.Token = a.rel.cfg.Token
			a.rel = thief
		}, msg.CauseAuthenticationFailure, 0, ErrTranscriptSignature},
		{"token without cnf", func(a *attack) {
			a.w.reissue(a.rel, func(c *token.Claims) { c.Confirmation = nil })
		}, msg.CauseAuthenticationFailure, 0, ErrUnboundToken},
		{"end-UE token (use) from a relay", func(a *attack) {
			a.w.reissue(a.rel, func(c *token.Claims) { c.Scopes = []token.Scope{{Role: token.RoleUse, RSC: testRSC}} })
		}, msg.CauseRequiredServiceNotAllowed, 0, token.ErrScopeNotGranted},
		{"relay token (serve) from an end UE", func(a *attack) {
			a.w.reissue(a.src, func(c *token.Claims) { c.Scopes = []token.Scope{{Role: token.RoleServe, RSC: testRSC}} })
		}, msg.CauseRequiredServiceNotAllowed, 1, token.ErrScopeNotGranted},
		{"wrong RSC", func(a *attack) {
			a.w.reissue(a.rel, func(c *token.Claims) { c.Scopes = []token.Scope{{Role: token.RoleServe, RSC: testRSC + 1}} })
		}, msg.CauseRequiredServiceNotAllowed, 0, token.ErrScopeNotGranted},
		{"revoked", func(a *attack) {
			if err := a.w.list.Set(a.rel.claims.Status.Index, token.StatusInvalid); err != nil {
				t.Fatal(err)
			}
			a.w.publishStatus(a.w.now.Add(-30 * time.Minute))
		}, msg.CauseAuthenticationFailure, 0, token.ErrRevoked},
		{"status list too old", func(a *attack) {
			c := token.NewStatusCache(30 * time.Minute)
			c.Put(a.w.cache.Get(testListURI)) // issued an hour ago
			a.src.cfg.Verifier = a.w.newVerifier(c)
		}, msg.CauseAuthenticationFailure, 0, token.ErrStatusListStale},
		{"status list missing", func(a *attack) {
			a.src.cfg.Verifier = a.w.newVerifier(token.NewStatusCache(0))
		}, msg.CauseAuthenticationFailure, 0, token.ErrStatusListMissing},
		{"wrong audience", func(a *attack) {
			a.w.reissue(a.rel, func(c *token.Claims) { c.Audience = []string{"other"} })
		}, msg.CauseAuthenticationFailure, 0, token.ErrWrongAudience},
		{"responder sub is not the addressed peer", func(a *attack) {
			a.w.reissue(a.rel, func(c *token.Claims) { c.Subject = "ue-relay-000002" })
		}, msg.CauseAuthenticationFailure, 0, token.ErrWrongSubject},
		{"initiator sub is not the source user info", func(a *attack) {
			a.w.reissue(a.src, func(c *token.Claims) { c.Subject = "ue-someone-else" })
		}, msg.CauseAuthenticationFailure, 1, token.ErrWrongSubject},
		{"initiator token expired", func(a *attack) {
			a.w.reissue(a.src, func(c *token.Claims) { c.IssuedAt, c.Expiry = a.w.now.Add(-2*time.Hour), a.w.now.Add(-time.Minute) })
		}, msg.CauseAuthenticationFailure, 1, token.ErrExpired},
		{"tampered SECURITY MODE COMMAND", func(a *attack) {
			a.filter = func(pr *pair, fromI bool, n int, p PDU) []PDU {
				if !fromI && p.LCID == lcidSRB1 {
					d := bytes.Clone(p.Data)
					d[10] ^= 0x80 // inside Nonce_2
					return []PDU{{p.LCID, d}}
				}
				return []PDU{p}
			}
		}, discarded, 0, ErrIntegrity},
		{"capabilities changed in the replay", func(a *attack) {
			a.filter = func(pr *pair, fromI bool, n int, p PDU) []PDU {
				if !fromI && p.LCID == lcidSRB1 {
					return []PDU{reprotectSMC(t, pr, p, func(m *msg.DirectLinkSecurityModeCommand) { m.UESecurityCapabilities.EA &^= msg.SecCapEA3 })}
				}
				return []PDU{p}
			}
		}, msg.CauseUESecurityCapabilitiesMismatch, 0, ErrCapabilities},
		{"policy changed in the replay", func(a *attack) {
			a.filter = func(pr *pair, fromI bool, n int, p PDU) []PDU {
				if !fromI && p.LCID == lcidSRB1 {
					return []PDU{reprotectSMC(t, pr, p, func(m *msg.DirectLinkSecurityModeCommand) {
						m.SignallingSecurityPolicy = msg.NewUnicastSecurityPolicy(msg.PolicyPreferred, msg.PolicyPreferred)
					})}
				}
				return []PDU{p}
			}
		}, msg.CauseSignallingSecurityPolicyMismatch, 0, ErrPolicy},
		{"capabilities stripped from the REQUEST in flight (bidding down)", func(a *attack) {
			a.filter = func(pr *pair, fromI bool, n int, p PDU) []PDU {
				if fromI && p.LCID == lcidSRB0 {
					var req msg.DirectLinkEstablishmentRequest
					if err := req.UnmarshalBinary(p.Data); err != nil {
						t.Fatal(err)
					}
					req.UESecurityCapabilities = msg.NewUESecurityCapabilities([]uint8{1}, []uint8{1})
					d, _ := req.Marshal()
					return []PDU{{p.LCID, d}}
				}
				return []PDU{p}
			}
		}, discarded, 0, ErrIntegrity},
		{"selected algorithm not offered", func(a *attack) {
			a.filter = func(pr *pair, fromI bool, n int, p PDU) []PDU {
				if !fromI && p.LCID == lcidSRB1 {
					return []PDU{reprotectSMC(t, pr, p, func(m *msg.DirectLinkSecurityModeCommand) { m.SelectedAlgorithms = msg.NewSelectedAlgorithms(5, 2) })}
				}
				return []PDU{p}
			}
		}, discarded, 0, ErrCapabilities},
		{"policy mismatch at the responder", func(a *attack) {
			p := msg.NewUnicastSecurityPolicy(msg.PolicyRequired, msg.PolicyRequired)
			a.src.cfg.SignallingPolicy = &p
			q := msg.NewUnicastSecurityPolicy(msg.PolicyNotNeeded, msg.PolicyRequired)
			a.rel.cfg.SignallingPolicy = &q
		}, msg.CauseSignallingSecurityPolicyMismatch, 1, ErrPolicy},
		{"suite not accepted", func(a *attack) {
			a.src = a.w.newParty(nameSource, msg.SignatureECDSAP256SHA256, token.RoleUse, 5)
			a.src.cfg.Suites = []msg.Suite{msg.SuiteX25519ECDSAP256}
			a.rel.cfg.Suites = []msg.Suite{msg.SuiteP256ECDSAP256}
		}, msg.CauseAuthenticationFailure, 1, ErrSuite},
		{"target not served", func(a *attack) { a.pp.AcceptTarget = nil }, msg.CauseDirectCommunicationNotAllowed, 1, ErrNotAllowed},
		{"RSC not served", func(a *attack) { a.pp.RSC = testRSC + 1 }, msg.CauseRequiredServiceNotAllowed, 1, ErrNotAllowed},
		{"no common algorithm", func(a *attack) {
			a.src.cfg.Ciphering = []sec.CipherAlg{sec.NEA1}
			a.rel.cfg.Ciphering = []sec.CipherAlg{sec.NEA2}
		}, msg.CauseUESecurityCapabilitiesMismatch, 1, ErrCapabilities},
		{"LSB makes a KNRP-sess ID in use", func(a *attack) {
			a.filter = func(pr *pair, fromI bool, n int, p PDU) []PDU {
				if !fromI && p.LCID == lcidSRB1 {
					hdr, _, _ := sec.ParsePDU(p.Data, snSize, true)
					pr.i.cfg.KNRPSessIDInUse = func(id sec.KNRPSessID) bool { return id == hdr.SessID }
				}
				return []PDU{p}
			}
		}, msg.CauseLSBOfKNRPSessIDConflict, 0, ErrKNRPSessIDConflict},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, 100)
			a := &attack{w: w, ip: initiatorPolicy(), pp: responderPolicy()}
			a.src = w.newParty(nameSource, msg.SignatureECDSAP256SHA256, token.RoleUse, 1)
			a.rel = w.newParty(nameRelay, msg.SignatureECDSAP256SHA256, token.RoleServe, 2)
			tc.setup(a)
			pr := newPair(t, a.src.cfg, a.rel.cfg, a.ip, a.pp)
			if a.filter != nil {
				pr.filter = func(fromI bool, n int, p PDU) []PDU { return a.filter(pr, fromI, n, p) }
			}
			pr.handshake()
			if tc.cause == discarded {
				checkTimedOut(t, pr, tc.detector, tc.err)
				return
			}
			r := checkRejected(t, pr, tc.cause, tc.detector)
			if tc.err != nil && !errors.Is(r.Err, tc.err) {
				t.Fatalf("Rejected.Err = %v, want %v", r.Err, tc.err)
			}
			t.Logf("%v", r.Err)
		})
	}
}

// A SECURITY MODE COMMAND from an earlier handshake cannot complete a new
// one: its KNRP-sess ID or, with the same ID, its MAC-I (keys from other
// nonces and ephemeral keys) does not verify, so the initiator discards it
// and the handshake ends when the timers run out.
func TestReplayCommandIntoNewHandshake(t *testing.T) {
	w := newWorld(t, 101)
	pr1, src, rel := stdPair(t, w, msg.SuiteP256ECDSAP256)
	pr1.handshake()
	pr1.mustEstablish()
	oldSMC := pr1.log[1].pdu
	if oldSMC.LCID != lcidSRB1 {
		t.Fatalf("log[1] on LCID %d", oldSMC.LCID)
	}
	for _, sameMSB := range []bool{false, true} {
		pr := newPair(t, src.cfg, rel.cfg, initiatorPolicy(), responderPolicy())
		if sameMSB { // make the new handshake use the old MSB, so that only the MAC can tell
			hdr, _, _ := sec.ParsePDU(oldSMC.Data, snSize, true)
			pr.filter = func(fromI bool, n int, p PDU) []PDU {
				if n == 0 {
					pr.i.hs.msb = hdr.SessID.MSB()
				}
				if !fromI && p.LCID == lcidSRB1 {
					return []PDU{oldSMC}
				}
				return []PDU{p}
			}
		} else {
			pr.filter = func(fromI bool, n int, p PDU) []PDU {
				if !fromI && p.LCID == lcidSRB1 {
					return []PDU{oldSMC}
				}
				return []PDU{p}
			}
		}
		pr.handshake()
		checkTimedOut(t, pr, 0, ErrIntegrity)
	}
}

// A SECURITY MODE COMPLETE from an earlier handshake, sent after the old
// REQUEST replayed to a fresh responder, does not verify under the new
// keys: discarded, and the responder gives up when TimerSecurityMode runs
// out (#4), never established, holding nothing.
func TestReplayCompleteIntoNewHandshake(t *testing.T) {
	w := newWorld(t, 102)
	pr1, _, rel := stdPair(t, w, msg.SuiteX25519Ed25519)
	pr1.handshake()
	pr1.mustEstablish()
	oldReq, oldComplete := pr1.log[0].pdu, pr1.log[2].pdu
	p2, err := NewResponder(rel.cfg, responderPolicy())
	if err != nil {
		t.Fatal(err)
	}
	if err := p2.Step(testNow, oldReq); err != nil {
		t.Fatal(err)
	}
	p2.Ready()
	err = p2.Step(testNow, oldComplete)
	var e *Error
	if !errors.Is(err, ErrDiscarded) || !errors.Is(err, ErrIntegrity) || errors.As(err, &e) {
		t.Fatalf("replayed COMPLETE: %v", err)
	}
	if rd := p2.Ready(); len(rd.Send) != 0 || len(rd.Events) != 0 || p2.State() != StateCommandSent {
		t.Fatalf("replayed COMPLETE: state %v, output %+v", p2.State(), rd)
	}
	for now := testNow; now.Before(testNow.Add(4*DefaultSecurityMode + time.Second)); now = now.Add(time.Second) {
		p2.Tick(now)
	}
	rd := p2.Ready()
	if _, ok := findEvent[Established](rd.Events); ok || p2.State() != StateClosed || p2.Context() != nil {
		t.Fatal("replayed COMPLETE established a link")
	}
	if r, ok := findEvent[Rejected](rd.Events); !ok || r.Cause != causeNoResponse || !errors.Is(r.Err, ErrTimeout) {
		t.Fatalf("events %v", rd.Events)
	}
	// The same COMPLETE replayed into the established responder of the
	// first handshake only makes it resend its ACCEPT.
	if err := pr1.p.Step(testNow, oldComplete); err != nil {
		t.Fatal(err)
	}
	if rd := pr1.p.Ready(); len(rd.Send) != 1 || rd.Send[0].LCID != lcidSRB2 || len(rd.Events) != 0 {
		t.Fatalf("resend: %+v", rd)
	}
}

// A forged REJECT after the link is up is ignored; protected PDUs that do
// not verify are discarded without harm.
func TestEstablishedIgnoresForgeries(t *testing.T) {
	w := newWorld(t, 103)
	pr, _, _ := stdPair(t, w, msg.SuiteP256ECDSAP256)
	pr.handshake()
	pr.mustEstablish()
	rej, _ := (&msg.DirectLinkEstablishmentReject{Cause: msg.CauseAuthenticationFailure}).Marshal()
	smr, _ := (&msg.DirectLinkSecurityModeReject{Cause: msg.CauseAuthenticationFailure}).Marshal()
	for _, in := range []PDU{{0, rej}, {1, smr}, {2, []byte{0x80, 0, 0, 0, 0, 0, 0, 0, 0}}, {1, []byte{0x80, 1, 2, 3, 4, 5, 6, 7, 8}}, {7, []byte{1}}} {
		for _, l := range []*Link{pr.i, pr.p} {
			if err := l.Step(pr.now, in); !errors.Is(err, ErrDiscarded) {
				t.Fatalf("%v: %v", in, err)
			}
		}
	}
	pr.exchangeData(1)
}
