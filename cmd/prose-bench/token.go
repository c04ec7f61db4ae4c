//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/prosesec/prosesec/as"
	"github.com/prosesec/prosesec/as/httpapi"
)

// tokenSettings are the flags of "prose-bench token".
type tokenSettings struct {
	loadSettings
	auth           string
	clients        int
	spawn          bool
	proseAS        string
	build          bool
	serverArgs     stringList
	target         string
	adminURL       string
	adminTokenFile string
	cacert         string
	serverPID      int
	assertionRate  int
	withCeiling    bool
	db             string
	instances      int
}

// maxInstances bounds --instances.
const maxInstances = 16

func tokenCommand() *command {
	return &command{
		name:     "token",
		synopsis: "prose-bench token [--auth basic|jwt] [--format jwt|cwt] [--client raw|http] [--concurrency N[,N…]] [--duration D] [--requests N] [--spawn [--db DSN [--instances N]] | --target URL --admin-url URL --admin-token-file FILE]",
		short:    "load the token endpoint of prose-as and report tokens/s, latency and CPU per token",
		long: "Loads POST /oauth2/token with client_credentials requests over loopback HTTP/1.1 " +
			"keep-alive connections. By default (--spawn) it starts a prose-as binary on a temporary " +
			"data directory (plain HTTP on 127.0.0.1:0, every token durably recorded as in production), " +
			"registers --clients UEs with P-256 identity keys and client secrets through the admin API, " +
			"runs the load and stops the server's whole process group at the end, whatever happens. With " +
			"--target it loads a running server instead (its admin API registers the clients, which are " +
			"removed at the end). --auth basic sends client_secret_basic; --auth jwt sends private_key_jwt " +
			"client assertions, all signed before the timed part (one per request, each used once). Each " +
			"concurrency level runs --warmup, then the timed part until --duration or --requests. It " +
			"reports tokens/s, p50/p90/p99/max latency, errors by HTTP status and OAuth error code, the " +
			"server's CPU time per token (from /proc/PID/stat; spawned server or --server-pid) and the load " +
			"generator's own. With --db the spawned servers use that PostgreSQL database (in a schema " +
			"created for the run and dropped after it) and the CPU time of every postgres process on the " +
			"machine is reported too (system-wide); --instances N spawns N servers on it, with one KEK and " +
			"one issuer, and spreads the requests over them round robin, reporting each one's CPU time. " +
			"The spawned servers get --client-rate-limit=0 when they have that flag (prose-as limits each " +
			"client to 10 tokens/s by default); start a --target server with it too, or the run counts " +
			"429 slow_down errors. --client raw (the " +
			"default) is a lean HTTP/1.1 keep-alive client that costs the load generator far less CPU " +
			"than --client http (net/http); like net/http, neither sends a request again once it was " +
			"written (one the server never answers counts as an error, though the server may have " +
			"issued its token). Targets that do not resolve to loopback addresses are refused.",
		examples: []string{
			"# client_secret_basic at concurrency 8 and 32 against a freshly built server\nprose-bench token --build --auth basic --concurrency 8,32",
			"# private_key_jwt, CWT tokens, 50,000 requests, JSON output\nprose-bench token --auth jwt --format cwt --requests 50000 --json > jwt.json",
			"# With the reference ceiling (a server that only signs an ES256 JWT) in the same table\nprose-bench token --prose-as bin/prose-as --concurrency 8,32 --with-ceiling",
			"# Profile the server while it is loaded (--cpuprofile is a hidden flag of prose-as serve)\nprose-bench token --build --server-arg=--cpuprofile=/tmp/prose-as.cpu --duration 20s\ngo tool pprof -top /tmp/prose-as.cpu",
			"# Two instances on one PostgreSQL database (password from the DSN goes to PGPASSWORD)\nprose-bench token --build --db 'postgres://prose:prose@127.0.0.1:5432/prose_test?sslmode=disable' --instances 2 --concurrency 32",
			"# The load generator's CPU per request with net/http, for comparison\nprose-bench token --build --client http --concurrency 32 --duration 5s",
			"# Against a running server (plain HTTP on loopback)\nprose-bench token --target http://127.0.0.1:8443 --admin-url http://127.0.0.1:8444 \\\n  --admin-token-file prose-as-data/admin.token --server-pid $(pgrep -n prose-as)",
		},
		setup: func(fs *flag.FlagSet) func(ctx context.Context, e *env) error {
			s := &tokenSettings{}
			s.define(fs)
			fs.StringVar(&s.auth, "auth", "basic", "client authentication `METHOD`: basic (client_secret_basic) or jwt (private_key_jwt, ES256 assertions)")
			fs.IntVar(&s.clients, "clients", 256, "registered UEs (`N`) the requests are spread over")
			fs.BoolVar(&s.spawn, "spawn", true, "start a prose-as server for the run (the default unless --target is given)")
			fs.StringVar(&s.proseAS, "prose-as", "", "prose-as binary `PATH` to spawn (default: next to prose-bench, then $PATH)")
			fs.BoolVar(&s.build, "build", false, "go build ./cmd/prose-as into a temporary directory and spawn that (run inside the module)")
			fs.Var(&s.serverArgs, "server-arg", "extra `ARG` for the spawned prose-as serve, such as --log-level=warn (repeatable)")
			fs.StringVar(&s.target, "target", "", "base `URL` of a running server to load instead of spawning one (loopback only)")
			fs.StringVar(&s.adminURL, "admin-url", "", "base `URL` of the running server's admin API (loopback only; with --target)")
			fs.StringVar(&s.adminTokenFile, "admin-token-file", "", "`FILE` holding the running server's admin token (with --target)")
			fs.StringVar(&s.cacert, "cacert", "", "CA certificate `FILE` to trust for an https --target")
			fs.IntVar(&s.serverPID, "server-pid", 0, "`PID` of the running server, for its CPU time per token (with --target)")
			fs.IntVar(&s.assertionRate, "assertion-rate", 10000, "expected tokens/s (`N`) used to size the prepared client assertions of --auth jwt when --requests is not set; a run that uses them up stops and says so")
			fs.BoolVar(&s.withCeiling, "with-ceiling", false, "also run the reference ceiling (see prose-bench ceiling) at the same levels and report it in the same table")
			fs.StringVar(&s.db, "db", "", "PostgreSQL `DSN` (postgres://USER[:PASSWORD]@HOST:PORT/DB?sslmode=disable) for the spawned servers instead of their own SQLite files; the host must be loopback; the run creates a schema prose_bench_<random> in it (the role needs CREATE) and drops it at the end; a password is passed in PGPASSWORD, never on a command line, and is redacted in the report. The CPU time of every postgres process on the machine is reported too")
			fs.IntVar(&s.instances, "instances", 1, "spawned prose-as serve processes (`N`, 1 to 16) sharing --db (required when N > 1), with one KEK and one issuer URL; every load worker sends its requests to them round robin")
			return func(ctx context.Context, e *env) error { return runToken(ctx, e, s) }
		},
	}
}

func (s *tokenSettings) check(fs *flag.FlagSet) error {
	if err := s.loadSettings.check(); err != nil {
		return err
	}
	switch s.auth {
	case "basic", "jwt":
	default:
		return usagef("--auth %q: use basic or jwt", s.auth)
	}
	if s.clients < 1 || s.clients > maxClients {
		return usagef("--clients %d: want 1 to %d", s.clients, maxClients)
	}
	if s.assertionRate < 1 || s.assertionRate > maxAssertionRate {
		return usagef("--assertion-rate %d: want 1 to %d", s.assertionRate, maxAssertionRate)
	}
	if s.auth == "jwt" && s.warmup+s.duration > maxJWTRunLength {
		return usagef("--auth jwt: --warmup + --duration is %v; at most %v, because the client assertions are signed before the run and the server accepts none that expires more than 5 minutes ahead", s.warmup+s.duration, maxJWTRunLength)
	}
	if s.target != "" {
		if isSet(fs, "spawn") && s.spawn {
			return usagef("--spawn and --target exclude each other")
		}
		s.spawn = false
		if s.instances != 1 || s.db != "" {
			return usagef("--db and --instances apply to spawned servers, not to --target")
		}
		if s.adminURL == "" || s.adminTokenFile == "" {
			return usagef("--target needs --admin-url and --admin-token-file (the clients are registered through the admin API)")
		}
		if s.build || s.proseAS != "" || len(s.serverArgs) > 0 {
			return usagef("--build, --prose-as and --server-arg apply to a spawned server, not to --target")
		}
	} else {
		if !s.spawn {
			return usagef("--spawn=false needs --target")
		}
		if s.adminURL != "" || s.adminTokenFile != "" || s.serverPID != 0 || s.cacert != "" {
			return usagef("--admin-url, --admin-token-file, --server-pid and --cacert apply to --target")
		}
		if s.build && s.proseAS != "" {
			return usagef("give --build or --prose-as, not both")
		}
	}
	if s.instances < 1 || s.instances > maxInstances {
		return usagef("--instances %d: want 1 to %d", s.instances, maxInstances)
	}
	if s.instances > 1 && s.db == "" {
		return usagef("--instances %d needs --db: the instances must share one PostgreSQL database", s.instances)
	}
	if s.db != "" {
		if !s.spawn {
			return usagef("--db and --instances apply to spawned servers, not to --target")
		}
		if _, _, err := splitDSN(s.db); err != nil {
			return err
		}
	}
	if s.serverPID < 0 {
		return usagef("--server-pid %d: want a process ID", s.serverPID)
	}
	return nil
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// server is the server under load, spawned or running.
type server struct {
	base       string // public base URL
	admin      string // admin base URL
	adminToken string
	pid        int // 0: unknown
	binary     string
	proc       *child
	workDir    string // spawned: removed at the end
	logPath    string
}

func (sv *server) close() {
	if sv.proc != nil {
		sv.proc.stop(20 * time.Second)
	}
	if sv.workDir != "" {
		os.RemoveAll(sv.workDir)
	}
}

// logTail returns the end of the spawned server's log, for errors.
func (sv *server) logTail() string {
	if sv.logPath == "" {
		return ""
	}
	b, err := os.ReadFile(sv.logPath)
	if err != nil {
		return ""
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return "\nserver log (end):\n" + string(b)
}

func runToken(ctx context.Context, e *env, s *tokenSettings) (err error) {
	if err := s.check(e.fs); err != nil {
		return err
	}
	stopProfile, err := s.startProfile()
	if err != nil {
		return err
	}
	defer stopProfile()
	envInfo := environment(ctx, time.Now())
	var progress io.Writer
	if isTerminal(e.stderr) {
		progress = e.stderr
	}

	var sv *server
	servers := []*server{}
	var opts *spawnOptions
	defer func() {
		for _, x := range servers {
			x.close()
		}
		if opts != nil {
			opts.cleanup(e.stderr) // after the servers: drops the schema
		}
	}()
	if s.spawn {
		bin, cleanup, err := findProseAS(ctx, s, e.stderr)
		if err != nil {
			return err
		}
		defer cleanup()
		if opts, err = newSpawnOptions(ctx, bin, s); err != nil {
			return err
		}
		for i := range s.instances {
			x, err := spawnServer(ctx, bin, opts, i)
			if err != nil {
				return err
			}
			servers = append(servers, x)
			if i == 0 {
				// The other instances sign as the first: one issuer,
				// one token endpoint (client assertion audience).
				opts.issuer = x.base
			}
		}
	} else {
		x, err := runningServer(ctx, s)
		if err != nil {
			return err
		}
		servers = append(servers, x)
	}
	sv = servers[0]
	envInfo.ServerBinary = sv.binary
	tlsConf, err := tlsConfigFor(s.cacert)
	if err != nil {
		return err
	}
	var urls []string
	var procs []serverProc
	for i, x := range servers {
		urls = append(urls, x.base+as.PathToken)
		if x.pid > 0 {
			procs = append(procs, serverProc{name: fmt.Sprintf("prose-as #%d", i+1), pid: x.pid})
		}
	}

	client, err := newClient(maxLevel(s.levels), s.cacert)
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()
	admin, err := newClient(8, s.cacert)
	if err != nil {
		return err
	}
	defer admin.CloseIdleConnections()
	admin.Timeout = 30 * time.Second

	meta, err := fetchMetadata(ctx, admin, sv.base)
	if err != nil {
		return fmt.Errorf("%v%s", err, sv.logTail())
	}
	clients, err := registerClients(ctx, admin, sv, s.clients)
	if !s.spawn {
		// A running server keeps no trace of the run's clients (their
		// tokens are revoked with them).
		defer removeClients(context.WithoutCancel(ctx), admin, sv, clients, e.stderr)
	}
	if err != nil {
		return fmt.Errorf("%v%s", err, sv.logTail())
	}
	basic := make([]string, len(clients))
	for i, c := range clients {
		basic[i] = c.basic
	}
	formParam := ""
	if s.format == "cwt" {
		formParam = "&token_format=cwt"
	}

	rep := &Report{Tool: "prose-bench", Command: "token", Args: redactArgs(e.args), Flags: flagValues(e.fs), Environment: envInfo}
	if s.db != "" {
		rep.Flags["db"] = redactDSN(s.db)
		rep.Environment.PostgresSchema = opts.schema
	}
	ticks := envInfo.ClockTicks
	for _, c := range s.levels {
		sp := &loadSpec{
			client:      s.httpClient(client),
			tlsConf:     tlsConf,
			urls:        urls,
			concurrency: c,
			warmup:      s.warmup,
			duration:    s.duration,
			maxRequests: s.requests,
			servers:     procs,
			postgres:    s.db != "",
			ticks:       ticks,
			progress:    progress,
			label:       fmt.Sprintf("prose-as %s/%s c=%d", s.auth, s.format, c),
		}
		prepared := 0
		if s.auth == "jwt" {
			n := assertionCount(s)
			if progress != nil {
				fmt.Fprintf(progress, "signing %d client assertions…\n", n)
			}
			if sp.bodies, err = prepareAssertions(ctx, clients, meta.TokenEndpoint, n, s.assertionRate, formParam); err != nil {
				return err
			}
			prepared = n
		} else {
			sp.basic, sp.basicBody = basic, []byte("grant_type=client_credentials"+formParam)
		}
		res, sample, err := runLoad(ctx, sp)
		sp.bodies = nil
		if err != nil {
			return err
		}
		res.Server, res.Auth, res.Format, res.AssertionsPrepared = "prose-as", s.auth, s.format, prepared
		res.SampleToken = checkSample(ctx, admin, sv.base, meta, sample)
		rep.Runs = append(rep.Runs, res)
		if res.StopReason == stopInterrupted {
			break
		}
		runtime.GC() // the next level starts without this one's garbage
	}
	if s.withCeiling && ctx.Err() == nil {
		runs, err := ceilingRuns(ctx, &s.loadSettings, ticks, progress)
		rep.Runs = append(rep.Runs, runs...)
		if err != nil {
			rep.print(e.stdout, s.json)
			return err
		}
	}
	rep.print(e.stdout, s.json)
	return rep.verdict()
}

func maxLevel(levels []int) int {
	m := 1
	for _, l := range levels {
		m = max(m, l)
	}
	return m
}

// assertionCount estimates the assertions one run needs: the warmup and
// the timed part at --assertion-rate (or the --requests cap), plus 10%.
func assertionCount(s *tokenSettings) int {
	rate := float64(s.assertionRate)
	n := rate * s.warmup.Seconds()
	if s.requests > 0 {
		n += float64(s.requests)
	} else {
		n += rate * s.duration.Seconds()
	}
	return int(min(float64(maxAssertions), n*1.1+float64(maxLevel(s.levels))))
}

// findProseAS returns the prose-as binary to spawn and a cleanup function.
func findProseAS(ctx context.Context, s *tokenSettings, log io.Writer) (string, func(), error) {
	nop := func() {}
	if s.build {
		dir, err := os.MkdirTemp("", "prose-bench-bin-")
		if err != nil {
			return "", nop, fmt.Errorf("prose-bench: %v", err)
		}
		bin := filepath.Join(dir, "prose-as")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/prosesec/prosesec/cmd/prose-as")
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Run(); err != nil {
			os.RemoveAll(dir)
			return "", nop, fmt.Errorf("prose-bench: go build ./cmd/prose-as failed (%v); run prose-bench inside the prosesec module, or give --prose-as", err)
		}
		return bin, func() { os.RemoveAll(dir) }, nil
	}
	if s.proseAS != "" {
		if st, err := os.Stat(s.proseAS); err != nil || st.IsDir() {
			return "", nop, fmt.Errorf("prose-bench: --prose-as %s: not a file", s.proseAS)
		}
		return s.proseAS, nop, nil
	}
	if exe, err := os.Executable(); err == nil {
		cand := filepath.Join(filepath.Dir(exe), "prose-as")
		if st, err := os.Stat(cand); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return cand, nop, nil
		}
	}
	if p, err := exec.LookPath("prose-as"); err == nil {
		return p, nop, nil
	}
	return "", nop, errors.New("prose-bench: no prose-as binary next to prose-bench or in $PATH; give --prose-as PATH or --build")
}

// spawnServer starts prose-as serve on a temporary data directory, over
// plain HTTP on loopback, and waits until it is ready.
func spawnServer(ctx context.Context, bin string, opts *spawnOptions, instance int) (_ *server, err error) {
	work, err := os.MkdirTemp("", "prose-bench-")
	if err != nil {
		return nil, fmt.Errorf("prose-bench: %v", err)
	}
	sv := &server{binary: bin, workDir: work, logPath: filepath.Join(work, "server.log")}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%v%s", err, sv.logTail())
			sv.close()
		}
	}()
	dataDir := filepath.Join(work, "data")
	logf, err := os.OpenFile(sv.logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("prose-bench: %v", err)
	}
	defer logf.Close() // the child holds its own descriptor
	args := append([]string{"serve", "--insecure-http", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data-dir", dataDir}, opts.args(instance)...)
	if sv.proc, err = startChild(bin, args, opts.env(), logf, logf); err != nil {
		return nil, err
	}
	sv.pid = sv.proc.pid
	probe := &http.Client{Transport: &http.Transport{DialContext: loopbackDialer().DialContext}, Timeout: 2 * time.Second}
	defer probe.CloseIdleConnections()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if sv.proc.exited() {
			return nil, fmt.Errorf("prose-bench: %s serve (instance %d) exited during startup (%v)", bin, instance+1, sv.proc.err)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("prose-bench: %s serve (instance %d) not ready within 30s", bin, instance+1)
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("prose-bench: %v", err)
		}
		pub, err1 := os.ReadFile(filepath.Join(dataDir, "listen.addr"))
		adm, err2 := os.ReadFile(filepath.Join(dataDir, "admin.addr"))
		if err1 == nil && err2 == nil {
			sv.base = "http://" + strings.TrimSpace(string(pub))
			sv.admin = "http://" + strings.TrimSpace(string(adm))
			if resp, err := probe.Get(sv.base + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	tok, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		return nil, fmt.Errorf("prose-bench: reading the spawned server's admin token: %v", err)
	}
	sv.adminToken = strings.TrimSpace(string(tok))
	return sv, nil
}

// runningServer describes the --target server after checking that every
// URL is loopback.
func runningServer(ctx context.Context, s *tokenSettings) (*server, error) {
	tu, err := checkLoopbackURL(ctx, "--target", s.target)
	if err != nil {
		return nil, err
	}
	au, err := checkLoopbackURL(ctx, "--admin-url", s.adminURL)
	if err != nil {
		return nil, err
	}
	tok, err := os.ReadFile(s.adminTokenFile)
	if err != nil {
		return nil, fmt.Errorf("prose-bench: --admin-token-file: %v", err)
	}
	return &server{base: baseURL(tu), admin: baseURL(au), adminToken: strings.TrimSpace(string(tok)), pid: s.serverPID}, nil
}

// fetchMetadata reads the RFC 8414 metadata of the server at base.
func fetchMetadata(ctx context.Context, c *http.Client, base string) (*as.Metadata, error) {
	var m as.Metadata
	if err := getJSON(ctx, c, base+as.PathMetadata, &m); err != nil {
		return nil, err
	}
	if m.Issuer == "" || m.TokenEndpoint == "" {
		return nil, fmt.Errorf("prose-bench: %s%s: no issuer or token_endpoint", base, as.PathMetadata)
	}
	return &m, nil
}

func getJSON(ctx context.Context, c *http.Client, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("prose-bench: %v", err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("prose-bench: GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("prose-bench: GET %s: %v", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("prose-bench: GET %s: %s: %s", u, resp.Status, bytes.TrimSpace(b))
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("prose-bench: GET %s: %v", u, err)
	}
	return nil
}

// benchClient is one registered UE.
type benchClient struct {
	id     string
	key    *ecdsa.PrivateKey
	secret string
	basic  string // Authorization header value (client_secret_basic)
}

// registerClients registers n UEs with fresh P-256 identity keys and client
// secrets, granted u2u:use:000001, eight at a time. It returns the clients
// registered so far even on error, so that they can be removed.
func registerClients(ctx context.Context, c *http.Client, sv *server, n int) ([]*benchClient, error) {
	var rb [4]byte
	if _, err := rand.Read(rb[:]); err != nil {
		return nil, fmt.Errorf("prose-bench: %v", err)
	}
	prefix := "bench-" + hex.EncodeToString(rb[:]) + "-"
	out := make([]*benchClient, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	const workers = 8
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				out[i], errs[i] = registerClient(ctx, c, sv, fmt.Sprintf("%s%05d", prefix, i))
				if errs[i] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	var done []*benchClient
	for _, bc := range out {
		if bc != nil {
			done = append(done, bc)
		}
	}
	return done, errors.Join(errs...)
}

func registerClient(ctx context.Context, c *http.Client, sv *server, id string) (*benchClient, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("prose-bench: %v", err)
	}
	jwk, err := (&jose.JSONWebKey{Key: key.Public()}).MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("prose-bench: %v", err)
	}
	body, _ := json.Marshal(httpapi.RegisterUERequest{ID: id, PublicKey: jwk, WithSecret: true, Grants: []string{"u2u:use:000001"}})
	var resp httpapi.UEResponse
	if err := adminCall(ctx, c, sv, http.MethodPost, "/admin/v1/ues", body, http.StatusCreated, &resp); err != nil {
		return nil, fmt.Errorf("prose-bench: registering %s: %v", id, err)
	}
	if resp.ClientSecret == "" {
		return nil, fmt.Errorf("prose-bench: registering %s: no client secret in the answer", id)
	}
	cred := url.QueryEscape(id) + ":" + url.QueryEscape(resp.ClientSecret) // RFC 6749 §2.3.1
	return &benchClient{id: id, key: key, secret: resp.ClientSecret, basic: "Basic " + base64.StdEncoding.EncodeToString([]byte(cred))}, nil
}

// removeClients deletes the UEs registered on a running server.
func removeClients(ctx context.Context, c *http.Client, sv *server, clients []*benchClient, log io.Writer) {
	failed := 0
	for _, bc := range clients {
		if err := adminCall(ctx, c, sv, http.MethodDelete, "/admin/v1/ues/"+bc.id, nil, http.StatusOK, nil); err != nil {
			failed++
		}
	}
	if failed > 0 {
		fmt.Fprintf(log, "prose-bench: could not remove %d of the %d registered bench-* UEs; remove them with prose-as admin ue remove\n", failed, len(clients))
	}
}

func adminCall(ctx context.Context, c *http.Client, sv *server, method, path string, body []byte, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, sv.admin+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+sv.adminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

const assertionForm = "grant_type=client_credentials&client_assertion_type=" +
	"urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion="

// prepareAssertions signs n RFC 7523 client assertions (ES256, each with a
// unique jti, aud = the token endpoint) round-robin over the clients, and
// returns them as complete form bodies, in the order of use. Their exp
// values increase in that order, spread over the time the run is expected
// to take at rate (at most assertionSpread), like those of clients that
// sign each assertion just before they use it: the AS's replay records
// (indexed by exp) then see the same pattern as in production.
func prepareAssertions(ctx context.Context, clients []*benchClient, aud string, n, rate int, formParam string) ([][]byte, error) {
	now := time.Now()
	spread := min(assertionSpread, time.Duration(float64(n)/float64(rate)*float64(time.Second)))
	expOf := func(i int) time.Time {
		back := time.Duration(float64(spread) * float64(n-1-i) / float64(max(1, n-1)))
		return now.Add(assertionTTL - back)
	}
	out := make([][]byte, n)
	workers := runtime.GOMAXPROCS(0)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			var jb [16]byte
			signers := make([]jose.Signer, len(clients)) // per worker: no sharing
			for i := w; i < n; i += workers {
				if i%1024 == w && ctx.Err() != nil {
					errs[w] = fmt.Errorf("prose-bench: %v", ctx.Err())
					return
				}
				k := i % len(clients)
				c := clients[k]
				if signers[k] == nil {
					s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: c.key}, (&jose.SignerOptions{}).WithType("JWT"))
					if err != nil {
						errs[w] = fmt.Errorf("prose-bench: assertion signer: %v", err)
						return
					}
					signers[k] = s
				}
				if _, err := rand.Read(jb[:]); err != nil {
					errs[w] = fmt.Errorf("prose-bench: %v", err)
					return
				}
				a, err := jwt.Signed(signers[k]).Claims(jwt.Claims{
					Issuer:   c.id,
					Subject:  c.id,
					Audience: jwt.Audience{aud},
					IssuedAt: jwt.NewNumericDate(now),
					Expiry:   jwt.NewNumericDate(expOf(i)),
					ID:       base64.RawURLEncoding.EncodeToString(jb[:]),
				}).Serialize()
				if err != nil {
					errs[w] = fmt.Errorf("prose-bench: signing an assertion: %v", err)
					return
				}
				out[i] = []byte(assertionForm + a + formParam)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}
