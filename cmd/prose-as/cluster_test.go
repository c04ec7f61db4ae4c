//go:build unix

package main

// TestClusterFailover: two prose-as instances on one PostgreSQL schema,
// one killed and restarted under load.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prosesec/prosesec/as"
	"github.com/prosesec/prosesec/as/httpapi"
	"github.com/prosesec/prosesec/token"
)

// clusterIssuer is the issuer URL both instances are configured with: the
// name clients would use behind a load balancer. Instances of one
// deployment must share it, or one would not recognise (introspect,
// revoke through RFC 7009) the other's tokens.
const clusterIssuer = "http://localhost"

// clusterStatusTTL is the instances' --status-list-ttl. It also sets the
// period of their maintenance task (maintainInterval), which bounds how
// long an instance takes to see a key rotation made by another.
const clusterStatusTTL = 8 * time.Second

// TestClusterFailover runs two prose-as serve processes on one PostgreSQL
// schema with the same KEK, admin token and issuer, under a token load from
// several clients that fail over to the other instance on a connection
// error. It SIGKILLs one instance mid-load, revokes tokens through the
// survivor during the outage, restarts the killed one, revokes through it,
// rotates the signing keys on the survivor, and then checks that
//   - every token a client received is on record (admin API of both
//     instances, and introspection on both) with a status index no other
//     record has;
//   - every token verifies with either instance's JWKS, and was signed by a
//     key both instances published before the load began (pre-publication);
//   - each revocation shows in the status list served by both instances
//     the first time it is fetched after the revocation returned (the
//     documented bound: immediate), and nothing else is revoked;
//   - the rotation made on one instance is seen by the other within its
//     maintenance interval: the new next key appears in its JWKS, and the
//     next token it issues is signed by the newly active key, which both
//     had published since the start.
//
// The database is reached before -short is looked at, so that -short with a
// set but unreachable PROSE_TEST_POSTGRES_DSN still fails: -short skips only
// the heavy part, the cluster run.
func TestClusterFailover(t *testing.T) {
	db := newPGTestDB(t, "cluster")
	if testing.Short() {
		t.Skip("cluster test skipped in -short mode (the database was reachable)")
	}
	secrets := t.TempDir()
	kekFile := filepath.Join(secrets, "kek")
	adminFile := filepath.Join(secrets, "admin.token")
	writeRandomHex(t, kekFile, 32)
	writeRandomHex(t, adminFile, 24)
	adminToken := readTrimmed(t, adminFile)
	flags := append([]string{
		"--insecure-http", "--db", db.dsn, "--issuer", clusterIssuer,
		"--kek-file", kekFile, "--admin-token-file", adminFile,
		"--status-list-ttl", clusterStatusTTL.String(),
	}, loadTestFlags...)
	keyBound := maintainInterval(clusterStatusTTL)
	dirs := [2]string{t.TempDir(), t.TempDir()}
	var nodes [2]*server
	for i := range nodes {
		nodes[i] = startServer(t, dirs[i], db.env, flags...)
	}
	admin := func(i int, args ...string) string {
		t.Helper()
		return mustCLI(t, append(args, "--data-dir", dirs[i], "--admin-token-file", adminFile)...)
	}

	// Three UEs, registered through instance 0; instance 1 has never seen
	// them and must find them in the database.
	const ues = 3
	keys := t.TempDir()
	creds := make([][2]string, ues)
	for u := range creds {
		id := fmt.Sprintf("ue-cluster-%d", u)
		key := filepath.Join(keys, id+".pem")
		mustCLI(t, "keygen", "--out", key)
		secretFile := filepath.Join(keys, id+".secret")
		admin(0, "admin", "ue", "add", "--id", id, "--public-key", key+".pub.jwk", "--grant", "use:00002a", "--secret", "--secret-out", secretFile)
		creds[u] = [2]string{id, readTrimmed(t, secretFile)}
	}

	// Both instances publish the same keys before any token is issued: the
	// active key K1 and the next key K2.
	k1, k2 := activeAndNext(t, admin(1, "admin", "keys", "list", "--json"))
	var published [2][]string
	for i, s := range nodes {
		published[i] = jwksKIDs(t, s)
		if !slices.Contains(published[i], k1) || !slices.Contains(published[i], k2) {
			t.Fatalf("instance %d publishes %v before the load; want the active key %s and the next key %s", i, published[i], k1, k2)
		}
	}

	const workers = 6
	l := &clusterLoad{addr: [2]string{nodes[0].public, nodes[1].public}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.worker(ctx, creds[w%ues], w%2)
		}()
	}
	stopLoad := func() {
		cancel()
		wg.Wait()
	}
	defer stopLoad()

	// Phase 1: both instances up.
	l.waitFor(t, "tokens from both instances", func(n int, by [2]int) bool { return by[0] >= 60 && by[1] >= 60 })

	// Phase 2: instance 0 is killed with requests in flight; its clients
	// fail over to instance 1.
	n0, _ := l.counts()
	nodes[0].kill()
	l.waitFor(t, "tokens during the outage", func(n int, by [2]int) bool { return n >= n0+100 })
	outage := every(l.snapshot(), 7) // issued by both instances, some just before the kill
	revokeAll(t, nodes[1], adminToken, issuedOf(outage))
	checkStatusBits(t, "on the surviving instance right after the outage revocations", nodes[1], outage)

	// Phase 3: instance 0 restarts (on a new port; its clients learn it).
	nodes[0] = startServer(t, dirs[0], db.env, flags...)
	l.setAddr(0, nodes[0].public)
	checkStatusBits(t, "on the restarted instance, outage revocations", nodes[0], outage)
	_, by := l.counts()
	l.waitFor(t, "tokens from the restarted instance", func(n int, b [2]int) bool { return b[0] >= by[0]+50 })

	// A revocation through one live instance is in the other's next list.
	var later []clusterToken
	for _, c := range every(l.snapshot(), 11) {
		if !slices.ContainsFunc(outage, func(o clusterToken) bool { return o.JTI == c.JTI }) {
			later = append(later, c)
		}
	}
	revokeAll(t, nodes[0], adminToken, issuedOf(later))
	checkStatusBits(t, "on instance 1 right after revocations through instance 0", nodes[1], later)

	// Phase 4: a forced rotation on instance 1 under load. K2 becomes
	// active, K1 retired, K3 the new next key.
	var rotated httpapi.KeysResponse
	if err := json.Unmarshal([]byte(admin(1, "admin", "keys", "rotate", "--force", "--json")), &rotated); err != nil {
		t.Fatalf("admin keys rotate --json: %v", err)
	}
	active, k3 := activeAndNextOf(t, rotated.Keys)
	if active != k2 {
		t.Fatalf("after the rotation the active key is %s; want the former next key %s", active, k2)
	}
	rotatedAt := time.Now()
	// The rotating instance publishes K3 at once, the other within its
	// maintenance interval.
	if kids := jwksKIDs(t, nodes[1]); !slices.Contains(kids, k3) {
		t.Errorf("instance 1 publishes %v right after its rotation; want the new next key %s", kids, k3)
	}
	deadline := rotatedAt.Add(keyBound + 5*time.Second) // the bound plus scheduling slack
	for !slices.Contains(jwksKIDs(t, nodes[0]), k3) {
		if time.Now().After(deadline) {
			t.Fatalf("instance 0 does not publish the new next key %s %v after the rotation on instance 1 (maintenance interval %v); logs:\n%s",
				k3, time.Since(rotatedAt).Round(time.Millisecond), keyBound, nodes[0].logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("instance 0 publishes the key created by instance 1's rotation %v after it (maintenance interval %v)", time.Since(rotatedAt).Round(time.Millisecond), keyBound)
	// From now on both instances sign with K2.
	for i, s := range nodes {
		if got := signerOf(t, s, creds[0]); got != k2 {
			t.Errorf("instance %d signs with %s after the rotation; want %s", i, got, k2)
		}
	}
	_, by = l.counts()
	l.waitFor(t, "tokens after the rotation", func(n int, b [2]int) bool { return b[0] >= by[0]+30 && b[1] >= by[1]+30 })
	stopLoad()

	received := l.snapshot()
	failovers, lost, bad := l.failovers.Load(), l.lost.Load(), l.badAnswer()
	_, by = l.counts()
	t.Logf("%d tokens received (%d from instance 0, %d from instance 1), %d requests failed over to the other instance, %d revoked",
		len(received), by[0], by[1], failovers, len(outage)+len(later))
	if lost > 0 {
		t.Errorf("%d token requests failed on both instances", lost)
	}
	if bad != "" {
		t.Errorf("a token request was refused: %s", bad)
	}
	if failovers == 0 {
		t.Errorf("no request failed over: the kill did not happen under load")
	}

	// Every received token is on record, on both instances' admin API.
	for i, s := range nodes {
		t.Logf("checking the records through instance %d", i)
		checkRecords(t, s, issuedOf(received), "--admin-token-file", adminFile)
	}
	revoked := map[string]bool{}
	for _, c := range append(append([]clusterToken(nil), outage...), later...) {
		revoked[c.JTI] = true
	}
	for i, s := range nodes {
		introspectAll(t, i, s, adminToken, received, revoked)
		checkFinalStatus(t, i, s, received, revoked)
		// Each token verifies with this instance's JWKS and was signed by a
		// key both instances published before the load.
		trust := token.NewTrustStore()
		if err := trust.AddJWKS(clusterIssuer, get(t, s, "/.well-known/jwks.json")); err != nil {
			t.Fatalf("instance %d JWKS: %v", i, err)
		}
		v := &token.Verifier{Trust: trust, Algorithms: []token.Algorithm{token.ES256, token.EdDSA}, Audience: as.DefaultAudience, SkipStatus: true}
		now := time.Now()
		for _, c := range received {
			if _, err := v.Verify([]byte(c.raw), token.JWT, now); err != nil {
				t.Errorf("token %s (from instance %d, kid %s) does not verify with instance %d's JWKS: %v", c.JTI, c.inst, c.kid, i, err)
			}
		}
	}
	signedBy := map[string]int{}
	for _, c := range received {
		signedBy[c.kid]++
		for i := range published {
			if !slices.Contains(published[i], c.kid) {
				t.Errorf("token %s was signed by %s, which instance %d did not publish before the load (%v)", c.JTI, c.kid, i, published[i])
			}
		}
	}
	if signedBy[k2] == 0 {
		t.Errorf("no received token was signed by the rotated-in key %s (signed by: %v)", k2, signedBy)
	}
	t.Logf("tokens per signing key: %v", signedBy)
	for _, s := range nodes {
		s.stop()
	}
}

// clusterToken is a token a client received, with where it came from.
type clusterToken struct {
	issued
	raw  string // the JWT
	kid  string // from its header
	inst int    // the instance that answered
}

// clusterLoad is the clients' side of TestClusterFailover.
type clusterLoad struct {
	mu       sync.Mutex
	addr     [2]string // public host:port of each instance
	received []clusterToken
	by       [2]int
	bad      string // last refused request

	failovers atomic.Int64 // requests retried on the other instance
	lost      atomic.Int64 // requests that failed on both
}

func (l *clusterLoad) setAddr(i int, a string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.addr[i] = a
}

func (l *clusterLoad) counts() (int, [2]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.received), l.by
}

func (l *clusterLoad) snapshot() []clusterToken {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.received)
}

func (l *clusterLoad) badAnswer() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bad
}

// worker requests tokens until ctx ends, each first from instance home and,
// on a connection error, from the other one.
func (l *clusterLoad) worker(ctx context.Context, cred [2]string, home int) {
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
	defer hc.CloseIdleConnections()
	for ctx.Err() == nil {
		ok := false
		for attempt := range 2 {
			inst := (home + attempt) % 2
			l.mu.Lock()
			addr := l.addr[inst]
			l.mu.Unlock()
			code, body, err := tokenRequest(ctx, hc, "http://"+addr+as.PathToken, cred, url.Values{"scope": {"u2u:use:00002a"}})
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				if attempt == 0 {
					l.failovers.Add(1)
				}
				continue
			}
			ok = true
			c, perr := parseClusterToken(body, inst)
			l.mu.Lock()
			switch {
			case code != http.StatusOK:
				l.bad = fmt.Sprintf("instance %d answered %d %s", inst, code, body)
			case perr != nil:
				l.bad = fmt.Sprintf("instance %d: %v", inst, perr)
			default:
				l.received = append(l.received, c)
				l.by[inst]++
			}
			l.mu.Unlock()
			break
		}
		if !ok {
			l.lost.Add(1)
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// waitFor waits (at most 20 s) until cond holds for the counts of received
// tokens, and fails the test otherwise.
func (l *clusterLoad) waitFor(t *testing.T, what string, cond func(n int, by [2]int) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, by := l.counts()
		if cond(n, by) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %d tokens received (%d, %d by instance), %d failovers, %d requests lost, last refusal %q",
				what, n, by[0], by[1], l.failovers.Load(), l.lost.Load(), l.badAnswer())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func parseClusterToken(body []byte, inst int) (clusterToken, error) {
	is, err := parseIssued(body)
	if err != nil {
		return clusterToken{}, err
	}
	var resp struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return clusterToken{}, err
	}
	kid, err := jwtKID(resp.AccessToken)
	if err != nil {
		return clusterToken{}, err
	}
	return clusterToken{issued: is, raw: resp.AccessToken, kid: kid, inst: inst}, nil
}

// jwtKID returns the kid of a JWS header.
func jwtKID(raw string) (string, error) {
	h, _, ok := strings.Cut(raw, ".")
	if !ok {
		return "", fmt.Errorf("access_token is not a JWS")
	}
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return "", fmt.Errorf("JWS header: %v", err)
	}
	var hdr struct {
		KID string `json:"kid"`
	}
	if err := json.Unmarshal(b, &hdr); err != nil || hdr.KID == "" {
		return "", fmt.Errorf("JWS header without kid: %s", b)
	}
	return hdr.KID, nil
}

// signerOf requests one token from s and returns the kid that signed it.
func signerOf(t *testing.T, s *server, cred [2]string) string {
	t.Helper()
	code, body, err := tokenRequest(context.Background(), s.client, s.url(as.PathToken), cred, url.Values{"scope": {"u2u:use:00002a"}})
	if err != nil || code != http.StatusOK {
		t.Fatalf("token from %s: %d %s %v", s.public, code, body, err)
	}
	c, err := parseClusterToken(body, -1)
	if err != nil {
		t.Fatal(err)
	}
	return c.kid
}

// every returns every n-th token.
func every(toks []clusterToken, n int) []clusterToken {
	var out []clusterToken
	for i := 0; i < len(toks); i += n {
		out = append(out, toks[i])
	}
	return out
}

func issuedOf(toks []clusterToken) []issued {
	out := make([]issued, len(toks))
	for i, c := range toks {
		out[i] = c.issued
	}
	return out
}

func writeRandomHex(t *testing.T, path string, n int) {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	if err := os.WriteFile(path, []byte(hex.EncodeToString(b)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// jwksKIDs returns the key IDs s publishes for the cluster issuer.
func jwksKIDs(t *testing.T, s *server) []string {
	t.Helper()
	trust := token.NewTrustStore()
	if err := trust.AddJWKS(clusterIssuer, get(t, s, "/.well-known/jwks.json")); err != nil {
		t.Fatalf("JWKS of %s: %v", s.public, err)
	}
	var kids []string
	for _, k := range trust.Keys() {
		kids = append(kids, k.KeyID)
	}
	return kids
}

func activeAndNext(t *testing.T, keysJSON string) (active, next string) {
	t.Helper()
	var resp httpapi.KeysResponse
	if err := json.Unmarshal([]byte(keysJSON), &resp); err != nil {
		t.Fatalf("admin keys list --json: %v", err)
	}
	return activeAndNextOf(t, resp.Keys)
}

func activeAndNextOf(t *testing.T, keys []as.KeyInfo) (active, next string) {
	t.Helper()
	for _, k := range keys {
		switch k.State {
		case "active":
			active = k.KID
		case "next":
			next = k.KID
		}
	}
	if active == "" || next == "" {
		t.Fatalf("keys %+v: want an active and a next key", keys)
	}
	return active, next
}

// statusListOf fetches and verifies status list 0 of s.
func statusListOf(t *testing.T, s *server) *token.StatusListToken {
	t.Helper()
	trust := token.NewTrustStore()
	if err := trust.AddJWKS(clusterIssuer, get(t, s, "/.well-known/jwks.json")); err != nil {
		t.Fatalf("JWKS of %s: %v", s.public, err)
	}
	sl, err := token.VerifyStatusList(get(t, s, as.PathStatusList+"0"), token.JWT, trust, []token.Algorithm{token.ES256, token.EdDSA}, time.Now(), time.Minute)
	if err != nil {
		t.Fatalf("status list 0 of %s: %v", s.public, err)
	}
	return sl
}

// checkStatusBits fetches s's status list once and requires the bit of
// every token in toks to be set.
func checkStatusBits(t *testing.T, what string, s *server, toks []clusterToken) {
	t.Helper()
	sl := statusListOf(t, s)
	for _, c := range toks {
		if v, err := sl.List.Get(c.Index); err != nil || v != token.StatusInvalid {
			t.Errorf("%s: token %s (index %d) has status %d, %v; want revoked", what, c.JTI, c.Index, v, err)
		}
	}
}

// checkFinalStatus requires the status list of instance i to show exactly
// the revoked tokens among the received ones.
func checkFinalStatus(t *testing.T, i int, s *server, toks []clusterToken, revoked map[string]bool) {
	t.Helper()
	sl := statusListOf(t, s)
	for _, c := range toks {
		want := token.StatusValid
		if revoked[c.JTI] {
			want = token.StatusInvalid
		}
		if v, err := sl.List.Get(c.Index); err != nil || v != want {
			t.Errorf("instance %d status list: token %s (index %d) has status %d, %v; want %d", i, c.JTI, c.Index, v, err, want)
		}
	}
}

// introspectAll introspects every token on instance i with the admin
// token: a revoked token must be inactive, any other active with its jti
// and status index.
func introspectAll(t *testing.T, i int, s *server, adminToken string, toks []clusterToken, revoked map[string]bool) {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	defer hc.CloseIdleConnections()
	jobs := make(chan clusterToken)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []string
	)
	fail := func(f string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(f, args...))
		mu.Unlock()
	}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range jobs {
				req, _ := http.NewRequest(http.MethodPost, s.url(as.PathIntrospect), strings.NewReader(url.Values{"token": {c.raw}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Authorization", "Bearer "+adminToken)
				resp, err := hc.Do(req)
				if err != nil {
					fail("introspecting %s: %v", c.JTI, err)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var in as.Introspection
				if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &in) != nil {
					fail("introspecting %s: %s %s", c.JTI, resp.Status, body)
					continue
				}
				switch {
				case revoked[c.JTI] && in.Active:
					fail("revoked token %s is active", c.JTI)
				case !revoked[c.JTI] && !in.Active:
					fail("token %s (from instance %d) is inactive", c.JTI, c.inst)
				case in.Active && (in.JTI != c.JTI || in.StatusIndex == nil || *in.StatusIndex != c.Index):
					fail("token %s (index %d) introspects as jti %s, status index %v", c.JTI, c.Index, in.JTI, in.StatusIndex)
				}
			}
		}()
	}
	for _, c := range toks {
		jobs <- c
	}
	close(jobs)
	wg.Wait()
	for n, f := range failures {
		if n == 20 {
			t.Errorf("instance %d introspection: … %d more", i, len(failures)-n)
			break
		}
		t.Errorf("instance %d introspection: %s", i, f)
	}
}
