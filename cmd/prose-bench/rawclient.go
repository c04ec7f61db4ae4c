//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"syscall"
	"time"
)

// The lean HTTP/1.1 client of --client raw (issue #2). net/http's client
// costs the load generator about 100 µs of CPU per request (goroutines per
// connection, header maps, body wrappers, the idle pool), on a 2-core
// machine as much as the server it measures. This one keeps one
// keep-alive connection per worker and target, writes requests serialised
// before the run (or a prepared header prefix and the body) in one write,
// and reads the response with a minimal reader of its own: status line,
// headers (Content-Length, Transfer-Encoding: chunked, Connection),
// the body read fully, in a buffer reused from request to request.
//
// Before a request goes on a kept-alive connection, the client makes sure
// nothing is waiting on it: octets left after the last response, or
// arrived since (an unsolicited response, which would otherwise be taken
// as the answer to this request and shift every later answer by one), or
// the server's close while the connection was idle. net/http's transport sees these with a read
// goroutine per connection; this client, without one, looks at its read
// buffer and peeks at the socket (one non-blocking recv(MSG_PEEK) system
// call, no allocation). Such a connection is closed and the request goes
// on a new one. A request is sent again only when its write failed on a
// reused connection: the server cannot have received it whole (net/http
// resends a POST only when nothing of it was written). Once written, a
// POST that gets no answer is an error, never sent again: the server may
// have issued the token.

const (
	rawTimeout       = 30 * time.Second // per request, from its write to the end of the body
	rawMaxBody       = 1 << 20          // longest response body accepted
	rawMaxHeaders    = 100              // header lines per response
	rawReadBufSize   = 16 << 10         // also the longest header line
	rawDeadlineSlack = 5 * time.Second  // the deadline is moved only when closer than rawTimeout - slack
)

// errRawTooLarge is a response body beyond rawMaxBody.
var errRawTooLarge = fmt.Errorf("response body larger than %d octets", rawMaxBody)

// rawTarget is one server: where to connect and the request head.
type rawTarget struct {
	addr string      // host:port to dial
	tls  *tls.Config // nil: plain HTTP
	// head is "POST path HTTP/1.1", Host and Content-Type, each ended by
	// CRLF; the Authorization and Content-Length lines and the blank line
	// follow.
	head []byte
}

func newRawTarget(rawURL string, tlsConf *tls.Config) (*rawTarget, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("prose-bench: raw client: bad URL %q", rawURL)
	}
	t := &rawTarget{addr: u.Host}
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		t.addr = net.JoinHostPort(u.Hostname(), port)
	}
	if u.Scheme == "https" {
		c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: u.Hostname(), NextProtos: []string{"http/1.1"}}
		if tlsConf != nil {
			c.RootCAs = tlsConf.RootCAs
		}
		t.tls = c
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	t.head = fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\n", path, u.Host)
	return t, nil
}

// request serialises one request to t with an optional Authorization
// header value and body, appended to dst.
func (t *rawTarget) request(dst []byte, auth string, body []byte) []byte {
	dst = append(dst, t.head...)
	if auth != "" {
		dst = append(dst, "Authorization: "...)
		dst = append(dst, auth...)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, "Content-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, "\r\n\r\n"...)
	return append(dst, body...)
}

// rawConn is one keep-alive connection to a target.
type rawConn struct {
	t        *rawTarget
	dialer   *net.Dialer
	conn     net.Conn
	br       *bufio.Reader
	deadline time.Time
	used     bool        // a request completed on conn: it is a reused connection
	stop     func() bool // unregisters the context watcher of conn
	// sc is the socket under conn (under TLS, the TCP connection), for
	// idle's peek; nil when conn is not a TCP connection.
	sc      syscall.RawConn
	peekFn  func(fd uintptr) bool // c.peek, bound once (no allocation per request)
	peekErr error
	peekBuf [1]byte
}

func (c *rawConn) dial(ctx context.Context) error {
	conn, err := c.dialer.DialContext(ctx, "tcp", c.t.addr)
	if err != nil {
		return err
	}
	if c.t.tls != nil {
		tc := tls.Client(conn, c.t.tls)
		hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			conn.Close()
			return err
		}
		conn = tc
	}
	c.sc = nil
	under := conn
	if tc, ok := conn.(*tls.Conn); ok {
		under = tc.NetConn()
	}
	if tcp, ok := under.(*net.TCPConn); ok {
		if sc, err := tcp.SyscallConn(); err == nil {
			c.sc = sc
			if c.peekFn == nil {
				c.peekFn = c.peek
			}
		}
	}
	c.conn, c.used, c.deadline = conn, false, time.Time{}
	// When the run's context ends (an interrupt), a request blocked on a
	// silent server fails at once instead of at its deadline.
	c.stop = context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	if c.br == nil {
		c.br = bufio.NewReaderSize(conn, rawReadBufSize)
	} else {
		c.br.Reset(conn)
	}
	return nil
}

func (c *rawConn) close() {
	if c.conn != nil {
		c.stop()
		c.conn.Close()
		c.conn, c.sc = nil, nil
	}
}

// idle reports whether the reused connection can carry the next request:
// nothing unread in the read buffer, and in the socket neither octets nor
// the server's close (end of stream or reset). Under TLS the peek sees
// encrypted records: any record waiting on an idle connection (an
// unsolicited response, a close_notify alert, rarely a key update) makes
// the connection be replaced, which is safe. Not seen: octets that arrive
// after this check, and, under TLS, a record crypto/tls has already read
// from the socket together with the response.
func (c *rawConn) idle() bool {
	if c.br.Buffered() > 0 {
		return false
	}
	if c.sc == nil {
		return true
	}
	c.peekErr = nil
	if err := c.sc.Read(c.peekFn); err != nil {
		return false
	}
	// EAGAIN: nothing to read. No error is an octet or the end of the
	// stream; any other error (a reset) is as bad.
	return c.peekErr == syscall.EAGAIN
}

// peek is the RawConn.Read callback of idle: one recv of at most an octet
// that neither consumes it nor waits.
func (c *rawConn) peek(fd uintptr) bool {
	_, _, c.peekErr = syscall.Recvfrom(int(fd), c.peekBuf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return true
}

// rawResponse is what roundTrip read.
type rawResponse struct {
	status int
	body   []byte // valid until the next roundTrip
}

// roundTrip writes req and reads the whole response into *body (reused).
// A reused connection with anything waiting on it (idle) is replaced
// first. A request whose write fails on a reused connection (the server
// closed it while idle, its close not yet seen by idle) is sent once more
// on a new connection; once the write succeeded, any failure is returned:
// the server may have acted on the request, and net/http does not replay a
// POST either.
func (c *rawConn) roundTrip(ctx context.Context, now time.Time, req []byte, body *[]byte) (int, error) {
	for attempt := 0; ; attempt++ {
		if c.conn != nil && c.used && !c.idle() {
			c.close()
		}
		if c.conn == nil {
			if err := c.dial(ctx); err != nil {
				return 0, err
			}
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if want := now.Add(rawTimeout); c.deadline.Before(want.Add(-rawDeadlineSlack)) {
			if err := c.conn.SetDeadline(want); err != nil {
				c.close()
				return 0, err
			}
			c.deadline = want
		}
		reused := c.used
		status, keep, written, err := c.exchange(req, body)
		if err != nil {
			c.close()
			if reused && !written && attempt == 0 && ctx.Err() == nil {
				continue
			}
			return 0, err
		}
		c.used = true
		if !keep {
			c.close()
		}
		return status, nil
	}
}

// exchange does one request/response on the open connection. written
// reports whether the whole request was written (the server may have
// received it); keep whether the connection may carry another request.
func (c *rawConn) exchange(req []byte, body *[]byte) (status int, keep, written bool, err error) {
	if _, err := c.conn.Write(req); err != nil {
		return 0, false, false, err
	}
	status, keep, err = readResponse(c.br, body)
	return status, keep, true, err
}

// readResponse reads one HTTP/1.x response to a POST from br: the status
// line, the headers and the whole body into *body (reused; at most
// rawMaxBody octets). Informational (1xx) responses before it are skipped.
// keep is false when the connection must be closed afterwards: Connection:
// close, an HTTP/1.0 response without keep-alive, or a body delimited by
// the end of the connection.
func readResponse(br *bufio.Reader, body *[]byte) (status int, keep bool, err error) {
	for {
		line, err := readLine(br)
		if err != nil {
			return 0, false, fmt.Errorf("status line: %w", err)
		}
		// "HTTP/1.x SSS reason"
		if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
			return 0, false, fmt.Errorf("malformed status line %q", truncate(line))
		}
		minor := line[7]
		status, err = strconv.Atoi(string(line[9:12]))
		if err != nil || status < 100 {
			return 0, false, fmt.Errorf("malformed status code in %q", truncate(line))
		}
		keep = minor != '0' // HTTP/1.1 default; 1.0 needs keep-alive
		length := int64(-1)
		chunked := false
		for n := 0; ; n++ {
			if n > rawMaxHeaders {
				return 0, false, fmt.Errorf("more than %d header lines", rawMaxHeaders)
			}
			h, err := readLine(br)
			if err != nil {
				return 0, false, fmt.Errorf("header: %w", err)
			}
			if len(h) == 0 {
				break
			}
			name, value, ok := bytes.Cut(h, []byte(":"))
			if !ok || len(name) == 0 || bytes.ContainsAny(name, " \t") {
				return 0, false, fmt.Errorf("malformed header line %q", truncate(h))
			}
			value = bytes.TrimSpace(value)
			switch {
			case asciiEqualFold(name, "Content-Length"):
				v := parseLength(value)
				if v < 0 || (length >= 0 && v != length) {
					return 0, false, fmt.Errorf("bad Content-Length %q", truncate(value))
				}
				length = v
			case asciiEqualFold(name, "Transfer-Encoding"):
				// The last coding must be chunked (RFC 9112 §6.3);
				// other codings are not expected from these servers.
				if !asciiEqualFold(lastToken(value), "chunked") {
					return 0, false, fmt.Errorf("unsupported Transfer-Encoding %q", truncate(value))
				}
				chunked = true
			case asciiEqualFold(name, "Connection"):
				for _, tok := range bytes.Split(value, []byte(",")) {
					tok = bytes.TrimSpace(tok)
					if asciiEqualFold(tok, "close") {
						keep = false
					} else if asciiEqualFold(tok, "keep-alive") && minor == '0' {
						keep = true
					}
				}
			}
		}
		if chunked && length >= 0 {
			// RFC 9112 §6.3: Transfer-Encoding would override
			// Content-Length, but both at once may be request
			// smuggling or response splitting, and ought to be an
			// error; the connection is closed.
			return 0, false, errors.New("both Transfer-Encoding and Content-Length in the response")
		}
		if status >= 100 && status < 200 {
			if status == 101 {
				return 0, false, errors.New("unexpected 101 Switching Protocols")
			}
			continue // 100 Continue, 103 Early Hints: the final response follows
		}
		*body = (*body)[:0]
		switch {
		case status == 204 || status == 304:
			return status, keep, nil
		case chunked:
			if err := readChunked(br, body); err != nil {
				return 0, false, err
			}
			return status, keep, nil
		case length >= 0:
			if length > rawMaxBody {
				return 0, false, errRawTooLarge
			}
			*body = growTo(*body, int(length))
			if _, err := io.ReadFull(br, *body); err != nil {
				return 0, false, fmt.Errorf("body: %w", err)
			}
			return status, keep, nil
		default: // delimited by the end of the connection
			for {
				if len(*body) > rawMaxBody {
					return 0, false, errRawTooLarge
				}
				*body = append(*body, make([]byte, 4096)...)[:len(*body)]
				n, err := br.Read((*body)[len(*body):cap(*body)])
				*body = (*body)[:len(*body)+n]
				if err == io.EOF {
					return status, false, nil
				}
				if err != nil {
					return 0, false, fmt.Errorf("body: %w", err)
				}
			}
		}
	}
}

// parseLength returns the value of a Content-Length field, 1*DIGIT
// (RFC 9110 §8.6: no sign, no list, no spaces inside), or -1 when v is not
// one or exceeds 18 digits (far beyond rawMaxBody).
func parseLength(v []byte) int64 {
	if len(v) == 0 || len(v) > 18 {
		return -1
	}
	var n int64
	for _, b := range v {
		if b < '0' || b > '9' {
			return -1
		}
		n = n*10 + int64(b-'0')
	}
	return n
}

// readChunked reads a chunked body (RFC 9112 §7.1) with its trailer.
func readChunked(br *bufio.Reader, body *[]byte) error {
	for {
		line, err := readLine(br)
		if err != nil {
			return fmt.Errorf("chunk size: %w", err)
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 { // chunk extensions
			line = line[:i]
		}
		line = bytes.TrimRight(line, " \t")
		if len(line) == 0 || len(line) > 8 {
			return fmt.Errorf("bad chunk size %q", truncate(line))
		}
		size, err := strconv.ParseUint(string(line), 16, 32)
		if err != nil {
			return fmt.Errorf("bad chunk size %q", truncate(line))
		}
		if size == 0 {
			for n := 0; ; n++ { // trailer section
				if n > rawMaxHeaders {
					return fmt.Errorf("more than %d trailer lines", rawMaxHeaders)
				}
				t, err := readLine(br)
				if err != nil {
					return fmt.Errorf("trailer: %w", err)
				}
				if len(t) == 0 {
					return nil
				}
			}
		}
		if uint64(len(*body))+size > rawMaxBody {
			return errRawTooLarge
		}
		old := len(*body)
		*body = growTo(*body, old+int(size))
		if _, err := io.ReadFull(br, (*body)[old:]); err != nil {
			return fmt.Errorf("chunk: %w", err)
		}
		crlf, err := readLine(br)
		if err != nil || len(crlf) != 0 {
			return fmt.Errorf("chunk not followed by CRLF")
		}
	}
}

// readLine returns the next line without its CRLF (or LF); the slice is
// valid until the next read. A line longer than the buffer is an error.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, fmt.Errorf("line longer than %d octets", rawReadBufSize)
	}
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// growTo returns b with length n, reusing its array when it is large
// enough.
func growTo(b []byte, n int) []byte {
	if cap(b) >= n {
		return b[:n]
	}
	nb := make([]byte, n, max(n, 2*cap(b)))
	copy(nb, b)
	return nb
}

func lastToken(v []byte) []byte {
	if i := bytes.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return bytes.TrimSpace(v)
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func truncate(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
