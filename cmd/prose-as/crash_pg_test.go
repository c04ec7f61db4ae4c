//go:build unix

package main

// Reliability tests on PostgreSQL: the shared database helper and the
// crash test on the PostgreSQL backend. The tests need
// PROSE_TEST_POSTGRES_DSN (a postgres:// URL, see docs/postgres.md): they
// skip when it is unset and fail when it is set but the database cannot be
// reached.

import (
	"context"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/prosesec/prosesec/internal/pgtest"
)

// pgTestDB is a schema of its own in the database named by
// PROSE_TEST_POSTGRES_DSN, dropped when the test ends.
type pgTestDB struct {
	schema string
	dsn    string    // for prose-as serve --db: selects the schema, no password
	env    []string  // PGPASSWORD for the server, when the DSN had one
	conn   *pgx.Conn // the test's own connection, for direct checks
}

// newPGTestDB creates the test's schema. It skips the test when
// PROSE_TEST_POSTGRES_DSN is unset and fails it when the variable is set
// but the database cannot be reached or the schema not created.
func newPGTestDB(t *testing.T, prefix string) *pgTestDB {
	t.Helper()
	// Dropped after the servers' own cleanups (registered later) killed them.
	dsn, schema := pgtest.Schema(t, "prose_as_"+prefix)
	if !isPostgresDSN(dsn) {
		t.Fatalf("%s must be a postgres:// URL for the prose-as tests (it is passed to serve --db)", pgtest.Env)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("%s does not parse as a URL: %v", pgtest.Env, err)
	}
	db := &pgTestDB{schema: schema, conn: pgtest.Connect(t, dsn)}
	t.Cleanup(func() { db.conn.Close(context.Background()) })
	// The server gets the password through PGPASSWORD, as docs/postgres.md
	// recommends, so that it is not on its command line.
	if u.User != nil {
		if pw, ok := u.User.Password(); ok {
			db.env = []string{"PGPASSWORD=" + pw}
			u.User = url.User(u.User.Username())
		}
	}
	q := u.Query()
	q.Set("search_path", db.schema)
	u.RawQuery = q.Encode()
	db.dsn = u.String()
	return db
}

// TestCrashSafetyPostgres is TestCrashSafety on the PostgreSQL backend:
// SIGKILL under load, three times, then every received token must be on
// record, carry a unique status index and be revocable.
//
// The database is reached before -short is looked at, so that -short with a
// set but unreachable PROSE_TEST_POSTGRES_DSN still fails: -short skips only
// the heavy part, the crash loop.
func TestCrashSafetyPostgres(t *testing.T) {
	db := newPGTestDB(t, "crash")
	if testing.Short() {
		t.Skip("crash test skipped in -short mode (the database was reachable)")
	}
	runCrashSafety(t, crashBackend{name: "PostgreSQL", serve: []string{"--db", db.dsn}, env: db.env})
}
