package relay_test

import (
	"testing"
	"time"

	"github.com/prosesec/prosesec/pc5/link"
	"github.com/prosesec/prosesec/pc5/msg"
	"github.com/prosesec/prosesec/relay"
)

// released returns the UE's Released events.
func (u *endUE) released() []link.Released {
	var rs []link.Released
	for _, ev := range u.events {
		if e, ok := ev.(link.Released); ok {
			rs = append(rs, e)
		}
	}
	return rs
}

// establishedCount counts the UE's Established events (handshakes done).
func (u *endUE) establishedCount() int {
	n := 0
	for _, ev := range u.events {
		if _, ok := ev.(link.Established); ok {
			n++
		}
	}
	return n
}

// hasPeer reports whether the relay has a link to u.
func hasPeer(r *testRelay, u *endUE) bool {
	for _, p := range r.Peers() {
		if p.ID == u.id {
			return true
		}
	}
	return false
}

// setupPair establishes source → relay → target and forwards one packet
// each way.
func setupPair(t *testing.T, w *world, r *testRelay, s, tg *endUE) {
	t.Helper()
	tg.echo = true
	s.connect(t, tgtName1)
	w.clock.Advance(5 * time.Second)
	mustEstablish(t, s, tgtID1)
	if _, ok := tg.established(); !ok {
		t.Fatal("target: hop 2 not established")
	}
	if r.Links() != 2 {
		t.Fatalf("relay links = %d, want 2", r.Links())
	}
	s.send(t, ipv6(s.ep.LocalAddr(relayID), relay.Addr(relayID, tgtID1), 100, 1))
	w.clock.Advance(100 * time.Millisecond)
	if len(tg.got) != 1 || len(s.got) != 1 {
		t.Fatalf("target got %d, source got %d echoes, want 1 each", len(tg.got), len(s.got))
	}
	tg.echo = false
}

func TestRelayLinkLossAndRecovery(t *testing.T) {
	w := newWorld(t)
	r := w.newRelay(nil, table())
	s := w.newUE(srcName1, srcID1)
	tg := w.newUE(tgtName1, tgtID1)
	setupPair(t, w, r, s, tg)
	fwd := r.Stats().Forwarded

	// The source leaves the relay's range: keep-alive supervision
	// (T5084 then T5085 retransmissions) releases hop 1 on both sides.
	w.mem.SetInRange(srcID1, relayID, false)
	w.clock.Advance(2 * time.Minute)
	if r.Links() != 1 || hasPeer(r, s) || !hasPeer(r, tg) {
		t.Fatalf("relay links = %d (%+v), want only hop 2", r.Links(), r.Peers())
	}
	rs := s.released()
	if len(rs) != 1 || rs[0].Cause != msg.CauseDirectConnectionNotAvailable || rs[0].Remote {
		t.Fatalf("source released events %+v, want one local #4", rs)
	}
	if rs := tg.released(); len(rs) != 0 {
		t.Fatalf("hop 2 released with hop 1: %+v", rs)
	}

	// A packet from the target to the source's address has no route now.
	srcAddr, tgtAddr := relay.Addr(relayID, srcID1), relay.Addr(relayID, tgtID1)
	noRoute := r.Stats().NoRoute
	tg.send(t, ipv6(tgtAddr, srcAddr, 50, 2))
	w.clock.Advance(100 * time.Millisecond)
	if st := r.Stats(); st.NoRoute != noRoute+1 || st.Forwarded != fwd {
		t.Fatalf("relay stats %+v, want one more NoRoute and no forwarding", st)
	}
	if len(s.got) != 1 {
		t.Fatalf("source got %d packets, want 1", len(s.got))
	}

	// Back in range: a new hop 1 reuses hop 2 (no new handshake with the
	// target) and forwarding works again end to end.
	w.mem.SetInRange(srcID1, relayID, true)
	before := s.establishedCount()
	s.connect(t, tgtName1)
	w.clock.Advance(5 * time.Second)
	if s.establishedCount() != before+1 {
		t.Fatalf("source: hop 1 not re-established (events %d)", len(s.events))
	}
	if r.Links() != 2 {
		t.Fatalf("relay links = %d, want 2", r.Links())
	}
	if n := tg.establishedCount(); n != 1 {
		t.Fatalf("target: %d hop 2 handshakes, want 1", n)
	}
	tg.echo = true
	s.send(t, ipv6(srcAddr, tgtAddr, 300, 3))
	w.clock.Advance(100 * time.Millisecond)
	if len(tg.got) != 2 || len(s.got) != 2 {
		t.Fatalf("target got %d, source got %d, want 2 each", len(tg.got), len(s.got))
	}
	if st := r.Stats(); st.Forwarded != fwd+2 {
		t.Fatalf("relay forwarded %d, want %d", st.Forwarded, fwd+2)
	}
}

// shortLivedUE makes a source UE whose token expires at testNow+life
// (linkConfig mints exp = w.now + 2h).
func shortLivedUE(w *world, life time.Duration) *endUE {
	w.t.Helper()
	saved := w.now
	w.now = testNow.Add(life - 2*time.Hour)
	defer func() { w.now = saved }()
	return w.newUE(srcName1, srcID1)
}

func TestRelayTokenExpiryDuringLink(t *testing.T) {
	const life = 10 * time.Minute
	for _, tc := range []struct {
		name   string
		policy link.ExpiryPolicy
	}{{"ReleaseAtExpiry", link.ReleaseAtExpiry}, {"KeepAfterExpiry", link.KeepAfterExpiry}} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			r := w.newRelay(func(c *relay.Config) { c.Link.PeerTokenExpiry = tc.policy }, table())
			s := shortLivedUE(w, life)
			tg := w.newUE(tgtName1, tgtID1)
			setupPair(t, w, r, s, tg)
			fwd := r.Stats().Forwarded
			srcAddr, tgtAddr := relay.Addr(relayID, srcID1), relay.Addr(relayID, tgtID1)

			// Just before exp + leeway the link is still up.
			exp := testNow.Add(life)
			w.clock.RunUntil(exp.Add(w.verifier.Leeway - time.Second))
			if !hasPeer(r, s) || len(s.released()) != 0 {
				t.Fatalf("hop 1 gone before expiry (links %d, source events %+v)", r.Links(), s.released())
			}
			// Before expiry the relay re-authenticated the source, which
			// could only present the same token.
			if n := reauthenticated(s); n != 1 {
				t.Fatalf("source: %d re-authenticating rekeys, want 1", n)
			}
			w.clock.RunUntil(exp.Add(w.verifier.Leeway + 10*time.Second))

			if tc.policy == link.KeepAfterExpiry {
				if r.Links() != 2 || !hasPeer(r, s) || len(s.released()) != 0 {
					t.Fatalf("KeepAfterExpiry: links %d, source released %+v", r.Links(), s.released())
				}
				s.send(t, ipv6(srcAddr, tgtAddr, 100, 4))
				w.clock.Advance(100 * time.Millisecond)
				if len(tg.got) != 2 || r.Stats().Forwarded != fwd+1 {
					t.Fatalf("KeepAfterExpiry: target got %d, stats %+v", len(tg.got), r.Stats())
				}
				return
			}

			// ReleaseAtExpiry: the relay released hop 1 with #6; the
			// source saw it as a remote release; hop 2 stays.
			if r.Links() != 1 || hasPeer(r, s) || !hasPeer(r, tg) {
				t.Fatalf("relay links = %d (%+v), want only hop 2", r.Links(), r.Peers())
			}
			rs := s.released()
			if len(rs) != 1 || rs[0].Cause != msg.CauseAuthenticationFailure || !rs[0].Remote {
				t.Fatalf("source released events %+v, want one remote #6", rs)
			}
			// Forwarding towards the source stops: dropped and counted.
			noRoute := r.Stats().NoRoute
			tg.send(t, ipv6(tgtAddr, srcAddr, 50, 5))
			w.clock.Advance(100 * time.Millisecond)
			if st := r.Stats(); st.NoRoute != noRoute+1 || st.Forwarded != fwd {
				t.Fatalf("relay stats %+v, want one more NoRoute and no forwarding", st)
			}
			if len(s.got) != 1 {
				t.Fatalf("source got %d packets, want 1", len(s.got))
			}
		})
	}
}

// reauthenticated counts the UE's rekeyings with re-authentication.
func reauthenticated(u *endUE) int {
	n := 0
	for _, ev := range u.events {
		if e, ok := ev.(link.Rekeyed); ok && e.Reauthenticated {
			n++
		}
	}
	return n
}
