package httpapi

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// The rate limit keys failed requests by the address of their source. A
// reverse proxy in front of the server hides that address: every request
// then comes from the proxy, and one attacker could drain the bucket that
// all clients share, or that of a client whose ID it knows. With the
// proxies listed in Options.TrustedProxies, the source of a request that
// arrives from one of them is the rightmost address of its
// X-Forwarded-For header (all its occurrences, in order) that is not
// itself a trusted proxy: the address the outermost trusted proxy saw.
// Entries left of it were written by the client and are never believed. A
// request from any other peer is its own source, and its X-Forwarded-For,
// which anyone can write, is ignored.

// checkTrustedProxies validates Options.TrustedProxies: valid prefixes
// with no host bits set.
func checkTrustedProxies(ps []netip.Prefix) error {
	for _, p := range ps {
		if !p.IsValid() || p.Masked() != p {
			return fmt.Errorf("as/httpapi: Options.TrustedProxies: %v is not a network prefix (want e.g. 127.0.0.1/32 or 10.0.0.0/8)", p)
		}
	}
	return nil
}

// trusted reports whether a is one of the trusted proxies.
func (h *handler) trusted(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	for _, p := range h.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// sourceIP is the address of the request's source for the rate limit:
// the peer, or behind a trusted proxy the address that proxy saw.
func (h *handler) sourceIP(r *http.Request) string {
	peer := peerIP(r)
	if len(h.proxies) == 0 {
		return peer
	}
	a, err := netip.ParseAddr(peer)
	if err != nil || !h.trusted(a) {
		return peer
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			ip, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				// A trusted proxy wrote something else: do not guess
				// further left, where the client writes.
				return peer
			}
			if !h.trusted(ip) {
				return ip.Unmap().WithZone("").String()
			}
		}
	}
	return peer
}

// peerIP is the IP address of the connection's peer.
func peerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
