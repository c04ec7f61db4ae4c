// Package pgtest owns the rule every PostgreSQL test of the project follows
// (docs/postgres.md, "PostgreSQL tests"): the test database is named by the
// environment variable PROSE_TEST_POSTGRES_DSN; a test skips, saying so,
// only when the variable is unset, and fails when it is set and the
// database cannot be reached. Each test works in a schema of its own,
// created and dropped by the test, so one database serves every package.
//
// It is for tests only; nothing outside _test.go files imports it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Env names the environment variable with the test database's DSN.
const Env = "PROSE_TEST_POSTGRES_DSN"

// UnreachableDSN names a port nothing listens on, with a short connect
// timeout in case something drops the packets instead of refusing them:
// the DSN of the tests of the rule itself.
const UnreachableDSN = "postgres://prose:prose@127.0.0.1:1/prose_test?sslmode=disable&connect_timeout=3"

// SkipMessage is the reason a PostgreSQL test gives when it skips.
const SkipMessage = Env + " not set; see docs/postgres.md (PostgreSQL tests)"

// DSN returns the test database's DSN after checking that the database
// answers: it skips t when Env is unset and fails it when the database is
// unreachable.
func DSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(Env)
	if dsn == "" {
		t.Skip(SkipMessage)
	}
	Connect(t, dsn).Close(context.Background())
	return dsn
}

// Connect opens one connection to dsn, failing t if the database is
// unreachable; the caller closes it.
func Connect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("PostgreSQL named by %s is unreachable (start it, or unset %s to skip these tests): %v", Env, Env, err)
	}
	return c
}

// Schema creates a schema named prefix + "_" + 12 random hex digits in the
// test database (DSN's rules apply) and drops it, with everything in it,
// when t ends. Cleanups registered after Schema returns run before the drop.
func Schema(t testing.TB, prefix string) (dsn, schema string) {
	t.Helper()
	dsn = DSN(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema = prefix + "_" + hex.EncodeToString(b[:])
	c := Connect(t, dsn)
	defer c.Close(context.Background())
	if _, err := c.Exec(context.Background(), "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatalf("create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return dsn, schema
}

// RunSelf runs the current test binary again for the tests matching the
// -test.run pattern run, with Env set to dsn ("" leaves it unset) and the
// extra test flags, and returns its combined output and whether it exited
// successfully. It checks the rule from outside: a test cannot observe its
// own skip or failure.
func RunSelf(t *testing.T, run, dsn string, timeout time.Duration, extra ...string) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"-test.run=" + run, "-test.v", "-test.count=1"}, extra...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, Env+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if dsn != "" {
		cmd.Env = append(cmd.Env, Env+"="+dsn)
	}
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s -test.run=%s did not finish in %v:\n%s", os.Args[0], run, timeout, out)
	}
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("running %s: %v", os.Args[0], err)
	}
	return string(out), err == nil
}
