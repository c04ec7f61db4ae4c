package relay_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/prosesec/prosesec/pc5/link"
	"github.com/prosesec/prosesec/pc5/medium"
	"github.com/prosesec/prosesec/pc5/node"
	"github.com/prosesec/prosesec/relay"
)

// FuzzRelayHandleFrame injects arbitrary frames — any LCID, any payload,
// claiming any Layer-2 source, including the established source's and
// target's — into a relay whose hop 1 and hop 2 are up, as an attacker on
// the radio without the link keys would. The relay must neither panic nor
// forward anything but a PDU the source really protected, at most once
// (a replay is dropped), and no injected frame may
// tear down an established link: every frame of a link is integrity
// protected, and what fails its checks is discarded (pc5/link). The seeds
// are real frames of the session (REQUEST, SMC, data), so the fuzzer
// mutates valid encodings.
func FuzzRelayHandleFrame(f *testing.F) {
	w := newWorld(f)
	r := w.newRelay(nil, table())
	s, tg := w.newUE(srcName1, srcID1), w.newUE(tgtName1, tgtID1)
	s.connect(f, tgtName1)
	w.clock.Advance(5 * time.Second)
	if _, ok := s.established(); !ok {
		f.Fatal("hop 1 not established")
	}
	if _, ok := tg.established(); !ok {
		f.Fatal("hop 2 not established")
	}
	authentic := map[string]bool{} // data PDUs the source really protected
	forwarded := map[string]bool{}
	// Seeds: a data PDU the source protected for the relay, and the
	// REQUEST of another source (a fresh endpoint whose frames are taken
	// from its outbox, not sent).
	s.drv.Do(func(time.Time) {
		if err := s.ep.Send(4, ipv6(s.ep.LocalAddr(relayID), relay.Addr(relayID, tgtID1), 64, 7)); err != nil {
			f.Fatal(err)
		}
		for _, fr := range s.ep.Outbox() {
			f.Add(fr.LCID, uint32(srcID1), bytes.Clone(fr.Payload))
			authentic[string(fr.Payload)] = true
		}
	})
	other, err := node.NewEndpoint(node.EndpointConfig{Self: srcID2, Link: w.linkConfig(srcName2, use(testRSC)), RSC: testRSC})
	if err != nil {
		f.Fatal(err)
	}
	if err := other.Connect(w.clock.Now(), relayID, []byte(relayName), []byte(tgtName1)); err != nil {
		f.Fatal(err)
	}
	for _, fr := range other.Outbox() {
		f.Add(fr.LCID, uint32(srcID1), bytes.Clone(fr.Payload)) // as if from the established source
		f.Add(fr.LCID, uint32(srcID2), bytes.Clone(fr.Payload))
	}
	f.Add(uint8(0), uint32(srcID1), []byte{0x01})
	f.Add(uint8(4), uint32(tgtID1), bytes.Repeat([]byte{0xff}, 60))

	f.Fuzz(func(t *testing.T, lcid uint8, from uint32, payload []byte) {
		before := r.Stats()
		src := medium.L2ID(from & 0xffffff)
		r.drv.Do(func(now time.Time) {
			r.HandleFrame(now, medium.Frame{Src: src, Dst: relayID, LCID: lcid, Payload: bytes.Clone(payload)})
			r.Outbox() // answers to a stranger (a REJECT, an SMC) go nowhere here
		})
		after := r.Stats()
		if after.Forwarded != before.Forwarded {
			// Only a PDU the source protected, from the source, once.
			k := string(payload)
			if !authentic[k] || src != srcID1 || forwarded[k] {
				t.Fatalf("an injected frame (LCID %d from %v, %d octets) was forwarded (authentic %v, forwarded before %v)", lcid, src, len(payload), authentic[k], forwarded[k])
			}
			forwarded[k] = true
		}
		// The fuzzer's own REQUESTs open half-done links with strangers,
		// which an unprotected SECURITY MODE REJECT may close again (as
		// TS 24.554 has it); the established hops must stay.
		up := map[medium.L2ID]bool{}
		for _, p := range r.Peers() {
			up[p.ID] = p.State == link.StateEstablished
		}
		if !up[srcID1] || !up[tgtID1] {
			t.Fatalf("an injected frame (LCID %d from %v, %d octets) took down an established hop (source %v, target %v)", lcid, src, len(payload), up[srcID1], up[tgtID1])
		}
		for _, u := range []*endUE{s, tg} {
			for _, ev := range u.events {
				if rel, ok := ev.(link.Released); ok {
					t.Fatalf("%s's link was released after an injected frame (LCID %d from %v): %+v", u.name, lcid, src, rel)
				}
			}
		}
	})
}
