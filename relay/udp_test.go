package relay_test

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/prosesec/prosesec/pc5/link"
	"github.com/prosesec/prosesec/pc5/medium"
	"github.com/prosesec/prosesec/pc5/node"
	"github.com/prosesec/prosesec/relay"
	"github.com/prosesec/prosesec/token"
)

// wall is the real clock for node.Run.
type wall struct{}

func (wall) Now() time.Time { return time.Now() }

// TestOverUDP runs the relay and two end UEs with node.Run on the UDP
// loopback medium, in one process, with real time (tokens valid for it).
func TestOverUDP(t *testing.T) {
	if testing.Short() {
		t.Skip("real sockets and time")
	}
	// Tokens valid now: the links verify them at the driver's (real) time.
	w2 := newWorldAt(t, time.Now())
	topo, err := medium.ParseTopology([]byte(`
nodes:
  - {id: "000010", addr: "127.0.0.1:0", neighbours: ["000001", "000021"]}
  - {id: "000001", addr: "127.0.0.2:0"}
  - {id: "000021", addr: "127.0.0.3:0"}
`))
	if err != nil {
		t.Fatalf("topology with port 0: %v", err)
	}
	udp, err := medium.NewUDP(medium.UDPConfig{Topology: topo})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	attach := func(id medium.L2ID) medium.Port {
		p, err := udp.Attach(id)
		if err != nil {
			t.Fatalf("attach %v on loopback: %v", id, err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	run := func(p medium.Port, c node.Core, do chan func(time.Time)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := node.Run(ctx, p, wall{}, c, do, nil); err != nil && ctx.Err() == nil {
				t.Errorf("node.Run %v: %v", p.ID(), err)
			}
		}()
	}
	r, err := relay.New(relay.Config{
		Self: relayID, Link: w2.linkConfig(relayName, serve(testRSC)), RSCs: []token.RSC{testRSC},
		Lookup: func(_ token.RSC, ui []byte, _ time.Time) (medium.L2ID, bool) { return tgtID1, string(ui) == tgtName1 },
	})
	if err != nil {
		t.Fatal(err)
	}
	run(attach(relayID), r, nil)

	got := make(chan []byte, 4)
	var tgt *node.Endpoint
	tgt, err = node.NewEndpoint(node.EndpointConfig{Self: tgtID1, Link: w2.linkConfig(tgtName1, use(testRSC)), RSC: testRSC,
		Deliver: func(_ medium.L2ID, lcid uint8, pkt []byte) {
			r := append([]byte(nil), pkt...)
			copy(r[8:24], pkt[24:40])
			copy(r[24:40], pkt[8:24])
			_ = tgt.Send(lcid, r)
		}})
	if err != nil {
		t.Fatal(err)
	}
	run(attach(tgtID1), tgt, nil)

	events := make(chan link.Event, 8)
	src, err := node.NewEndpoint(node.EndpointConfig{Self: srcID1, Link: w2.linkConfig(srcName1, use(testRSC)), RSC: testRSC,
		Deliver: func(_ medium.L2ID, _ uint8, pkt []byte) { got <- append([]byte(nil), pkt...) },
		OnEvent: func(_ medium.L2ID, ev link.Event) { events <- ev }})
	if err != nil {
		t.Fatal(err)
	}
	do := make(chan func(time.Time))
	run(attach(srcID1), src, do)
	do <- func(now time.Time) {
		if err := src.Connect(now, relayID, []byte(relayName), []byte(tgtName1)); err != nil {
			t.Error(err)
		}
	}
	var dst netip.Addr
	select {
	case ev := <-events:
		e, ok := ev.(link.Established)
		if !ok {
			t.Fatalf("first event %T %+v", ev, ev)
		}
		dst = e.Accept.TargetIPAddress
	case <-time.After(30 * time.Second):
		t.Fatal("hop 1 not established")
	}
	pkt := ipv6(relay.Addr(relayID, srcID1), dst, 1000, 9)
	do <- func(time.Time) {
		if err := src.Send(5, pkt); err != nil {
			t.Error(err)
		}
	}
	select {
	case echo := <-got:
		if len(echo) != len(pkt) || netip.AddrFrom16([16]byte(echo[8:24])) != dst {
			t.Fatalf("bad echo")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no echo")
	}
}
