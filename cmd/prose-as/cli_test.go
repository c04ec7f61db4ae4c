package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// walk calls fn with the path of every command of the tree.
func walk(path []*command, fn func(path []*command)) {
	fn(path)
	for _, s := range path[len(path)-1].subs {
		walk(append(append([]*command(nil), path...), s), fn)
	}
}

func args(path []*command) []string {
	var a []string
	for _, c := range path[1:] {
		a = append(a, c.name)
	}
	return a
}

func TestHelpOfEveryCommand(t *testing.T) {
	walk([]*command{rootCommand()}, func(path []*command) {
		c := path[len(path)-1]
		name := strings.Join(append([]string{"prose-as"}, args(path)...), " ")
		if c.name == "help" && len(path) == 2 {
			return
		}
		t.Run(name, func(t *testing.T) {
			if len(c.examples) == 0 || len(c.examples) > 3 {
				t.Errorf("%s has %d examples, want 1 to 3", name, len(c.examples))
			}
			if c.long == "" || c.synopsis == "" {
				t.Errorf("%s lacks a description or usage line", name)
			}
			for _, helpArgs := range [][]string{
				append(args(path), "--help"),
				append([]string{"help"}, args(path)...),
			} {
				var out, errOut bytes.Buffer
				err := run(context.Background(), helpArgs, &out, &errOut)
				if err != nil {
					t.Fatalf("run %q: %v (stderr %s)", helpArgs, err, errOut.String())
				}
				got := out.String()
				if !strings.HasPrefix(got, "Usage:\n  "+c.synopsis+"\n") {
					t.Errorf("run %q: help does not start with the usage line:\n%s", helpArgs, got)
				}
				if !strings.Contains(got, "\nExamples:\n") {
					t.Errorf("run %q: help has no Examples section:\n%s", helpArgs, got)
				}
				for _, ex := range c.examples {
					for _, line := range strings.Split(ex, "\n") {
						if !strings.Contains(got, line) {
							t.Errorf("run %q: help does not show example line %q", helpArgs, line)
						}
					}
				}
				if c.setup != nil && !strings.Contains(got, "\nFlags:\n") && name != "prose-as version" {
					t.Errorf("run %q: help of a command with flags has no Flags section", helpArgs)
				}
			}
		})
	})
}

func TestServeHelpShowsDefaultsAndEnv(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"serve", "-h"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(strings.Fields(out.String()), " ")
	for _, want := range []string{
		"--data-dir DIR", "default ./prose-as-data", "env PROSE_AS_DATA_DIR",
		"--listen ADDR", "default 127.0.0.1:8443", "--admin-listen ADDR", "default 127.0.0.1:8444",
		"--insecure-http", "--kek-file FILE", "--signing-alg ALG", "default ES256",
		"--token-lifetime DURATION", "default 1h0m0s", "--config FILE", "env PROSE_AS_CONFIG",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("serve --help lacks %q", want)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	cwd := t.TempDir()
	t.Chdir(cwd) // a usage error must not create ./prose-as-data
	for _, tc := range []struct {
		args []string
		want string // in stderr
	}{
		{[]string{}, "prose-as: missing command\n\nUsage:\n  prose-as COMMAND"},
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"--bogus"}, "must follow a command"},
		{[]string{"serve", "--bogus"}, "prose-as: serve: flag provided but not defined: -bogus"},
		{[]string{"serve", "extra"}, `unexpected argument "extra"`},
		{[]string{"admin"}, "prose-as: admin: missing command"},
		{[]string{"admin", "ue", "bogus"}, `prose-as: admin ue: unknown command "bogus"`},
		{[]string{"admin", "ue", "add", "--nope"}, "Usage:\n  prose-as admin ue add"},
		{[]string{"admin", "ue", "add"}, "--id and --public-key are required"},
		{[]string{"keygen"}, "--out is required"},
		{[]string{"keygen", "--out", "x", "--alg", "RS256"}, `--alg "RS256" is not supported`},
		{[]string{"assertion", "--key", "k"}, "--client-id is required"},
		{[]string{"serve", "--log-format", "xml"}, `--log-format "xml"`},
		{[]string{"serve", "--tls-cert", "c.pem"}, "give both --tls-cert and --tls-key"},
		{[]string{"help", "nope"}, `"prose-as" has no command "nope"`},
		{[]string{"admin", "token", "revoke"}, "--jti is required"},
		{[]string{"admin", "ue", "update", "--id", "x"}, "nothing to change"},
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), tc.args, &out, &errOut)
		if !errors.Is(err, errUsage) {
			t.Errorf("run %q: err = %v, want a usage error", tc.args, err)
			continue
		}
		if code := exitCode(err, &errOut); code != 2 {
			t.Errorf("run %q: exit code %d, want 2", tc.args, code)
		}
		if !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("run %q: stderr lacks %q:\n%s", tc.args, tc.want, errOut.String())
		}
		if !strings.Contains(errOut.String(), "Usage:") {
			t.Errorf("run %q: stderr lacks the usage", tc.args)
		}
		if out.Len() != 0 {
			t.Errorf("run %q: wrote to stdout: %s", tc.args, out.String())
		}
	}
	if entries, _ := os.ReadDir(cwd); len(entries) != 0 {
		t.Errorf("usage errors left files behind: %v", entries)
	}
}

func TestExitCode(t *testing.T) {
	var buf bytes.Buffer
	if c := exitCode(nil, &buf); c != 0 {
		t.Errorf("nil: %d", c)
	}
	if c := exitCode(errors.New("prose-as: boom"), &buf); c != 1 || buf.String() != "prose-as: boom\n" {
		t.Errorf("runtime error: %d %q", c, buf.String())
	}
}

// precedenceFlags defines a flag set like serve's for the precedence tests.
func precedenceFlags() (*flag.FlagSet, *string, *string, *string, *time.Duration, *bool) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(new(bytes.Buffer))
	a := fs.String("listen", "default-listen", "")
	b := fs.String("data-dir", "default-dir", "")
	c := fs.String("issuer", "default-issuer", "")
	d := fs.Duration("token-lifetime", time.Hour, "")
	e := fs.Bool("insecure-http", false, "")
	fs.String("config", "", "")
	return fs, a, b, c, d, e
}

func TestResolveSettingsPrecedence(t *testing.T) {
	fs, listen, dir, issuer, lifetime, insecure := precedenceFlags()
	if err := fs.Parse([]string{"--listen", "flag-listen"}); err != nil {
		t.Fatal(err)
	}
	envs := map[string]string{
		"PROSE_AS_LISTEN":   "env-listen", // loses to the flag
		"PROSE_AS_DATA_DIR": "env-dir",    // wins over YAML
	}
	lookup := func(k string) (string, bool) { v, ok := envs[k]; return v, ok }
	doc := []byte("listen: yaml-listen\ndata-dir: yaml-dir\nissuer: https://yaml.example\ntoken-lifetime: 2h\n")
	src, err := resolveSettings(fs, allEnvNames(fs, "config"), lookup, doc, "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	check := func(name, got, want string, wantSrc source) {
		t.Helper()
		if got != want || src[name] != wantSrc {
			t.Errorf("%s = %q from %v, want %q from %v", name, got, src[name], want, wantSrc)
		}
	}
	check("listen", *listen, "flag-listen", fromFlag)
	check("data-dir", *dir, "env-dir", fromEnv)
	check("issuer", *issuer, "https://yaml.example", fromConfig)
	check("token-lifetime", lifetime.String(), "2h0m0s", fromConfig)
	check("insecure-http", boolString(*insecure), "false", fromDefault)
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func TestResolveSettingsExplicitDefaultWins(t *testing.T) {
	// A flag given on the command line with its default value still beats
	// the environment and the config file.
	fs, listen, _, _, _, insecure := precedenceFlags()
	if err := fs.Parse([]string{"--listen", "default-listen", "--insecure-http=false"}); err != nil {
		t.Fatal(err)
	}
	envs := map[string]string{"PROSE_AS_INSECURE_HTTP": "true", "PROSE_AS_LISTEN": "env"}
	lookup := func(k string) (string, bool) { v, ok := envs[k]; return v, ok }
	if _, err := resolveSettings(fs, allEnvNames(fs, "config"), lookup, []byte("listen: yaml\n"), "c.yaml"); err != nil {
		t.Fatal(err)
	}
	if *listen != "default-listen" || *insecure {
		t.Errorf("listen=%q insecure=%v, want the command-line values", *listen, *insecure)
	}
}

func TestResolveSettingsErrors(t *testing.T) {
	none := func(string) (string, bool) { return "", false }
	for _, tc := range []struct {
		doc  string
		env  map[string]string
		want string
	}{
		{"listen: a\nlisen: b\n", nil, `line 2: unknown key "lisen"; valid keys are: data-dir, insecure-http, issuer, listen, token-lifetime`},
		{"config: other.yaml\n", nil, `unknown key "config"`},
		{"token-lifetime: soon\n", nil, `config file c.yaml: key "token-lifetime": invalid value "soon"`},
		{"listen: [a, b]\n", nil, `key "listen" needs a single value`},
		{"listen:\n", nil, `key "listen" has no value`},
		{"- listen\n", nil, "want a mapping"},
		{"listen: a\nlisten: b\n", nil, `"listen"`},
		{"listen: [\n", nil, "not valid YAML"},
		{"", map[string]string{"PROSE_AS_INSECURE_HTTP": "maybe"}, "environment variable PROSE_AS_INSECURE_HTTP"},
	} {
		fs, _, _, _, _, _ := precedenceFlags()
		fs.Parse(nil)
		lookup := none
		if tc.env != nil {
			lookup = func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
		}
		_, err := resolveSettings(fs, allEnvNames(fs, "config"), lookup, []byte(tc.doc), "c.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("doc %q env %v: err = %v, want it to contain %q", tc.doc, tc.env, err, tc.want)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "prose-as: ") {
			t.Errorf("error %q lacks the prose-as: prefix", err)
		}
	}
}

func TestResolveSettingsEmptyConfig(t *testing.T) {
	for _, doc := range []string{"", "\n", "# only a comment\n", "---\n"} {
		fs, listen, _, _, _, _ := precedenceFlags()
		fs.Parse(nil)
		if _, err := resolveSettings(fs, allEnvNames(fs), func(string) (string, bool) { return "", false }, []byte(doc), "c.yaml"); err != nil {
			t.Errorf("doc %q: %v", doc, err)
		}
		if *listen != "default-listen" {
			t.Errorf("doc %q: listen = %q", doc, *listen)
		}
	}
}

func TestEnvName(t *testing.T) {
	for in, want := range map[string]string{
		"data-dir":            "PROSE_AS_DATA_DIR",
		"key-rotation-period": "PROSE_AS_KEY_ROTATION_PERIOD",
		"listen":              "PROSE_AS_LISTEN",
	} {
		if got := envName(in); got != want {
			t.Errorf("envName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseKEK(t *testing.T) {
	raw := make([]byte, 32)
	for i := range raw {
		raw[i] = byte(i*7 + 1)
	}
	hexForm := "01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3da"
	for _, in := range []string{
		string(raw), hexForm, hexForm + "\n", "  " + strings.ToUpper(hexForm) + " \n",
		"AQgPFh0kKzI5QEdOVVxjanF4f4aNlJuiqbC3vsXM09o=", "AQgPFh0kKzI5QEdOVVxjanF4f4aNlJuiqbC3vsXM09o",
		"AQgPFh0kKzI5QEdOVVxjanF4f4aNlJuiqbC3vsXM09o=\n",
	} {
		k, err := parseKEK([]byte(in))
		if err != nil || !bytes.Equal(k[:], raw) {
			t.Errorf("parseKEK(%q) = %x, %v", in, k, err)
		}
	}
	for _, in := range []string{"", "short", hexForm[:62], strings.Repeat("a", 32), strings.Repeat("00", 32)} {
		if _, err := parseKEK([]byte(in)); err == nil {
			t.Errorf("parseKEK(%q) accepted", in)
		}
	}
}

func TestSecretFilesCreatedPrivateAndReused(t *testing.T) {
	dir := t.TempDir()
	rnd := bytes.NewReader(bytes.Repeat([]byte{0x5a}, 128))
	k1, created, err := loadOrCreateKEK(filepath.Join(dir, "kek"), true, rnd)
	if err != nil || !created {
		t.Fatalf("loadOrCreateKEK: %v created=%v", err, created)
	}
	k2, created, err := loadOrCreateKEK(filepath.Join(dir, "kek"), true, rnd)
	if err != nil || created || k1 != k2 {
		t.Fatalf("second load: %v created=%v same=%v", err, created, k1 == k2)
	}
	tok, created, err := loadOrCreateAdminToken(filepath.Join(dir, "admin.token"), true, rnd)
	if err != nil || !created || len(tok) < minAdminTokenLen {
		t.Fatalf("loadOrCreateAdminToken: %q %v %v", tok, created, err)
	}
	for _, f := range []string{"kek", "admin.token"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %04o, want 0600", f, fi.Mode().Perm())
		}
	}
	if _, _, err := loadOrCreateKEK(filepath.Join(dir, "missing"), false, rnd); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing KEK file without create: %v", err)
	}
	os.Chmod(filepath.Join(dir, "admin.token"), 0o640)
	if _, _, err := loadOrCreateAdminToken(filepath.Join(dir, "admin.token"), true, rnd); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("group-readable admin token accepted: %v", err)
	}
}

func TestNormalizeGrant(t *testing.T) {
	for in, want := range map[string]string{
		"use:00002a":       "u2u:use:00002a",
		"use:2A":           "u2u:use:00002a",
		"serve:0x2a":       "u2u:serve:00002a",
		"u2u:serve:ffffff": "u2u:serve:ffffff",
	} {
		got, err := normalizeGrant(in)
		if err != nil || got != want {
			t.Errorf("normalizeGrant(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "use", "relay:00002a", "use:1000000", "use:xyz", "use:"} {
		if _, err := normalizeGrant(in); err == nil {
			t.Errorf("normalizeGrant(%q) accepted", in)
		}
	}
}

func TestListenAddressChecks(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8443": true, "127.0.0.2:0": true, "[::1]:8443": true, "localhost:1": true,
		"0.0.0.0:8443": false, ":8443": false, "[::]:1": false, "10.0.0.1:8443": false, "example.com:443": false, "junk": false,
	} {
		if got := isLoopbackAddr(addr); got != want {
			t.Errorf("isLoopbackAddr(%q) = %v", addr, got)
		}
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	s := serveFlags(fs) // the defaults
	s.Listen, s.InsecureHTTP = "0.0.0.0:8443", true
	if err := s.check(); err == nil || !strings.Contains(err.Error(), "--insecure-http refused") {
		t.Errorf("insecure on 0.0.0.0: %v", err)
	}
	s.Listen, s.AdminListen = "127.0.0.1:8443", "[::]:8444"
	if err := s.check(); err == nil || !strings.Contains(err.Error(), `"[::]:8444" is not loopback`) {
		t.Errorf("insecure admin on [::]: %v", err)
	}
	s.AdminListen = ""
	if err := s.check(); err != nil {
		t.Errorf("insecure on loopback with admin disabled: %v", err)
	}
	s.DB = "postgres://as@db/prose"
	if err := s.check(); err != nil {
		t.Errorf("postgres URL: %v", err)
	}
	s.DB = "mysql://as:pw@db/prose"
	if err := s.check(); err == nil || !strings.Contains(err.Error(), "want a SQLite file path or a postgres:// URL") || strings.Contains(err.Error(), "pw") {
		t.Errorf("other URL scheme: %v", err)
	}
}

func TestDefaultIssuer(t *testing.T) {
	for _, tc := range []struct {
		addr     string
		insecure bool
		want     string
		warn     bool
	}{
		{"127.0.0.1:8443", false, "https://127.0.0.1:8443", false},
		{"127.0.0.1:41234", true, "http://127.0.0.1:41234", false},
		{"[::1]:8443", false, "https://[::1]:8443", false},
		{"0.0.0.0:8443", false, "https://localhost:8443", true},
		{"[::]:8443", false, "https://localhost:8443", true},
	} {
		addr, err := net.ResolveTCPAddr("tcp", tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		got, warn := defaultIssuer(addr, tc.insecure)
		if got != tc.want || warn != tc.warn {
			t.Errorf("defaultIssuer(%s, %v) = %q, %v; want %q, %v", tc.addr, tc.insecure, got, warn, tc.want, tc.warn)
		}
	}
}

func TestChooseSecret(t *testing.T) {
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	val := map[string]string{"PROSE_AS_KEK": "x"}
	for _, tc := range []struct {
		flagValue string
		src       source
		env       map[string]string
		wantPath  string
		wantValue string
		create    bool
		err       string
	}{
		{"", fromDefault, nil, filepath.Join("d", "kek"), "", true, ""},
		{"", fromDefault, val, "", "x", false, ""},
		{"/k", fromFlag, val, "/k", "", false, ""},
		{"/k", fromConfig, val, "", "x", false, ""},
		{"/k", fromConfig, nil, "/k", "", false, ""},
		{"/k", fromEnv, val, "", "", false, "unset one"},
	} {
		c, err := chooseSecret("kek-file", tc.flagValue, tc.src, "PROSE_AS_KEK", "d", "kek", env(tc.env))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%+v: err = %v", tc, err)
			}
			continue
		}
		if err != nil || c.path != tc.wantPath || c.value != tc.wantValue || c.create != tc.create {
			t.Errorf("%+v: got %+v, %v", tc, c, err)
		}
	}
}

func TestKeygenAndAssertion(t *testing.T) {
	dir := t.TempDir()
	for _, alg := range []string{"ES256", "EdDSA"} {
		out := filepath.Join(dir, alg+".pem")
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), []string{"keygen", "--out", out, "--alg", alg}, &stdout, &stderr); err != nil {
			t.Fatalf("keygen %s: %v %s", alg, err, stderr.String())
		}
		fi, err := os.Stat(out)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("private key: %v mode %v", err, fi.Mode())
		}
		if _, err := readPublicKey(out + ".pub.jwk"); err != nil {
			t.Errorf("public JWK does not parse back: %v", err)
		}
		if _, err := readPublicKey(out); err != nil {
			t.Errorf("public key from the private PEM: %v", err)
		}
		if err := run(context.Background(), []string{"keygen", "--out", out}, &stdout, &stderr); err == nil || !strings.Contains(err.Error(), "exists") {
			t.Errorf("keygen overwrote %s: %v", out, err)
		}
		stdout.Reset()
		if err := run(context.Background(), []string{"assertion", "--key", out, "--client-id", "ue-1", "--audience", "https://as/oauth2/token"}, &stdout, &stderr); err != nil {
			t.Fatalf("assertion: %v", err)
		}
		claims := jwtPayload(t, strings.TrimSpace(stdout.String()))
		if claims["iss"] != "ue-1" || claims["sub"] != "ue-1" || claims["aud"] != "https://as/oauth2/token" || claims["jti"] == "" {
			t.Errorf("assertion claims %v", claims)
		}
		if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 60 {
			t.Errorf("assertion lifetime %v s, want 60", exp-iat)
		}
	}
}

// jwtPayload decodes the claims of a compact JWS without verifying it.
func jwtPayload(t *testing.T, jws string) map[string]any {
	t.Helper()
	parts := strings.Split(jws, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %.40q", jws)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("JWS payload: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("JWS payload: %v", err)
	}
	return m
}
