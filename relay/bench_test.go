package relay_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/prosesec/prosesec/pc5/link"
	"github.com/prosesec/prosesec/pc5/medium"
	"github.com/prosesec/prosesec/pc5/msg"
	"github.com/prosesec/prosesec/pc5/node"
	"github.com/prosesec/prosesec/relay"
	"github.com/prosesec/prosesec/token"
)

// BenchmarkForward measures the relay's forwarding path alone (NEA2/NIA2,
// the default algorithms, 1,400-octet IPv6 packets): data PDUs protected by
// the source beforehand, outside the timer, are fed to Relay.HandleFrame,
// which opens, routes and re-seals them. "passes" does the same open and
// seal without the routing, in the same run, as the reference.
func BenchmarkForward(b *testing.B) {
	const size, batch = 1400, 1024
	w := newWorld(b)
	r := w.newRelay(nil, table())
	s, tg := w.newUE(srcName1, srcID1), w.newUE(tgtName1, tgtID1)
	s.connect(b, tgtName1)
	w.clock.Advance(5 * time.Second)
	if _, ok := s.established(); !ok {
		b.Fatal("not established")
	}
	_ = tg
	pkt := ipv6(s.ep.LocalAddr(relayID), relay.Addr(relayID, tgtID1), size-40, 0)
	now := w.clock.Now()
	frames := make([]medium.Frame, 0, batch)
	// protect fills frames with the next batch of the source's PDUs.
	protect := func() {
		frames = frames[:0]
		for range batch {
			if err := s.ep.Send(4, pkt); err != nil {
				b.Fatal(err)
			}
			for _, f := range s.ep.Outbox() {
				f.Src = srcID1
				frames = append(frames, f)
			}
		}
	}
	run := func(b *testing.B, one func(f medium.Frame)) {
		b.SetBytes(size)
		b.ReportAllocs()
		done := 0
		for b.Loop() {
			if done%batch == 0 {
				b.StopTimer()
				protect()
				b.StartTimer()
			}
			one(frames[done%batch])
			done++
		}
		el := b.Elapsed().Seconds()
		b.ReportMetric(float64(done)/el, "pkt/s")
		b.ReportMetric(float64(done)*size*8/el/1e6, "Mbit/s")
	}
	b.Run("forward", func(b *testing.B) {
		before := r.Stats().Forwarded
		run(b, func(f medium.Frame) {
			r.HandleFrame(now, f)
			r.Outbox()
		})
		if r.Stats().Forwarded == before {
			b.Fatalf("nothing forwarded: %+v", r.Stats())
		}
	})
	b.Run("passes", func(b *testing.B) {
		run(b, func(f medium.Frame) {
			if !r.TwoPasses(srcID1, tgtID1, f.LCID, f.Payload) {
				b.Fatal("open or seal failed")
			}
		})
	})
}

// benchSources is a node.Core holding the bare hop 1 initiators of many
// source UEs (one Layer-2 ID each), so that a benchmark can establish and
// release them again and again: node.Endpoint has no Release.
type benchSources struct {
	links map[medium.L2ID]*link.Link
	out   []medium.Frame
	est   int
	rel   int
	rej   int
}

func (s *benchSources) drain(id medium.L2ID, l *link.Link) {
	rd := l.Ready()
	for _, q := range rd.Send {
		s.out = append(s.out, medium.Frame{Src: id, Dst: relayID, LCID: q.LCID, Payload: q.Data})
	}
	for _, ev := range rd.Events {
		switch ev.(type) {
		case link.Established:
			s.est++
		case link.Released:
			s.rel++
		case link.Rejected:
			s.rej++
		}
	}
}

func (s *benchSources) HandleFrame(now time.Time, f medium.Frame) {
	l, ok := s.links[f.Dst]
	if !ok || f.Src != relayID || f.LCID > 2 {
		return
	}
	_ = l.Step(now, link.PDU{LCID: f.LCID, Data: f.Payload})
	s.drain(f.Dst, l)
}

func (s *benchSources) Tick(now time.Time) {
	for id, l := range s.links {
		l.Tick(now)
		s.drain(id, l)
	}
}

func (s *benchSources) NextDeadline() (time.Time, bool) {
	var best time.Time
	found := false
	for _, l := range s.links {
		if d, ok := l.NextDeadline(); ok && (!found || d.Before(best)) {
			best, found = d, true
		}
	}
	return best, found
}

func (s *benchSources) Outbox() []medium.Frame {
	o := s.out
	s.out = nil
	return o
}

// BenchmarkRelayEstablish measures how many hop 1 establishments one relay
// sustains with many sources at once: per iteration, 16 distinct source
// UEs (valid tokens with u2u:use, their own Layer-2 IDs) each start hop 1
// to the relay for the same target at the same virtual instant; the relay
// serves all of them with its hop 2 to that target, established beforehand
// (a warm-up source keeps it in use), so no hop 2 handshake is timed. The
// timer covers, on the in-memory medium with virtual time (1 ms per frame,
// driven by node.MemDriver): the sources' side (initiator: ephemeral key,
// ECDH, COMPLETE signature, verification of the relay's token and
// transcript signature) and the relay's side (responder: token and status
// list check, SMC signature, PauseBeforeAccept, the hop 2 lookup and the
// ACCEPT), plus the medium's delivery; it is the CPU of both ends of each
// hop, as BenchmarkHandshake in pc5/link counts it. The releases after each
// iteration (so the Layer-2 IDs can ask again) are outside the timer.
func BenchmarkRelayEstablish(b *testing.B) {
	const sources = 16
	w := newWorld(b)
	r := w.newRelay(func(c *relay.Config) {
		c.MaxLinks = 4 * sources
		c.RequestRate, c.Burst = 1e9, 1<<30 // measure the handshakes, not the bucket
	}, table())
	warm, tg := w.newUE(srcName1, srcID1), w.newUE(tgtName1, tgtID1)
	_ = tg
	warm.connect(b, tgtName1)
	w.clock.Advance(5 * time.Second)
	if _, ok := warm.established(); !ok {
		b.Fatal("warm-up source not established")
	}
	hop2 := r.Stats()
	core := &benchSources{links: map[medium.L2ID]*link.Link{}}
	ids := make([]medium.L2ID, sources)
	cfgs := make([]*link.Config, sources)
	drv := make([]*node.MemDriver, sources)
	for i := range sources {
		ids[i] = medium.L2ID(0x000100 + i)
		cfgs[i] = w.linkConfig(fmt.Sprintf("ue-source-%05d", 100+i), use(testRSC))
		port, err := w.mem.AttachPort(ids[i])
		if err != nil {
			b.Fatal(err)
		}
		drv[i] = node.Mem(port, w.clock, core)
	}
	pol := link.Policy{PeerUserInfo: []byte(relayName), TargetUserInfo: []byte(tgtName1), RSC: testRSC, PeerRole: token.RoleServe}
	b.ReportAllocs()
	rounds := 0
	for b.Loop() {
		for i, id := range ids {
			drv[i].Do(func(now time.Time) {
				l, err := link.NewInitiator(cfgs[i], pol)
				if err != nil {
					b.Fatal(err)
				}
				core.links[id] = l
				if err := l.Start(now); err != nil {
					b.Fatal(err)
				}
				core.drain(id, l)
			})
		}
		w.clock.Advance(50 * time.Millisecond)
		b.StopTimer()
		if core.est != (rounds+1)*sources || core.rej != 0 {
			b.Fatalf("round %d: %d established, %d rejected; relay %+v", rounds, core.est, core.rej, r.Stats())
		}
		for i, id := range ids {
			drv[i].Do(func(now time.Time) {
				l := core.links[id]
				if err := l.Release(now, msg.CauseDirectCommunicationNotNeeded); err != nil {
					b.Fatal(err)
				}
				core.drain(id, l)
			})
		}
		w.clock.Advance(50 * time.Millisecond)
		if core.rel != (rounds+1)*sources || r.Links() != 2 {
			b.Fatalf("round %d: %d released, relay keeps %d links", rounds, core.rel, r.Links())
		}
		clear(core.links)
		rounds++
		b.StartTimer()
	}
	if st := r.Stats(); st.Hop2Failures != hop2.Hop2Failures || st.LimitRejects != 0 || st.RateLimited != 0 {
		b.Fatalf("relay stats %+v", st)
	}
	hops := float64(rounds * sources)
	el := b.Elapsed().Seconds()
	b.ReportMetric(hops/el, "hops/s")
	b.ReportMetric(el/hops*1e6, "µs/hop")
}
