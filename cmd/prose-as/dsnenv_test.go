//go:build unix

package main

// The rule for the PostgreSQL tests, checked by running this package's own
// test binary again with a chosen environment: with PROSE_TEST_POSTGRES_DSN
// set and the database unreachable they fail (with -short too), and they
// skip (saying why) only when the variable is unset.

import (
	"strings"
	"testing"
	"time"

	"github.com/prosesec/prosesec/internal/pgtest"
)

// pgTests are this package's tests that need PostgreSQL.
var pgTests = []string{"TestServePostgres", "TestCrashSafetyPostgres", "TestClusterFailover"}

// runSelfPG runs this test binary for pgTests with PROSE_TEST_POSTGRES_DSN
// set to dsn ("" leaves it unset), and returns its output and whether it
// exited successfully. (The child's TestMain builds prose-as again, from
// the build cache.)
func runSelfPG(t *testing.T, dsn string, extra ...string) (string, bool) {
	t.Helper()
	return pgtest.RunSelf(t, "^("+strings.Join(pgTests, "|")+")$", dsn, 120*time.Second, extra...)
}

// TestUnreachableDatabaseFails: with the DSN naming a port nothing listens
// on, every PostgreSQL test fails, none skips, even with -short.
func TestUnreachableDatabaseFails(t *testing.T) {
	out, ok := runSelfPG(t, pgtest.UnreachableDSN, "-test.short")
	if ok || strings.Contains(out, "--- SKIP") {
		t.Errorf("with an unreachable database: exit ok=%v; want a failure and no skip; output:\n%s", ok, out)
	}
	for _, name := range pgTests {
		if !strings.Contains(out, "--- FAIL: "+name+" ") {
			t.Errorf("%s did not fail with an unreachable database:\n%s", name, out)
		}
	}
	if n := strings.Count(out, "is unreachable"); n != len(pgTests) {
		t.Errorf("%d failures say the database is unreachable, want %d:\n%s", n, len(pgTests), out)
	}
}

// TestUnsetDatabaseSkips: without the variable every PostgreSQL test skips
// with a message naming it.
func TestUnsetDatabaseSkips(t *testing.T) {
	out, ok := runSelfPG(t, "")
	if !ok {
		t.Fatalf("without a database the PostgreSQL tests did not pass (skip):\n%s", out)
	}
	for _, name := range pgTests {
		if !strings.Contains(out, "--- SKIP: "+name+" ") {
			t.Errorf("%s did not skip without %s:\n%s", name, pgtest.Env, out)
		}
	}
	if n := strings.Count(out, pgtest.Env+" not set; see "); n != len(pgTests) {
		t.Errorf("%d skip messages name %s, want %d:\n%s", n, pgtest.Env, len(pgTests), out)
	}
}
