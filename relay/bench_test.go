package relay_test

import (
	"testing"
	"time"

	"github.com/prosesec/prosesec/pc5/medium"
	"github.com/prosesec/prosesec/relay"
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
