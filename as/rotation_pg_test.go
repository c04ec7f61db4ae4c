package as_test

// Automatic key rotation on PostgreSQL: two Servers on one database, as two
// instances of a cluster. The test needs PROSE_TEST_POSTGRES_DSN: it skips
// when the variable is unset and fails when the database is unreachable.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prosesec/prosesec/as"
	"github.com/prosesec/prosesec/internal/pgtest"
	"github.com/prosesec/prosesec/store"
	"github.com/prosesec/prosesec/store/postgres"
	"github.com/prosesec/prosesec/token"
)

// newPGSchema creates a schema of the test's own in the test database and
// drops it when the test ends (package pgtest's rule: skip when
// PROSE_TEST_POSTGRES_DSN is unset, fail when the database is unreachable).
func newPGSchema(t *testing.T) (dsn, schema string) { return pgtest.Schema(t, "as") }

func openPG(t *testing.T, dsn, schema string) *postgres.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := postgres.Open(ctx, dsn, postgres.WithSchema(schema))
	if err != nil {
		t.Fatalf("postgres.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// jwksKIDs returns the key IDs of a JWKS document.
func jwksKIDs(t *testing.T, jwks []byte) []string {
	t.Helper()
	var doc struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &doc); err != nil {
		t.Fatalf("JWKS does not parse: %v", err)
	}
	var out []string
	for _, k := range doc.Keys {
		out = append(out, k.KID)
	}
	return out
}

// jwtKID returns the kid of a JWS compact serialization's header.
func jwtKID(t *testing.T, raw string) string {
	t.Helper()
	h, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	var hdr struct {
		KID string `json:"kid"`
	}
	if err == nil {
		err = json.Unmarshal(b, &hdr)
	}
	if err != nil || hdr.KID == "" {
		t.Fatalf("token header %q: no kid (%v)", h, err)
	}
	return hdr.KID
}

func verifierFor(t *testing.T, jwks []byte) *token.Verifier {
	t.Helper()
	ts := token.NewTrustStore()
	if err := ts.AddJWKS(testIssuer, jwks); err != nil {
		t.Fatal(err)
	}
	return &token.Verifier{Trust: ts, Algorithms: []token.Algorithm{token.ES256, token.EdDSA}, Audience: as.DefaultAudience, Leeway: 30 * time.Second, SkipStatus: true}
}

// TestRotationOncePostgres runs two Servers on one PostgreSQL schema with a
// shared clock through three rotation periods, one clock step at a time. At
// each step both run Maintain at once while both issue tokens. It checks
//   - exactly one new signing key per rotation period: at each period
//     boundary exactly one of the two Maintain calls rotates (never both,
//     never at another step), and the database holds one new key per period;
//   - pre-publication: every key that signs (after the initial one) was in
//     both instances' JWKS at least MaxTokenLifetime + OfflineHorizon before
//     either instance signed with it, less one step (an instance may see a
//     new next key one Maintain late);
//   - tokens signed before a rotation still verify with both instances'
//     JWKS after it (at the rotation step and the one after), and every
//     token verifies with both instances' JWKS of its step.
func TestRotationOncePostgres(t *testing.T) {
	dsn, schema := newPGSchema(t)
	const (
		step     = time.Hour
		lifetime = 3 * time.Hour
		horizon  = 3 * time.Hour
		period   = 12 * time.Hour // >= lifetime + horizon; a multiple of step
		periods  = 3
	)
	clk := newClock()
	mod := func(c *as.Config) {
		c.DefaultTokenLifetime, c.MaxTokenLifetime, c.OfflineHorizon = lifetime, lifetime, horizon
		c.KeyRotationPeriod = period
	}
	stA, stB := openPG(t, dsn, schema), openPG(t, dsn, schema)
	newServer := func(st store.Store) *as.Server {
		cfg := as.Config{Issuer: testIssuer, KEK: testKEK, Store: st, Clock: clk.Now, Rand: rand.Reader}
		mod(&cfg)
		s, err := as.New(ctx, cfg)
		if err != nil {
			t.Fatalf("as.New: %v", err)
		}
		return s
	}
	srvs := [2]*as.Server{newServer(stA), newServer(stB)}
	_, secret, err := srvs[0].RegisterUE(ctx, as.UESpec{ID: "ue-rot", PublicKey: jwkOf(t, newP256(t).Public()), WithSecret: true, Grants: mustScopes(t, "u2u:use:000001")})
	if err != nil {
		t.Fatal(err)
	}
	auth := as.ClientAuth{Method: as.AuthClientSecretBasic, ClientID: "ue-rot", Secret: secret}

	type issued struct {
		raw  string
		kid  string
		at   time.Time
		by   int
		step int
	}
	start := clk.Now()
	firstSeen := [2]map[string]time.Time{{}, {}} // kid -> first step-end JWKS of instance i holding it
	allKIDs := map[string]bool{}
	var jwks [2][]byte
	snapshot := func() {
		now := clk.Now()
		for i, s := range srvs {
			b, err := s.JWKS(ctx)
			if err != nil {
				t.Fatalf("instance %d: JWKS: %v", i, err)
			}
			jwks[i] = b
			for _, kid := range jwksKIDs(t, b) {
				if _, ok := firstSeen[i][kid]; !ok {
					firstSeen[i][kid] = now
				}
			}
		}
		keys, err := stA.ListKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		active, next := 0, 0
		for _, k := range keys {
			allKIDs[k.KID] = true
			switch k.State {
			case store.KeyActive:
				active++
			case store.KeyNext:
				next++
			}
		}
		if active != 1 || next != 1 {
			t.Fatalf("at %v: %d active and %d next keys in the database, want 1 and 1", now.Sub(start), active, next)
		}
	}
	snapshot()
	initialKID := ""
	for _, k := range mustKeys(t, srvs[0]) {
		if k.State == store.KeyActive {
			initialKID = k.KID
		}
	}
	verifyAll := func(toks []issued, what string) {
		t.Helper()
		now := clk.Now()
		for i := range srvs {
			v := verifierFor(t, jwks[i])
			for _, tk := range toks {
				if _, err := v.Verify([]byte(tk.raw), token.JWT, now); err != nil {
					t.Errorf("%s: token of step %d signed by instance %d with %s does not verify with instance %d's JWKS at %v: %v",
						what, tk.step, tk.by, tk.kid, i, now.Sub(start), err)
				}
			}
		}
	}

	var (
		rotations   []int // steps at which a Maintain rotated
		rotatedBy   [2]int
		prev, cur   []issued
		beforeRot   []issued // tokens of the step before the last rotation
		firstSigned = map[string]issued{}
	)
	const perStep = 3 // tokens per instance per step
	// One step past the last boundary, so that the last new active key
	// signs (at the boundary, tokens may all have been signed before the
	// rotation committed).
	for n := 1; n <= periods*int(period/step)+1; n++ {
		clk.Advance(step)
		now := clk.Now()
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			results [2]as.MaintainResult
			errs    [2]error
			gate    = make(chan struct{})
		)
		cur = nil
		for i, s := range srvs {
			wg.Go(func() {
				<-gate
				results[i], errs[i] = s.Maintain(ctx)
			})
			wg.Go(func() {
				<-gate
				for range perStep {
					r, err := s.Token(ctx, as.TokenRequest{GrantType: as.GrantClientCredentials, Auth: auth})
					if err != nil {
						t.Errorf("step %d: instance %d: Token: %v", n, i, err)
						return
					}
					mu.Lock()
					cur = append(cur, issued{raw: r.AccessToken, at: now, by: i, step: n})
					mu.Unlock()
				}
			})
		}
		close(gate)
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		for i, err := range errs {
			if err != nil {
				t.Fatalf("step %d: instance %d: Maintain: %v", n, i, err)
			}
		}
		switch {
		case results[0].Rotated && results[1].Rotated:
			t.Fatalf("step %d: both instances rotated", n)
		case results[0].Rotated:
			rotations, rotatedBy[0] = append(rotations, n), rotatedBy[0]+1
		case results[1].Rotated:
			rotations, rotatedBy[1] = append(rotations, n), rotatedBy[1]+1
		}
		snapshot()
		for i := range cur {
			tk := &cur[i]
			tk.kid = jwtKID(t, tk.raw)
			if _, ok := firstSigned[tk.kid]; !ok {
				firstSigned[tk.kid] = *tk
			}
		}
		verifyAll(cur, "same step")
		if len(rotations) > 0 && rotations[len(rotations)-1] == n {
			beforeRot = prev
			verifyAll(beforeRot, "rotation step")
		} else if len(rotations) > 0 && rotations[len(rotations)-1] == n-1 {
			verifyAll(beforeRot, "step after the rotation")
		}
		prev = cur
	}

	// One rotation per period, at its boundary.
	want := []int{}
	for p := 1; p <= periods; p++ {
		want = append(want, p*int(period/step))
	}
	if !slices.Equal(rotations, want) {
		t.Errorf("rotations at steps %v, want %v (one per period, at its boundary)", rotations, want)
	}
	if len(allKIDs) != 2+periods {
		t.Errorf("%d signing keys over %d periods, want %d (the first pair, then one per rotation)", len(allKIDs), periods, 2+periods)
	}
	// Pre-publication: both instances published each key long enough
	// before the first token either signed with it.
	signers := 0
	for kid, tk := range firstSigned {
		if kid == initialKID {
			continue
		}
		signers++
		for i := range srvs {
			seen, ok := firstSeen[i][kid]
			if !ok {
				t.Errorf("key %s signed at %v (instance %d) but never in instance %d's JWKS", kid, tk.at.Sub(start), tk.by, i)
				continue
			}
			if need := lifetime + horizon - step; tk.at.Sub(seen) < need {
				t.Errorf("key %s: in instance %d's JWKS from %v, first signed with at %v by instance %d: published %v before, want at least %v",
					kid, i, seen.Sub(start), tk.at.Sub(start), tk.by, tk.at.Sub(seen), need)
			}
		}
	}
	if signers != periods {
		t.Errorf("%d keys signed after the initial one, want %d", signers, periods)
	}
	// One more Maintain each: both serve the same JWKS.
	for i, s := range srvs {
		if _, err := s.Maintain(ctx); err != nil {
			t.Fatalf("instance %d: Maintain: %v", i, err)
		}
	}
	snapshot()
	if !slices.Equal(jwksKIDs(t, jwks[0]), jwksKIDs(t, jwks[1])) {
		t.Errorf("the instances publish different keys: %v and %v", jwksKIDs(t, jwks[0]), jwksKIDs(t, jwks[1]))
	}
	t.Logf("rotations at steps %v (by instance 0: %d, by instance 1: %d); %d keys", rotations, rotatedBy[0], rotatedBy[1], len(allKIDs))
}

func mustKeys(t *testing.T, s *as.Server) []as.KeyInfo {
	t.Helper()
	k, err := s.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestRotationOncePostgresDSNRule: the test above fails with an unreachable
// database and skips, naming the variable, without one (this test binary,
// run again with a chosen environment).
func TestRotationOncePostgresDSNRule(t *testing.T) {
	for _, tc := range []struct {
		dsn  string
		ok   bool
		want string
	}{
		{pgtest.UnreachableDSN, false, "--- FAIL: TestRotationOncePostgres "},
		{"", true, "--- SKIP: TestRotationOncePostgres "},
	} {
		out, ok := pgtest.RunSelf(t, "^TestRotationOncePostgres$", tc.dsn, 60*time.Second, "-test.short")
		msg := "is unreachable"
		if tc.ok {
			msg = pgtest.SkipMessage
		}
		if ok != tc.ok || !strings.Contains(out, tc.want) || !strings.Contains(out, msg) {
			t.Errorf("%s=%q: exit ok=%v, want %v with %q and %q; output:\n%s", pgtest.Env, tc.dsn, ok, tc.ok, tc.want, msg, out)
		}
	}
}
