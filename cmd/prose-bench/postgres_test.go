//go:build linux

package main

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/prosesec/prosesec/internal/pgtest"
)

// postgresDSN returns the test database's DSN (package pgtest's rule: skip
// when PROSE_TEST_POSTGRES_DSN is unset, fail when it is unreachable).
func postgresDSN(t *testing.T) string { return pgtest.DSN(t) }

// schemaExists reports whether schema exists in the database of dsn.
func schemaExists(t *testing.T, dsn, schema string) bool {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1", schema).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// Two prose-as instances on one PostgreSQL schema, loaded round robin,
// with both client authentications: every token verifies, the CPU time of
// each instance, of the load generator and of PostgreSQL is reported, and
// the DSN's password appears nowhere in the report.
func TestTokenInstancesPostgres(t *testing.T) {
	dsn := postgresDSN(t)
	u, _ := url.Parse(dsn)
	password, _ := u.User.Password()
	for _, auth := range []string{"basic", "jwt"} {
		t.Run(auth, func(t *testing.T) {
			code, out, errOut := runCLI(t, "token", "--prose-as", proseASBin, "--db", dsn, "--instances", "2", "--auth", auth,
				"--duration", "1s", "--warmup", "200ms", "--concurrency", "4", "--clients", "8", "--assertion-rate", "2000", "--json")
			if code != exitOK {
				t.Fatalf("exit status %d; stderr:\n%s\nstdout:\n%s", code, errOut, out)
			}
			if password != "" && (strings.Contains(out, ":"+password+"@") || strings.Contains(errOut, ":"+password+"@")) {
				t.Errorf("the DSN's password is in the output")
			}
			rep := parseReport(t, out)
			checkRuns(t, rep, 1)
			if sc := rep.Environment.PostgresSchema; !strings.HasPrefix(sc, "prose_bench_") || schemaExists(t, dsn, sc) {
				t.Errorf("the run's schema %q is not reported or was not dropped", sc)
			}
			r := rep.Runs[0]
			if r.Instances != 2 || len(r.Processes) != 4 || r.PostgresCPUSeconds == nil || r.PostgresCPUPerToken == nil {
				t.Fatalf("instances %d, processes %+v, postgres %v", r.Instances, r.Processes, r.PostgresCPUSeconds)
			}
			for _, p := range r.Processes[1:3] {
				if !strings.HasPrefix(p.Process, "prose-as #") || p.PID == 0 || p.CPUSeconds <= 0 {
					t.Errorf("server process %+v: no CPU time (not loaded round robin?)", p)
				}
			}
			if !strings.Contains(r.Processes[3].Process, "system-wide") || r.Processes[3].Count == 0 {
				t.Errorf("postgres entry %+v", r.Processes[3])
			}
		})
	}
	// Markdown names the postgres column and says it is system-wide.
	code, out, errOut := runCLI(t, "token", "--prose-as", proseASBin, "--db", dsn, "--duration", "1s", "--warmup", "0s", "--concurrency", "2", "--clients", "2")
	if code != exitOK || !strings.Contains(out, "postgres CPU µs/token") || !strings.Contains(out, "system-wide") {
		t.Errorf("exit %d, stderr %s\n%s", code, errOut, out)
	}
}

func TestRedact(t *testing.T) {
	got := redactArgs([]string{"token", "--db", "postgres://u:s3cret@127.0.0.1/db", "--db=postgres://u:s3cret@127.0.0.1/db"})
	if strings.Contains(strings.Join(got, " "), "s3cret") {
		t.Errorf("redactArgs = %q", got)
	}
	clean, pw, err := splitDSN("postgres://u:s3cret@127.0.0.1:5432/db?sslmode=disable")
	if err != nil || pw != "s3cret" || strings.Contains(clean, "s3cret") || !strings.Contains(clean, "u@127.0.0.1:5432/db?sslmode=disable") {
		t.Errorf("splitDSN = %q %q %v", clean, pw, err)
	}
}

// The spawned servers get --client-rate-limit=0 when prose-as has the
// flag, before the user's --server-arg values.
func TestSpawnArgs(t *testing.T) {
	ctx := context.Background()
	if !hasServeFlag(ctx, proseASBin, "listen") || hasServeFlag(ctx, proseASBin, "no-such-flag") {
		t.Fatalf("hasServeFlag does not read prose-as serve --help")
	}
	o, err := newSpawnOptions(ctx, proseASBin, &tokenSettings{serverArgs: stringList{"--log-level=warn"}})
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Join(o.args(0), " ")
	if hasServeFlag(ctx, proseASBin, "client-rate-limit") != strings.Contains(args, "--client-rate-limit=0") || !strings.HasSuffix(args, "--log-level=warn") {
		t.Errorf("args = %q", args)
	}
}
