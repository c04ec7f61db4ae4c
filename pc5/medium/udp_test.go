package medium

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
)

// udpLine attaches nodes 1 - 2 - 3 (a line) on loopback with ports picked
// by the system.
func udpLine(t *testing.T) (*UDP, []*UDPPort) {
	t.Helper()
	anyPort := netip.MustParseAddrPort("127.0.0.1:0")
	top := &Topology{Nodes: []TopologyNode{
		{ID: 1, Addr: anyPort, Neighbours: []L2ID{2}},
		{ID: 2, Addr: anyPort, Neighbours: []L2ID{3}, RSSI: map[L2ID]int16{3: -90}},
		{ID: 3, Addr: anyPort},
	}}
	u, err := NewUDP(UDPConfig{Topology: top, QueueLen: 8})
	if err != nil {
		t.Fatal(err)
	}
	var ps []*UDPPort
	for _, id := range []L2ID{1, 2, 3} {
		p, err := u.AttachPort(id)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		ps = append(ps, p)
	}
	return u, ps
}

func recvWithin(t *testing.T, p Port, d time.Duration) (Frame, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return p.Recv(ctx)
}

func mustRecv(t *testing.T, p Port) Frame {
	t.Helper()
	f, err := recvWithin(t, p, 5*time.Second)
	if err != nil {
		t.Fatalf("node %s: %v", p.ID(), err)
	}
	return f
}

func mustNotRecv(t *testing.T, p Port) {
	t.Helper()
	if f, err := recvWithin(t, p, 100*time.Millisecond); err == nil {
		t.Fatalf("node %s received %+v", p.ID(), f)
	}
}

// waitStats polls until cond holds; datagrams are counted by the reader
// goroutines.
func waitStats(t *testing.T, u *UDP, cond func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := u.Stats()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats never matched: %s", s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestUDPTwoNodes(t *testing.T) {
	top, err := ParseTopology([]byte(`nodes:
  - {id: a, addr: "127.0.0.1:0", neighbours: [b]}
  - {id: b, addr: "127.0.0.1:0"}`))
	if err != nil {
		t.Fatal(err)
	}
	u, err := NewUDP(UDPConfig{Topology: top})
	if err != nil {
		t.Fatal(err)
	}
	a, err := u.Attach(0xa)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := u.Attach(0xb)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.Send(Frame{Dst: 0xb, LCID: 2, Payload: []byte("ping")}); err != nil {
		t.Fatal(err)
	}
	f := mustRecv(t, b)
	if f.Src != 0xa || f.Dst != 0xb || f.LCID != 2 || string(f.Payload) != "ping" || f.RSSI != DefaultRSSI {
		t.Fatalf("got %+v", f)
	}
	if err := b.Send(Frame{Dst: 0xa, Payload: make([]byte, MaxPayload)}); err != nil {
		t.Fatal(err)
	}
	if f := mustRecv(t, a); len(f.Payload) != MaxPayload {
		t.Fatalf("max-size frame arrived with %d octets", len(f.Payload))
	}
	if err := b.Send(Frame{Dst: 0xa, Payload: make([]byte, MaxPayload+1)}); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversize: %v", err)
	}
	if _, err := u.Attach(0xa); !errors.Is(err, ErrInUse) {
		t.Fatalf("attach twice: %v", err)
	}
	if _, err := u.Attach(0xc); !errors.Is(err, ErrTopology) {
		t.Fatalf("attach unknown: %v", err)
	}
	if s := u.Stats(); s.Sent != 2 || s.Delivered != 2 || s.TotalDropped() != 0 {
		t.Fatalf("stats %s", s)
	}
}

func TestUDPThreeNodesNeighboursOnly(t *testing.T) {
	u, ps := udpLine(t)
	n1, n2, n3 := ps[0], ps[1], ps[2]

	// The middle node's broadcast reaches both ends.
	if err := n2.Send(Frame{Dst: Broadcast, Payload: []byte("hello")}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*UDPPort{n1, n3} {
		if f := mustRecv(t, p); f.Src != 2 || !f.IsBroadcast() || string(f.Payload) != "hello" {
			t.Fatalf("node %s got %+v", p.ID(), f)
		}
	}
	// An end's broadcast reaches only the middle; unicast to the other end
	// is out of range.
	n1.Send(Frame{Dst: Broadcast, Payload: []byte("from 1")})
	if f := mustRecv(t, n2); f.Src != 1 {
		t.Fatalf("got %+v", f)
	}
	if err := n1.Send(Frame{Dst: 3, Payload: []byte("to 3")}); err != nil {
		t.Fatal(err)
	}
	mustNotRecv(t, n3)
	n3.Send(Frame{Dst: 2, Payload: []byte("to 2")})
	if f := mustRecv(t, n2); f.Src != 3 || f.RSSI != -90 {
		t.Fatalf("got %+v", f)
	}
	s := u.Stats()
	if s.Sent != 4 || s.Delivered != 4 || s.Dropped[DropOutOfRange] != 1 {
		t.Fatalf("stats %s", s)
	}

	// Closing a port: Recv and Send fail, the address is free again.
	n3.Close()
	if _, err := n3.Recv(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Recv after Close: %v", err)
	}
	if err := n3.Send(Frame{Dst: 2}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
	n3b, err := u.AttachPort(3)
	if err != nil {
		t.Fatal(err)
	}
	defer n3b.Close()
	n2.Send(Frame{Dst: 3, Payload: []byte("again")})
	if f := mustRecv(t, n3b); string(f.Payload) != "again" {
		t.Fatalf("got %+v", f)
	}
}

// TestUDPRejectsBadDatagrams sends raw datagrams to node 2 and checks that
// each is dropped and counted under its reason.
func TestUDPRejectsBadDatagrams(t *testing.T) {
	u, ps := udpLine(t)
	n1, n2 := ps[0], ps[1]
	raw, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	to := n2.LocalAddr()
	good, _ := AppendFrame(nil, Frame{Src: 1, Dst: 2, Payload: []byte("x")})

	// From an address that is no node's.
	raw.WriteToUDPAddrPort(good, to)
	waitStats(t, u, func(s Stats) bool { return s.Dropped[DropUnknownSource] == 1 })

	// From node 1's socket (a known address), but malformed, or claiming
	// another source, or addressed to someone else.
	sendRaw := func(b []byte) {
		if _, err := n1.conn.WriteToUDPAddrPort(b, to); err != nil {
			t.Fatal(err)
		}
	}
	for i, b := range [][]byte{
		nil, {1}, []byte("garbage that is long enough"),
		append([]byte{2}, good[1:]...),        // version
		append(good[:len(good):len(good)], 0), // length mismatch
		make([]byte, MaxFrameLen+1),           // oversize datagram
	} {
		sendRaw(b)
		waitStats(t, u, func(s Stats) bool { return s.Dropped[DropMalformed] == uint64(i+1) })
	}
	spoof, _ := AppendFrame(nil, Frame{Src: 3, Dst: 2})
	sendRaw(spoof)
	waitStats(t, u, func(s Stats) bool { return s.Dropped[DropUnknownSource] == 2 })
	other, _ := AppendFrame(nil, Frame{Src: 1, Dst: 7})
	sendRaw(other)
	waitStats(t, u, func(s Stats) bool { return s.Dropped[DropNotForMe] == 1 })

	// Node 3 is not node 1's neighbour: node 3 drops what node 1 sends it
	// directly, bypassing node 1's own range check.
	to3 := ps[2].LocalAddr()
	direct, _ := AppendFrame(nil, Frame{Src: 1, Dst: 3})
	n1.conn.WriteToUDPAddrPort(direct, to3)
	waitStats(t, u, func(s Stats) bool { return s.Dropped[DropNotNeighbour] == 1 })

	// None of it reached node 2's queue; a good frame still does.
	sendRaw(good)
	if f := mustRecv(t, n2); string(f.Payload) != "x" {
		t.Fatalf("got %+v", f)
	}
	mustNotRecv(t, n2)
}

func TestUDPQueueFull(t *testing.T) {
	u, ps := udpLine(t) // QueueLen 8
	for i := range 20 {
		if err := ps[0].Send(Frame{Dst: 2, Payload: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	s := waitStats(t, u, func(s Stats) bool { return s.Delivered+s.Dropped[DropQueueFull] == 20 })
	if s.Delivered != 8 {
		t.Fatalf("stats %s", s)
	}
}

func TestUDPRefusesNonLoopback(t *testing.T) {
	top := &Topology{Nodes: []TopologyNode{{ID: 1, Addr: netip.MustParseAddrPort("0.0.0.0:40001")}}}
	if _, err := NewUDP(UDPConfig{Topology: top}); !errors.Is(err, ErrTopology) {
		t.Fatalf("wildcard address accepted: %v", err)
	}
	top = &Topology{Nodes: []TopologyNode{{ID: 1, Addr: netip.MustParseAddrPort("192.0.2.7:40001")}}}
	if _, err := NewUDP(UDPConfig{Topology: top}); !errors.Is(err, ErrTopology) {
		t.Fatalf("non-loopback address accepted: %v", err)
	}
}
