//go:build unix

package main

// Bad input against a real prose-as serve: what the http.Server settings
// of serve decide (header size, malformed HTTP) and the handlers' answers
// through them, on both listeners. The per-route matrix is
// TestBadInputMatrix in as/httpapi.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rawRequest sends raw bytes on a new connection and returns the status
// line, the headers and the body of the answer ("" if the server closed the
// connection without one).
func rawRequest(t *testing.T, addr, raw string) (status string, hdr http.Header, body string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatalf("write: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", nil, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.Status, resp.Header, string(b)
}

func TestBadInputRealServer(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, nil, "--insecure-http")
	admTok := readTrimmed(t, filepath.Join(dir, fileAdminToken))
	form := "grant_type=client_credentials"
	req := func(method, path, host, ctype, body string, extra ...string) string {
		r := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, path, host)
		if ctype != "" {
			r += "Content-Type: " + ctype + "\r\n"
		}
		for _, h := range extra {
			r += h + "\r\n"
		}
		return r + fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body)
	}
	bigHeader := "X-Big: " + strings.Repeat("a", 40<<10)
	for _, tc := range []struct {
		name, addr, raw string
		status          string // prefix of the status line; "" accepts a close without answer
		jsonCode        string // the JSON error code, when the handler answers
	}{
		{"oversize headers, public", s.public, req("POST", "/oauth2/token", s.public, "application/x-www-form-urlencoded", form, bigHeader), "431", ""},
		{"oversize headers, admin", s.admin, req("GET", "/admin/v1/ues", s.admin, "", "", bigHeader), "431", ""},
		{"not HTTP", s.public, "HELLO\r\n\r\n", "400", ""},
		{"bad Content-Length", s.public, "POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", "400", ""},
		{"two Content-Lengths", s.public, "POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", "400", ""},
		{"bad chunked body", s.public, "POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", "400", "invalid_request"},
		{"body longer than 64 KiB", s.public, req("POST", "/oauth2/token", s.public, "application/x-www-form-urlencoded", form+"&pad="+strings.Repeat("a", 70<<10)), "413", "invalid_request"},
		{"chunked body longer than 64 KiB", s.public, "POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n" +
			fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", 70<<10, strings.Repeat("a", 70<<10)), "413", "invalid_request"},
		{"duplicated parameter", s.public, req("POST", "/oauth2/token", s.public, "application/x-www-form-urlencoded", form+"&"+form), "400", "invalid_request"},
		{"invalid UTF-8", s.public, req("POST", "/oauth2/token", s.public, "application/x-www-form-urlencoded", form+"&scope=%c3%28"), "400", "invalid_request"},
		{"JSON to the token endpoint", s.public, req("POST", "/oauth2/token", s.public, "application/json", `{"grant_type":"client_credentials"}`), "400", "invalid_request"},
		{"admin: duplicated JSON member", s.admin, req("POST", "/admin/v1/ues", s.admin, "application/json", `{"id":"a","id":"b"}`, "Authorization: Bearer "+admTok), "400", "invalid_request"},
		{"admin: form body", s.admin, req("POST", "/admin/v1/ues", s.admin, "application/x-www-form-urlencoded", "id=a", "Authorization: Bearer "+admTok), "400", "invalid_request"},
		{"admin: duplicated query parameter", s.admin, req("GET", "/admin/v1/tokens?limit=1&limit=2", s.admin, "", "", "Authorization: Bearer "+admTok), "400", "invalid_request"},
		{"admin: body longer than 64 KiB", s.admin, req("PUT", "/admin/v1/ues/x", s.admin, "application/json", `{"grants":["`+strings.Repeat("a", 70<<10)+`"]}`, "Authorization: Bearer "+admTok), "413", "invalid_request"},
		{"admin: no token", s.admin, req("GET", "/admin/v1/keys", s.admin, "", ""), "401", "unauthorized"},
	} {
		status, hdr, body := rawRequest(t, tc.addr, tc.raw)
		if status == "" && tc.status != "" {
			t.Errorf("%s: connection closed without an answer, want %s", tc.name, tc.status)
			continue
		}
		if !strings.HasPrefix(status, tc.status) {
			t.Errorf("%s: %q, want %s… (body %q)", tc.name, status, tc.status, body)
			continue
		}
		if tc.jsonCode == "" {
			continue
		}
		var m map[string]any
		if hdr.Get("Content-Type") != "application/json" || json.Unmarshal([]byte(body), &m) != nil || m["error"] != tc.jsonCode {
			t.Errorf("%s: %s %q %q, want a JSON %s error", tc.name, status, hdr.Get("Content-Type"), body, tc.jsonCode)
		}
	}
	// Nothing was registered by the bad admin requests.
	out := mustCLI(t, "admin", "ue", "list", "--data-dir", dir, "--json")
	if strings.Contains(out, `"id"`) {
		t.Errorf("a bad request registered a UE: %s", out)
	}
	// The server is still healthy.
	resp, err := s.client.Get(s.url("/readyz"))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz after the bad input: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestRateLimitFromEnvAndConfig: the per-client limit of a real server,
// configured by environment variable (rate) and config file (burst): after
// the burst a client gets 429 slow_down with Retry-After, another client
// does not, and the refusals are counted in /metrics.
func TestRateLimitFromEnvAndConfig(t *testing.T) {
	dir, keys := t.TempDir(), t.TempDir()
	cfg := filepath.Join(keys, "prose-as.yaml")
	if err := os.WriteFile(cfg, []byte("client-rate-burst: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, dir, []string{"PROSE_AS_CLIENT_RATE_LIMIT=0.25", "PROSE_AS_CONFIG=" + cfg, "PROSE_AS_TRUSTED_PROXIES=127.0.0.1, ::1/128"}, "--insecure-http")
	secrets := map[string]string{}
	for _, id := range []string{"ue-a", "ue-b"} {
		sf := filepath.Join(keys, id+".secret")
		mustCLI(t, "keygen", "--out", filepath.Join(keys, id+".pem")) // one identity key per UE
		mustCLI(t, "admin", "ue", "add", "--data-dir", dir, "--id", id, "--public-key", filepath.Join(keys, id+".pem.pub.jwk"),
			"--grant", "use:00002a", "--secret", "--secret-out", sf)
		secrets[id] = readTrimmed(t, sf)
	}
	tok := func(id string) (int, []byte, http.Header) {
		req, _ := http.NewRequest("POST", s.url("/oauth2/token"), strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id, secrets[id])
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b, resp.Header
	}
	for i := 0; i < 3; i++ {
		if code, b, _ := tok("ue-a"); code != 200 {
			t.Fatalf("ue-a request %d: %d %s", i+1, code, b)
		}
	}
	code, b, hdr := tok("ue-a")
	var m map[string]any
	json.Unmarshal(b, &m)
	if code != 429 || m["error"] != "slow_down" || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("ue-a 4th request: %d %s, want 429 slow_down", code, b)
	}
	// 0.25/s: one request every 4 s; Retry-After is whole seconds, rounded up.
	if ra := hdr.Get("Retry-After"); ra != "4" && ra != "3" {
		t.Errorf("Retry-After %q, want 4 (or 3 if a second passed)", ra)
	}
	t.Logf("429 body %s, Retry-After %s", bytes.TrimSpace(b), hdr.Get("Retry-After"))
	if code, b, _ := tok("ue-b"); code != 200 {
		t.Fatalf("ue-b: %d %s", code, b)
	}
	if !strings.Contains(string(get(t, s, "/metrics")), "prose_as_token_requests_rate_limited_total 1") {
		t.Error("/metrics does not count the refusal")
	}
	if !strings.Contains(s.logs.String(), "client_rate_limit=0.25") || !strings.Contains(s.logs.String(), "client_rate_burst=3") ||
		!strings.Contains(s.logs.String(), `trusted_proxies="127.0.0.1, ::1/128"`) {
		t.Errorf("the startup line does not show the limit:\n%s", s.logs.String())
	}
}
