package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prosesec/prosesec/store/sqlite"
)

// TestBackupAndRestore backs up the database of a running server while a
// client keeps getting tokens, restores the copy into a new data directory
// as the command's help says (the copy, plus the KEK and admin token kept
// apart), and starts a server on it: every token received before the
// backup began is on record there, the UE can still get tokens, and the
// restored signing keys sign them.
func TestBackupAndRestore(t *testing.T) {
	dir, keys := t.TempDir(), t.TempDir()
	s := startServer(t, dir, nil, append([]string{"--insecure-http"}, loadTestFlags...)...)
	defer s.stop()
	mustCLI(t, "keygen", "--out", filepath.Join(keys, "ue.pem"))
	secretFile := filepath.Join(keys, "ue.secret")
	mustCLI(t, "admin", "ue", "add", "--data-dir", dir, "--id", "ue-bk", "--public-key", filepath.Join(keys, "ue.pem.pub.jwk"),
		"--grant", "use:00002a", "--secret", "--secret-out", secretFile)
	cred := [2]string{"ue-bk", readTrimmed(t, secretFile)}
	getToken := func(ctx context.Context, s *server) (issued, error) {
		code, body, err := tokenRequest(ctx, s.client, s.url("/oauth2/token"), cred, url.Values{"scope": {"u2u:use:00002a"}})
		if err != nil {
			return issued{}, err
		}
		if code != http.StatusOK {
			t.Errorf("token request: %d %s", code, body)
		}
		return parseIssued(body)
	}

	var before []issued
	for range 20 {
		tok, err := getToken(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, tok)
	}
	// A client keeps the writer busy during the backup.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	during := 0
	wg.Go(func() {
		for ctx.Err() == nil {
			if _, err := getToken(ctx, s); err == nil {
				during++
			}
		}
	})
	out := filepath.Join(t.TempDir(), "as-backup.db")
	report := mustCLI(t, "backup", "--data-dir", dir, "--out", out)
	cancel()
	wg.Wait()
	t.Logf("%d tokens issued during the backup; %s", during, strings.TrimSpace(report))
	for _, want := range []string{"backed up " + filepath.Join(dir, fileDB) + " to " + out, "mode 0600", "UEs: 1,", "issued-token records:", "keep the KEK"} {
		if !strings.Contains(report, want) {
			t.Errorf("backup report lacks %q:\n%s", want, report)
		}
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600", fi.Mode().Perm())
	}

	// Refusals: an existing file is never overwritten, a PostgreSQL URL is
	// pg_dump's job, a missing database is named.
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"backup", "--data-dir", dir, "--out", out}, 1, "file exists"},
		{[]string{"backup", "--data-dir", dir}, 2, "--out is required"},
		{[]string{"backup", "--db", "postgres://as:hunter2@db.example/prose", "--out", out + ".2"}, 2, "pg_dump"},
		{[]string{"backup", "--data-dir", filepath.Join(dir, "nope"), "--out", out + ".3"}, 1, filepath.Join(dir, "nope", fileDB)},
	} {
		stdout, stderr, code := cli(t, nil, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("prose-as %q: exit %d, want %d with %q; stdout %q, stderr:\n%s", tc.args, code, tc.code, tc.want, stdout, stderr)
		}
		if strings.Contains(stderr, "hunter2") {
			t.Errorf("prose-as %q printed the DSN's password: %s", tc.args, stderr)
		}
	}
	for _, f := range []string{out + ".2", out + ".3"} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("a refused backup left %s behind (%v)", f, err)
		}
	}
	jwks := string(get(t, s, "/.well-known/jwks.json"))
	s.stop()

	// Restore into a new data directory.
	restored := t.TempDir()
	for _, f := range []struct{ from, to string }{
		{out, filepath.Join(restored, fileDB)},
		{filepath.Join(dir, fileKEK), filepath.Join(restored, fileKEK)},
		{filepath.Join(dir, fileAdminToken), filepath.Join(restored, fileAdminToken)},
	} {
		b, err := os.ReadFile(f.from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f.to, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r := startServer(t, restored, nil, "--insecure-http")
	defer r.stop()
	checkRecords(t, r, before)
	if got := string(get(t, r, "/.well-known/jwks.json")); got != jwks {
		t.Errorf("restored JWKS differs:\n%s\nwant\n%s", got, jwks)
	}
	tok, err := getToken(context.Background(), r)
	if err != nil {
		t.Fatalf("token from the restored server: %v", err)
	}
	for _, b := range before {
		if tok.Index <= b.Index || tok.JTI == b.JTI {
			t.Fatalf("restored server issued index %d (jti %s), not after %d (%s)", tok.Index, tok.JTI, b.Index, b.JTI)
		}
	}
}

// TestBackupFindsTheServersDatabase: backup resolves data-dir, db and
// kek-file as serve does (flag, environment, the config file of
// --config or PROSE_AS_CONFIG, default), so that it copies the database
// the server uses and names the KEK the server reads.
func TestBackupFindsTheServersDatabase(t *testing.T) {
	ctx := context.Background()
	dirA, dirB, tmp := t.TempDir(), t.TempDir(), t.TempDir()
	for _, d := range []string{dirA, dirB} {
		st, err := sqlite.Open(ctx, filepath.Join(d, fileDB))
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
	}
	cfg := filepath.Join(tmp, "prose-as.yaml")
	kekFile := filepath.Join(tmp, "kek")
	if err := os.WriteFile(cfg, []byte("data-dir: "+dirA+"\nkek-file: "+kekFile+"\nlisten: 127.0.0.1:9443\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := 0
	out := func() string { n++; return filepath.Join(tmp, fmt.Sprintf("copy-%d.db", n)) }
	for _, tc := range []struct {
		env         []string
		args        []string
		db, kek     string // in the report
		code        int
		errContains string
	}{
		{args: []string{"--config", cfg}, db: filepath.Join(dirA, fileDB), kek: "file " + kekFile},
		{env: []string{"PROSE_AS_CONFIG=" + cfg}, db: filepath.Join(dirA, fileDB), kek: "file " + kekFile},
		// The flag beats the config file, the environment beats it too.
		{args: []string{"--config", cfg, "--data-dir", dirB}, db: filepath.Join(dirB, fileDB), kek: "file " + kekFile},
		{env: []string{"PROSE_AS_DATA_DIR=" + dirB}, args: []string{"--config", cfg}, db: filepath.Join(dirB, fileDB), kek: "file " + kekFile},
		{args: []string{"--config", cfg, "--db", filepath.Join(dirB, fileDB)}, db: filepath.Join(dirB, fileDB), kek: "file " + kekFile},
		// Without a config file: the KEK of the data directory, or the
		// environment's.
		{args: []string{"--data-dir", dirB}, db: filepath.Join(dirB, fileDB), kek: "file " + filepath.Join(dirB, fileKEK)},
		{env: []string{"PROSE_AS_KEK=" + strings.Repeat("ab", 32)}, args: []string{"--data-dir", dirB}, db: filepath.Join(dirB, fileDB), kek: "env PROSE_AS_KEK"},
		// Both KEK variables set: serve refuses to start; backup still
		// copies and says why it cannot name the KEK.
		{env: []string{"PROSE_AS_KEK=" + strings.Repeat("ab", 32), "PROSE_AS_KEK_FILE=" + kekFile}, args: []string{"--data-dir", dirB}, db: filepath.Join(dirB, fileDB), kek: "the one the server uses; which one is unclear here: both PROSE_AS_KEK and PROSE_AS_KEK_FILE are set; unset one"},
		// A config file that is missing or not the server's is refused.
		{args: []string{"--config", filepath.Join(tmp, "nope.yaml")}, code: 1, errContains: "reading config file"},
		{env: []string{"PROSE_AS_CONFIG=" + filepath.Join(tmp, "nope.yaml")}, code: 1, errContains: "PROSE_AS_CONFIG"},
	} {
		o := out()
		stdout, stderr, code := cli(t, tc.env, append([]string{"backup", "--out", o}, tc.args...)...)
		if code != tc.code {
			t.Errorf("%v %q: exit %d, want %d; stderr:\n%s", tc.env, tc.args, code, tc.code, stderr)
			continue
		}
		if tc.code != 0 {
			if !strings.Contains(stderr, tc.errContains) {
				t.Errorf("%v %q: stderr lacks %q:\n%s", tc.env, tc.args, tc.errContains, stderr)
			}
			if _, err := os.Stat(o); !os.IsNotExist(err) {
				t.Errorf("%v %q: a refused backup left %s (%v)", tc.env, tc.args, o, err)
			}
			continue
		}
		for _, want := range []string{"backed up " + tc.db + " to " + o, "keep the KEK (" + tc.kek + ")"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("%v %q: report lacks %q:\n%s", tc.env, tc.args, want, stdout)
			}
		}
	}
}
