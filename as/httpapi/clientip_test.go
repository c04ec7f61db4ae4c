package httpapi

import (
	"net/http"
	"net/netip"
	"testing"
)

func TestSourceIP(t *testing.T) {
	h := &handler{proxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")}}
	for _, tc := range []struct {
		name string
		peer string
		xff  []string
		want string
	}{
		{"untrusted peer: XFF ignored", "192.0.2.1:4000", []string{"198.51.100.7"}, "192.0.2.1"},
		{"proxy without XFF", "127.0.0.1:4000", nil, "127.0.0.1"},
		{"proxy", "127.0.0.1:4000", []string{"198.51.100.7"}, "198.51.100.7"},
		{"client-written entry left of it", "127.0.0.1:4000", []string{"203.0.113.9, 198.51.100.7"}, "198.51.100.7"},
		{"inner trusted proxy skipped", "127.0.0.1:4000", []string{"198.51.100.7, 10.1.2.3"}, "198.51.100.7"},
		{"two header lines in order", "127.0.0.1:4000", []string{"203.0.113.9", "198.51.100.7,10.1.2.3"}, "198.51.100.7"},
		{"garbage from the proxy", "127.0.0.1:4000", []string{"198.51.100.7, unknown"}, "127.0.0.1"},
		{"IPv4-mapped", "127.0.0.1:4000", []string{"::ffff:198.51.100.7"}, "198.51.100.7"},
		{"IPv6 with zone", "127.0.0.1:4000", []string{"fe80::1%eth0"}, "fe80::1"},
		{"only proxies", "127.0.0.1:4000", []string{"10.0.0.1"}, "127.0.0.1"},
		{"IPv6 peer not trusted", "[2001:db8::1]:4000", []string{"198.51.100.7"}, "2001:db8::1"},
	} {
		r := &http.Request{RemoteAddr: tc.peer, Header: http.Header{}}
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := h.sourceIP(r); got != tc.want {
			t.Errorf("%s: sourceIP = %q, want %q", tc.name, got, tc.want)
		}
	}
	// Without trusted proxies X-Forwarded-For never counts.
	r := &http.Request{RemoteAddr: "127.0.0.1:4000", Header: http.Header{"X-Forwarded-For": {"198.51.100.7"}}}
	if got := (&handler{}).sourceIP(r); got != "127.0.0.1" {
		t.Errorf("no trusted proxies: sourceIP = %q, want the peer", got)
	}
}

func TestCheckTrustedProxies(t *testing.T) {
	if err := checkTrustedProxies([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []netip.Prefix{netip.MustParsePrefix("10.0.0.1/8"), {}} {
		if err := checkTrustedProxies([]netip.Prefix{p}); err == nil {
			t.Errorf("%v accepted", p)
		}
	}
}
