//go:build linux

package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// readResponse on a table of responses, each followed by a second one on
// the same stream, so that a reader that takes too much or too little of
// the first breaks the second.
func TestReadResponse(t *testing.T) {
	const next = "HTTP/1.1 204 No Content\r\n\r\n"
	cases := []struct {
		name   string
		in     string
		status int
		body   string
		keep   bool
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: application/json\r\n\r\nhello", 200, "hello", true},
		{"no reason phrase", "HTTP/1.1 200\r\ncontent-length: 2\r\n\r\nok", 200, "ok", true},
		{"bare LF lines", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", 200, "ok", true},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n", 200, "hello world", true},
		{"chunked with trailer, upper-case hex", "HTTP/1.1 200 OK\r\nTRANSFER-ENCODING: chunked\r\n\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n", 200, "0123456789", true},
		{"same content-length twice", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length:2\r\n\r\nok", 200, "ok", true},
		{"content-length with leading zeros", "HTTP/1.1 200 OK\r\nContent-Length: 002\r\n\r\nok", 200, "ok", true},
		{"connection close", "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 27\r\n\r\n{\"error\":\"invalid_request\"}", 400, `{"error":"invalid_request"}`, false},
		{"connection keep-alive, close", "HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n", 200, "", false},
		{"HTTP/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx", 200, "x", true},
		{"100 continue first", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\ny", 201, "y", true},
		{"204 has no body", "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", 204, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			br := bufio.NewReaderSize(strings.NewReader(c.in+next), 64)
			var body []byte
			status, keep, err := readResponse(br, &body)
			if err != nil || status != c.status || string(body) != c.body || keep != c.keep {
				t.Fatalf("got %d %q keep=%v err=%v; want %d %q keep=%v", status, body, keep, err, c.status, c.body, c.keep)
			}
			if status, _, err := readResponse(br, &body); err != nil || status != 204 {
				t.Fatalf("next response: %d %v", status, err)
			}
			// No truncation of the response parses.
			for i := range len(c.in) {
				if s, _, err := readResponse(bufio.NewReaderSize(strings.NewReader(c.in[:i]), 64), &body); err == nil {
					t.Fatalf("truncated at %d of %d: parsed as %d %q", i, len(c.in), s, body)
				}
			}
		})
	}
	// Delimited by the end of the connection (HTTP/1.0, no length).
	var body []byte
	status, keep, err := readResponse(bufio.NewReader(strings.NewReader("HTTP/1.0 200 OK\r\n\r\nuntil the end")), &body)
	if err != nil || status != 200 || keep || string(body) != "until the end" {
		t.Errorf("EOF-delimited: %d %q keep=%v %v", status, body, keep, err)
	}
	bad := map[string]string{
		"not HTTP":             "SSH-2.0-OpenSSH\r\n\r\n",
		"HTTP/2":               "HTTP/2 200\r\n\r\n",
		"status not numeric":   "HTTP/1.1 2x0 OK\r\n\r\n",
		"no space after code":  "HTTP/1.1 200OK\r\n\r\n",
		"101":                  "HTTP/1.1 101 Switching Protocols\r\n\r\n",
		"header without colon": "HTTP/1.1 200 OK\r\nContent-Length 5\r\n\r\nhello",
		"space in name":        "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello",
		"negative length":      "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"two lengths":          "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxy",
		"signed length":        "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok",
		"length list":          "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok",
		"length not decimal":   "HTTP/1.1 200 OK\r\nContent-Length: 0x2\r\n\r\nok",
		"empty length":         "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
		"length overflow":      "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
		// RFC 9112 §6.3: both framings at once (request smuggling,
		// response splitting) is an error, in either order.
		"chunked and length":   "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"length and chunked":   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"too large":            fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", rawMaxBody+1),
		"gzip coding":          "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"bad chunk size":       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"huge chunk size":      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFF\r\n",
		"chunk without CRLF":   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX0\r\n\r\n",
		"header line too long": "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", rawReadBufSize) + "\r\n\r\n",
		"too many headers":     "HTTP/1.1 200 OK\r\n" + strings.Repeat("X: 1\r\n", rawMaxHeaders+2) + "\r\n",
	}
	for name, in := range bad {
		if s, _, err := readResponse(bufio.NewReaderSize(strings.NewReader(in), rawReadBufSize), &body); err == nil {
			t.Errorf("%s: parsed as %d %q", name, s, body)
		}
	}
}

// The raw client against a real net/http server on loopback whose handler
// answers chunked, with Connection: close, or plainly; every answer must
// be read whole, and a closed connection replaced.
func TestRawClientTrickyServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int64
	srv := &http.Server{
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || r.Header.Get("Authorization") != "Basic eDp5" {
				http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
				return
			}
			switch string(b) {
			case "chunked":
				w.Write([]byte(`{"access_token":"`))
				w.(http.Flusher).Flush() // no Content-Length any more: chunked
				w.Write([]byte(strings.Repeat("c", 10000) + `"}`))
			case "close":
				w.Header().Set("Connection", "close")
				w.Write([]byte(`{"access_token":"closed"}`))
			case "error":
				w.WriteHeader(http.StatusUnauthorized)
				w.Write([]byte(`{"error":"invalid_client"}`))
			default:
				w.Write([]byte(`{"access_token":"plain"}`))
			}
		}),
	}
	go srv.Serve(ln)
	defer srv.Close()

	sp := &loadSpec{urls: []string{"http://" + ln.Addr().String() + "/oauth2/token"}, basic: []string{"Basic eDp5"}}
	sh, err := newRequestShared(sp)
	if err != nil {
		t.Fatal(err)
	}
	p, err := newRequester(context.Background(), sp, sh)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	seq := []struct {
		body, key string
		want      string
	}{
		{"plain", "", `{"access_token":"plain"}`},
		{"chunked", "", `{"access_token":"` + strings.Repeat("c", 10000) + `"}`},
		{"plain", "", `{"access_token":"plain"}`},
		{"close", "", `{"access_token":"closed"}`},
		{"plain", "", `{"access_token":"plain"}`}, // on a new connection
		{"error", "401 invalid_client", `{"error":"invalid_client"}`},
		{"chunked", "", `{"access_token":"` + strings.Repeat("c", 10000) + `"}`},
	}
	for i, s := range seq {
		status, key, err := p.post(time.Now(), 0, 0, []byte(s.body))
		if err != nil || key != s.key || string(p.lastBody()) != s.want+"\n" && string(p.lastBody()) != s.want {
			t.Fatalf("request %d (%s): %d %q %v, body %.60q", i, s.body, status, key, err, p.lastBody())
		}
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2 (one replaced after Connection: close)", n)
	}
}

// A server that closes a keep-alive connection after each answer without
// saying so: the next request on the old connection fails before any
// response octet and is sent again on a new one.
func TestRawClientKeepAliveRace(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var served atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				served.Add(1)
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 23\r\n\r\n{\"access_token\":\"race\"}")
			}()
		}
	}()
	sp := &loadSpec{urls: []string{"http://" + ln.Addr().String() + "/oauth2/token"}, bodies: [][]byte{[]byte("x")}}
	sh, err := newRequestShared(sp)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := newRequester(context.Background(), sp, sh)
	defer p.close()
	for i := range 5 {
		time.Sleep(20 * time.Millisecond) // let the server's close arrive
		if _, key, err := p.post(time.Now(), 0, -1, []byte("grant_type=client_credentials")); err != nil || key != "" {
			t.Fatalf("request %d: %q %v", i, key, err)
		}
	}
	if served.Load() != 5 {
		t.Errorf("served %d", served.Load())
	}
	// A server that is gone is an error, not a hang.
	ln.Close()
	time.Sleep(20 * time.Millisecond)
	if _, _, err := p.post(time.Now(), 0, -1, []byte("x")); err == nil {
		t.Errorf("no error from a closed server")
	}
}

// The raw client over TLS (an https target with --cacert), and a request
// blocked on a silent server ends when the run's context does.
func TestRawClientTLSAndCancel(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"access_token":"tls"}`))
	}))
	var conns atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	defer srv.Close()
	roots := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	sp := &loadSpec{urls: []string{srv.URL + "/oauth2/token"}, tlsConf: &tls.Config{RootCAs: roots}}
	sh, err := newRequestShared(sp)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := newRequester(context.Background(), sp, sh)
	for i := range 3 {
		if _, key, err := p.post(time.Now(), 0, -1, []byte("x")); err != nil || key != "" || string(p.lastBody()) != `{"access_token":"tls"}` {
			t.Fatalf("request %d over TLS: %q %v %q", i, key, err, p.lastBody())
		}
	}
	// The idle check before each request on the kept-alive connection
	// (a peek at the socket, under TLS at encrypted records) keeps it.
	if n := conns.Load(); n != 1 {
		t.Errorf("%d TLS connections for 3 requests, want 1", n)
	}
	p.close()
	// Without the CA the handshake fails.
	sp.tlsConf = nil
	sh, _ = newRequestShared(sp)
	p, _ = newRequester(context.Background(), sp, sh)
	if _, _, err := p.post(time.Now(), 0, -1, []byte("x")); err == nil {
		t.Errorf("TLS without the CA: no error")
	}
	p.close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // reads nothing, answers nothing
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	sp = &loadSpec{urls: []string{"http://" + ln.Addr().String() + "/oauth2/token"}}
	sh, _ = newRequestShared(sp)
	p, _ = newRequester(ctx, sp, sh)
	defer p.close()
	time.AfterFunc(100*time.Millisecond, cancel)
	t0 := time.Now()
	if _, _, err := p.post(time.Now(), 0, -1, []byte("x")); err == nil || time.Since(t0) > 10*time.Second {
		t.Errorf("silent server: %v after %v", err, time.Since(t0))
	}
}

// rawTestServer accepts connections on a loopback listener and runs serve
// on each, numbered from 0; it returns the target URL. The listener is
// closed at the end of the test.
func rawTestServer(t *testing.T, serve func(n int, c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for n := 0; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(n, c)
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/oauth2/token"
}

// Octets the server sends on a keep-alive connection beyond the response
// (an unsolicited response) are not taken as the answer to the next
// request: the connection is replaced. Both when they came in the same
// segment as the response (already buffered) and when they arrive later,
// while the connection is idle (still in the socket).
func TestRawClientUnsolicitedData(t *testing.T) {
	for _, later := range []bool{false, true} {
		t.Run(fmt.Sprintf("later=%v", later), func(t *testing.T) {
			var conns atomic.Int64
			url := rawTestServer(t, func(n int, c net.Conn) {
				conns.Add(1)
				br := bufio.NewReader(c)
				for i := 0; ; i++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					switch {
					case n == 0 && i == 0 && !later:
						io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 418 Stale\r\nContent-Length: 0\r\n\r\n")
					case n == 0 && i == 0:
						io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
						time.Sleep(20 * time.Millisecond)
						io.WriteString(c, "HTTP/1.1 418 Stale\r\nContent-Length: 0\r\n\r\n")
					default:
						io.WriteString(c, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
					}
				}
			})
			tg, err := newRawTarget(url, nil)
			if err != nil {
				t.Fatal(err)
			}
			c := &rawConn{t: tg, dialer: &net.Dialer{}}
			defer c.close()
			var body []byte
			req := tg.request(nil, "", []byte("a=b"))
			if st, err := c.roundTrip(context.Background(), time.Now(), req, &body); err != nil || st != 200 || string(body) != "ok" {
				t.Fatalf("request 1: %d %q %v", st, body, err)
			}
			time.Sleep(100 * time.Millisecond) // the late octets arrive
			for i := 2; i <= 3; i++ {
				if st, err := c.roundTrip(context.Background(), time.Now(), req, &body); err != nil || st != 201 {
					t.Fatalf("request %d: %d %v, want 201 (418 is the unsolicited response left on the first connection)", i, st, err)
				}
			}
			if n := conns.Load(); n != 2 {
				t.Errorf("%d connections, want 2", n)
			}
		})
	}
}

// A POST the server has read is not sent again when the connection then
// fails: the server may have acted on it (issued a token), and the run
// would count one request for two. net/http does not replay it either.
func TestRawClientPostNotReplayed(t *testing.T) {
	var seen atomic.Int64
	url := rawTestServer(t, func(_ int, c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			if seen.Add(1) == 2 { // acts on the request, then dies without answering
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
		}
	})
	tg, _ := newRawTarget(url, nil)
	c := &rawConn{t: tg, dialer: &net.Dialer{}}
	defer c.close()
	var body []byte
	req := tg.request(nil, "", []byte("a=b"))
	if st, err := c.roundTrip(context.Background(), time.Now(), req, &body); err != nil || st != 200 {
		t.Fatalf("request 1: %d %v", st, err)
	}
	if st, err := c.roundTrip(context.Background(), time.Now(), req, &body); err == nil {
		t.Errorf("request 2: %d without error, the server never answered it", st)
	}
	if n := seen.Load(); n != 2 {
		t.Errorf("the server received %d POSTs for 2 requests", n)
	}
	// The next request goes on a new connection.
	if st, err := c.roundTrip(context.Background(), time.Now(), req, &body); err != nil || st != 200 {
		t.Errorf("request 3: %d %v", st, err)
	}
}

// A request whose write fails on a reused connection never reached the
// server whole and is sent again, once, on a new connection.
func TestRawClientWriteFailureRetried(t *testing.T) {
	var seen atomic.Int64
	url := rawTestServer(t, func(_ int, c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				time.Sleep(time.Second) // keeps the connection open, silent
				return
			}
			io.Copy(io.Discard, req.Body)
			seen.Add(1)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
		}
	})
	tg, _ := newRawTarget(url, nil)
	c := &rawConn{t: tg, dialer: &net.Dialer{}}
	defer c.close()
	var body []byte
	req := tg.request(nil, "", []byte("a=b"))
	if st, err := c.roundTrip(context.Background(), time.Now(), req, &body); err != nil || st != 200 {
		t.Fatalf("request 1: %d %v", st, err)
	}
	// The next write on this connection fails (EPIPE); the server keeps
	// its end open and says nothing.
	if err := c.conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if st, err := c.roundTrip(context.Background(), time.Now(), req, &body); err != nil || st != 200 {
		t.Fatalf("request 2: %d %v, want a retry on a new connection", st, err)
	}
	if n := seen.Load(); n != 2 {
		t.Errorf("the server received %d requests, want 2", n)
	}
}

// A request on a kept-alive connection costs the raw client no
// allocation.
func TestRawClientNoAllocs(t *testing.T) {
	var reqLen atomic.Int64 // set before the first request
	url := rawTestServer(t, func(_ int, c net.Conn) {
		// Reads the requests, all the same, and answers each, allocating
		// nothing either.
		buf := make([]byte, 4096)
		resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 25\r\n\r\n{\"access_token\":\"alloc\"}\n")
		for {
			if _, err := io.ReadFull(c, buf[:reqLen.Load()]); err != nil {
				return
			}
			c.Write(resp)
		}
	})
	tg, _ := newRawTarget(url, nil)
	c := &rawConn{t: tg, dialer: &net.Dialer{}}
	defer c.close()
	req := tg.request(nil, "", []byte("a=b"))
	reqLen.Store(int64(len(req)))
	body := make([]byte, 0, 4096)
	ctx := context.Background()
	now := time.Now()
	for range 3 {
		if st, err := c.roundTrip(ctx, now, req, &body); err != nil || st != 200 {
			t.Fatalf("%d %v", st, err)
		}
	}
	allocs := testing.AllocsPerRun(200, func() {
		if st, err := c.roundTrip(ctx, now, req, &body); err != nil || st != 200 {
			t.Fatalf("%d %v", st, err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per request", allocs)
	}
}
