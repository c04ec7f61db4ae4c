package link

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/prosesec/prosesec/pc5/msg"
	"github.com/prosesec/prosesec/pc5/sec"
	"github.com/prosesec/prosesec/token"
)

var testSuites = []msg.Suite{msg.SuiteP256ECDSAP256, msg.SuiteX25519Ed25519, msg.SuiteX25519ECDSAP256, msg.SuiteP256Ed25519}

// stdPair makes S (initiator) and R (responder) for suite s.
func stdPair(t testing.TB, w *world, s msg.Suite) (*pair, *party, *party) {
	t.Helper()
	src := w.newParty(nameSource, suiteAlg(s), token.RoleUse, 1)
	rel := w.newParty(nameRelay, suiteAlg(s), token.RoleServe, 2)
	src.cfg.Suites = []msg.Suite{s}
	return newPair(t, src.cfg, rel.cfg, initiatorPolicy(), responderPolicy()), src, rel
}

func TestHandshakeAllSuitesAndAlgorithms(t *testing.T) {
	w := newWorld(t, 1)
	for _, s := range testSuites {
		for nea := sec.NEA0; nea <= sec.NEA3; nea++ {
			for nia := sec.NIA0; nia <= sec.NIA3; nia++ {
				t.Run(fmt.Sprintf("%v/%v/%v", s, nea, nia), func(t *testing.T) {
					src := w.newParty(nameSource, suiteAlg(s), token.RoleUse, uint64(nea)*16+uint64(nia))
					rel := w.newParty(nameRelay, suiteAlg(s), token.RoleServe, 99)
					src.cfg.Suites = []msg.Suite{s}
					integ, ciph := msg.PolicyRequired, msg.PolicyRequired
					if nia == sec.NIA0 {
						integ = msg.PolicyNotNeeded
					}
					if nea == sec.NEA0 {
						ciph = msg.PolicyNotNeeded
					}
					pol := msg.NewUnicastSecurityPolicy(integ, ciph)
					for _, c := range []*Config{src.cfg, rel.cfg} {
						c.Ciphering = []sec.CipherAlg{nea}
						c.Integrity = []sec.IntegrityAlg{nia}
						c.SignallingPolicy = &pol
					}
					pr := newPair(t, src.cfg, rel.cfg, initiatorPolicy(), responderPolicy())
					pr.handshake()
					ei, ep := pr.mustEstablish()
					want := msg.NewSelectedAlgorithms(uint8(nea), uint8(nia))
					if ei.Security.Algorithms != want || ep.Security.Algorithms != want {
						t.Fatalf("algorithms %v / %v, want %v", ei.Security.Algorithms, ep.Security.Algorithms, want)
					}
					if ei.Security.KNRPSessID != ep.Security.KNRPSessID || ei.Security.KNRPID != ep.Security.KNRPID || ei.Security.Suite != s {
						t.Fatalf("security differs: %+v / %+v", ei.Security, ep.Security)
					}
					if !ei.Security.Initiator || ep.Security.Initiator {
						t.Fatalf("initiator flags %v / %v", ei.Security.Initiator, ep.Security.Initiator)
					}
					if string(ep.PeerUserInfo) != nameSource || string(ei.PeerUserInfo) != nameRelay || string(ep.TargetUserInfo) != nameTarget {
						t.Fatalf("user infos: I sees %q, P sees %q target %q", ei.PeerUserInfo, ep.PeerUserInfo, ep.TargetUserInfo)
					}
					if ei.PeerClaims.Subject != nameRelay || ep.PeerClaims.Subject != nameSource || ei.RSC != testRSC || ep.RSC != testRSC {
						t.Fatalf("claims/RSC: %q %q %v %v", ei.PeerClaims.Subject, ep.PeerClaims.Subject, ei.RSC, ep.RSC)
					}
					if ei.Accept.UPProtection != upConfig(want) {
						t.Fatalf("UP protection %v", ei.Accept.UPProtection)
					}
					pr.exchangeData(3)
				})
			}
		}
	}
}

// NIA0 is never selected when a policy needs integrity, NEA0 never when one
// requires ciphering; a policy conflict is #10 at the responder.
func TestNullAlgorithmPolicy(t *testing.T) {
	w := newWorld(t, 2)
	src := w.newParty(nameSource, msg.SignatureECDSAP256SHA256, token.RoleUse, 1)
	rel := w.newParty(nameRelay, msg.SignatureECDSAP256SHA256, token.RoleServe, 2)
	src.cfg.Integrity = []sec.IntegrityAlg{sec.NIA0, sec.NIA2}
	src.cfg.Ciphering = []sec.CipherAlg{sec.NEA0, sec.NEA2}
	rel.cfg.Integrity = []sec.IntegrityAlg{sec.NIA0, sec.NIA2}
	rel.cfg.Ciphering = []sec.CipherAlg{sec.NEA0, sec.NEA2}
	preferred := msg.NewUnicastSecurityPolicy(msg.PolicyPreferred, msg.PolicyPreferred)
	src.cfg.SignallingPolicy = &preferred
	pr := newPair(t, src.cfg, rel.cfg, initiatorPolicy(), responderPolicy())
	pr.handshake()
	ei, _ := pr.mustEstablish()
	if got := ei.Security.Algorithms; got != msg.NewSelectedAlgorithms(2, 2) {
		t.Fatalf("selected %v, want NEA2/NIA2 (null not allowed unless both NOT NEEDED)", got)
	}
}

func TestPolicyMismatchAtResponder(t *testing.T) {
	w := newWorld(t, 3)
	src := w.newParty(nameSource, msg.SignatureECDSAP256SHA256, token.RoleUse, 1)
	rel := w.newParty(nameRelay, msg.SignatureECDSAP256SHA256, token.RoleServe, 2)
	notNeeded := msg.NewUnicastSecurityPolicy(msg.PolicyNotNeeded, msg.PolicyRequired)
	src.cfg.SignallingPolicy = &notNeeded
	pr := newPair(t, src.cfg, rel.cfg, initiatorPolicy(), responderPolicy())
	pr.handshake()
	checkRejected(t, pr, msg.CauseSignallingSecurityPolicyMismatch, 1)
}

func TestPauseAcceptAndReject(t *testing.T) {
	w := newWorld(t, 4)
	for _, accept := range []bool{true, false} {
		src := w.newParty(nameSource, msg.SignatureECDSAP256SHA256, token.RoleUse, 1)
		rel := w.newParty(nameRelay, msg.SignatureECDSAP256SHA256, token.RoleServe, 2)
		pp := responderPolicy()
		pp.PauseBeforeAccept = true
		pr := newPair(t, src.cfg, rel.cfg, initiatorPolicy(), pp)
		pr.handshake()
		pa, ok := findEvent[PeerAuthorized](pr.ev[1])
		if !ok || pr.p.State() != StatePaused {
			t.Fatalf("no PeerAuthorized (state %v, events %v)", pr.p.State(), pr.ev[1])
		}
		if string(pa.SourceUserInfo) != nameSource || string(pa.TargetUserInfo) != nameTarget || pa.RSC != testRSC || pa.PeerClaims.Subject != nameSource {
			t.Fatalf("PeerAuthorized %+v", pa)
		}
		if countEvents[Established](pr.ev[0])+countEvents[Established](pr.ev[1]) != 0 {
			t.Fatal("established before Accept")
		}
		// The initiator resends its COMPLETE while the relay is paused.
		pr.advance(DefaultSecurityMode+time.Second, time.Second)
		if pr.i.State() != StateCompleteSent {
			t.Fatalf("initiator state %v", pr.i.State())
		}
		if accept {
			cfg := msg.IPConfigIPv6Router
			ap := AcceptParams{IPAddressConfig: &cfg, LinkLocalIPv6: netip.MustParseAddr("fe80::1"), TargetIPAddress: netip.MustParseAddr("fe80::2")}
			if err := pr.p.Accept(pr.now, ap); err != nil {
				t.Fatal(err)
			}
			pr.pump()
			ei, _ := pr.mustEstablish()
			if ei.Accept.TargetIPAddress != ap.TargetIPAddress || ei.Accept.LinkLocalIPv6 != ap.LinkLocalIPv6 || *ei.Accept.IPAddressConfig != cfg {
				t.Fatalf("accept info %+v", ei.Accept)
			}
			pr.exchangeData(2)
		} else {
			if err := pr.p.Reject(pr.now, msg.CauseDirectCommunicationNotAllowed); err != nil {
				t.Fatal(err)
			}
			pr.pump()
			checkRejected(t, pr, msg.CauseDirectCommunicationNotAllowed, 1)
		}
	}
}

// Lost messages: the SMC (REQUEST resent on T5080, SMC resent), the ACCEPT
// (COMPLETE resent, ACCEPT resent); T5080 running out is #5.
func TestRetransmissions(t *testing.T) {
	w := newWorld(t, 5)
	for _, drop := range []string{"SMC", "ACCEPT", "REQUEST"} {
		t.Run(drop, func(t *testing.T) {
			pr, _, _ := stdPair(t, w, msg.SuiteP256ECDSAP256)
			dropped := 0
			pr.filter = func(fromI bool, n int, p PDU) []PDU {
				switch {
				case drop == "SMC" && n == 1 && dropped == 0,
					drop == "ACCEPT" && n == 3 && dropped == 0,
					drop == "REQUEST" && fromI && p.LCID == lcidSRB0:
					dropped++
					return nil
				}
				return []PDU{p}
			}
			pr.handshake()
			pr.advance(40*time.Second, time.Second)
			if drop == "REQUEST" {
				e := checkRejectedSide(t, pr, 0, causeT5080Exhausted, false)
				if !errors.Is(e.Err, ErrTimeout) || dropped != 4 {
					t.Fatalf("err %v after %d REQUESTs", e.Err, dropped)
				}
				return
			}
			pr.mustEstablish()
			pr.exchangeData(1)
		})
	}
}

func TestKeepalive(t *testing.T) {
	w := newWorld(t, 6)
	pr, _, _ := stdPair(t, w, msg.SuiteX25519Ed25519)
	pr.handshake()
	pr.mustEstablish()
	n := len(pr.log)
	pr.advance(20*time.Second, time.Second)
	kas := 0
	for _, x := range pr.log[n:] {
		if x.pdu.LCID == lcidSRB2 {
			kas++
		}
	}
	if kas == 0 || pr.i.State() != StateEstablished || pr.p.State() != StateEstablished {
		t.Fatalf("keep-alive: %d SL-SRB2 PDUs, states %v %v", kas, pr.i.State(), pr.p.State())
	}
	// Data keeps T5084 from sending keep-alives.
	n = len(pr.log)
	for range 20 {
		pr.exchangeData(1)
		pr.advance(time.Second, time.Second)
	}
	if len(pr.log) != n {
		t.Fatalf("keep-alives sent despite traffic: %d PDUs", len(pr.log)-n)
	}
	// The peer goes silent: T5085 runs out, released with #4.
	pr.filter = func(bool, int, PDU) []PDU { return nil }
	pr.advance(40*time.Second, time.Second)
	for s := 0; s < 2; s++ {
		r, ok := findEvent[Released](pr.ev[s])
		if !ok || r.Cause != msg.CauseDirectConnectionNotAvailable || !errors.Is(r.Err, ErrTimeout) || r.Remote {
			t.Fatalf("side %d: %+v %v", s, r, ok)
		}
		if pr.side(s).Context() != nil {
			t.Fatal("context kept after release")
		}
	}
}

func TestRelease(t *testing.T) {
	w := newWorld(t, 7)
	pr, _, _ := stdPair(t, w, msg.SuiteP256ECDSAP256)
	pr.handshake()
	_, ep := pr.mustEstablish()
	ctx := ep.Context
	if err := pr.i.Release(pr.now, msg.CauseDirectCommunicationNotNeeded); err != nil {
		t.Fatal(err)
	}
	pr.pump()
	ri, ok1 := findEvent[Released](pr.ev[0])
	rp, ok2 := findEvent[Released](pr.ev[1])
	if !ok1 || !ok2 || ri.Remote || !rp.Remote || ri.Cause != msg.CauseDirectCommunicationNotNeeded || rp.Cause != msg.CauseDirectCommunicationNotNeeded {
		t.Fatalf("released: %+v %+v", ri, rp)
	}
	if _, err := ctx.Protect(nil, 4, []byte("x")); !errors.Is(err, sec.ErrContextWiped) {
		t.Fatalf("context not wiped: %v", err)
	}
	if _, err := pr.i.SealData(nil, 4, []byte("x")); !errors.Is(err, ErrState) {
		t.Fatalf("SealData after release: %v", err)
	}
}

// The peer does not answer the RELEASE REQUEST: released after T5087s.
func TestReleaseTimeout(t *testing.T) {
	w := newWorld(t, 8)
	pr, _, _ := stdPair(t, w, msg.SuiteP256ECDSAP256)
	pr.handshake()
	pr.mustEstablish()
	pr.filter = func(bool, int, PDU) []PDU { return nil }
	if err := pr.p.Release(pr.now, msg.CauseDirectCommunicationNotNeeded); err != nil {
		t.Fatal(err)
	}
	pr.pump()
	pr.advance(25*time.Second, time.Second)
	if r, ok := findEvent[Released](pr.ev[1]); !ok || r.Remote {
		t.Fatalf("released: %+v %v", r, ok)
	}
}

func TestRekey(t *testing.T) {
	for _, reauth := range []bool{false, true} {
		for _, fromResponder := range []bool{false, true} {
			t.Run(fmt.Sprintf("reauth=%v/fromResponder=%v", reauth, fromResponder), func(t *testing.T) {
				w := newWorld(t, 9)
				pr, _, _ := stdPair(t, w, msg.SuiteP256ECDSAP256)
				pr.handshake()
				ei, _ := pr.mustEstablish()
				pr.exchangeData(2)
				a := pr.i
				if fromResponder {
					a = pr.p
				}
				old := ei.Security
				// A data PDU from the responder under the old context, in flight.
				inflight, err := pr.p.SealData(nil, 4, []byte("old"))
				if err != nil {
					t.Fatal(err)
				}
				if err := a.Rekey(pr.now, reauth); err != nil {
					t.Fatal(err)
				}
				pr.pump()
				ki, ok1 := findEvent[Rekeyed](pr.ev[0])
				kp, ok2 := findEvent[Rekeyed](pr.ev[1])
				if !ok1 || !ok2 {
					t.Fatalf("not rekeyed: %v / %v, errs %v %v", pr.ev[0], pr.ev[1], pr.errs[0], pr.errs[1])
				}
				if ki.Security.KNRPSessID != kp.Security.KNRPSessID || ki.Security.KNRPSessID == old.KNRPSessID {
					t.Fatalf("KNRP-sess IDs %v %v (old %v)", ki.Security.KNRPSessID, kp.Security.KNRPSessID, old.KNRPSessID)
				}
				if ki.Reauthenticated != reauth || kp.Reauthenticated != reauth {
					t.Fatal("reauth flag")
				}
				if (ki.Security.KNRPID != old.KNRPID) != reauth || ki.Security.KNRPID != kp.Security.KNRPID {
					t.Fatalf("KNRP ID %v → %v (reauth %v)", old.KNRPID, ki.Security.KNRPID, reauth)
				}
				if reauth && (ki.PeerClaims == nil || kp.PeerClaims == nil) {
					t.Fatal("no claims after re-authentication")
				}
				if ki.Security.Initiator == kp.Security.Initiator || ki.Security.Initiator == fromResponder {
					t.Fatalf("DIRECTION roles %v %v", ki.Security.Initiator, kp.Security.Initiator)
				}
				// The old context's PDU still opens if the initiator kept it.
				if _, err := pr.i.OpenData(nil, 4, inflight); err != nil && !errors.Is(err, sec.ErrWrongKNRPSessID) {
					t.Fatalf("in-flight PDU: %v", err)
				}
				pr.exchangeData(3)
				if pr.i.prev != nil || pr.p.prev != nil {
					t.Fatal("old context kept after data under the new one")
				}
				// A second rekeying works too.
				if err := pr.i.Rekey(pr.now, false); err != nil {
					t.Fatal(err)
				}
				pr.pump()
				if countEvents[Rekeyed](pr.ev[0]) != 2 || countEvents[Rekeyed](pr.ev[1]) != 2 {
					t.Fatal("second rekeying")
				}
				pr.exchangeData(1)
			})
		}
	}
}

// Both sides start a rekeying at once: the establishment initiator wins.
func TestRekeyCollision(t *testing.T) {
	w := newWorld(t, 10)
	pr, _, _ := stdPair(t, w, msg.SuiteX25519Ed25519)
	pr.handshake()
	pr.mustEstablish()
	if err := pr.i.Rekey(pr.now, false); err != nil {
		t.Fatal(err)
	}
	if err := pr.p.Rekey(pr.now, true); err != nil {
		t.Fatal(err)
	}
	pr.pump()
	ki, ok1 := findEvent[Rekeyed](pr.ev[0])
	kp, ok2 := findEvent[Rekeyed](pr.ev[1])
	if !ok1 || !ok2 || !ki.Security.Initiator || ki.Reauthenticated {
		t.Fatalf("collision: %+v %+v", ki, kp)
	}
	// The responder's re-authentication runs after the winner's rekeying.
	var last Rekeyed
	for _, e := range pr.ev[1] {
		if r, ok := e.(Rekeyed); ok {
			last = r
		}
	}
	if countEvents[Rekeyed](pr.ev[1]) != 2 || !last.Reauthenticated || !last.Security.Initiator {
		t.Fatalf("responder's re-authentication after the collision: %v", pr.ev[1])
	}
	pr.exchangeData(2)
}

// The COUNT threshold of pc5/sec starts a rekeying without re-authentication.
func TestRekeyOnCount(t *testing.T) {
	w := newWorld(t, 11)
	src := w.newParty(nameSource, msg.SignatureECDSAP256SHA256, token.RoleUse, 1)
	rel := w.newParty(nameRelay, msg.SignatureECDSAP256SHA256, token.RoleServe, 2)
	src.cfg.RekeyThreshold = 16
	rel.cfg.RekeyThreshold = 16
	pr := newPair(t, src.cfg, rel.cfg, initiatorPolicy(), responderPolicy())
	pr.handshake()
	pr.mustEstablish()
	pr.exchangeData(20)
	if _, due := pr.i.NextDeadline(); !due {
		t.Fatal("no deadline")
	}
	pr.i.Tick(pr.now)
	pr.p.Tick(pr.now)
	pr.pump()
	rn, ok := findEvent[RekeyNeeded](pr.ev[0])
	if !ok || rn.Reason != RekeyCount {
		t.Fatalf("RekeyNeeded %v %v", rn, ok)
	}
	if countEvents[Rekeyed](pr.ev[0]) != 1 || countEvents[Rekeyed](pr.ev[1]) != 1 {
		t.Fatalf("rekeyed: %v / %v", pr.ev[0], pr.ev[1])
	}
	pr.exchangeData(5)
}

// The peer's token nears expiry: rekeying with re-authentication; a renewed
// token moves the deadline; an expired one releases the link with #6 (or
// not, under KeepAfterExpiry).
func TestPeerTokenExpiry(t *testing.T) {
	for _, renew := range []bool{false, true} {
		for _, keep := range []bool{false, true} {
			t.Run(fmt.Sprintf("renew=%v/keep=%v", renew, keep), func(t *testing.T) {
				w := newWorld(t, 12)
				src := w.newParty(nameSource, msg.SignatureEd25519, token.RoleUse, 1)
				rel := w.newParty(nameRelay, msg.SignatureEd25519, token.RoleServe, 2)
				w.reissue(rel, func(c *token.Claims) { c.Expiry = w.now.Add(10 * time.Minute) })
				if keep {
					src.cfg.PeerTokenExpiry = KeepAfterExpiry
				}
				src.cfg.TokenRefreshMargin = 2 * time.Minute
				rel.cfg.DisableKeepalive = true
				src.cfg.DisableKeepalive = true
				pr := newPair(t, src.cfg, rel.cfg, initiatorPolicy(), responderPolicy())
				pr.handshake()
				pr.mustEstablish()
				if renew {
					// The relay got a new token while in coverage.
					c := *rel.claims
					c.Expiry = w.now.Add(time.Hour)
					if err := pr.p.SetToken(w.sign(&c, token.CWT), msg.TokenCWT); err != nil {
						t.Fatal(err)
					}
				}
				pr.advance(9*time.Minute, 15*time.Second)
				rn, ok := findEvent[RekeyNeeded](pr.ev[0])
				if !ok || rn.Reason != RekeyPeerTokenExpiring {
					t.Fatalf("no RekeyNeeded: %v", pr.ev[0])
				}
				rk, ok := findEvent[Rekeyed](pr.ev[0])
				if !ok || !rk.Reauthenticated {
					t.Fatalf("no re-authentication: %v", pr.ev[0])
				}
				if renew != rk.PeerClaims.Expiry.After(w.now.Add(10*time.Minute)) {
					t.Fatalf("peer token expiry %v", rk.PeerClaims.Expiry)
				}
				pr.advance(3*time.Minute, 15*time.Second)
				r, released := findEvent[Released](pr.ev[0])
				if want := !renew && !keep; released != want {
					t.Fatalf("released %v (%+v), want %v", released, r, want)
				}
				if released && (r.Cause != msg.CauseAuthenticationFailure || !errors.Is(r.Err, token.ErrExpired)) {
					t.Fatalf("release %+v", r)
				}
				if n := countEvents[RekeyNeeded](pr.ev[0]); n != 1 {
					t.Fatalf("%d RekeyNeeded events (refresh loop?)", n)
				}
			})
		}
	}
}

func TestConfigValidate(t *testing.T) {
	w := newWorld(t, 13)
	p := w.newParty(nameSource, msg.SignatureECDSAP256SHA256, token.RoleUse, 1)
	if err := p.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []func(c *Config){
		func(c *Config) { c.LocalUserInfo = nil },
		func(c *Config) { c.IdentityKey = nil },
		func(c *Config) { c.Token = nil },
		func(c *Config) { c.TokenFormat = 9 },
		func(c *Config) { c.Verifier = nil },
		func(c *Config) { c.Suites = []msg.Suite{msg.SuiteX25519Ed25519} },
		func(c *Config) { c.Ciphering = []sec.CipherAlg{sec.NEA2, sec.NEA2} },
		func(c *Config) { c.Integrity = []sec.IntegrityAlg{7} },
		func(c *Config) { c.Rand = nil },
		func(c *Config) { c.Timers.T5080 = -1 },
		func(c *Config) { v := msg.UnicastSecurityPolicy(0x70); c.SignallingPolicy = &v },
	}
	for i, mod := range bad {
		c := *p.cfg
		mod(&c)
		if err := c.Validate(); err == nil || !bytes.HasPrefix([]byte(err.Error()), []byte("pc5/link: ")) {
			t.Errorf("case %d: %v", i, err)
		}
	}
	if _, err := NewInitiator(p.cfg, Policy{RSC: testRSC, PeerRole: token.RoleServe}); err == nil {
		t.Error("initiator without a peer user info")
	}
}

// A re-authentication that fails ends the link on both sides: the
// requester answers a bad SMC, the responder a bad COMPLETE, with a
// protected RELEASE REQUEST carrying the cause.
func TestRekeyReauthFailures(t *testing.T) {
	for _, bad := range []string{"responder token revoked", "requester token revoked"} {
		t.Run(bad, func(t *testing.T) {
			w := newWorld(t, 14)
			pr, src, rel := stdPair(t, w, msg.SuiteP256ECDSAP256)
			pr.handshake()
			pr.mustEstablish()
			victim := rel
			if bad == "requester token revoked" {
				victim = src
			}
			if err := w.list.Set(victim.claims.Status.Index, token.StatusInvalid); err != nil {
				t.Fatal(err)
			}
			w.publishStatus(w.now.Add(-time.Minute))
			if err := pr.i.Rekey(pr.now, true); err != nil {
				t.Fatal(err)
			}
			pr.pump()
			for s := 0; s < 2; s++ {
				r, ok := findEvent[Released](pr.ev[s])
				if !ok || r.Cause != msg.CauseAuthenticationFailure || pr.side(s).State() != StateClosed || pr.side(s).Context() != nil {
					t.Fatalf("side %d: %+v %v, state %v", s, r, ok, pr.side(s).State())
				}
				if countEvents[Rekeyed](pr.ev[s]) != 0 {
					t.Fatalf("side %d rekeyed", s)
				}
			}
			r, _ := findEvent[Released](pr.ev[0])
			if bad == "responder token revoked" && (r.Remote || !errors.Is(r.Err, token.ErrRevoked)) {
				t.Fatalf("requester: %+v", r)
			}
		})
	}
}
