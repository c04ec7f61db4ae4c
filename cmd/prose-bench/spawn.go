//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// spawnOptions are what every spawned prose-as serve of a run shares.
type spawnOptions struct {
	extra     []string // --server-arg values, last so that they win
	db        string   // PostgreSQL URL without its password; "" for SQLite
	password  string   // passed in PGPASSWORD
	kekFile   string   // one KEK for every instance (signing keys in the shared database)
	dir       string   // holds kekFile; removed by cleanup
	issuer    string   // set once the first instance is up; "" for the first
	rateLimit bool     // the binary has --client-rate-limit
	dsn       string   // the --db value as given (password included), for the schema
	schema    string   // created for the run, dropped by cleanup
}

// newSpawnOptions prepares the shared options: with --db a fresh schema
// in that database (every run starts empty, as a spawned SQLite server
// does, and its signing keys match the run's KEK) and a KEK file common
// to the instances; and --client-rate-limit=0 when the binary has that
// flag (a benchmark of issuance must not be throttled per client).
func newSpawnOptions(ctx context.Context, bin string, s *tokenSettings) (*spawnOptions, error) {
	o := &spawnOptions{extra: s.serverArgs, rateLimit: hasServeFlag(ctx, bin, "client-rate-limit")}
	if s.db == "" {
		return o, nil
	}
	var err error
	if o.db, o.password, err = splitDSN(s.db); err != nil {
		return nil, err
	}
	o.dsn = s.db
	var sb [6]byte
	if _, err := rand.Read(sb[:]); err != nil {
		return nil, fmt.Errorf("prose-bench: %v", err)
	}
	schema := "prose_bench_" + hex.EncodeToString(sb[:])
	if err := pgExec(ctx, s.db, "CREATE SCHEMA "+schema); err != nil {
		return nil, fmt.Errorf("prose-bench: --db %s: creating schema %s: %v", redactDSN(s.db), schema, err)
	}
	o.schema = schema
	u, _ := url.Parse(o.db)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	o.db = u.String()
	if o.dir, err = os.MkdirTemp("", "prose-bench-kek-"); err != nil {
		return nil, fmt.Errorf("prose-bench: %v", err)
	}
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		o.cleanup(io.Discard)
		return nil, fmt.Errorf("prose-bench: %v", err)
	}
	o.kekFile = filepath.Join(o.dir, "kek")
	if err := os.WriteFile(o.kekFile, []byte(hex.EncodeToString(k[:])+"\n"), 0o600); err != nil {
		o.cleanup(io.Discard)
		return nil, fmt.Errorf("prose-bench: %v", err)
	}
	return o, nil
}

// cleanup removes the KEK file and drops the run's schema; call it after
// the servers have stopped.
func (o *spawnOptions) cleanup(log io.Writer) {
	if o.dir != "" {
		os.RemoveAll(o.dir)
	}
	if o.schema != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := pgExec(ctx, o.dsn, "DROP SCHEMA "+o.schema+" CASCADE"); err != nil {
			fmt.Fprintf(log, "prose-bench: could not drop schema %s of the run: %v\n", o.schema, err)
		}
	}
}

// pgExec runs one statement on a connection of its own.
func pgExec(ctx context.Context, dsn, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return pgErr(err, dsn)
	}
	defer c.Close(context.WithoutCancel(ctx))
	_, err = c.Exec(ctx, sql)
	return pgErr(err, dsn)
}

// pgErr keeps the DSN's password out of an error.
func pgErr(err error, dsn string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if u, e := url.Parse(dsn); e == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return errors.New(msg)
}

// args are the flags of instance i after the common ones.
func (o *spawnOptions) args(i int) []string {
	var a []string
	if o.rateLimit {
		a = append(a, "--client-rate-limit=0")
	}
	if o.db != "" {
		a = append(a, "--db", o.db, "--kek-file", o.kekFile)
	}
	if i > 0 && o.issuer != "" {
		a = append(a, "--issuer", o.issuer)
	}
	return append(a, o.extra...)
}

// env is the environment of a spawned server: childEnv, plus PGPASSWORD
// when the DSN carried a password.
func (o *spawnOptions) env() []string {
	e := childEnv()
	if o.password != "" {
		out := e[:0]
		for _, kv := range e {
			if !strings.HasPrefix(kv, "PGPASSWORD=") {
				out = append(out, kv)
			}
		}
		e = append(out, "PGPASSWORD="+o.password)
	}
	return e
}

// hasServeFlag reports whether "bin serve --help" lists --name.
func hasServeFlag(ctx context.Context, bin, name string) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--help")
	cmd.Env = childEnv()
	out, _ := cmd.CombinedOutput()
	return bytes.Contains(out, []byte("--"+name+" ")) || bytes.Contains(out, []byte("--"+name+"\n"))
}

// splitDSN checks a PostgreSQL URL for --db (postgres:// or postgresql://,
// a loopback host) and returns it without its password, and the password.
func splitDSN(dsn string) (clean, password string, err error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return "", "", usagef("--db %s: want a PostgreSQL URL such as postgres://prose@127.0.0.1:5432/prose?sslmode=disable", redactDSN(dsn))
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !isLoopbackIP(ip)) {
		return "", "", usagef("--db %s: %q is not a loopback address; prose-bench only uses local servers", redactDSN(dsn), host)
	}
	if u.User != nil {
		password, _ = u.User.Password()
		u.User = url.User(u.User.Username())
	}
	return u.String(), password, nil
}

// redactDSN hides the password of a URL DSN.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable DSN)"
	}
	return u.Redacted()
}

// redactArgs returns args with the value of --db redacted.
func redactArgs(args []string) []string {
	out := make([]string, len(args))
	copy(out, args)
	for i, a := range out {
		switch {
		case (a == "--db" || a == "-db") && i+1 < len(out):
			out[i+1] = redactDSN(out[i+1])
		case strings.HasPrefix(a, "--db=") || strings.HasPrefix(a, "-db="):
			k, v, _ := strings.Cut(a, "=")
			out[i] = k + "=" + redactDSN(v)
		}
	}
	return out
}
