//go:build unix

package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prosesec/prosesec/as/httpapi"
	"github.com/prosesec/prosesec/token"
)

// crashBackend says where a crash-test server keeps its state: the
// embedded SQLite file in the data directory (the zero value) or a
// PostgreSQL database (serve flags and environment from pgTestDB).
type crashBackend struct {
	name  string
	serve []string // extra prose-as serve flags (--db …)
	env   []string // extra environment of the server (PGPASSWORD)
}

// TestCrashSafety kills the server with SIGKILL in the middle of a token
// load, three times, on its SQLite store; see runCrashSafety.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	runCrashSafety(t, crashBackend{name: "SQLite"})
}

// runCrashSafety kills the server with SIGKILL in the middle of a token
// load, three times, and checks after each restart that every token a
// client received is on record with the status index it carries, that no
// status index was assigned twice, and that every received token can be
// revoked.
func runCrashSafety(t *testing.T, b crashBackend) {
	const (
		workers   = 12
		perRound  = 150 // tokens received before the kill
		rounds    = 3
		roundWait = 8 * time.Second
	)
	dir := t.TempDir()
	keys := t.TempDir()
	flags := append(append([]string{"--insecure-http"}, b.serve...), loadTestFlags...)
	start := func() *server { return startServer(t, dir, b.env, flags...) }
	s := start()
	mustCLI(t, "keygen", "--out", filepath.Join(keys, "ue.pem"))
	secretFile := filepath.Join(keys, "ue.secret")
	mustCLI(t, "admin", "ue", "add", "--data-dir", dir, "--id", "ue-crash", "--public-key", filepath.Join(keys, "ue.pem.pub.jwk"),
		"--grant", "use:00002a", "--secret", "--secret-out", secretFile)
	secret := readTrimmed(t, secretFile)

	var received []issued
	for round := 1; round <= rounds; round++ {
		if round > 1 {
			s = start()
		}
		got, inFlight, failed := loadAndKill(t, s, secret, workers, perRound, roundWait)
		t.Logf("%s round %d: %d tokens received, %d requests in flight at SIGKILL, %d failed after it", b.name, round, len(got), inFlight, failed)
		received = append(received, got...)
		// Every token so far must be known after each restart.
		s = start()
		checkRecords(t, s, received)
		s.stop()
	}

	// Final restart: revoke every received token; each must succeed and
	// its bit must be set in the status list.
	s = start()
	adminToken := readTrimmed(t, filepath.Join(dir, fileAdminToken))
	revokeAll(t, s, adminToken, received)
	trust := token.NewTrustStore()
	if err := trust.AddJWKS(s.issuer(), get(t, s, "/.well-known/jwks.json")); err != nil {
		t.Fatal(err)
	}
	sl, err := token.VerifyStatusList(get(t, s, "/statuslists/0"), token.JWT, trust, []token.Algorithm{token.ES256}, time.Now(), time.Minute)
	if err != nil {
		t.Fatalf("status list: %v", err)
	}
	for _, r := range received {
		if v, err := sl.List.Get(r.Index); err != nil || v != token.StatusInvalid {
			t.Errorf("token %s (index %d): status %d, %v after revocation", r.JTI, r.Index, v, err)
		}
	}
	s.stop()
}

// loadTestFlags are the serve flags of a server that one client loads
// heavily: without them its per-client rate limit would refuse the load.
var loadTestFlags = []string{"--client-rate-limit=0"}

// loadAndKill runs token requests from workers goroutines until perRound
// tokens have been received, then SIGKILLs the server while requests are
// still in flight. It returns the tokens whose full response arrived.
func loadAndKill(t *testing.T, s *server, secret string, workers, perRound int, wait time.Duration) (got []issued, inFlightAtKill int64, failedAfter int64) {
	t.Helper()
	hc := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers},
	}
	defer hc.CloseIdleConnections()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu       sync.Mutex
		count    atomic.Int64
		inFlight atomic.Int64
		killed   atomic.Bool
		failed   atomic.Int64
		wg       sync.WaitGroup
		enough   = make(chan struct{})
		once     sync.Once
		badResp  atomic.Value
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				inFlight.Add(1)
				code, body, err := tokenRequest(ctx, hc, s.url("/oauth2/token"), [2]string{"ue-crash", secret}, url.Values{"scope": {"u2u:use:00002a"}})
				inFlight.Add(-1)
				if err != nil || code != http.StatusOK {
					if killed.Load() {
						failed.Add(1)
						return
					}
					if err == nil {
						badResp.Store(string(body))
					}
					continue
				}
				tok, err := parseIssued(body)
				if err != nil {
					badResp.Store(err.Error())
					continue
				}
				mu.Lock()
				got = append(got, tok)
				mu.Unlock()
				if count.Add(1) >= int64(perRound) {
					once.Do(func() { close(enough) })
				}
			}
		}()
	}
	select {
	case <-enough:
	case <-time.After(wait):
		t.Errorf("only %d tokens within %v; last bad answer: %v; logs:\n%s", count.Load(), wait, badResp.Load(), s.logs.String())
	}
	inFlightAtKill = inFlight.Load()
	killed.Store(true)
	s.kill()
	cancel()
	wg.Wait()
	if v := badResp.Load(); v != nil {
		t.Errorf("a token request failed before the kill: %v", v)
	}
	mu.Lock()
	defer mu.Unlock()
	return got, inFlightAtKill, failed.Load()
}

// checkRecords lists every issued-token record through the admin API
// (prose-as admin token list, with adminArgs added to the command line) and
// checks it against what the clients received.
func checkRecords(t *testing.T, s *server, received []issued, adminArgs ...string) {
	t.Helper()
	out := mustCLI(t, append([]string{"admin", "token", "list", "--data-dir", s.dir, "--json"}, adminArgs...)...)
	var list httpapi.TokenListResponse
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("admin token list --json: %v", err)
	}
	byJTI := map[string]uint64{}
	seenIdx := map[uint64]string{}
	for _, r := range list.Tokens {
		if _, dup := byJTI[r.JTI]; dup {
			t.Errorf("jti %s recorded twice", r.JTI)
		}
		byJTI[r.JTI] = r.StatusIndex
		if other, dup := seenIdx[r.StatusIndex]; dup {
			t.Errorf("status index %d assigned twice: %s and %s", r.StatusIndex, other, r.JTI)
		}
		seenIdx[r.StatusIndex] = r.JTI
	}
	recvJTI := map[string]bool{}
	recvIdx := map[uint64]bool{}
	for _, r := range received {
		if recvJTI[r.JTI] {
			t.Errorf("two clients received jti %s", r.JTI)
		}
		if recvIdx[r.Index] {
			t.Errorf("two received tokens carry status index %d", r.Index)
		}
		recvJTI[r.JTI], recvIdx[r.Index] = true, true
		idx, ok := byJTI[r.JTI]
		switch {
		case !ok:
			t.Errorf("token %s was received by a client but is not on record", r.JTI)
		case idx != r.Index:
			t.Errorf("token %s carries status index %d but is recorded with %d", r.JTI, r.Index, idx)
		}
	}
	if len(list.Tokens) < len(received) {
		t.Errorf("%d records for %d received tokens", len(list.Tokens), len(received))
	}
}

// revokeAll revokes every token through the admin API, 8 at a time.
func revokeAll(t *testing.T, s *server, adminToken string, toks []issued) {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	defer hc.CloseIdleConnections()
	jobs := make(chan issued)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for tok := range jobs {
				req, _ := http.NewRequest(http.MethodPost, "http://"+s.admin+"/admin/v1/tokens/"+url.PathEscape(tok.JTI)+"/revoke", nil)
				req.Header.Set("Authorization", "Bearer "+adminToken)
				resp, err := hc.Do(req)
				if err != nil {
					mu.Lock()
					failures = append(failures, tok.JTI+": "+err.Error())
					mu.Unlock()
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					mu.Lock()
					failures = append(failures, tok.JTI+": "+resp.Status+" "+strings.TrimSpace(string(body)))
					mu.Unlock()
				}
			}
		}()
	}
	for _, tok := range toks {
		jobs <- tok
	}
	close(jobs)
	wg.Wait()
	for _, f := range failures {
		t.Errorf("revoking %s", f)
	}
}
