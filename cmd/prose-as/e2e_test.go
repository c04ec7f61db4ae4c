//go:build unix

package main

// End-to-end tests: the real binary, HTTP over loopback, a real SQLite file.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prosesec/prosesec/as/httpapi"
	"github.com/prosesec/prosesec/internal/pgtest"
	"github.com/prosesec/prosesec/token"
)

// binPath is the prose-as binary built once by TestMain.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "prose-as-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "prose-as")
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	build := exec.Command(goTool, "build", "-o", binPath, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building prose-as:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer collects a process's output safely across goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// server is a running "prose-as serve" in its own process group.
type server struct {
	t      *testing.T
	cmd    *exec.Cmd
	dir    string
	logs   *syncBuffer
	exited chan struct{}
	err    error // set when exited is closed
	public string
	admin  string
	scheme string
	client *http.Client
}

// startServer starts prose-as serve on free loopback ports with data dir
// dir and waits until /readyz answers 200.
func startServer(t *testing.T, dir string, env []string, extra ...string) *server {
	t.Helper()
	for _, f := range []string{fileListenAddr, fileAdminAddr} {
		os.Remove(filepath.Join(dir, f))
	}
	args := append([]string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}, extra...)
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(cleanEnv(), env...)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting prose-as serve: %v", err)
	}
	s := &server{t: t, cmd: cmd, dir: dir, logs: logs, exited: make(chan struct{}), scheme: "http", client: &http.Client{Timeout: 10 * time.Second}}
	go func() { s.err = cmd.Wait(); close(s.exited) }()
	t.Cleanup(s.kill) // no stray process, whatever happens
	if !slices.Contains(extra, "--insecure-http") {
		s.scheme = "https"
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-s.exited:
			t.Fatalf("prose-as serve exited early (%v); logs:\n%s", s.err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("prose-as serve not ready after 20s; logs:\n%s", logs.String())
		}
		pub, err1 := os.ReadFile(filepath.Join(dir, fileListenAddr))
		adm, err2 := os.ReadFile(filepath.Join(dir, fileAdminAddr))
		if err1 == nil && err2 == nil {
			s.public, s.admin = strings.TrimSpace(string(pub)), strings.TrimSpace(string(adm))
			if s.scheme == "https" && s.client.Transport == nil {
				s.client.Transport = tlsTransport(t, filepath.Join(dir, fileTLSCert))
			}
			if resp, err := s.client.Get(s.url("/readyz")); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return s
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cleanEnv is the test's environment without PROSE_AS_* variables.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envPrefix) {
			out = append(out, kv)
		}
	}
	return out
}

func tlsTransport(t *testing.T, caFile string) *http.Transport {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no certificate", caFile)
	}
	return &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
}

func (s *server) url(path string) string { return s.scheme + "://" + s.public + path }

func (s *server) issuer() string { return s.scheme + "://" + s.public }

// kill sends SIGKILL to the server's process group and waits for it.
func (s *server) kill() {
	select {
	case <-s.exited:
		return
	default:
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
}

// stop sends SIGTERM and expects a clean exit.
func (s *server) stop() {
	s.t.Helper()
	syscall.Kill(s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		s.kill()
		s.t.Fatalf("prose-as serve did not stop within 20s of SIGTERM; logs:\n%s", s.logs.String())
	}
	if s.err != nil {
		s.t.Fatalf("prose-as serve exited with %v after SIGTERM; logs:\n%s", s.err, s.logs.String())
	}
}

// cli runs the binary and returns stdout, stderr and the exit code.
func cli(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = append(cleanEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), stderr.String(), 0
	case errors.As(err, &ee) && ee.Exited():
		return stdout.String(), stderr.String(), ee.ExitCode()
	}
	t.Fatalf("running prose-as %q: %v; stderr:\n%s", args, err, stderr.String())
	return "", "", -1
}

// mustCLI runs the binary and requires exit status 0.
func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := cli(t, nil, args...)
	if code != 0 {
		t.Fatalf("prose-as %q: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, out, errOut)
	}
	return out
}

// issued is what a client learns from a token response.
type issued struct {
	JTI       string
	Index     uint64
	ExpiresIn int64
}

func parseIssued(body []byte) (issued, error) {
	var resp struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return issued{}, err
	}
	parts := strings.Split(resp.AccessToken, ".")
	if len(parts) != 3 {
		return issued{}, fmt.Errorf("access_token is not a JWS")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return issued{}, err
	}
	var c struct {
		JTI    string `json:"jti"`
		Status struct {
			StatusList struct {
				Idx *uint64 `json:"idx"`
			} `json:"status_list"`
		} `json:"status"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return issued{}, err
	}
	if c.JTI == "" || c.Status.StatusList.Idx == nil {
		return issued{}, fmt.Errorf("token lacks jti or status index: %s", b)
	}
	return issued{JTI: c.JTI, Index: *c.Status.StatusList.Idx, ExpiresIn: resp.ExpiresIn}, nil
}

// tokenRequest posts a client_credentials request; basic sets
// client_secret_basic credentials, form adds parameters.
func tokenRequest(ctx context.Context, hc *http.Client, endpoint string, basic [2]string, form url.Values) (int, []byte, error) {
	form.Set("grant_type", "client_credentials")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic[0] != "" {
		req.SetBasicAuth(url.QueryEscape(basic[0]), url.QueryEscape(basic[1]))
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

func readTrimmed(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func get(t *testing.T, s *server, path string) []byte {
	t.Helper()
	resp, err := s.client.Get(s.url(path))
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return b
}

func TestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	keys := t.TempDir()
	// Settings from all three sources: flags (listen, in startServer), env
	// (log format) and the config file (plain HTTP, lifetime).
	cfg := filepath.Join(keys, "prose-as.yaml")
	os.WriteFile(cfg, []byte("insecure-http: true\ntoken-lifetime: 30m\nlisten: 127.0.0.1:1\n"), 0o600)
	s := startServer(t, dir, []string{"PROSE_AS_LOG_FORMAT=json"}, "--config", cfg, "--insecure-http")

	// Register a UE with a key and a secret.
	ueKey := filepath.Join(keys, "ue-1.pem")
	mustCLI(t, "keygen", "--out", ueKey)
	secretFile := filepath.Join(keys, "ue-1.secret")
	out := mustCLI(t, "admin", "ue", "add", "--data-dir", dir, "--id", "ue-1", "--public-key", ueKey+".pub.jwk",
		"--grant", "use:00002a", "--secret", "--secret-out", secretFile)
	if !strings.Contains(out, "UE ue-1 registered") || !strings.Contains(out, "u2u:use:00002a") {
		t.Errorf("admin ue add output:\n%s", out)
	}
	secret := readTrimmed(t, secretFile)
	if fi, _ := os.Stat(secretFile); fi.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode %04o", fi.Mode().Perm())
	}
	// A relay, registered with --json: the secret comes in the JSON.
	relayKey := filepath.Join(keys, "relay-1.pem")
	mustCLI(t, "keygen", "--out", relayKey, "--alg", "EdDSA")
	var reg httpapi.UEResponse
	if err := json.Unmarshal([]byte(mustCLI(t, "admin", "ue", "add", "--data-dir", dir, "--id", "relay-1",
		"--public-key", relayKey, "--grant", "serve:00002a", "--secret", "--json")), &reg); err != nil {
		t.Fatal(err)
	}
	if reg.ClientSecret == "" || reg.UE == nil || reg.UE.ID != "relay-1" || len(reg.UE.Grants) != 1 {
		t.Errorf("admin ue add --json: %+v", reg)
	}

	ctx := context.Background()
	tokenURL := s.url("/oauth2/token")
	// client_secret_basic.
	code, body, err := tokenRequest(ctx, s.client, tokenURL, [2]string{"ue-1", secret}, url.Values{"scope": {"u2u:use:00002a"}})
	if err != nil || code != http.StatusOK {
		t.Fatalf("token (client_secret_basic): %d %s %v", code, body, err)
	}
	tok1, err := parseIssued(body)
	if err != nil {
		t.Fatal(err)
	}
	if tok1.ExpiresIn != 1800 {
		t.Errorf("expires_in = %d, want 1800 (token-lifetime 30m from the config file)", tok1.ExpiresIn)
	}
	// private_key_jwt with an assertion from "prose-as assertion".
	assertion := strings.TrimSpace(mustCLI(t, "assertion", "--key", ueKey, "--client-id", "ue-1", "--audience", tokenURL))
	code, body, err = tokenRequest(ctx, s.client, tokenURL, [2]string{}, url.Values{
		"client_id":             {"ue-1"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
	})
	if err != nil || code != http.StatusOK {
		t.Fatalf("token (private_key_jwt): %d %s %v", code, body, err)
	}
	tok2, err := parseIssued(body)
	if err != nil {
		t.Fatal(err)
	}
	// The same assertion again is a replay.
	code, body, _ = tokenRequest(ctx, s.client, tokenURL, [2]string{}, url.Values{
		"client_id":             {"ue-1"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
	})
	if code != http.StatusUnauthorized {
		t.Errorf("replayed assertion: %d %s, want 401", code, body)
	}

	// admin token list shows both, as a table and as JSON.
	table := mustCLI(t, "admin", "token", "list", "--data-dir", dir)
	for _, j := range []string{tok1.JTI, tok2.JTI} {
		if !strings.Contains(table, j) {
			t.Errorf("admin token list lacks %s:\n%s", j, table)
		}
	}
	var list httpapi.TokenListResponse
	if err := json.Unmarshal([]byte(mustCLI(t, "admin", "token", "list", "--data-dir", dir, "--sub", "ue-1", "--active", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	byJTI := map[string]uint64{}
	for _, r := range list.Tokens {
		byJTI[r.JTI] = r.StatusIndex
		// The AS may record a token it then withholds (the replayed
		// assertion above); such a record must be revoked.
		if r.JTI != tok1.JTI && r.JTI != tok2.JTI && r.RevokedAt == nil {
			t.Errorf("token %s is on record and active but no client received it", r.JTI)
		}
	}
	if i1, ok1 := byJTI[tok1.JTI]; !ok1 || i1 != tok1.Index {
		t.Errorf("admin token list --json: %s; want %v and %v", mustCLI(t, "admin", "token", "list", "--data-dir", dir), tok1, tok2)
	}
	if i2, ok2 := byJTI[tok2.JTI]; !ok2 || i2 != tok2.Index {
		t.Errorf("admin token list --json: %s; want %v and %v", mustCLI(t, "admin", "token", "list", "--data-dir", dir), tok1, tok2)
	}

	// Revoke the first; the status list shows its bit.
	if out := mustCLI(t, "admin", "token", "revoke", "--data-dir", dir, "--jti", tok1.JTI); !strings.Contains(out, "revoked") {
		t.Errorf("admin token revoke: %s", out)
	}
	if _, errOut, code := cli(t, nil, "admin", "token", "revoke", "--data-dir", dir, "--jti", "no-such-jti"); code != 1 || !strings.Contains(errOut, "not on record") {
		t.Errorf("revoking an unknown jti: exit %d, %s", code, errOut)
	}
	// A data directory others can write to cannot say where the admin
	// token goes (its admin.addr could point anywhere).
	if err := os.Chmod(dir, 0o770); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := cli(t, nil, "admin", "token", "list", "--data-dir", dir); code != 1 || !strings.Contains(errOut, "chmod 700") {
		t.Errorf("admin with a group-writable data directory: exit %d, %s", code, errOut)
	}
	os.Chmod(dir, 0o700)
	trust := token.NewTrustStore()
	if err := trust.AddJWKS(s.issuer(), get(t, s, "/.well-known/jwks.json")); err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	sl, err := token.VerifyStatusList(get(t, s, "/statuslists/0"), token.JWT, trust, []token.Algorithm{token.ES256, token.EdDSA}, time.Now(), time.Minute)
	if err != nil {
		t.Fatalf("status list: %v", err)
	}
	for _, c := range []struct {
		tok  issued
		want uint8
	}{{tok1, token.StatusInvalid}, {tok2, token.StatusValid}} {
		if got, err := sl.List.Get(c.tok.Index); err != nil || got != c.want {
			t.Errorf("status of index %d = %d, %v; want %d", c.tok.Index, got, err, c.want)
		}
	}

	// Metrics on the public listener by default, with the Go and process collectors.
	// The store's and the maintenance task's series are there too: the
	// tokens above went through the SQLite writer.
	m := string(get(t, s, "/metrics"))
	if !strings.Contains(m, "go_goroutines") || !strings.Contains(m, "process_open_fds") {
		t.Errorf("/metrics lacks the Go or process collector")
	}
	for _, want := range []string{"prose_as_sqlite_transactions_total", "prose_as_sqlite_checkpoint_failures_total 0", "prose_as_sqlite_wal_bytes", "prose_as_sqlite_wal_start_overs_total", `prose_as_maintenance_runs_total{outcome="error"} 0`, `prose_as_maintenance_purged_total{kind="token_records"}`, "prose_as_signing_key_rotations_total"} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if v := metricLine(m, "prose_as_sqlite_writes_total"); v < 2 {
		t.Errorf("prose_as_sqlite_writes_total = %v after issuing tokens", v)
	}

	// Keys, UE revoke, remove.
	var keysResp httpapi.KeysResponse
	if err := json.Unmarshal([]byte(mustCLI(t, "admin", "keys", "list", "--data-dir", dir, "--json")), &keysResp); err != nil {
		t.Fatal(err)
	}
	states := map[string]int{}
	for _, k := range keysResp.Keys {
		states[string(k.State)]++
	}
	if states["active"] != 1 || states["next"] != 1 {
		t.Errorf("keys: %+v", keysResp.Keys)
	}
	if _, errOut, code := cli(t, nil, "admin", "keys", "rotate", "--data-dir", dir); code != 1 || !strings.Contains(errOut, "force") {
		t.Errorf("early rotation: exit %d, %s", code, errOut)
	}
	if out := mustCLI(t, "admin", "keys", "rotate", "--data-dir", dir, "--force"); !strings.Contains(out, "rotated") {
		t.Errorf("forced rotation: %s", out)
	}
	if out := mustCLI(t, "admin", "ue", "revoke", "--data-dir", dir, "--id", "ue-1"); !strings.Contains(out, "1 token(s) of ue-1 revoked") {
		t.Errorf("admin ue revoke: %s", out)
	}
	if out := mustCLI(t, "admin", "ue", "list", "--data-dir", dir); !strings.Contains(out, "relay-1") || !strings.Contains(out, "ue-1") {
		t.Errorf("admin ue list:\n%s", out)
	}
	mustCLI(t, "admin", "ue", "update", "--data-dir", dir, "--id", "ue-1", "--grant", "use:00002b", "--token-lifetime", "10m")
	if out := mustCLI(t, "admin", "ue", "show", "--data-dir", dir, "--id", "ue-1"); !strings.Contains(out, "u2u:use:00002b") || !strings.Contains(out, "10m0s") {
		t.Errorf("admin ue show after update:\n%s", out)
	}
	mustCLI(t, "admin", "ue", "remove", "--data-dir", dir, "--id", "relay-1")
	// A wrong admin token is refused with advice.
	if _, errOut, code := cli(t, []string{"PROSE_AS_ADMIN_TOKEN=not-the-admin-token-at-all"}, "admin", "ue", "list", "--data-dir", dir); code != 1 || !strings.Contains(errOut, "rejected the admin token") {
		t.Errorf("wrong admin token: exit %d, %s", code, errOut)
	}

	s.stop()
	logs := s.logs.String()
	if !strings.Contains(logs, `"msg":"prose-as started"`) || !strings.Contains(logs, `"active_kid"`) {
		t.Errorf("startup line missing from the JSON logs:\n%s", logs)
	}
	for name, secretValue := range map[string]string{
		"client secret": secret, "relay secret": reg.ClientSecret, "assertion": assertion,
		"admin token": readTrimmed(t, filepath.Join(dir, fileAdminToken)), "KEK": readTrimmed(t, filepath.Join(dir, fileKEK)),
	} {
		if strings.Contains(logs, secretValue) {
			t.Errorf("the logs contain the %s", name)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, fileListenAddr)); err == nil {
		t.Errorf("listen.addr left behind after a clean shutdown")
	}
}

func TestServeTLSFilesAndPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s := startServer(t, dir, nil, "--metrics", "admin") // TLS with a generated self-signed certificate
	if s.scheme != "https" {
		t.Fatal("expected TLS")
	}
	// --metrics admin: /metrics moves to the (loopback, plain HTTP) admin listener.
	for _, c := range []struct {
		hc   *http.Client
		url  string
		want int
	}{{s.client, s.url("/metrics"), http.StatusNotFound}, {http.DefaultClient, "http://" + s.admin + "/metrics", http.StatusOK}} {
		resp, err := c.hc.Get(c.url)
		if err != nil {
			t.Errorf("GET %s: %v", c.url, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("GET %s with --metrics admin: %s, want %d", c.url, resp.Status, c.want)
		}
	}
	if !strings.Contains(s.logs.String(), "curl --cacert "+filepath.Join(dir, fileTLSCert)) {
		t.Errorf("no hint on trusting the self-signed certificate:\n%s", s.logs.String())
	}
	var meta struct {
		Issuer string `json:"issuer"`
	}
	json.Unmarshal(get(t, s, "/.well-known/oauth-authorization-server"), &meta)
	if meta.Issuer != "https://"+s.public {
		t.Errorf("issuer %q, want https://%s", meta.Issuer, s.public)
	}
	// The admin client finds the endpoint and token in the data directory.
	mustCLI(t, "admin", "keys", "list", "--data-dir", dir)
	s.stop()

	want := map[string]os.FileMode{
		".": 0o700, fileKEK: 0o600, fileAdminToken: 0o600, fileTLSKey: 0o600, fileDB: 0o600, fileTLSCert: 0o644,
	}
	for name, mode := range want {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s has mode %04o, want %04o", name, fi.Mode().Perm(), mode)
		}
	}
	kek := readTrimmed(t, filepath.Join(dir, fileKEK))

	// A restart reuses everything (same KEK decrypts the stored keys).
	s = startServer(t, dir, nil)
	s.stop()
	if readTrimmed(t, filepath.Join(dir, fileKEK)) != kek {
		t.Errorf("KEK file changed across restarts")
	}

	// A world-readable KEK is refused.
	os.Chmod(filepath.Join(dir, fileKEK), 0o644)
	_, errOut, code := cli(t, nil, "serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--admin-listen", "")
	if code != 1 || !strings.Contains(errOut, "KEK file") || !strings.Contains(errOut, "chmod 600") {
		t.Errorf("world-readable KEK: exit %d, stderr:\n%s", code, errOut)
	}
	os.Chmod(filepath.Join(dir, fileKEK), 0o600)
	// So is a group-readable admin token.
	os.Chmod(filepath.Join(dir, fileAdminToken), 0o640)
	_, errOut, code = cli(t, nil, "serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--admin-listen", "")
	if code != 1 || !strings.Contains(errOut, "admin token file") || !strings.Contains(errOut, "chmod 600") {
		t.Errorf("group-readable admin token: exit %d, stderr:\n%s", code, errOut)
	}
	os.Chmod(filepath.Join(dir, fileAdminToken), 0o600)
	// A different KEK cannot decrypt the signing keys.
	other := filepath.Join(t.TempDir(), "other.kek")
	os.WriteFile(other, []byte(strings.Repeat("ab", 32)), 0o600)
	_, errOut, code = cli(t, nil, "serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--admin-listen", "", "--kek-file", other)
	if code != 1 || !strings.Contains(errOut, "KEK does not match") {
		t.Errorf("wrong KEK: exit %d, stderr:\n%s", code, errOut)
	}
	// A missing KEK file next to a database with keys: the KEK this start
	// generates cannot open them, and is removed again, so that the
	// original can be put back.
	os.Rename(filepath.Join(dir, fileKEK), filepath.Join(dir, "kek.saved"))
	_, errOut, code = cli(t, nil, "serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--admin-listen", "")
	if code != 1 || !strings.Contains(errOut, "KEK does not match") || !strings.Contains(errOut, "removed again") {
		t.Errorf("missing KEK file: exit %d, stderr:\n%s", code, errOut)
	}
	if _, err := os.Lstat(filepath.Join(dir, fileKEK)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the generated KEK file was left behind: %v", err)
	}
	os.Rename(filepath.Join(dir, "kek.saved"), filepath.Join(dir, fileKEK))
	s = startServer(t, dir, nil)
	s.stop()
}

func TestServeRefusesBadSetups(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "bad.yaml")
	os.WriteFile(cfg, []byte("listen: 127.0.0.1:0\nlisten-addr: x\n"), 0o600)
	for _, tc := range []struct {
		env  []string
		args []string
		code int
		want string
	}{
		{nil, []string{"serve", "--insecure-http", "--listen", "0.0.0.0:0"}, 1, `--insecure-http refused: listen address "0.0.0.0:0" is not loopback`},
		{[]string{"PROSE_AS_LISTEN=:8443"}, []string{"serve", "--insecure-http"}, 1, `listen address ":8443" is not loopback`},
		// Its own data directory: the KEK and admin token are set up before
		// the database is opened (and the default ./prose-as-data would be
		// the package's directory).
		{nil, []string{"serve", "--insecure-http", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--admin-listen", "", "--db", "postgres://as:hunter2@127.0.0.1:1/prose?connect_timeout=2"}, 1, "opening database postgres://as@127.0.0.1:1/prose"},
		{nil, []string{"serve", "--config", cfg}, 1, `unknown key "listen-addr"`},
		{[]string{"PROSE_AS_CONFIG=" + cfg}, []string{"serve"}, 1, `unknown key "listen-addr"`},
		{nil, []string{"serve", "--config", filepath.Join(dir, "missing.yaml")}, 1, "reading config file"},
		{nil, []string{"serve", "--bogus"}, 2, "flag provided but not defined: -bogus"},
		{nil, []string{"bogus"}, 2, `unknown command "bogus"`},
		{nil, []string{"admin", "ue", "add", "--bogus"}, 2, "Usage:\n  prose-as admin ue add"},
	} {
		_, errOut, code := cli(t, tc.env, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v prose-as %q: exit %d, want %d with %q; stderr:\n%s", tc.env, tc.args, code, tc.code, tc.want, errOut)
		}
	}
	for _, a := range [][]string{{"--help"}, {"serve", "--help"}, {"help", "admin", "ue", "add"}, {"version"}} {
		out, _, code := cli(t, nil, a...)
		if code != 0 || out == "" {
			t.Errorf("prose-as %q: exit %d, output %q", a, code, out)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("refused starts left files behind: %v", entries)
	}
}

// TestServePostgres runs prose-as on the PostgreSQL backend (in a schema of
// its own) and issues a token through it. It needs PROSE_TEST_POSTGRES_DSN,
// as the store/postgres tests do.
func TestServePostgres(t *testing.T) {
	// The DSN keeps its password here: the logs must not show it.
	dsn, schema := pgtest.Schema(t, "prose_as_e2e")
	ctx := context.Background()
	conn := pgtest.Connect(t, dsn)
	defer conn.Close(ctx)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()

	dir := t.TempDir()
	s := startServer(t, dir, nil, "--insecure-http", "--db", u.String())
	defer s.stop()
	if strings.Contains(s.logs.String(), "prose_test?") || (u.User != nil && strings.Contains(s.logs.String(), func() string { p, _ := u.User.Password(); return ":" + p + "@" }())) {
		t.Errorf("the DSN's password or query appears in the logs:\n%s", s.logs.String())
	}
	if !strings.Contains(s.logs.String(), "every instance must have the same --issuer") {
		t.Errorf("no warning that instances on one database need a shared --issuer:\n%s", s.logs.String())
	}
	keyFile := filepath.Join(dir, "ue-pg.pem")
	mustCLI(t, "keygen", "--out", keyFile)
	secretFile := filepath.Join(dir, "ue-pg.secret")
	mustCLI(t, "admin", "ue", "add", "--data-dir", dir, "--endpoint", "http://"+s.admin, "--id", "ue-pg",
		"--public-key", keyFile+".pub.jwk", "--grant", "use:00002a", "--secret", "--secret-out", secretFile)
	secret := readTrimmed(t, secretFile)
	code, body, err := tokenRequest(ctx, s.client, s.url("/oauth2/token"), [2]string{"ue-pg", secret},
		url.Values{"grant_type": {"client_credentials"}, "scope": {"u2u:use:00002a"}})
	if err != nil || code != http.StatusOK {
		t.Fatalf("token over PostgreSQL: %d %s %v", code, body, err)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+schema+".tokens").Scan(&n); err != nil || n != 1 {
		t.Fatalf("issued tokens recorded in PostgreSQL: %d, %v", n, err)
	}
}

// metricLine is the value of the first unlabelled series name in a
// Prometheus text exposition, or -1.
func metricLine(exposition, name string) float64 {
	for _, line := range strings.Split(exposition, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}
