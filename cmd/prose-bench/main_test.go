//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prosesec/prosesec/as"
	"github.com/prosesec/prosesec/token"
)

// proseASBin is the prose-as binary built once by TestMain.
var proseASBin string

// runAsMain makes the test binary act as prose-bench: "prose-bench
// ceiling" starts its own executable as the ceiling server, which in a
// test is this binary.
const runAsMain = "PROSE_BENCH_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runAsMain) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Setenv(runAsMain, "1") // for the children
	dir, err := os.MkdirTemp("", "prose-bench-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	proseASBin = filepath.Join(dir, "prose-as")
	build := exec.Command("go", "build", "-o", proseASBin, "github.com/prosesec/prosesec/cmd/prose-as")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building prose-as:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runCLI runs prose-bench in-process and returns its exit status and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func parseReport(t *testing.T, out string) *Report {
	t.Helper()
	var rep Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s", err, out)
	}
	return &rep
}

// checkRuns asserts that every run completed cleanly; it never looks at
// timings.
func checkRuns(t *testing.T, rep *Report, wantRuns int) {
	t.Helper()
	if len(rep.Runs) != wantRuns {
		t.Fatalf("%d runs in the report, want %d", len(rep.Runs), wantRuns)
	}
	for _, r := range rep.Runs {
		if r.Tokens == 0 || r.ErrorCount != 0 || len(r.Errors) != 0 {
			t.Errorf("%s %s c=%d: %d tokens, %d errors %v", r.Server, r.Auth, r.Concurrency, r.Tokens, r.ErrorCount, r.Errors)
		}
		if r.StopReason != stopDuration {
			t.Errorf("%s %s: stopped by %q, want %q", r.Server, r.Auth, r.StopReason, stopDuration)
		}
		if r.SampleToken != "verified" {
			t.Errorf("%s %s: sample token: %s", r.Server, r.Auth, r.SampleToken)
		}
		if r.ServerCPUPerToken == nil || r.Requests < r.Tokens {
			t.Errorf("%s %s: incomplete figures: %+v", r.Server, r.Auth, r)
		}
	}
	if rep.Environment.GoVersion == "" || rep.Environment.GOMAXPROCS < 1 || rep.Flags["duration"] != "1s" {
		t.Errorf("environment or flags missing from the report: %+v %v", rep.Environment, rep.Flags)
	}
}

// TestTokenSpawned runs both client authentications with both load
// clients against a real prose-as; checkRuns verifies a sample token
// (JWT) offline against the server's JWKS.
func TestTokenSpawned(t *testing.T) {
	for _, tc := range []struct{ auth, client string }{{"basic", "raw"}, {"jwt", "raw"}, {"basic", "http"}, {"jwt", "http"}} {
		auth := tc.auth
		t.Run(auth+"/"+tc.client, func(t *testing.T) {
			code, out, errOut := runCLI(t, "token", "--prose-as", proseASBin, "--auth", auth, "--client", tc.client,
				"--duration", "1s", "--warmup", "200ms", "--concurrency", "4", "--clients", "8",
				"--assertion-rate", "3000", "--json")
			if code != exitOK {
				t.Fatalf("exit status %d; stderr:\n%s\nstdout:\n%s", code, errOut, out)
			}
			rep := parseReport(t, out)
			checkRuns(t, rep, 1)
			if r := rep.Runs[0]; r.Server != "prose-as" || r.Auth != auth || r.Format != "jwt" || r.Concurrency != 4 || r.Client != tc.client || r.Instances != 1 {
				t.Errorf("run = %s/%s/%s c=%d client %s instances %d", r.Server, r.Auth, r.Format, r.Concurrency, r.Client, r.Instances)
			}
			if r := rep.Runs[0]; len(r.Processes) != 2 || r.Processes[1].PID == 0 || r.PostgresCPUSeconds != nil {
				t.Errorf("processes %+v, postgres %v", r.Processes, r.PostgresCPUSeconds)
			}
			if auth == "jwt" && rep.Runs[0].AssertionsPrepared == 0 {
				t.Errorf("no assertions prepared")
			}
		})
	}
}

func TestTokenMarkdownAndCWT(t *testing.T) {
	code, out, errOut := runCLI(t, "token", "--prose-as", proseASBin, "--format", "cwt",
		"--duration", "1s", "--warmup", "0s", "--concurrency", "2,3", "--clients", "4")
	if code != exitOK {
		t.Fatalf("exit status %d; stderr:\n%s", code, errOut)
	}
	for _, want := range []string{"| server | auth |", "| prose-as | basic | cwt | 2 |", "| prose-as | basic | cwt | 3 |", "Command: prose-bench token"} {
		if !strings.Contains(out, want) {
			t.Errorf("Markdown report lacks %q:\n%s", want, out)
		}
	}
}

func TestCeiling(t *testing.T) {
	code, out, errOut := runCLI(t, "ceiling", "--duration", "1s", "--warmup", "200ms", "--concurrency", "4", "--json")
	if code != exitOK {
		t.Fatalf("exit status %d; stderr:\n%s\nstdout:\n%s", code, errOut, out)
	}
	rep := parseReport(t, out)
	checkRuns(t, rep, 1)
	if rep.Runs[0].Server != "ceiling" {
		t.Errorf("server = %q", rep.Runs[0].Server)
	}
}

// TestCeilingServerToken checks that the ceiling server's tokens verify
// with package token, in both formats, against its JWKS.
func TestCeilingServerToken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	h, err := newCeilingHandler(issuer)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	defer srv.Close()

	get := func(path string) []byte {
		resp, err := http.Get(issuer + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		return b
	}
	trust := token.NewTrustStore()
	if err := trust.AddJWKS(issuer, get(as.PathJWKS)); err != nil {
		t.Fatal(err)
	}
	v := &token.Verifier{Trust: trust, Algorithms: []token.Algorithm{token.ES256}, Audience: as.DefaultAudience, Leeway: time.Minute, SkipStatus: true}
	for _, f := range []token.Format{token.JWT, token.CWT} {
		body := "grant_type=client_credentials"
		if f == token.CWT {
			body += "&token_format=cwt"
		}
		resp, err := http.Post(issuer+as.PathToken, "application/x-www-form-urlencoded", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("token: %s %v: %s", resp.Status, resp.Header, b)
		}
		var tr as.TokenResponse
		if err := json.Unmarshal(b, &tr); err != nil {
			t.Fatal(err)
		}
		raw := []byte(tr.AccessToken)
		if f == token.CWT {
			if raw, err = base64.RawURLEncoding.DecodeString(tr.AccessToken); err != nil {
				t.Fatal(err)
			}
		}
		c, err := v.Verify(raw, f, time.Now())
		if err != nil {
			t.Fatalf("format %d: %v", f, err)
		}
		if c.Issuer != issuer || c.Confirmation == nil || c.Status == nil || len(c.Scopes) != 1 || tr.TokenType != "Bearer" || tr.Scope != "u2u:use:000001" {
			t.Errorf("format %d: claims %+v, response %+v", f, c, tr)
		}
	}
}

func TestRefusesNonLoopback(t *testing.T) {
	for _, target := range []string{"http://192.0.2.1:8443", "http://[2001:db8::1]:8443", "http://0.0.0.0:8443", "https://10.1.2.3"} {
		code, _, errOut := runCLI(t, "token", "--target", target, "--admin-url", "http://127.0.0.1:1", "--admin-token-file", "/nonexistent")
		if code != exitUsage || !strings.Contains(errOut, "loopback") {
			t.Errorf("--target %s: exit %d, stderr %q; want 2 and a loopback refusal", target, code, errOut)
		}
	}
	code, _, errOut := runCLI(t, "token", "--target", "http://127.0.0.1:1", "--admin-url", "http://192.0.2.7:8444", "--admin-token-file", "/nonexistent")
	if code != exitUsage || !strings.Contains(errOut, "loopback") {
		t.Errorf("--admin-url off loopback: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runCLI(t, "ceiling-server", "--listen", "0.0.0.0:0")
	if code != exitUsage || !strings.Contains(errOut, "loopback") {
		t.Errorf("ceiling-server --listen 0.0.0.0:0: exit %d, stderr %q", code, errOut)
	}

	ctx := context.Background()
	for _, ok := range []string{"http://127.0.0.1:8443", "http://127.9.9.9", "http://[::1]:8443/", "http://localhost:8443/oauth2/token"} {
		if _, err := checkLoopbackURL(ctx, "--target", ok); err != nil {
			t.Errorf("checkLoopbackURL(%s): %v", ok, err)
		}
	}
	for _, bad := range []string{"ftp://127.0.0.1", "127.0.0.1:8443", "http://user@127.0.0.1", "http://[::ffff:10.0.0.1]"} {
		if _, err := checkLoopbackURL(ctx, "--target", bad); err == nil {
			t.Errorf("checkLoopbackURL(%s) accepted it", bad)
		}
	}
	// The dialer refuses whatever a name resolves to, if not loopback.
	c, err := newClient(1, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get("http://192.0.2.1:9/"); err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Errorf("GET to 192.0.2.1: %v, want a refusal", err)
	}
}

func TestBounds(t *testing.T) {
	cases := map[string][]string{
		"duration too long":          {"--duration", "11m"},
		"duration zero":              {"--duration", "0s"},
		"requests too many":          {"--requests", "10000001"},
		"requests negative":          {"--requests", "-1"},
		"warmup too long":            {"--warmup", "2m"},
		"concurrency zero":           {"--concurrency", "0"},
		"concurrency huge":           {"--concurrency", "8,5000"},
		"concurrency not numeric":    {"--concurrency", "eight"},
		"format":                     {"--format", "xml"},
		"auth":                       {"--auth", "none"},
		"clients":                    {"--clients", "0"},
		"jwt run too long":           {"--auth", "jwt", "--duration", "5m"},
		"spawn and target":           {"--spawn", "--target", "http://127.0.0.1:1"},
		"target without admin":       {"--target", "http://127.0.0.1:1"},
		"admin flags without target": {"--admin-url", "http://127.0.0.1:1"},
		"stray argument":             {"extra"},
		"client":                     {"--client", "curl"},
		"instances without db":       {"--instances", "2"},
		"instances zero":             {"--instances", "0"},
		"instances too many":         {"--instances", "17", "--db", "postgres://u@127.0.0.1/db"},
		"db not postgres":            {"--db", "/tmp/x.db"},
		"db not loopback":            {"--db", "postgres://u@192.0.2.1:5432/db"},
		"db with target":             {"--db", "postgres://u@127.0.0.1/db", "--target", "http://127.0.0.1:1", "--admin-url", "http://127.0.0.1:2", "--admin-token-file", "/x"},
		"unknown flag":               {"--nope"},
	}
	for name, args := range cases {
		code, _, errOut := runCLI(t, append([]string{"token"}, args...)...)
		if code != exitUsage || !strings.Contains(errOut, "Usage:") {
			t.Errorf("%s: exit %d (want 2), stderr %q", name, code, errOut)
		}
	}
	for _, args := range [][]string{{"--duration", "11m"}, {"--requests", "20000000"}} {
		if code, _, _ := runCLI(t, append([]string{"ceiling"}, args...)...); code != exitUsage {
			t.Errorf("ceiling %v: exit %d, want 2", args, code)
		}
	}
	// At the bounds, the settings are accepted.
	s := &loadSettings{format: "jwt", client: "raw", concurrency: "1,1024", duration: maxDuration, requests: maxRequests, warmup: maxWarmup}
	if err := s.check(); err != nil {
		t.Errorf("settings at the bounds refused: %v", err)
	}
}

func TestHelp(t *testing.T) {
	if code, out, _ := runCLI(t, "--help"); code != exitOK || !strings.Contains(out, "Commands:") || !strings.Contains(out, "Examples:") {
		t.Errorf("--help: exit %d\n%s", code, out)
	}
	for _, c := range commands() {
		for _, args := range [][]string{{c.name, "--help"}, {"help", c.name}} {
			code, out, _ := runCLI(t, args...)
			if code != exitOK || !strings.Contains(out, "Usage:") || !strings.Contains(out, "Examples:") || !strings.Contains(out, "prose-bench "+c.name) {
				t.Errorf("%v: exit %d\n%s", args, code, out)
			}
		}
	}
	if code, _, _ := runCLI(t); code != exitUsage {
		t.Errorf("no command: exit %d, want 2", code)
	}
	if code, _, _ := runCLI(t, "frobnicate"); code != exitUsage {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
	// A runtime error is status 1.
	code, _, errOut := runCLI(t, "token", "--prose-as", "/nonexistent/prose-as", "--duration", "1s")
	if code != exitFailure || !strings.Contains(errOut, "prose-bench:") {
		t.Errorf("missing binary: exit %d, stderr %q; want 1", code, errOut)
	}
}

func TestLatencyStats(t *testing.T) {
	lats := make([]time.Duration, 100)
	for i := range lats {
		lats[len(lats)-1-i] = time.Duration(i+1) * time.Millisecond
	}
	got := latencyStats(lats)
	if got.P50 != 50 || got.P90 != 90 || got.P99 != 99 || got.Max != 100 || got.Mean != 50.5 {
		t.Errorf("latencyStats = %+v", got)
	}
	if (latencyStats(nil) != Latency{}) {
		t.Errorf("latencyStats(nil) is not zero")
	}
}

func TestProcCPU(t *testing.T) {
	if _, err := procCPU(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	if ticks, src := clockTicks(); ticks <= 0 || src == "" {
		t.Errorf("clockTicks = %d, %q", ticks, src)
	}
	if busy, total, err := machineCPU(); err != nil || busy <= 0 || total < busy {
		t.Errorf("machineCPU = %d, %d, %v", busy, total, err)
	}
}
