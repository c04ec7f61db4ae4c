package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/prosesec/prosesec/internal/pgtest"
	"github.com/prosesec/prosesec/store"
	"github.com/prosesec/prosesec/store/storetest"
)

// The test database and the skip/fail rule are package pgtest's; each test
// works in a schema of its own ("t_…"), so the database may be shared.
const dsnEnv = pgtest.Env

// connect opens one connection to the test database, failing the test if it
// is unreachable.
func connect(t testing.TB, dsn string) *pgx.Conn { return pgtest.Connect(t, dsn) }

// liveDSN is the test database's DSN, checked to reach the server.
func liveDSN(t testing.TB) string { return pgtest.DSN(t) }

// newSchema creates a fresh schema in the test database and drops it (with
// everything in it) when the test ends.
func newSchema(t testing.TB) (dsn, schema string) { return pgtest.Schema(t, "t") }

func openSchema(t testing.TB, dsn, schema string, opts ...Option) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, dsn, append([]Option{WithSchema(schema)}, opts...)...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// openTest opens a store in a fresh schema; the caller closes it.
func openTest(t testing.TB, opts ...Option) *Store {
	t.Helper()
	dsn, schema := newSchema(t)
	return openSchema(t, dsn, schema, opts...)
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTest(t) })
}

// TestConformanceNoBatching runs the suite with one request per transaction.
func TestConformanceNoBatching(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTest(t, WithMaxBatch(1), WithWriters(1)) })
}

// TestConformanceSmallBatches runs the suite with small batches and more
// writers than usual, on a small pool.
func TestConformanceSmallBatches(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTest(t, WithMaxBatch(3), WithWriters(3), WithMaxConns(4))
	})
}

func tok(jti, sub string) *store.IssuedToken {
	now := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	return &store.IssuedToken{JTI: jti, Subject: sub, Scope: "s", Format: "jwt", KeyID: "k", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
}

// TestOpenBadArgs needs no database: bad options and DSNs fail, and no
// error repeats the password.
func TestOpenBadArgs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const pw = "s3cr3t-PW"
	for _, o := range []Option{WithMaxBatch(0), WithWriters(0), WithMaxConns(-1)} {
		if s, err := Open(ctx, "postgres://u:"+pw+"@127.0.0.1:1/db?sslmode=disable", o); err == nil {
			s.Close()
			t.Errorf("Open with a bad option succeeded")
		} else if strings.Contains(err.Error(), pw) {
			t.Errorf("error contains the password: %v", err)
		}
	}
	for _, dsn := range []string{
		"postgres://u:" + pw + "@127.0.0.1:notaport/db",          // unparsable
		"postgres://u:" + pw + "@127.0.0.1:1/db?sslmode=nope",    // bad parameter
		"host=127.0.0.1 port=1 user=u password=" + pw + " bad",   // unparsable keyword form
		"postgres://u:" + pw + "@127.0.0.1:1/db?sslmode=disable", // nothing listens on port 1
		"host=127.0.0.1 port=1 user=u password='" + pw + "' sslmode=disable connect_timeout=5",
	} {
		s, err := Open(ctx, dsn)
		if err == nil {
			s.Close()
			t.Errorf("Open succeeded")
			continue
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("error contains the password: %v", err)
		}
		if !strings.HasPrefix(err.Error(), "store/postgres: ") {
			t.Errorf("error without the package prefix: %v", err)
		}
		t.Logf("refusal: %v", err)
	}
}

func TestDescribe(t *testing.T) {
	t.Setenv("PGPASSWORD", "")
	for _, tc := range []struct{ dsn, want string }{
		{"postgres://as:s3cret@db.example:5433/prose?sslmode=require&search_path=x", "postgres://as@db.example:5433/prose"},
		{"host=10.0.0.1 user=as password=s3cret dbname=prose", "postgres://as@10.0.0.1:5432/prose"},
		{"postgres://as@[::1]/prose", "postgres://as@[::1]:5432/prose"},
		{"host=/var/run/postgresql user=as dbname=prose", "postgres://as@/prose?host=%2Fvar%2Frun%2Fpostgresql&port=5432"},
		{"postgres://as:s3cret@db.example:badport/prose", "postgres (unparsable DSN)"},
	} {
		if got := Describe(tc.dsn); got != tc.want {
			t.Errorf("Describe(%q) = %q, want %q", tc.dsn, got, tc.want)
		}
	}
}

// TestWrongPassword: the server's refusal does not repeat the password.
func TestWrongPassword(t *testing.T) {
	dsn := liveDSN(t)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	const pw = "definitely-Wrong-pw"
	bad := withParam(t, dsn, "password", pw)
	if cfg.Password == pw {
		t.Skip("the test database accepts the test's wrong password")
	}
	s, err := Open(context.Background(), bad)
	if err == nil {
		s.Close()
		t.Skip("the test database does not check passwords (trust authentication)")
	}
	if strings.Contains(err.Error(), pw) {
		t.Fatalf("error contains the password: %v", err)
	}
	t.Logf("refusal: %v", err)
}

// withParam sets a connection parameter in a URL or keyword/value DSN.
func withParam(t testing.TB, dsn, key, value string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("parse %s: %v", dsnEnv, err)
		}
		q := u.Query()
		q.Set(key, value)
		u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20") // pgx reads "+" as itself
		return u.String()
	}
	return dsn + " " + key + "='" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(value) + "'"
}

// TestTwoInstances: two stores on one schema, as two AS instances on one
// database.
func TestTwoInstances(t *testing.T) {
	ctx := context.Background()
	dsn, schema := newSchema(t)
	a, b := openSchema(t, dsn, schema), openSchema(t, dsn, schema)
	defer a.Close()
	defer b.Close()

	// Concurrent RecordToken through both: unique indices.
	const goroutines, per = 8, 50
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		idx  = map[uint64]string{}
		errs = make(chan error, 2*goroutines)
	)
	for n, s := range []*Store{a, b} {
		for g := range goroutines {
			wg.Go(func() {
				var last uint64
				for i := range per {
					tk := tok(fmt.Sprintf("%d-%d-%d", n, g, i), fmt.Sprintf("ue-%d", g))
					if err := s.RecordToken(ctx, tk); err != nil {
						errs <- err
						return
					}
					if i > 0 && tk.StatusIndex <= last {
						errs <- fmt.Errorf("index %d after %d from one caller", tk.StatusIndex, last)
						return
					}
					last = tk.StatusIndex
					mu.Lock()
					if other, dup := idx[tk.StatusIndex]; dup {
						errs <- fmt.Errorf("index %d given to %s and %s", tk.StatusIndex, other, tk.JTI)
					}
					idx[tk.StatusIndex] = tk.JTI
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(idx) != 2*goroutines*per {
		t.Fatalf("%d distinct indices, want %d", len(idx), 2*goroutines*per)
	}
	for _, s := range []*Store{a, b} {
		m, ok, err := s.MaxStatusIndex(ctx)
		if err != nil || !ok || m != slices.Max(mapKeys(idx)) {
			t.Fatalf("MaxStatusIndex = %d, %v, %v", m, ok, err)
		}
	}

	// A revocation through a is visible through b.
	va0, err := b.RevocationVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.RevokeToken(ctx, "1-3-7", time.Unix(9, 9)); err != nil {
		t.Fatal(err)
	}
	revoked, err := b.GetToken(ctx, "1-3-7")
	if err != nil || revoked.RevokedAt == nil {
		t.Fatalf("b.GetToken after a.RevokeToken: %+v, %v", revoked, err)
	}
	vb, err := b.RevocationVersion(ctx)
	if err != nil || vb == va0 {
		t.Fatalf("b.RevocationVersion = %d, %v; was %d before a's revocation", vb, err, va0)
	}
	ri, err := b.RevokedIndices(ctx, 0, ^uint64(0))
	if err != nil || !slices.Equal(ri, []uint64{revoked.StatusIndex}) {
		t.Fatalf("b.RevokedIndices = %v, %v; want [%d]", ri, err, revoked.StatusIndex)
	}
	if n, err := b.RevokeSubject(ctx, "ue-5", time.Unix(10, 0)); err != nil || n != 2*per {
		t.Fatalf("b.RevokeSubject = %d, %v; want %d", n, err, 2*per)
	}
	va, _ := a.RevocationVersion(ctx)
	if va == vb {
		t.Fatalf("a.RevocationVersion = %d after b.RevokeSubject, unchanged", va)
	}

	// An assertion used through a is a replay through b.
	now := time.Unix(1e9, 0)
	if err := a.UseAssertion(ctx, "ue-1", "j", now.Add(time.Minute), now); err != nil {
		t.Fatal(err)
	}
	if err := b.UseAssertion(ctx, "ue-1", "j", now.Add(time.Minute), now); !errors.Is(err, store.ErrReplay) {
		t.Fatalf("b.UseAssertion of a pair used through a: %v, want ErrReplay", err)
	}

	// Concurrent Rotate from both, from one version: exactly one succeeds.
	k1 := &store.SigningKey{KID: "k1", Algorithm: "ES256", State: store.KeyActive, PublicJWK: []byte("{}"), EncryptedPriv: []byte("x"), CreatedAt: now}
	if err := a.PutKey(ctx, k1); err != nil {
		t.Fatal(err)
	}
	for round := range 10 {
		v, err := b.KeysVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		start := make(chan struct{})
		results := make([]error, 2)
		var wg sync.WaitGroup
		for n, s := range []*Store{a, b} {
			wg.Go(func() {
				nk := &store.SigningKey{KID: fmt.Sprintf("r%d-%d", round, n), Algorithm: "ES256", State: store.KeyNext,
					PublicJWK: []byte("{}"), EncryptedPriv: []byte("x"), CreatedAt: now.Add(time.Duration(round) * time.Second)}
				up := *k1
				up.RetiredAt = &now
				<-start
				results[n] = s.Rotate(ctx, v, []*store.SigningKey{&up}, nk)
			})
		}
		close(start)
		wg.Wait()
		okCount := 0
		for _, err := range results {
			switch {
			case err == nil:
				okCount++
			case !errors.Is(err, store.ErrConflict):
				t.Fatalf("round %d: Rotate: %v", round, err)
			}
		}
		if okCount != 1 {
			t.Fatalf("round %d: %d of 2 concurrent Rotates succeeded (%v), want 1", round, okCount, results)
		}
		if v2, _ := a.KeysVersion(ctx); v2 != v+1 {
			t.Fatalf("round %d: KeysVersion %d -> %d, want one bump", round, v, v2)
		}
	}
	keys, err := b.ListKeys(ctx)
	if err != nil || len(keys) != 11 {
		t.Fatalf("ListKeys: %d keys, %v; want 11 (k1 and one new key per round)", len(keys), err)
	}
}

// TestGuardAcrossInstances: while one instance records tokens for a UE
// with RecordTokenIfUE, another deletes the UE and then revokes its tokens;
// no token recorded for the UE escapes the revocation.
func TestGuardAcrossInstances(t *testing.T) {
	ctx := context.Background()
	dsn, schema := newSchema(t)
	a, b := openSchema(t, dsn, schema), openSchema(t, dsn, schema)
	defer a.Close()
	defer b.Close()
	for round := range 5 {
		id := fmt.Sprintf("ue-%d", round)
		at := time.Unix(int64(round+1), 1)
		if err := b.CreateUE(ctx, &store.UE{ID: id, PublicKey: []byte("{}"), UpdatedAt: at}); err != nil {
			t.Fatal(err)
		}
		var (
			wg       sync.WaitGroup
			recorded atomic.Int64
			errs     = make(chan error, 8)
		)
		for g := range 8 {
			wg.Go(func() {
				for i := 0; ; i++ {
					err := a.RecordTokenIfUE(ctx, tok(fmt.Sprintf("%s-%d-%d", id, g, i), id), at)
					if errors.Is(err, store.ErrStale) {
						return
					}
					if err != nil {
						errs <- err
						return
					}
					recorded.Add(1)
				}
			})
		}
		for recorded.Load() < 20 {
			time.Sleep(time.Millisecond)
		}
		if err := b.DeleteUE(ctx, id); err != nil {
			t.Fatal(err)
		}
		revokedNow, err := b.RevokeSubject(ctx, id, time.Unix(100, 0))
		if err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		toks, err := a.ListTokens(ctx, store.TokenFilter{Subject: id})
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range toks {
			if tk.RevokedAt == nil {
				t.Fatalf("round %d: token %s recorded for %s escaped the revocation after DeleteUE", round, tk.JTI, id)
			}
		}
		if int64(len(toks)) != recorded.Load() || revokedNow != len(toks) {
			t.Fatalf("round %d: %d records, %d recorded, %d revoked", round, len(toks), recorded.Load(), revokedNow)
		}
	}
}

func mapKeys(m map[uint64]string) []uint64 {
	out := make([]uint64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestConcurrentOpen: instances starting at once on an empty schema migrate
// it once.
func TestConcurrentOpen(t *testing.T) {
	dsn, schema := newSchema(t)
	const n = 6
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			stores[i], errs[i] = Open(context.Background(), dsn, WithSchema(schema), WithMaxConns(2))
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Open %d: %v", i, errs[i])
		}
		defer stores[i].Close()
	}
	c := connect(t, dsn)
	defer c.Close(context.Background())
	var rows, v int
	if err := c.QueryRow(context.Background(), `SELECT count(*), max(version) FROM `+schema+`.schema_version`).Scan(&rows, &v); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || v != SchemaVersion {
		t.Fatalf("schema_version has %d rows, version %d; want 1, %d", rows, v, SchemaVersion)
	}
	tk := tok("a", "ue")
	if err := stores[n-1].RecordToken(context.Background(), tk); err != nil || tk.StatusIndex != 0 {
		t.Fatalf("first RecordToken: index %d, %v; want 0", tk.StatusIndex, err)
	}
}

func TestSchemaTooNew(t *testing.T) {
	dsn, schema := newSchema(t)
	openSchema(t, dsn, schema).Close()
	c := connect(t, dsn)
	defer c.Close(context.Background())
	if _, err := c.Exec(context.Background(), `UPDATE `+schema+`.schema_version SET version = $1`, SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), dsn, WithSchema(schema))
	if err == nil {
		s.Close()
		t.Fatal("Open of a newer schema succeeded")
	}
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("error = %v, want ErrSchemaTooNew", err)
	}
	t.Logf("refusal: %v", err)
	var v int
	if err := c.QueryRow(context.Background(), `SELECT version FROM `+schema+`.schema_version`).Scan(&v); err != nil || v != SchemaVersion+1 {
		t.Fatalf("schema version after refusal = %d, %v", v, err)
	}
}

func TestMissingSchema(t *testing.T) {
	dsn := liveDSN(t)
	s, err := Open(context.Background(), dsn, WithSchema("no_such_schema_for_prosesec"))
	if err == nil {
		s.Close()
		t.Fatal("Open with a missing schema succeeded")
	}
	if !strings.Contains(err.Error(), "no_such_schema_for_prosesec") {
		t.Fatalf("error does not name the schema: %v", err)
	}
	t.Logf("refusal: %v", err)
}

// TestSynchronousCommit: connections commit synchronously even where the
// session default is off, unless the DSN itself chooses otherwise.
func TestSynchronousCommit(t *testing.T) {
	dsn, schema := newSchema(t)
	for _, tc := range []struct {
		dsn, want string
	}{
		{dsn, "on"},
		{withParam(t, dsn, "options", "-c synchronous_commit=off"), "on"},
		{withParam(t, dsn, "synchronous_commit", "local"), "local"},
	} {
		s := openSchema(t, tc.dsn, schema)
		var got string
		err := s.pool.QueryRow(context.Background(), `SHOW synchronous_commit`).Scan(&got)
		s.Close()
		if err != nil || got != tc.want {
			t.Errorf("synchronous_commit = %q, %v; want %q", got, err, tc.want)
		}
	}
}

// TestBatchOutcomes runs one batch directly: duplicates within the batch
// and per-request outcomes do not affect the other requests, and a pair
// used twice in one batch sees its first use.
func TestBatchOutcomes(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	defer s.Close()
	if err := s.RecordToken(ctx, tok("old", "ue")); err != nil {
		t.Fatal(err)
	}
	ueAt := time.Unix(7, 7)
	if err := s.CreateUE(ctx, &store.UE{ID: "ue", PublicKey: []byte("{}"), UpdatedAt: ueAt}); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1e9, 0).UnixNano()
	min := int64(time.Minute)
	if err := s.UseAssertion(ctx, "i", "used", time.Unix(0, now+min), time.Unix(0, now)); err != nil {
		t.Fatal(err)
	}
	tr := func(jti string, revoked bool) *request {
		r := &request{kind: opToken, jti: jti, subject: "ue", scope: "s", format: "jwt", keyID: "k"}
		if revoked {
			r.revokedAt = &now
		}
		return r
	}
	guarded := func(jti string, at int64) *request {
		r := tr(jti, false)
		r.guarded, r.ueUpdatedAt = true, &at
		return r
	}
	ar := func(jti string, exp, at int64) *request {
		return &request{kind: opAssertion, issuer: "i", jti: jti, exp: exp, now: at}
	}
	batch := []*request{
		tr("a", false),
		tr("old", false),                  // 1: conflict with a record
		tr("a", false),                    // 2: conflict within the batch
		tr("b", true),                     // recorded revoked
		ar("used", now+min, now),          // 4: replay of a recorded pair
		ar("new", now+min, now),           // used
		ar("new", now+2*min, now),         // 6: replay within the batch
		ar("new", now+3*min, now+min),     // reuse at the exp of the first use
		ar("new", now+4*min, now+3*min-1), // 8: replay of that reuse
		guarded("g1", ueAt.UnixNano()),    // recorded: the UE is as seen
		guarded("g2", ueAt.UnixNano()+1),  // 10: stale
		guarded("old", ueAt.UnixNano()+1), // 11: conflict, whatever the guard
		guarded("g2", ueAt.UnixNano()),    // recorded: the stale one before it wrote nothing
	}
	want := []error{nil, store.ErrConflict, store.ErrConflict, nil, store.ErrReplay, nil, store.ErrReplay, nil, store.ErrReplay,
		nil, store.ErrStale, store.ErrConflict, nil}
	rv0, _ := s.RevocationVersion(ctx)
	w := &writer{pool: s.pool, maxBatch: 100, stats: new(stats)}
	if err := w.exec(batch); err != nil {
		t.Fatal(err)
	}
	for i, r := range batch {
		if want[i] == nil && r.err != nil || want[i] != nil && !errors.Is(r.err, want[i]) {
			t.Errorf("request %d: outcome %v, want %v", i, r.err, want[i])
		}
	}
	if batch[0].idx == batch[3].idx || batch[0].idx == 0 || batch[3].idx == 0 {
		t.Errorf("indices %d and %d; want distinct, after the first record's 0", batch[0].idx, batch[3].idx)
	}
	if b, err := s.GetToken(ctx, "b"); err != nil || b.RevokedAt == nil || b.StatusIndex != uint64(batch[3].idx) {
		t.Errorf("token b: %+v, %v", b, err)
	}
	if rv, _ := s.RevocationVersion(ctx); rv == rv0 {
		t.Errorf("RevocationVersion unchanged by a revoked record")
	}
	if err := s.UseAssertion(ctx, "i", "new", time.Unix(0, now+9*min), time.Unix(0, now+3*min-1)); !errors.Is(err, store.ErrReplay) {
		t.Errorf("the batch's renewal of (i, new) was not kept: %v", err)
	}
	if err := s.UseAssertion(ctx, "i", "new", time.Unix(0, now+9*min), time.Unix(0, now+3*min)); err != nil {
		t.Errorf("the batch's replayed use of (i, new) changed its exp: %v", err)
	}
}

// TestBatchFallback: a request the database rejects (a NUL byte in a text
// column) fails alone; the others of its batch are retried and commit.
func TestBatchFallback(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	defer s.Close()
	var batch []*request
	for i := range 5 {
		jti := fmt.Sprint(i)
		if i == 2 {
			jti = "bad\x00jti"
		}
		r := &request{kind: opToken, jti: jti, subject: "ue", scope: "s", format: "jwt", keyID: "k", done: make(chan error, 1)}
		batch = append(batch, r)
	}
	w := &writer{pool: s.pool, maxBatch: 100, stats: new(stats)}
	w.runBatch(batch)
	if st := w.stats; st.retried.Load() != 1 || st.batches.Load() != 6 {
		t.Errorf("stats: %d retried, %d transactions; want 1 and 6", st.retried.Load(), st.batches.Load())
	}
	for i, r := range batch {
		err := <-r.done
		if (err != nil) != (i == 2) {
			t.Errorf("request %d: %v", i, err)
		}
		if i == 2 {
			if isOutcome(err) || !strings.HasPrefix(err.Error(), "store/postgres: ") {
				t.Errorf("culprit's error: %v", err)
			}
			continue
		}
		if got, err := s.GetToken(ctx, r.jti); err != nil || got.StatusIndex != uint64(r.idx) {
			t.Errorf("token %s: %+v, %v; caller told %d", r.jti, got, err, r.idx)
		}
	}
}

// isOutcome tells a per-request outcome from a failure.
func isOutcome(err error) bool {
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) ||
		errors.Is(err, store.ErrReplay) || errors.Is(err, store.ErrStale)
}

// TestStatsShowBatching: concurrent RecordToken calls share transactions.
func TestStatsShowBatching(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, WithWriters(1))
	defer s.Close()
	var wg sync.WaitGroup
	const goroutines, per = 32, 20
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range per {
				if err := s.RecordToken(ctx, tok(fmt.Sprintf("%d-%d", g, i), "ue")); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Writes != goroutines*per || st.Retried != 0 || st.Transactions >= st.Writes {
		t.Fatalf("Stats = %+v; want %d writes in fewer transactions, none retried", st, goroutines*per)
	}
	t.Logf("%d writes in %d transactions", st.Writes, st.Transactions)
}

// TestIndexNeverReused: an index stays used even if its row is deleted
// behind the store's back, and after the store is reopened.
func TestIndexNeverReused(t *testing.T) {
	ctx := context.Background()
	dsn, schema := newSchema(t)
	s := openSchema(t, dsn, schema)
	for i := range 3 {
		if err := s.RecordToken(ctx, tok(fmt.Sprint(i), "ue")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordToken(ctx, tok("1", "ue")); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM tokens WHERE idx = 2`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openSchema(t, dsn, schema)
	defer s.Close()
	x := tok("x", "ue")
	if err := s.RecordToken(ctx, x); err != nil {
		t.Fatal(err)
	}
	if x.StatusIndex < 3 {
		t.Fatalf("index after deleting the last row = %d, want at least 3", x.StatusIndex)
	}
}

func TestClosed(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.RecordToken(ctx, tok("late", "ue")); err == nil {
		t.Fatal("RecordToken after Close succeeded")
	}
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping after Close succeeded")
	}
	if _, err := s.GetToken(ctx, "late"); err == nil {
		t.Fatal("GetToken after Close succeeded")
	}
}

func TestTimeRange(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	defer s.Close()
	bad := tok("x", "ue")
	bad.ExpiresAt = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := s.RecordToken(ctx, bad); err == nil {
		t.Fatal("RecordToken with a year-2300 time succeeded")
	}
	zero := time.Time{}
	bad = tok("y", "ue")
	bad.RevokedAt = &zero
	if err := s.RecordToken(ctx, bad); err == nil {
		t.Fatal("RecordToken with RevokedAt pointing at the zero time succeeded")
	}
	if err := s.UseAssertion(ctx, "i", "j", time.Time{}, time.Unix(1, 0)); err == nil {
		t.Fatal("UseAssertion with a zero exp succeeded")
	}
	// Bounds far outside the range still compare.
	if n, err := s.PurgeAssertions(ctx, time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil || n != 0 {
		t.Fatalf("PurgeAssertions far ahead = %d, %v", n, err)
	}
}

// TestEmptySecretHash: an empty, non-nil secret hash stays distinct from nil.
func TestEmptySecretHash(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	defer s.Close()
	if err := s.CreateUE(ctx, &store.UE{ID: "a", PublicKey: []byte("{}"), SecretHash: []byte{}}); err != nil {
		t.Fatal(err)
	}
	ue, err := s.GetUE(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if ue.SecretHash == nil || len(ue.SecretHash) != 0 {
		t.Fatalf("SecretHash = %#v, want empty non-nil", ue.SecretHash)
	}
}

// TestQueryPlans: the hot queries use indexes (with sequential scans
// disabled, so that the planner's choice on a tiny table does not hide a
// missing index; on such a table it may still choose to sort).
func TestQueryPlans(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	defer s.Close()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(ctx, `RESET enable_seqscan`)
	for _, q := range []string{
		`SELECT idx FROM tokens WHERE revoked_at IS NOT NULL AND idx >= 1 AND idx < 9 ORDER BY idx`,
		`SELECT ` + sqlTokenColumns + ` FROM tokens WHERE true AND subject = 'x' AND idx > 5 ORDER BY idx LIMIT 3`,
		`SELECT ` + sqlTokenColumns + ` FROM tokens WHERE jti = 'x'`,
		`SELECT max(idx) FROM tokens`,
		strings.NewReplacer("$1", "5", "$2", "10").Replace(sqlPurgeTokens),
		`DELETE FROM assertions WHERE exp < 5`,
		`UPDATE tokens SET revoked_at = 1 WHERE subject = 'x' AND revoked_at IS NULL`,
		`UPDATE tokens SET revoked_at = 1 WHERE jti = 'x' AND revoked_at IS NULL`,
		sqlSelectUE + ` WHERE u.id = 'x' ORDER BY g.pos`,
		`SELECT id FROM ues WHERE id > 'x' ORDER BY id LIMIT 10`,
	} {
		rows, err := conn.Query(ctx, `EXPLAIN `+q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		rows.Close()
		p := strings.Join(plan, "\n")
		if strings.Contains(p, "Seq Scan") {
			t.Errorf("%s:\n%s", q, p)
		}
	}
}
