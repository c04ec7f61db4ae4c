package relay_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/prosesec/prosesec/discovery"
	"github.com/prosesec/prosesec/pc5/link"
	"github.com/prosesec/prosesec/pc5/medium"
	"github.com/prosesec/prosesec/pc5/msg"
	"github.com/prosesec/prosesec/pc5/node"
	"github.com/prosesec/prosesec/relay"
	"github.com/prosesec/prosesec/token"
)

const (
	srcID1, srcID2 = medium.L2ID(0x000001), medium.L2ID(0x000002)
	tgtID1, tgtID2 = medium.L2ID(0x000021), medium.L2ID(0x000022)
	srcName1       = "ue-source-00001"
	srcName2       = "ue-source-00002"
	tgtName1       = "ue-target-00001"
	tgtName2       = "ue-target-00002"
)

func table() map[string]medium.L2ID {
	return map[string]medium.L2ID{tgtName1: tgtID1, tgtName2: tgtID2}
}

func mustEstablish(t *testing.T, u *endUE, target medium.L2ID) {
	t.Helper()
	e, ok := u.established()
	if !ok {
		rj, _ := u.rejected()
		t.Fatalf("%s: not established (events %d, reject %+v)", u.name, len(u.events), rj)
	}
	if want := relay.Addr(relayID, target); e.Accept.TargetIPAddress != want {
		t.Fatalf("%s: target address %v, want %v", u.name, e.Accept.TargetIPAddress, want)
	}
}

func mustReject(t *testing.T, u *endUE, cause msg.Cause, remote bool) {
	t.Helper()
	if _, ok := u.established(); ok {
		t.Fatalf("%s: established, want a reject", u.name)
	}
	rj, ok := u.rejected()
	if !ok {
		t.Fatalf("%s: no Rejected event (%d events)", u.name, len(u.events))
	}
	if rj.Cause != cause || rj.Remote != remote {
		t.Fatalf("%s: rejected with %v (remote %v), want %v (remote %v): %v", u.name, rj.Cause, rj.Remote, cause, remote, rj.Err)
	}
}

func TestAddr(t *testing.T) {
	a := relay.Addr(0x123456, 0xabcdef)
	if got, want := a.String(), "fd50:4312:3456::ab:cdef"; got != want {
		t.Fatalf("Addr = %s, want %s", got, want)
	}
	if !relay.Prefix(0x123456).Contains(a) || relay.Prefix(0x123457).Contains(a) {
		t.Fatal("prefix containment wrong")
	}
}

func TestEndToEnd(t *testing.T) {
	w := newWorld(t)
	r := w.newRelay(nil, table())
	s := w.newUE(srcName1, srcID1)
	tg := w.newUE(tgtName1, tgtID1)
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
	src, dst := s.ep.LocalAddr(relayID), relay.Addr(relayID, tgtID1)
	const n = 5
	for i := range n {
		s.send(t, ipv6(src, dst, 1400, byte(i)))
		w.clock.Advance(100 * time.Millisecond)
	}
	if len(tg.got) != n || len(s.got) != n {
		t.Fatalf("target got %d, source got %d echoes, want %d", len(tg.got), len(s.got), n)
	}
	for i := range n {
		want := ipv6(src, dst, 1400, byte(i))
		if !bytes.Equal(tg.got[i], want) {
			t.Fatalf("packet %d altered", i)
		}
		if !bytes.Equal(s.got[i][40:], want[40:]) || !bytes.Equal(s.got[i][8:24], want[24:40]) {
			t.Fatalf("echo %d altered", i)
		}
	}
	st := r.Stats()
	if st.Forwarded != 2*n || st.NoRoute != 0 || st.OpenFailed != 0 {
		t.Fatalf("relay stats %+v", st)
	}
	for _, p := range r.Peers() {
		if p.Stats.RxPackets != n || p.Stats.TxPackets != n {
			t.Fatalf("peer %v stats %+v", p.ID, p.Stats)
		}
	}
}

func TestTwoSourcesTwoTargets(t *testing.T) {
	w := newWorld(t)
	r := w.newRelay(nil, table())
	s1, s2 := w.newUE(srcName1, srcID1), w.newUE(srcName2, srcID2)
	t1, t2 := w.newUE(tgtName1, tgtID1), w.newUE(tgtName2, tgtID2)
	t1.echo, t2.echo = true, true
	s1.connect(t, tgtName1)
	s2.connect(t, tgtName2)
	w.clock.Advance(5 * time.Second)
	mustEstablish(t, s1, tgtID1)
	mustEstablish(t, s2, tgtID2)
	// A third request reuses the established link to T1.
	s3 := w.newUE("ue-source-00003", 0x000003)
	s3.connect(t, tgtName1)
	w.clock.Advance(5 * time.Second)
	mustEstablish(t, s3, tgtID1)
	if r.Links() != 5 {
		t.Fatalf("relay links = %d, want 5", r.Links())
	}
	s1.send(t, ipv6(s1.ep.LocalAddr(relayID), relay.Addr(relayID, tgtID1), 100, 1))
	s2.send(t, ipv6(s2.ep.LocalAddr(relayID), relay.Addr(relayID, tgtID2), 200, 2))
	s3.send(t, ipv6(s3.ep.LocalAddr(relayID), relay.Addr(relayID, tgtID1), 300, 3))
	w.clock.Advance(time.Second)
	if len(t1.got) != 2 || len(t2.got) != 1 || len(t2.got[0]) != 240 {
		t.Fatalf("t1 got %d, t2 got %d", len(t1.got), len(t2.got))
	}
	for _, s := range []*endUE{s1, s2, s3} {
		if len(s.got) != 1 {
			t.Fatalf("%s got %d echoes, want 1", s.name, len(s.got))
		}
	}
	if st := r.Stats(); st.Forwarded != 6 {
		t.Fatalf("forwarded %d, want 6", st.Forwarded)
	}
	// S1 asked for T1 only: its packets to T2 and to S2 are not forwarded.
	s1.send(t, ipv6(s1.ep.LocalAddr(relayID), relay.Addr(relayID, tgtID2), 10, 4))
	s1.send(t, ipv6(s1.ep.LocalAddr(relayID), relay.Addr(relayID, srcID2), 10, 5))
	w.clock.Advance(time.Second)
	if st := r.Stats(); st.NotPaired != 2 || st.Forwarded != 6 || len(t2.got) != 1 || len(s2.got) != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRelayWithoutServeGrant(t *testing.T) {
	w := newWorld(t)
	w.newRelay(nil, table(), serve(otherRSC), use(testRSC))
	s := w.newUE(srcName1, srcID1)
	w.newUE(tgtName1, tgtID1)
	s.connect(t, tgtName1)
	w.clock.Advance(5 * time.Second)
	mustReject(t, s, msg.CauseRequiredServiceNotAllowed, false)
}

func TestHop2Failures(t *testing.T) {
	cases := []struct {
		name  string
		setup func(w *world)
		tgt   string
		cause msg.Cause
	}{
		{"target out of range", func(w *world) {
			w.newUE(tgtName1, tgtID1)
			w.mem.SetInRange(relayID, tgtID1, false)
		}, tgtName1, relay.CauseHop2Failed},
		{"target token lacks use", func(w *world) {
			w.newUE(tgtName1, tgtID1, use(otherRSC))
		}, tgtName1, relay.CauseHop2Failed},
		{"target unknown", func(w *world) {}, "ue-nobody", relay.CauseTargetUnknown},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			r := w.newRelay(nil, table())
			c.setup(w)
			s := w.newUE(srcName1, srcID1)
			s.connect(t, c.tgt)
			w.clock.Advance(30 * time.Second)
			mustReject(t, s, c.cause, true)
			if r.Links() != 0 {
				t.Fatalf("relay keeps %d links", r.Links())
			}
			if r.Stats().Hop2Failures != 1 {
				t.Fatalf("stats %+v", r.Stats())
			}
		})
	}
}

func TestLinkLimit(t *testing.T) {
	w := newWorld(t)
	r := w.newRelay(func(c *relay.Config) { c.MaxLinks = 2 }, table())
	s1, s2 := w.newUE(srcName1, srcID1), w.newUE(srcName2, srcID2)
	w.newUE(tgtName1, tgtID1)
	w.newUE(tgtName2, tgtID2)
	s1.connect(t, tgtName1)
	w.clock.Advance(5 * time.Second)
	mustEstablish(t, s1, tgtID1)
	s2.connect(t, tgtName2)
	w.clock.Advance(5 * time.Second)
	mustReject(t, s2, relay.CauseLinkLimit, true)
	if st := r.Stats(); st.LimitRejects != 1 || r.Links() != 2 {
		t.Fatalf("links %d, stats %+v", r.Links(), st)
	}
}

func TestUnknownDestinationDropped(t *testing.T) {
	w := newWorld(t)
	r := w.newRelay(nil, table())
	s, tg := w.newUE(srcName1, srcID1), w.newUE(tgtName1, tgtID1)
	s.connect(t, tgtName1)
	w.clock.Advance(5 * time.Second)
	mustEstablish(t, s, tgtID1)
	src := s.ep.LocalAddr(relayID)
	s.send(t, ipv6(src, relay.Addr(relayID, 0x000099), 64, 0)) // behind the relay, unknown
	s.send(t, ipv6(relay.Addr(relayID, tgtID2), relay.Addr(relayID, tgtID1), 64, 0))
	w.clock.Advance(time.Second)
	if len(tg.got) != 0 {
		t.Fatalf("target got %d packets", len(tg.got))
	}
	st := r.Stats()
	if st.NoRoute != 1 || st.Spoofed != 1 || st.Forwarded != 0 {
		t.Fatalf("stats %+v", st)
	}
	for _, p := range r.Peers() {
		if p.ID == srcID1 && p.Stats.RxPackets != 2 {
			t.Fatalf("source link stats %+v", p.Stats)
		}
	}
	// A destination outside every route fails at the source already.
	s.drv.Do(func(time.Time) {
		if err := s.ep.Send(4, ipv6(src, relay.Addr(0x000777, 1), 10, 0)); !errors.Is(err, node.ErrNoRoute) {
			t.Fatalf("Send: %v, want ErrNoRoute", err)
		}
	})
}

func TestRequestRateLimit(t *testing.T) {
	w := newWorld(t)
	r := w.newRelay(func(c *relay.Config) { c.Burst = 3; c.RequestRate = 0.5 }, table())
	garbage := medium.Frame{Src: 0x000005, Dst: relayID, LCID: 0, Payload: []byte{0x01, 0x02}}
	for range 10 {
		r.HandleFrame(w.clock.Now(), garbage)
	}
	if st := r.Stats(); st.RateLimited != 7 || r.Links() != 0 {
		t.Fatalf("links %d, stats %+v", r.Links(), st)
	}
	r.HandleFrame(w.clock.Now().Add(2*time.Second), garbage) // one token back
	if st := r.Stats(); st.RateLimited != 7 {
		t.Fatalf("stats %+v", st)
	}
}

func TestConcurrentRequestsShareHop2(t *testing.T) {
	w := newWorld(t)
	r := w.newRelay(nil, table())
	s1, s2 := w.newUE(srcName1, srcID1), w.newUE(srcName2, srcID2)
	tg := w.newUE(tgtName1, tgtID1)
	s1.connect(t, tgtName1)
	s2.connect(t, tgtName1) // while hop 2 is being set up for s1
	w.clock.Advance(5 * time.Second)
	mustEstablish(t, s1, tgtID1)
	mustEstablish(t, s2, tgtID1)
	n := 0
	for _, ev := range tg.events {
		if _, ok := ev.(link.Established); ok {
			n++
		}
	}
	if n != 1 || r.Links() != 3 {
		t.Fatalf("target saw %d establishments, relay has %d links; want 1 and 3", n, r.Links())
	}
}

func TestHop2LossReleasesHop1(t *testing.T) {
	w := newWorld(t)
	r := w.newRelay(nil, table())
	s := w.newUE(srcName1, srcID1)
	w.newUE(tgtName1, tgtID1)
	s.connect(t, tgtName1)
	w.clock.Advance(5 * time.Second)
	mustEstablish(t, s, tgtID1)
	// The target leaves range: keep-alive fails, the relay drops hop 2 and
	// releases hop 1 with #4.
	w.mem.SetInRange(relayID, tgtID1, false)
	w.clock.Advance(10 * time.Minute)
	var rel *link.Released
	for _, ev := range s.events {
		if e, ok := ev.(link.Released); ok {
			rel = &e
		}
	}
	if rel == nil || rel.Cause != relay.CauseHop2Failed || !rel.Remote {
		t.Fatalf("source release %+v, want remote %v", rel, relay.CauseHop2Failed)
	}
	if r.Links() != 0 {
		t.Fatalf("relay keeps %d links: %+v", r.Links(), r.Peers())
	}
}

func TestForwardDoesNotAllocate(t *testing.T) {
	w := newWorld(t)
	r := w.newRelay(nil, table())
	s := w.newUE(srcName1, srcID1)
	w.newUE(tgtName1, tgtID1)
	s.connect(t, tgtName1)
	w.clock.Advance(5 * time.Second)
	mustEstablish(t, s, tgtID1)
	pkt := ipv6(s.ep.LocalAddr(relayID), relay.Addr(relayID, tgtID1), 1360, 0)
	const runs = 50
	frames := make([]medium.Frame, 0, runs+1)
	for range runs + 1 {
		if err := s.ep.Send(4, pkt); err != nil {
			t.Fatal(err)
		}
		f := s.ep.Outbox()[0]
		f.Src = srcID1
		frames = append(frames, f)
	}
	now, i := w.clock.Now(), 0
	allocs := testing.AllocsPerRun(runs, func() {
		r.HandleFrame(now, frames[i])
		r.Outbox()
		i++
	})
	if allocs != 0 || r.Stats().Forwarded != runs+1 {
		t.Fatalf("%v allocations per packet, forwarded %d", allocs, r.Stats().Forwarded)
	}
}

// TestTwoRelaysOneWithoutServeGrant: two relays are in range of the
// source; relay B holds no u2u:serve grant for the RSC (its token serves
// otherRSC), although its relay core is configured with it. Discovery
// never offers B for the RSC, even when B is heard better and less loaded,
// since B announces (and answers) only the RSCs its token lets it serve;
// a source forced to B (addressing it directly) is rejected with #11,
// and then establishes through relay A.
func TestTwoRelaysOneWithoutServeGrant(t *testing.T) {
	const (
		relayB     = medium.L2ID(0x000011)
		relayBName = "ue-relay-000002"
	)
	w := newWorld(t)
	a := w.newRelay(nil, table())
	bScopes := []token.Scope{serve(otherRSC), use(testRSC)}
	b, err := relay.New(relay.Config{
		Self: relayB,
		Link: w.linkConfig(relayBName, bScopes...),
		RSCs: []token.RSC{testRSC}, // misconfigured: the token does not grant it
		Lookup: func(_ token.RSC, ui []byte, _ time.Time) (medium.L2ID, bool) {
			id, ok := table()[string(ui)]
			return id, ok
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	port, err := w.mem.AttachPort(relayB)
	if err != nil {
		t.Fatal(err)
	}
	node.Mem(port, w.clock, b)
	s := w.newUE(srcName1, srcID1)
	w.newUE(tgtName1, tgtID1)

	// Discovery: each relay announces ServeRSCs of its own token.
	now := w.clock.Now()
	da, err := discovery.NewRelay(discovery.RelayConfig{UserInfo: []byte(relayName), RSCs: discovery.ServeRSCs([]token.Scope{serve(testRSC)})})
	if err != nil {
		t.Fatal(err)
	}
	db, err := discovery.NewRelay(discovery.RelayConfig{UserInfo: []byte(relayBName), RSCs: discovery.ServeRSCs(bScopes)})
	if err != nil {
		t.Fatal(err)
	}
	for _, dr := range []*discovery.Relay{da, db} {
		if err := dr.SetReachable(discovery.ReachableUE{UserInfo: []byte(tgtName1), L2ID: tgtID1, RSCs: []token.RSC{testRSC, otherRSC}}); err != nil {
			t.Fatal(err)
		}
	}
	db.SetLoad(0)
	da.SetLoad(5)
	d, err := discovery.NewDiscoverer(discovery.DiscovererConfig{UserInfo: []byte(srcName1), UseRSCs: []token.RSC{testRSC}})
	if err != nil {
		t.Fatal(err)
	}
	heard := func(from medium.L2ID, rssi int16, out []discovery.Outgoing) {
		t.Helper()
		for _, o := range out {
			f, err := o.Frame()
			if err != nil {
				t.Fatal(err)
			}
			f.Src, f.RSSI = from, rssi
			in, err := discovery.Decode(f)
			if err != nil {
				t.Fatal(err)
			}
			d.Handle(in, now)
		}
	}
	heard(relayID, -80, da.Announce(now)) // A: weaker and more loaded
	heard(relayB, -40, db.Announce(now))  // B: stronger, idle, but not for testRSC
	// Model B: B does not answer a solicitation for testRSC; A does.
	sol, err := d.Solicit(testRSC, []byte(tgtName1), now)
	if err != nil {
		t.Fatal(err)
	}
	solFrame, err := sol.Frame()
	if err != nil {
		t.Fatal(err)
	}
	solFrame.Src = srcID1
	solIn, err := discovery.Decode(solFrame)
	if err != nil {
		t.Fatal(err)
	}
	if out := db.Handle(solIn, now); len(out) != 0 {
		t.Fatalf("relay B answered a solicitation for %v: %+v", testRSC, out)
	}
	heard(relayID, -80, da.Handle(solIn, now))
	cs := d.Candidates(testRSC, []byte(tgtName1), now)
	if len(cs) != 1 || cs[0].Relay != relayID || !cs[0].TargetReachable {
		t.Fatalf("candidates for %v: %+v, want relay A only", testRSC, cs)
	}
	if c, ok := d.Select(testRSC, []byte(tgtName1), now); !ok || c.Relay != relayID {
		t.Fatalf("selected %+v (%v), want relay A", c, ok)
	}
	// B is heard, for the RSC it may serve: it would win on RSSI and load.
	if c, ok := d.Select(otherRSC, []byte(tgtName1), now); !ok || c.Relay != relayB {
		t.Fatalf("for %v selected %+v (%v), want relay B", otherRSC, c, ok)
	}
	if discovery.CompareCandidates(discovery.Candidate{Relay: relayB, RSC: testRSC, TargetReachable: true, RSSI: -40},
		discovery.Candidate{Relay: relayID, RSC: testRSC, TargetReachable: true, RSSI: -80, Load: 5}) >= 0 {
		t.Fatal("the rule itself prefers A: the test proves nothing")
	}

	// Forced: the source addresses B directly.
	s.drv.Do(func(now time.Time) {
		if err := s.ep.Connect(now, relayB, []byte(relayBName), []byte(tgtName1)); err != nil {
			t.Fatal(err)
		}
	})
	w.clock.Advance(5 * time.Second)
	mustReject(t, s, msg.CauseRequiredServiceNotAllowed, false)
	if b.Links() != 0 || b.Stats().Forwarded != 0 {
		t.Fatalf("relay B keeps %d links, stats %+v", b.Links(), b.Stats())
	}
	// Through the selected relay A the same source gets its link.
	s.events = nil
	s.connect(t, tgtName1)
	w.clock.Advance(5 * time.Second)
	mustEstablish(t, s, tgtID1)
	if a.Links() != 2 {
		t.Fatalf("relay A links = %d, want 2", a.Links())
	}
}
