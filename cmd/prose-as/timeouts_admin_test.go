//go:build unix

package main

// More slow clients against a real prose-as serve: the admin listener, and
// clients that never read their responses.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// trickleBody sends head at once and then body a byte every gap, until the
// server answers or closes the connection; it returns how long the
// connection lived and the answer, if any. It gives up (failing the test)
// when the connection outlives bound.
func trickleBody(t *testing.T, addr, head, body string, gap, bound time.Duration) (time.Duration, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Errorf("dial: %v", err)
		return 0, ""
	}
	defer c.Close()
	start := time.Now()
	if _, err := io.WriteString(c, head); err != nil {
		t.Errorf("write: %v", err)
		return 0, ""
	}
	done := make(chan string, 1)
	go func() { b, _ := io.ReadAll(c); done <- string(b) }()
	for i := 0; ; i++ {
		select {
		case a := <-done:
			return time.Since(start), a
		case <-time.After(gap):
		}
		if i < len(body) {
			c.Write([]byte{body[i]})
		}
		if time.Since(start) > bound {
			t.Errorf("slow body to %s: not disconnected after %v", addr, time.Since(start))
			return time.Since(start), ""
		}
	}
}

// TestSlowAdminClientsAreDisconnected: on the admin listener, clients that
// send their headers or their (authenticated) body a byte at a time are
// disconnected, as on the public one, while a normal admin client is served.
func TestSlowAdminClientsAreDisconnected(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, nil, "--insecure-http", "--read-header-timeout", "500ms", "--read-timeout", "1s", "--write-timeout", "5s")
	admTok := readTrimmed(t, filepath.Join(dir, fileAdminToken))
	body := `{"id":"slow-ue","public_key":{"kty":"EC","crv":"P-256","x":"` + strings.Repeat("A", 43) + `","y":"` + strings.Repeat("A", 43) + `"}}`
	slowHeaders := "POST /admin/v1/ues HTTP/1.1\r\nHost: " + s.admin + "\r\nAuthorization: Bearer " + admTok +
		"\r\nContent-Type: application/json\r\nX-Pad: " + strings.Repeat("a", 200) + "\r\n\r\n"
	slowHead := fmt.Sprintf("POST /admin/v1/ues HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		s.admin, admTok, len(body))
	const gap = 100 * time.Millisecond // whole requests would take > 15 s
	const slow = 5
	// Generous on purpose (a loaded machine); the timeouts are 0.5 s and
	// 1 s, a whole slow request takes more than 15 s.
	const bound = 10 * time.Second

	type result struct {
		kind   string
		lived  time.Duration
		answer string
	}
	results := make(chan result, 2*slow)
	var wg sync.WaitGroup
	for range slow {
		wg.Go(func() {
			lived, a := trickle(t, s.admin, slowHeaders, gap)
			results <- result{"headers", lived, a}
		})
		wg.Go(func() {
			lived, a := trickleBody(t, s.admin, slowHead, body, gap, 30*time.Second)
			results <- result{"body", lived, a}
		})
	}
	// Meanwhile a normal admin client is served.
	hc := &http.Client{Timeout: 5 * time.Second}
	served := 0
	for stop := time.Now().Add(1500 * time.Millisecond); time.Now().Before(stop); served++ {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", "http://"+s.admin+"/admin/v1/keys", nil)
		req.Header.Set("Authorization", "Bearer "+admTok)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("a normal admin client failed while slow clients were connected: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /admin/v1/keys: %d", resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
	wg.Wait()
	close(results)
	n := 0
	answers := map[string]string{}
	for r := range results {
		n++
		answers[r.kind+" "+firstLine(r.answer)] = ""
		if r.lived > bound {
			t.Errorf("slow %s: connection lived %v", r.kind, r.lived)
		}
		if r.answer != "" && !strings.HasPrefix(r.answer, "HTTP/1.1 4") {
			t.Errorf("slow %s: answered %q, want a 4xx or a close", r.kind, firstLine(r.answer))
		}
	}
	if n != 2*slow {
		t.Errorf("%d slow connections reported, want %d", n, 2*slow)
	}
	// The slow body never completed: no UE was created from it.
	req, _ := http.NewRequestWithContext(t.Context(), "GET", "http://"+s.admin+"/admin/v1/ues/slow-ue", nil)
	req.Header.Set("Authorization", "Bearer "+admTok)
	if resp, err := hc.Do(req); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET the UE of the slow bodies: %v %v; want 404", resp, err)
	} else {
		resp.Body.Close()
	}
	t.Logf("%d slow admin connections closed (answers: %v); %d normal admin requests served meanwhile", n, sortedKeys(answers), served)
}

// TestUnreadResponsesAreAbandoned: a client sends requests and never reads
// the responses (pipelined GETs whose answers far exceed the socket
// buffers, with a tiny receive buffer), so that the server blocks writing.
// With --write-timeout the server must give up and close the connection,
// not keep a goroutine blocked on it forever: once the client finally
// reads, it finds the connection closed with most answers never written,
// where a server without a write deadline would resume and answer them
// all on the still open connection.
func TestUnreadResponsesAreAbandoned(t *testing.T) {
	dir := t.TempDir()
	const writeTimeout = 500 * time.Millisecond
	s := startServer(t, dir, nil, "--insecure-http", "--read-header-timeout", "500ms", "--read-timeout", "1s",
		"--write-timeout", writeTimeout.String(), "--idle-timeout", "60s")
	admTok := readTrimmed(t, filepath.Join(dir, fileAdminToken))
	for _, tc := range []struct{ name, addr, req string }{
		{"public JWKS", s.public, "GET /.well-known/jwks.json HTTP/1.1\r\nHost: " + s.public + "\r\n\r\n"},
		{"admin keys", s.admin, "GET /admin/v1/keys HTTP/1.1\r\nHost: " + s.admin + "\r\nAuthorization: Bearer " + admTok + "\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const requests = 20000 // answers of about 1 kB each: about 20 MB
			d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
				var serr error
				err := rc.Control(func(fd uintptr) {
					serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
				})
				return errors.Join(err, serr)
			}}
			c, err := d.DialContext(t.Context(), "tcp", tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			go func() {
				// Blocks once the server stops reading; fails once it closes.
				batch := strings.Repeat(tc.req, 100)
				for range requests / 100 {
					if _, err := io.WriteString(c, batch); err != nil {
						return
					}
				}
			}()
			// Not a timing assertion: time for the server to block and hit
			// its write deadline, with a wide margin for a loaded machine.
			time.Sleep(writeTimeout + 5*time.Second)
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			var got bytes.Buffer
			_, err = io.Copy(&got, c)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("the server kept the connection open: %d answers read and no close within 20s of reading", bytes.Count(got.Bytes(), []byte("HTTP/1.1 ")))
			}
			answered := bytes.Count(got.Bytes(), []byte("HTTP/1.1 200 "))
			if answered >= requests {
				t.Fatalf("all %d requests were answered: the server never blocked, the test proves nothing", answered)
			}
			t.Logf("connection closed by the server (%v) after %d of %d answers (%d bytes) reached the client", err, answered, requests, got.Len())
		})
	}
	// The server still serves, on both listeners.
	resp, err := s.client.Get(s.url("/readyz"))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz after abandoned connections: %v %v", resp, err)
	}
	resp.Body.Close()
}
