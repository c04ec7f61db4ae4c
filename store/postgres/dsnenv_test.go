package postgres

// The rule for the PostgreSQL tests, checked by running this package's own
// test binary again with a chosen environment: with PROSE_TEST_POSTGRES_DSN
// set and the database unreachable they fail, and they skip (saying why)
// only when the variable is unset.

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// unreachableDSN names a port nothing listens on, with a short connect
// timeout in case something drops the packets instead of refusing them.
const unreachableDSN = "postgres://prose:prose@127.0.0.1:1/prose_test?sslmode=disable&connect_timeout=3"

// runSelf runs this test binary for the tests matching run, with
// PROSE_TEST_POSTGRES_DSN set to dsn ("" leaves it unset), and returns its
// output and whether it exited successfully.
func runSelf(t *testing.T, run, dsn string, extra ...string) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	args := append([]string{"-test.run=" + run, "-test.v", "-test.count=1"}, extra...)
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, dsnEnv+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if dsn != "" {
		cmd.Env = append(cmd.Env, dsnEnv+"="+dsn)
	}
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s -test.run=%s did not finish in 60s:\n%s", os.Args[0], run, out)
	}
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("running %s: %v", os.Args[0], err)
	}
	return string(out), err == nil
}

// TestUnreachableDatabaseFails: PostgreSQL tests fail, not skip, when the
// variable names a database that cannot be reached.
func TestUnreachableDatabaseFails(t *testing.T) {
	for _, name := range []string{"TestTwoInstances", "TestWrongPassword", "TestConformance"} {
		out, ok := runSelf(t, "^"+name+"$", unreachableDSN)
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
	if n := strings.Count(out, dsnEnv+" not set; see README"); n < 3 {
		t.Errorf("%d skip messages name %s, want one per skipped test:\n%s", n, dsnEnv, out)
	}
	if !strings.Contains(out, "--- PASS: TestDescribe") {
		t.Errorf("TestDescribe, which needs no database, did not run:\n%s", out)
	}
}
