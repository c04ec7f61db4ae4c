package node

import (
	"errors"
	"testing"

	"github.com/prosesec/prosesec/pc5/link"
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
