//go:build unix

package main

// Slow clients (Slowloris): a real prose-as serve with short timeouts.

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// trickle writes msg to a new connection one byte every gap until the
// server closes the connection, and returns how long the connection lived
// and what the server answered (if anything); the server must close it
// within 30 s after the whole of msg could have been sent (trickleBody).
func trickle(t *testing.T, addr, msg string, gap time.Duration) (lived time.Duration, answer string) {
	t.Helper()
	return trickleBody(t, addr, "", msg, gap, time.Duration(len(msg)+1)*gap+30*time.Second)
}

// TestSlowClientsAreDisconnected opens connections that send their headers
// or their body a byte at a time, slower than --read-header-timeout and
// --read-timeout allow: the server must close each of them (a slow body
// gets a 400 first, or just the close), long before the request could have
// been completed, while other clients are served normally throughout.
func TestSlowClientsAreDisconnected(t *testing.T) {
	s := startServer(t, t.TempDir(), nil, "--insecure-http", "--read-header-timeout", "500ms", "--read-timeout", "1s", "--write-timeout", "5s")
	body := "grant_type=client_credentials&scope=u2u%3Ause%3A00002a"
	slowHeaders := "POST /oauth2/token HTTP/1.1\r\nHost: " + s.public + "\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
		"X-Pad: " + strings.Repeat("a", 200) + "\r\n\r\n"
	slowBody := fmt.Sprintf("POST /oauth2/token HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n", s.public, len(body)+200)
	const gap = 100 * time.Millisecond // whole requests would take > 25 s
	const slow = 20

	type result struct {
		kind   string
		lived  time.Duration
		answer string
	}
	results := make(chan result, 2*slow)
	var wg sync.WaitGroup
	for i := 0; i < slow; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			lived, a := trickle(t, s.public, slowHeaders, gap)
			results <- result{"headers", lived, a}
		}()
		go func() {
			defer wg.Done()
			// Headers at once, then the body byte by byte.
			c, err := net.Dial("tcp", s.public)
			if err != nil {
				t.Errorf("dial: %v", err)
				return
			}
			defer c.Close()
			start := time.Now()
			if _, err := io.WriteString(c, slowBody); err != nil {
				t.Errorf("write: %v", err)
				return
			}
			done := make(chan string, 1)
			go func() { b, _ := io.ReadAll(c); done <- string(b) }()
			payload := body + strings.Repeat("&", 200)
			for i := 0; ; i++ {
				select {
				case a := <-done:
					results <- result{"body", time.Since(start), a}
					return
				case <-time.After(gap):
				}
				if i < len(payload) {
					c.Write([]byte{payload[i]})
				} else if i > len(payload)+300 {
					t.Errorf("slow body: not disconnected after %v", time.Since(start))
					return
				}
			}
		}()
	}

	// Meanwhile, normal clients are served: readiness, JWKS, a token request.
	hc := &http.Client{Timeout: 5 * time.Second}
	stop := time.Now().Add(1500 * time.Millisecond)
	served := 0
	for time.Now().Before(stop) {
		for _, p := range []string{"/readyz", "/.well-known/jwks.json"} {
			resp, err := hc.Get(s.url(p))
			if err != nil {
				t.Fatalf("a normal client failed while slow clients were connected: GET %s: %v", p, err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("GET %s: %d", p, resp.StatusCode)
			}
			served++
		}
		code, b, err := tokenRequest(t.Context(), hc, s.url("/oauth2/token"), [2]string{"nobody", "x"}, url.Values{})
		if err != nil || code != 401 {
			t.Fatalf("token request while slow clients were connected: %d %s %v", code, b, err)
		}
		served++
		time.Sleep(50 * time.Millisecond)
	}
	wg.Wait()
	close(results)
	n := 0
	longest := map[string]time.Duration{}
	answers := map[string]string{}
	for r := range results {
		n++
		longest[r.kind] = max(longest[r.kind], r.lived)
		answers[r.kind+" "+firstLine(r.answer)] = ""
		// Bounded: far below the > 25 s a whole slow request takes. The
		// bound is generous on purpose (a loaded machine); the timeouts are
		// 0.5 s and 1 s.
		if r.lived > 10*time.Second {
			t.Errorf("slow %s: connection lived %v", r.kind, r.lived)
		}
		if r.answer != "" && !strings.HasPrefix(r.answer, "HTTP/1.1 4") {
			t.Errorf("slow %s: answered %q, want a 4xx or a close", r.kind, firstLine(r.answer))
		}
		if strings.HasPrefix(r.answer, "HTTP/1.1 200") || strings.Contains(r.answer, "access_token") {
			t.Errorf("slow %s: served a request it never finished sending", r.kind)
		}
	}
	if n != 2*slow {
		t.Errorf("%d slow connections reported, want %d", n, 2*slow)
	}
	t.Logf("%d slow connections closed (longest: %v; answers: %v); %d normal requests served meanwhile", n, longest, sortedKeys(answers), served)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\r\n")
	return l
}

// TestTimeoutFlagsChecked: the timeouts must be positive, and the header
// timeout cannot exceed the whole-request timeout.
func TestTimeoutFlagsChecked(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--read-header-timeout", "0s"}, "--read-header-timeout 0s: want a positive duration"},
		{[]string{"--read-timeout", "-1s"}, "--read-timeout -1s: want a positive duration"},
		{[]string{"--write-timeout", "0"}, "--write-timeout 0s"},
		{[]string{"--idle-timeout", "0"}, "--idle-timeout 0s"},
		{[]string{"--read-header-timeout", "20s", "--read-timeout", "10s"}, "exceeds --read-timeout"},
		{[]string{"--client-rate-limit", "-1"}, "--client-rate-limit -1"},
		{[]string{"--client-rate-burst", "0"}, "--client-rate-burst 0: want at least 1"},
		{[]string{"--trusted-proxies", "10.0.0.1/8"}, "has host bits set; did you mean 10.0.0.0/8?"},
		{[]string{"--trusted-proxies", "127.0.0.1/32,proxy.example"}, `"proxy.example" is neither a CIDR prefix`},
	} {
		_, errOut, code := cli(t, nil, append([]string{"serve", "--data-dir", t.TempDir()}, tc.args...)...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("serve %q: exit %d, stderr %q; want exit 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
}

// TestSlowTLSHandshakeIsDisconnected: on the TLS listener, a client that
// sends its ClientHello a byte at a time (or not at all) is disconnected
// within the header timeout as well.
func TestSlowTLSHandshakeIsDisconnected(t *testing.T) {
	s := startServer(t, t.TempDir(), nil, "--read-header-timeout", "500ms", "--read-timeout", "1s")
	for _, gap := range []time.Duration{0, 100 * time.Millisecond} {
		c, err := net.Dial("tcp", s.public)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		done := make(chan struct{})
		go func() { io.ReadAll(c); close(done) }()
		// A TLS 1.2 record header and the start of a ClientHello.
		hello := []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03}
		closed := false
		for i := 0; !closed && time.Since(start) < 20*time.Second; i++ {
			if gap > 0 && i < len(hello) {
				c.Write(hello[i : i+1])
			}
			select {
			case <-done:
				closed = true
			case <-time.After(max(gap, 100*time.Millisecond)):
			}
		}
		c.Close()
		if !closed {
			t.Errorf("gap %v: a slow TLS handshake kept the connection open for 20s", gap)
		}
		// Normal TLS clients are served.
		resp, err := s.client.Get(s.url("/readyz"))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("readyz over TLS: %v %v", resp, err)
		}
		resp.Body.Close()
	}
}
