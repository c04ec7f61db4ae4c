package node

import (
	"errors"
	"testing"
	"time"

	"github.com/prosesec/prosesec/pc5/link"
	"github.com/prosesec/prosesec/pc5/medium"
)

// The Endpoint and both drivers run with real handshakes in package relay's
// tests (in-memory medium with virtual time, and node.Run over UDP) and in
// cmd/prose-ue's multi-process test; these are the checks that need no
// credentials.

func TestNewEndpointConfig(t *testing.T) {
	for _, c := range []EndpointConfig{
		{},
		{Self: 1, RSC: 0x2a},
		{Self: 0, Link: &link.Config{}, RSC: 0x2a},
	} {
		if _, err := NewEndpoint(c); !errors.Is(err, ErrConfig) {
			t.Errorf("NewEndpoint(%+v) = %v, want ErrConfig", c, err)
		}
	}
	if _, err := NewEndpoint(EndpointConfig{Self: 1, Link: &link.Config{}, RSC: 0x2a}); err == nil {
		t.Error("an invalid link.Config was accepted")
	}
}

func TestSendRejectsNonIPv6(t *testing.T) {
	e := &Endpoint{}
	if err := e.Send(4, []byte{0x45, 0, 0, 20}); !errors.Is(err, ErrNotIP) {
		t.Fatalf("Send(IPv4) = %v, want ErrNotIP", err)
	}
	pkt := make([]byte, 40)
	pkt[0] = 0x60
	e.routes = nil
	if err := e.Send(4, pkt); !errors.Is(err, ErrNoRoute) {
		t.Fatalf("Send(no route) = %v, want ErrNoRoute", err)
	}
}

// TestOnDiscardUnknownPeer: a protected signalling PDU (LCID 1) from a
// peer without a link is counted and reported with ErrUnexpected; the
// discard of a PDU a link refuses is reported with the link's error (the
// downgrade attack of package sim shows its MAC-I failure this way).
func TestOnDiscardUnknownPeer(t *testing.T) {
	type seen struct {
		peer medium.L2ID
		lcid uint8
		err  error
	}
	var got []seen
	e := &Endpoint{peers: map[medium.L2ID]*epeer{}, cfg: EndpointConfig{
		OnDiscard: func(peer medium.L2ID, lcid uint8, err error) { got = append(got, seen{peer, lcid, err}) },
	}}
	e.HandleFrame(time.Unix(0, 0), medium.Frame{Src: 7, Dst: 1, LCID: 1, Payload: []byte{1, 2, 3}})
	if len(got) != 1 || got[0].peer != 7 || got[0].lcid != 1 || !errors.Is(got[0].err, ErrUnexpected) {
		t.Fatalf("OnDiscard saw %+v, want one ErrUnexpected from 7 on LCID 1", got)
	}
	if s := e.Stats(); s.Discarded != 1 {
		t.Fatalf("stats %+v, want 1 discarded", s)
	}
}
