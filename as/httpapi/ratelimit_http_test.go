package httpapi_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prosesec/prosesec/as"
	"github.com/prosesec/prosesec/as/httpapi"
)

// clientFrom returns an HTTP client whose connections come from the
// loopback address ip (127.0.0.0/8 is all loopback on Linux).
func clientFrom(t *testing.T, ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func postWith(t *testing.T, c *http.Client, u, body string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestRateLimitOverHTTP(t *testing.T) {
	a := newTestASWith(t, func(o *httpapi.Options) { o.RateLimit = httpapi.RateLimit{Rate: 0.5, Burst: 3} })
	u1 := a.registerUE("ue-1", []string{"u2u:use:000001"}, false)
	u2 := a.registerUE("ue-2", []string{"u2u:use:000001"}, false)
	u3 := a.registerUE("ue-3", []string{"u2u:use:000001"}, true)
	tokenURL := a.issuer + "/oauth2/token"
	cc := "grant_type=client_credentials"
	here := clientFrom(t, "127.0.0.1")
	there := clientFrom(t, "127.0.0.2")
	tokens := func() int {
		toks, err := a.srv.ListTokens(ctx, as.TokenFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		return len(toks)
	}

	// Burst, then 429 slow_down with Retry-After rounded up (rate 0.5/s: 2 s).
	for i := 0; i < 3; i++ {
		if resp, b := postWith(t, here, tokenURL, cc, basicHdr(u1.id, u1.secret)); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i+1, resp.StatusCode, b)
		}
	}
	before := tokens()
	req, _ := http.NewRequest("POST", tokenURL, strings.NewReader(cc))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", basicHdr(u1.id, u1.secret)["Authorization"])
	resp, err := here.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	m := decodeBody(t, resp)
	checkOAuthError(t, "rate limited", resp, m, http.StatusTooManyRequests, "slow_down")
	if ra := resp.Header.Get("Retry-After"); ra != "2" {
		t.Errorf("Retry-After %q, want 2", ra)
	}
	if tokens() != before {
		t.Error("a refused request wrote a token record")
	}

	// An attacker at another address with ue-2's ID and wrong secrets is
	// stopped after the burst; ue-2 itself is not.
	for i := 0; i < 10; i++ {
		resp, b := postWith(t, there, tokenURL, cc, basicHdr(u2.id, "wrong"))
		want := 401
		if i >= 3 {
			want = 429
		}
		if resp.StatusCode != want {
			t.Fatalf("attacker request %d: %d %s, want %d", i+1, resp.StatusCode, b, want)
		}
	}
	for i := 0; i < 3; i++ {
		if resp, b := postWith(t, here, tokenURL, cc, basicHdr(u2.id, u2.secret)); resp.StatusCode != 200 {
			t.Fatalf("victim request %d: %d %s", i+1, resp.StatusCode, b)
		}
	}

	// private_key_jwt without client_id: keyed by the assertion's sub.
	jwtForm := func() string {
		return url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {as.ClientAssertionTypeJWTBearer},
			"client_assertion": {u3.assertion(t, tokenURL, a.clk.Now(), nil)}}.Encode()
	}
	for i := 0; i < 4; i++ {
		resp, b := postWith(t, here, tokenURL, jwtForm(), nil)
		want := 200
		if i == 3 {
			want = 429
		}
		if resp.StatusCode != want {
			t.Fatalf("assertion request %d: %d %s, want %d", i+1, resp.StatusCode, b, want)
		}
	}

	// The AS clock drives the buckets: 2 s later ue-1 may ask again.
	a.clk.Advance(2 * time.Second)
	if resp, b := postWith(t, here, tokenURL, cc, basicHdr(u1.id, u1.secret)); resp.StatusCode != 200 {
		t.Fatalf("after Retry-After: %d %s", resp.StatusCode, b)
	}
	_, metrics := a.get("/metrics", nil)
	if !strings.Contains(string(metrics), "prose_as_token_requests_rate_limited_total 9") {
		t.Errorf("rate-limited counter missing or wrong:\n%s", grepLines(string(metrics), "rate_limited"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func decodeBody(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("body is not JSON: %q", b)
	}
	return m
}

// TestRateLimitBehindTrustedProxy: behind a reverse proxy (every request
// from 127.0.0.1), an attacker who knows a client's ID drains that
// client's failure bucket only for the address the proxy saw for the
// attacker; the victim, at another address, still gets its token. Without
// TrustedProxies the two share the proxy's address and the victim is
// refused: the setting is what keeps the guarantee behind a proxy.
func TestRateLimitBehindTrustedProxy(t *testing.T) {
	for _, trusted := range []bool{true, false} {
		a := newTestASWith(t, func(o *httpapi.Options) {
			o.RateLimit = httpapi.RateLimit{Rate: 0.5, Burst: 3}
			if trusted {
				o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
			}
		})
		victim := a.registerUE("ue-1", []string{"u2u:use:000001"}, false)
		tokenURL := a.issuer + "/oauth2/token"
		cc := "grant_type=client_credentials"
		proxy := clientFrom(t, "127.0.0.1")
		refused := 0
		for range 10 {
			hdr := basicHdr(victim.id, "wrong-secret")
			hdr["X-Forwarded-For"] = "198.51.100.66"
			if resp, _ := postWith(t, proxy, tokenURL, cc, hdr); resp.StatusCode == http.StatusTooManyRequests {
				refused++
			}
		}
		if refused == 0 {
			t.Fatalf("trusted=%v: the attacker's failures were never limited", trusted)
		}
		hdr := basicHdr(victim.id, victim.secret)
		hdr["X-Forwarded-For"] = "198.51.100.7"
		resp, body := postWith(t, proxy, tokenURL, cc, hdr)
		switch {
		case trusted && resp.StatusCode != http.StatusOK:
			t.Errorf("behind a trusted proxy the victim got %d %s, want its token", resp.StatusCode, body)
		case !trusted && resp.StatusCode != http.StatusTooManyRequests:
			t.Errorf("without TrustedProxies the victim got %d, want 429 (shared proxy address)", resp.StatusCode)
		}
	}
}
