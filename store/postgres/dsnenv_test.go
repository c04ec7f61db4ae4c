package postgres

// The rule for the PostgreSQL tests, checked by running this package's own
// test binary again with a chosen environment: with PROSE_TEST_POSTGRES_DSN
// set and the database unreachable they fail, and they skip (saying why)
// only when the variable is unset.

import (
	"strings"
	"testing"
	"time"

	"github.com/prosesec/prosesec/internal/pgtest"
)

// runSelf runs this test binary for the tests matching run, with the test
// database's variable set to dsn ("" leaves it unset).
func runSelf(t *testing.T, run, dsn string, extra ...string) (string, bool) {
	t.Helper()
	return pgtest.RunSelf(t, run, dsn, 60*time.Second, extra...)
}

// TestUnreachableDatabaseFails: PostgreSQL tests fail, not skip, when the
// variable names a database that cannot be reached.
func TestUnreachableDatabaseFails(t *testing.T) {
	for _, name := range []string{"TestTwoInstances", "TestWrongPassword", "TestConformance"} {
		out, ok := runSelf(t, "^"+name+"$", pgtest.UnreachableDSN)
		if ok || !strings.Contains(out, "--- FAIL: "+name) || strings.Contains(out, "--- SKIP") {
			t.Errorf("%s with an unreachable database: exit ok=%v; want a failure and no skip; output:\n%s", name, ok, out)
		}
		if !strings.Contains(out, "unreachable") {
			t.Errorf("%s: the failure does not say the database is unreachable:\n%s", name, out)
		}
	}
}

// TestUnsetDatabaseSkips: without the variable the PostgreSQL tests skip,
// naming the variable; tests that need no database still run. (The
// conformance suite skips subtest by subtest.)
func TestUnsetDatabaseSkips(t *testing.T) {
	out, ok := runSelf(t, "^(TestTwoInstances|TestWrongPassword|TestConformance|TestDescribe)$", "")
	if !ok {
		t.Fatalf("tests without a database did not pass:\n%s", out)
	}
	for _, name := range []string{"TestTwoInstances", "TestWrongPassword", "TestConformance/Token/"} {
		if !strings.Contains(out, "--- SKIP: "+name) {
			t.Errorf("%s did not skip without %s:\n%s", name, dsnEnv, out)
		}
	}
	if strings.Contains(out, "--- PASS: TestConformance/") {
		t.Errorf("conformance subtests passed without a database:\n%s", out)
	}
	if n := strings.Count(out, pgtest.SkipMessage); n < 3 {
		t.Errorf("%d skip messages name %s, want one per skipped test:\n%s", n, dsnEnv, out)
	}
	if !strings.Contains(out, "--- PASS: TestDescribe") {
		t.Errorf("TestDescribe, which needs no database, did not run:\n%s", out)
	}
}
