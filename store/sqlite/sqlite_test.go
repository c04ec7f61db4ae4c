package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prosesec/prosesec/store"
	"github.com/prosesec/prosesec/store/storetest"
)

func openTest(t testing.TB, path string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTest(t, filepath.Join(t.TempDir(), "as.db"))
	})
}

func TestConformanceSyncNormal(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTest(t, filepath.Join(t.TempDir(), "as.db"), WithSynchronous(SyncNormal), WithMaxBatch(3))
	})
}

// TestConformanceNoBatching runs the suite with one request per transaction.
func TestConformanceNoBatching(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTest(t, filepath.Join(t.TempDir(), "as.db"), WithMaxBatch(1))
	})
}

func tok(jti, sub string) *store.IssuedToken {
	now := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	return &store.IssuedToken{JTI: jti, Subject: sub, Scope: "s", Format: "jwt", KeyID: "k", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
}

func TestOpenBadArgs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, p := range []string{"", ":memory:", "file:x.db"} {
		if s, err := Open(ctx, p); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
	for _, o := range []Option{WithMaxBatch(0), WithReadConns(0), WithBusyTimeout(-1), WithSynchronous(7)} {
		if s, err := Open(ctx, filepath.Join(dir, "x.db"), o); err == nil {
			s.Close()
			t.Errorf("Open with a bad option succeeded")
		}
	}
	if _, err := Open(ctx, filepath.Join(dir, "missing", "x.db")); err == nil {
		t.Errorf("Open in a missing directory succeeded")
	}
}

// TestPathNeedsEscaping opens a file whose name would break a naive URI.
func TestPathNeedsEscaping(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a dir?#%")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "as?x=1#y%20.db")
	s := openTest(t, path)
	if err := s.RecordToken(context.Background(), tok("a", "ue")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at the given path: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("directory holds %q, want only the database", names)
	}
}

// TestReopen writes through the group committer from many goroutines,
// closes, reopens and finds everything.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "as.db")
	s := openTest(t, path)
	const n = 400
	want := make([]*store.IssuedToken, n)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := g; i < n; i += 8 {
				tk := tok(fmt.Sprintf("jti-%d", i), fmt.Sprintf("ue-%d", i%5))
				if err := s.RecordToken(ctx, tk); err != nil {
					errs <- err
					return
				}
				want[i] = tk
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := s.UseAssertion(ctx, "iss", "j", time.Unix(2e9, 0), time.Unix(1e9, 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUE(ctx, &store.UE{ID: "ue-1", PublicKey: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutKey(ctx, &store.SigningKey{KID: "k", Algorithm: "ES256", State: store.KeyActive, CreatedAt: time.Unix(1, 1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeSubject(ctx, "ue-3", time.Unix(5, 5)); err != nil {
		t.Fatal(err)
	}
	rv, _ := s.RevocationVersion(ctx)
	kv, _ := s.KeysVersion(ctx)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.RecordToken(ctx, tok("late", "ue")); err == nil {
		t.Fatal("RecordToken after Close succeeded")
	}

	s = openTest(t, path)
	defer s.Close()
	for _, w := range want {
		got, err := s.GetToken(ctx, w.JTI)
		if err != nil {
			t.Fatal(err)
		}
		if got.StatusIndex != w.StatusIndex || (got.RevokedAt != nil) != (w.Subject == "ue-3") {
			t.Fatalf("after reopen %s: %+v, want index %d", w.JTI, got, w.StatusIndex)
		}
	}
	if err := s.UseAssertion(ctx, "iss", "j", time.Unix(2e9, 0), time.Unix(1e9, 0)); !errors.Is(err, store.ErrReplay) {
		t.Fatalf("assertion after reopen: %v", err)
	}
	if _, err := s.GetUE(ctx, "ue-1"); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.RevocationVersion(ctx); v != rv {
		t.Fatalf("RevocationVersion after reopen = %d, want %d", v, rv)
	}
	if v, _ := s.KeysVersion(ctx); v != kv {
		t.Fatalf("KeysVersion after reopen = %d, want %d", v, kv)
	}
	// New indices continue after the old ones.
	next := tok("next", "ue")
	if err := s.RecordToken(ctx, next); err != nil {
		t.Fatal(err)
	}
	if next.StatusIndex != n {
		t.Fatalf("first index after reopen = %d, want %d", next.StatusIndex, n)
	}
}

// TestIndexNeverReused checks that an index stays used even if its row is
// deleted behind the store's back (AUTOINCREMENT, not max(rowid)+1).
func TestIndexNeverReused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "as.db")
	s := openTest(t, path)
	for i := range 3 {
		if err := s.RecordToken(ctx, tok(fmt.Sprint(i), "ue")); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	db := rawDB(t, path)
	if _, err := db.Exec(`DELETE FROM tokens WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s = openTest(t, path)
	defer s.Close()
	x := tok("x", "ue")
	if err := s.RecordToken(ctx, x); err != nil {
		t.Fatal(err)
	}
	if x.StatusIndex != 3 {
		t.Fatalf("index after deleting the last row = %d, want 3", x.StatusIndex)
	}
}

func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := openDB(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestSchemaTooNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "as.db")
	openTest(t, path).Close()
	db := rawDB(t, path)
	if _, err := db.Exec(`UPDATE schema_version SET version = ?`, SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := Open(context.Background(), path)
	if err == nil {
		s.Close()
		t.Fatal("Open of a newer schema succeeded")
	}
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("error = %v, want ErrSchemaTooNew", err)
	}
	t.Logf("refusal: %v", err)
	// Nothing was changed: the version is still the newer one.
	db = rawDB(t, path)
	defer db.Close()
	var v int
	if err := db.QueryRow(`SELECT version FROM schema_version`).Scan(&v); err != nil || v != SchemaVersion+1 {
		t.Fatalf("schema version after refusal = %d, %v", v, err)
	}
}

func TestSchemaVersionRecorded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "as.db")
	openTest(t, path).Close()
	openTest(t, path).Close() // idempotent
	db := rawDB(t, path)
	defer db.Close()
	var n, v int
	if err := db.QueryRow(`SELECT count(*), max(version) FROM schema_version`).Scan(&n, &v); err != nil {
		t.Fatal(err)
	}
	if n != 1 || v != SchemaVersion {
		t.Fatalf("schema_version has %d rows, version %d; want 1, %d", n, v, SchemaVersion)
	}
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v", mode, err)
	}
}

func TestPragmas(t *testing.T) {
	for _, tc := range []struct {
		opt  Synchronous
		want int
	}{{SyncFull, 2}, {SyncNormal, 1}} {
		s := openTest(t, filepath.Join(t.TempDir(), "as.db"), WithSynchronous(tc.opt))
		var sync, fk int
		err := s.w.conn.QueryRowContext(context.Background(), `PRAGMA synchronous`).Scan(&sync)
		if err == nil {
			err = s.w.conn.QueryRowContext(context.Background(), `PRAGMA foreign_keys`).Scan(&fk)
		}
		if err != nil || sync != tc.want || fk != 1 {
			t.Errorf("%v: synchronous=%d foreign_keys=%d (%v), want %d and 1", tc.opt, sync, fk, err, tc.want)
		}
		// The read pool cannot write.
		if _, err := s.read.Exec(`DELETE FROM tokens`); err == nil {
			t.Errorf("a write on the read pool succeeded")
		}
		s.Close()
	}
}

// TestConcurrentRecord: 32 goroutines × 200 RecordToken.
func TestConcurrentRecord(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "as.db"))
	defer s.Close()
	const goroutines, per = 32, 200
	idx := make([]uint64, goroutines*per)
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range per {
				tk := tok(fmt.Sprintf("g%d-%d", g, i), fmt.Sprintf("ue-%d", g))
				if err := s.RecordToken(ctx, tk); err != nil {
					errs <- err
					return
				}
				idx[g*per+i] = tk.StatusIndex
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	sorted := append([]uint64(nil), idx...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	for i, v := range sorted {
		// Unique, and dense: no request failed, so no index was skipped.
		if v != uint64(i) {
			t.Fatalf("sorted indices[%d] = %d, want %d", i, v, i)
		}
	}
	for g := range goroutines {
		for i := range per {
			got, err := s.GetToken(ctx, fmt.Sprintf("g%d-%d", g, i))
			if err != nil {
				t.Fatal(err)
			}
			if got.StatusIndex != idx[g*per+i] {
				t.Fatalf("stored index %d, caller was told %d", got.StatusIndex, idx[g*per+i])
			}
		}
	}
}

// TestBatchFallback: a request that fails unexpectedly inside a batch fails
// alone; the others of its batch still commit.
func TestBatchFallback(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "as.db"))
	defer s.Close()
	// Hold the writer so that the requests below queue into one batch.
	release := make(chan struct{})
	held := make(chan struct{})
	var once sync.Once
	go s.submit(ctx, false, func(w *writer) error {
		once.Do(func() { close(held) }) // may run again in the retry
		<-release
		return nil
	})
	<-held
	var wg sync.WaitGroup
	results := make([]error, 6)
	for i := range results {
		wg.Go(func() {
			if i == 3 {
				results[i] = s.submit(ctx, false, func(w *writer) error {
					_, err := w.exec(`INSERT INTO no_such_table VALUES (1)`)
					return err
				})
				return
			}
			results[i] = s.RecordToken(ctx, tok(fmt.Sprint(i), "ue"))
		})
	}
	// Wait until all six are queued.
	for len(s.reqs) < len(results) {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if st := s.Stats(); st.Retried != 1 {
		t.Errorf("Stats = %+v, want one retried batch", st)
	}
	for i, err := range results {
		if (err != nil) != (i == 3) {
			t.Errorf("request %d: error %v", i, err)
		}
		if i != 3 {
			if _, err := s.GetToken(ctx, fmt.Sprint(i)); err != nil {
				t.Errorf("token %d: %v", i, err)
			}
		}
	}
}

// TestCancelWhileQueued: a caller whose context ends while its request waits
// gets the context's error; the request may still commit (documented).
func TestCancelWhileQueued(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "as.db"))
	release := make(chan struct{})
	held := make(chan struct{})
	go s.submit(context.Background(), false, func(w *writer) error {
		close(held)
		<-release
		return nil
	})
	<-held
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := s.RecordToken(ctx, tok("x", "ue"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want DeadlineExceeded", err)
	}
	close(release)
	// Close drains the queue: here the request was committed after all.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, s.path)
	defer s.Close()
	if _, err := s.GetToken(context.Background(), "x"); err != nil {
		t.Fatalf("the abandoned request was not committed: %v", err)
	}
}

func TestTimeRange(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "as.db"))
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
}

// TestEmptySecretHash: an empty, non-nil secret hash stays distinct from nil.
func TestEmptySecretHash(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "as.db"))
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

func TestQueryPlans(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "as.db"))
	defer s.Close()
	for _, q := range []string{
		`SELECT seq FROM tokens WHERE revoked_at IS NOT NULL AND seq >= 1 AND seq < 9 ORDER BY seq`,
		`SELECT seq FROM tokens WHERE 1 AND subject = 'x' AND seq > 5 ORDER BY seq LIMIT 3`,
		`DELETE FROM assertions WHERE exp < 5`,
		`UPDATE tokens SET revoked_at = 1 WHERE subject = 'x' AND revoked_at IS NULL`,
		`UPDATE tokens SET revoked_at = 1 WHERE jti = 'x' AND revoked_at IS NULL`,
		sqlGetToken,
		sqlGetUE,
		sqlMaxSeq,
		strings.NewReplacer("?1", "5", "?2", "10").Replace(sqlPurgeTokens),
	} {
		rows, err := s.read.Query(`EXPLAIN QUERY PLAN ` + strings.ReplaceAll(q, "?", "'x'"))
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		for _, d := range plan {
			// sqlite_sequence has a row per AUTOINCREMENT table: one.
			if d == "SCAN CONSTANT ROW" || d == "SCAN sqlite_sequence" {
				continue
			}
			if strings.HasPrefix(d, "SCAN") || strings.Contains(d, "TEMP B-TREE") {
				t.Errorf("%s: plan %q", q, plan)
			}
		}
	}
}

// TestOutcomesShareTheBatch: per-request outcomes (a duplicate JTI, a
// replayed assertion, an absent key in Rotate) are answered from within the
// shared transaction, without rolling the batch back.
func TestOutcomesShareTheBatch(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "as.db"))
	defer s.Close()
	if err := s.RecordToken(ctx, tok("dup", "ue")); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1e9, 0)
	if err := s.UseAssertion(ctx, "i", "j", now.Add(time.Minute), now); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	held := make(chan struct{})
	go s.submit(ctx, false, func(w *writer) error {
		close(held)
		<-release
		return nil
	})
	<-held
	st0 := s.Stats()
	ops := []struct {
		want error
		do   func() error
	}{
		{store.ErrConflict, func() error { return s.RecordToken(ctx, tok("dup", "ue")) }},
		{nil, func() error { return s.RecordToken(ctx, tok("new", "ue")) }},
		{store.ErrReplay, func() error { return s.UseAssertion(ctx, "i", "j", now.Add(time.Minute), now) }},
		{nil, func() error { return s.UseAssertion(ctx, "i", "k", now.Add(time.Minute), now) }},
		{store.ErrNotFound, func() error {
			return s.Rotate(ctx, 0, []*store.SigningKey{{KID: "ghost", CreatedAt: now}}, &store.SigningKey{KID: "k", CreatedAt: now})
		}},
		{nil, func() error { return s.CreateUE(ctx, &store.UE{ID: "ue", PublicKey: []byte("{}")}) }},
	}
	errs := make([]error, len(ops))
	var wg sync.WaitGroup
	for i, op := range ops {
		wg.Go(func() { errs[i] = op.do() })
	}
	for len(s.reqs) < len(ops) {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	for i, op := range ops {
		if op.want == nil && errs[i] != nil || op.want != nil && !errors.Is(errs[i], op.want) {
			t.Errorf("op %d: error %v, want %v", i, errs[i], op.want)
		}
	}
	st := s.Stats()
	if st.Retried != st0.Retried || st.Transactions-st0.Transactions != 1 {
		t.Errorf("stats went from %+v to %+v; want one transaction and no retry", st0, st)
	}
	keys, err := s.ListKeys(ctx)
	if err != nil || len(keys) != 0 {
		t.Errorf("keys after the batch: %v, %v; want none (the failed Rotate undone)", keys, err)
	}
}

// TestTwoStoresOneFile: two stores on one file (as with an admin command
// run next to the server) share the sequence and the counters.
func TestTwoStoresOneFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "as.db")
	a, b := openTest(t, path), openTest(t, path)
	defer a.Close()
	defer b.Close()
	var wg sync.WaitGroup
	const per = 100
	errs := make(chan error, 2*per)
	idx := make(chan uint64, 2*per)
	for n, s := range []*Store{a, b} {
		wg.Go(func() {
			for i := range per {
				tk := tok(fmt.Sprintf("%d-%d", n, i), "ue")
				if err := s.RecordToken(ctx, tk); err != nil {
					errs <- err
					continue
				}
				idx <- tk.StatusIndex
			}
		})
	}
	wg.Wait()
	close(errs)
	close(idx)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	for i := range idx {
		if seen[i] {
			t.Fatalf("index %d assigned twice", i)
		}
		seen[i] = true
	}
	if err := a.RevokeToken(ctx, "1-5", time.Unix(9, 0)); err != nil {
		t.Fatal(err)
	}
	va, _ := a.RevocationVersion(ctx)
	vb, _ := b.RevocationVersion(ctx)
	if va != vb || va == 0 {
		t.Fatalf("revocation versions %d and %d", va, vb)
	}
	if got, err := b.GetToken(ctx, "1-5"); err != nil || got.RevokedAt == nil {
		t.Fatalf("revocation through a not seen by b: %+v, %v", got, err)
	}
}

func TestNotADatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "as.db")
	if err := os.WriteFile(path, []byte("this is not an SQLite database, not even close......................................................"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), path)
	if err == nil {
		s.Close()
		t.Fatal("Open of a non-database succeeded")
	}
	t.Logf("refusal: %v", err)
}
