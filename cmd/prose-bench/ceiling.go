//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prosesec/prosesec/as"
	"github.com/prosesec/prosesec/token"
)

func ceilingCommand() *command {
	return &command{
		name:     "ceiling",
		synopsis: "prose-bench ceiling [--format jwt|cwt] [--concurrency N[,N…]] [--duration D] [--requests N]",
		short:    "the reference ceiling: the same load on a server that only signs an ES256 JWT per request",
		long: "Starts prose-bench ceiling-server as a separate process (so that its CPU time is measured " +
			"per process, like prose-as) and runs the token load loop against it. That server answers " +
			"every POST /oauth2/token by signing a token with the same claims and the same JSON response " +
			"as prose-as, with package token's Signer and an ES256 key, and does nothing else: no client " +
			"authentication, no storage, no logging, no metrics. Its throughput is the ceiling of " +
			"HTTP + signing on this machine, to read next to the prose-as figures (or use prose-bench " +
			"token --with-ceiling to get both in one table).",
		examples: []string{
			"# The ceiling at concurrency 8 and 32\nprose-bench ceiling --concurrency 8,32",
			"# CWT tokens, JSON output\nprose-bench ceiling --format cwt --json",
		},
		setup: func(fs *flag.FlagSet) func(ctx context.Context, e *env) error {
			s := &loadSettings{}
			s.define(fs)
			return func(ctx context.Context, e *env) error {
				if err := s.check(); err != nil {
					return err
				}
				stopProfile, err := s.startProfile()
				if err != nil {
					return err
				}
				defer stopProfile()
				envInfo := environment(ctx, time.Now())
				exe, _ := os.Executable()
				envInfo.ServerBinary = exe + " ceiling-server"
				var progress io.Writer
				if isTerminal(e.stderr) {
					progress = e.stderr
				}
				runs, err := ceilingRuns(ctx, s, envInfo.ClockTicks, progress)
				rep := &Report{Tool: "prose-bench", Command: "ceiling", Args: e.args, Flags: flagValues(e.fs), Environment: envInfo, Runs: runs}
				if len(runs) > 0 {
					rep.print(e.stdout, s.json)
				}
				if err != nil {
					return err
				}
				return rep.verdict()
			}
		},
	}
}

func ceilingServerCommand() *command {
	return &command{
		name:     "ceiling-server",
		synopsis: "prose-bench ceiling-server [--listen 127.0.0.1:0]",
		short:    "the reference server of prose-bench ceiling (started by it)",
		long: "Serves POST /oauth2/token by signing an access token (ES256, package token's Signer, the " +
			"claims of a prose-as token: iss, sub, aud, client_id, iat, nbf, exp, jti, scope, cnf with a " +
			"P-256 key, status) and answering the JSON of prose-as, with nothing stored and no client " +
			"authentication; token_format=cwt in the body selects a CWT. It also serves the RFC 8414 " +
			"metadata and the JWKS, so that its tokens can be verified. It prints the bound address on " +
			"the first line of stdout and runs until SIGINT or SIGTERM. Loopback addresses only.",
		examples: []string{
			"# Start it by hand and get a token\nprose-bench ceiling-server --listen 127.0.0.1:9000 &\n" +
				"curl -d grant_type=client_credentials http://127.0.0.1:9000/oauth2/token",
		},

		setup: func(fs *flag.FlagSet) func(ctx context.Context, e *env) error {
			listen := fs.String("listen", "127.0.0.1:0", "`ADDR` (host:port) to listen on; loopback only, port 0 picks a free port")
			return func(ctx context.Context, e *env) error {
				host, _, err := net.SplitHostPort(*listen)
				if err != nil {
					return usagef("--listen %q: %v", *listen, err)
				}
				if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !isLoopbackIP(ip)) {
					return usagef("--listen %q: not a loopback address", *listen)
				}
				ln, err := net.Listen("tcp", *listen)
				if err != nil {
					return fmt.Errorf("prose-bench: %v", err)
				}
				defer ln.Close()
				h, err := newCeilingHandler("http://" + ln.Addr().String())
				if err != nil {
					return err
				}
				hs := &http.Server{
					Handler:           h,
					ReadHeaderTimeout: 5 * time.Second,
					ReadTimeout:       15 * time.Second,
					WriteTimeout:      30 * time.Second,
					IdleTimeout:       2 * time.Minute,
					MaxHeaderBytes:    32 << 10,
				}
				errc := make(chan error, 1)
				go func() { errc <- hs.Serve(ln) }()
				fmt.Fprintln(e.stdout, ln.Addr().String())
				select {
				case err := <-errc:
					return fmt.Errorf("prose-bench: serving: %v", err)
				case <-ctx.Done():
				}
				sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				return hs.Shutdown(sctx)
			}
		},
	}
}

// ceilingHandler signs one token per request and stores nothing.
type ceilingHandler struct {
	issuer string
	signer *token.Signer
	cnf    *ecdsa.PublicKey
	next   atomic.Uint64 // status index
	meta   []byte
	jwks   []byte
}

func newCeilingHandler(issuer string) (http.Handler, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("prose-bench: %v", err)
	}
	kid, err := token.ShortKeyID(key.Public())
	if err != nil {
		return nil, fmt.Errorf("prose-bench: %v", err)
	}
	signer, err := token.NewSigner(issuer, kid, key)
	if err != nil {
		return nil, fmt.Errorf("prose-bench: %v", err)
	}
	ue, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("prose-bench: %v", err)
	}
	h := &ceilingHandler{issuer: issuer, signer: signer, cnf: &ue.PublicKey}
	if h.jwks, err = token.MarshalJWKS([]token.IssuerKey{signer.Public()}); err != nil {
		return nil, fmt.Errorf("prose-bench: %v", err)
	}
	h.meta, _ = json.Marshal(as.Metadata{
		Issuer:        issuer,
		TokenEndpoint: issuer + as.PathToken,
		JWKSURI:       issuer + as.PathJWKS,
		TokenAudience: as.DefaultAudience,
	})
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+as.PathToken, h.token)
	mux.HandleFunc("GET "+as.PathJWKS, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(h.jwks)
	})
	mux.HandleFunc("GET "+as.PathMetadata, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(h.meta)
	})
	return mux, nil
}

// ceilingSubject has the length of the client IDs prose-bench token
// registers, so that both servers sign claims of the same size.
const ceilingSubject = "bench-00000000-00000"

func (h *ceilingHandler) token(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	format := token.JWT
	if bytes.Contains(body, []byte("token_format=cwt")) {
		format = token.CWT
	}
	var jb [16]byte
	rand.Read(jb[:])
	jti := base64.RawURLEncoding.EncodeToString(jb[:])
	now := time.Now().Truncate(time.Second)
	exp := now.Add(as.DefaultTokenLifetime)
	idx := h.next.Add(1) - 1
	scopes := []token.Scope{{Role: token.RoleUse, RSC: 1}}
	raw, err := h.signer.Sign(&token.Claims{
		Issuer:       h.issuer,
		Subject:      ceilingSubject,
		Audience:     []string{as.DefaultAudience},
		ClientID:     ceilingSubject,
		IssuedAt:     now,
		NotBefore:    now,
		Expiry:       exp,
		ID:           jti,
		Scopes:       scopes,
		Confirmation: h.cnf,
		Status:       &token.StatusRef{URI: h.issuer + as.PathStatusList + strconv.FormatUint(idx/as.DefaultStatusListSize, 10), Index: idx % as.DefaultStatusListSize},
	}, format)
	if err != nil {
		http.Error(w, `{"error":"server_error"}`, http.StatusInternalServerError)
		return
	}
	access, name := string(raw), "jwt"
	if format == token.CWT {
		access, name = base64.RawURLEncoding.EncodeToString(raw), "cwt"
	}
	b, err := json.Marshal(as.TokenResponse{
		AccessToken: access,
		TokenType:   "Bearer",
		ExpiresIn:   int64(as.DefaultTokenLifetime / time.Second),
		Scope:       token.FormatScopes(scopes),
		TokenFormat: name,
	})
	if err != nil {
		http.Error(w, `{"error":"server_error"}`, http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Pragma", "no-cache")
	w.Write(append(b, '\n'))
}

// ceilingRuns starts a ceiling-server subprocess and runs the load loop
// against it at every level of s.
func ceilingRuns(ctx context.Context, s *loadSettings, ticks int64, progress io.Writer) ([]*RunResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("prose-bench: locating my own binary: %v", err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("prose-bench: %v", err)
	}
	var stderr bytes.Buffer
	proc, err := startChild(exe, []string{"ceiling-server", "--listen", "127.0.0.1:0"}, os.Environ(), pw, &limitedWriter{w: &stderr, n: 8192})
	pw.Close()
	if err != nil {
		pr.Close()
		return nil, err
	}
	defer proc.stop(10 * time.Second)
	defer pr.Close()
	addrc := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(pr).ReadString('\n')
		addrc <- strings.TrimSpace(line)
		io.Copy(io.Discard, pr)
	}()
	var addr string
	select {
	case addr = <-addrc:
	case <-time.After(15 * time.Second):
	case <-ctx.Done():
		return nil, fmt.Errorf("prose-bench: %v", ctx.Err())
	}
	if ip, _, err := net.SplitHostPort(addr); err != nil || net.ParseIP(ip) == nil || !isLoopbackIP(net.ParseIP(ip)) {
		proc.stop(time.Second)
		return nil, fmt.Errorf("prose-bench: ceiling-server did not print a loopback address (%q): %s", addr, stderr.String())
	}
	base := "http://" + addr
	client, err := newClient(maxLevel(s.levels), "")
	if err != nil {
		return nil, err
	}
	defer client.CloseIdleConnections()
	meta, err := fetchMetadata(ctx, client, base)
	if err != nil {
		return nil, err
	}
	// The requests carry a Basic header like those of prose-bench token
	// --auth basic; the ceiling does not check it.
	basic := make([]string, 256)
	for i := range basic {
		var sec [32]byte
		rand.Read(sec[:])
		cred := fmt.Sprintf("bench-00000000-%05d:%s", i, base64.RawURLEncoding.EncodeToString(sec[:]))
		basic[i] = "Basic " + base64.StdEncoding.EncodeToString([]byte(cred))
	}
	formParam := ""
	if s.format == "cwt" {
		formParam = "&token_format=cwt"
	}
	var runs []*RunResult
	for _, c := range s.levels {
		res, sample, err := runLoad(ctx, &loadSpec{
			client:      s.httpClient(client),
			urls:        []string{base + as.PathToken},
			concurrency: c,
			warmup:      s.warmup,
			duration:    s.duration,
			maxRequests: s.requests,
			basic:       basic,
			basicBody:   []byte("grant_type=client_credentials" + formParam),
			servers:     []serverProc{{name: "ceiling-server", pid: proc.pid}},
			ticks:       ticks,
			progress:    progress,
			label:       fmt.Sprintf("ceiling %s c=%d", s.format, c),
		})
		if err != nil {
			return runs, err
		}
		res.Server, res.Auth, res.Format = "ceiling", "none", s.format
		res.SampleToken = checkSample(ctx, client, base, meta, sample)
		runs = append(runs, res)
		if res.StopReason == stopInterrupted {
			break
		}
	}
	return runs, nil
}

// checkSample verifies one issued token offline with package token against
// the server's JWKS and returns "verified" or what went wrong.
func checkSample(ctx context.Context, c *http.Client, base string, meta *as.Metadata, body []byte) string {
	if body == nil {
		return "no token to check"
	}
	if err := verifySample(ctx, c, base, meta, body); err != nil {
		return "FAILED: " + err.Error()
	}
	return "verified"
}

func verifySample(ctx context.Context, c *http.Client, base string, meta *as.Metadata, body []byte) error {
	var resp as.TokenResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return fmt.Errorf("token response: %v", err)
	}
	var jwks json.RawMessage
	if err := getJSON(ctx, c, base+as.PathJWKS, &jwks); err != nil {
		return err
	}
	trust := token.NewTrustStore()
	if err := trust.AddJWKS(meta.Issuer, jwks); err != nil {
		return err
	}
	v := &token.Verifier{
		Trust:      trust,
		Algorithms: []token.Algorithm{token.ES256, token.EdDSA},
		Audience:   meta.TokenAudience,
		Leeway:     time.Minute,
		SkipStatus: true, // the status list is not what is measured
	}
	raw, f := []byte(resp.AccessToken), token.JWT
	if resp.TokenFormat == "cwt" {
		b, err := base64.RawURLEncoding.DecodeString(resp.AccessToken)
		if err != nil {
			return fmt.Errorf("CWT access_token is not base64url: %v", err)
		}
		raw, f = b, token.CWT
	}
	cl, err := v.Verify(raw, f, time.Now())
	if err != nil {
		return err
	}
	if cl.Confirmation == nil || cl.Status == nil || len(cl.Scopes) == 0 {
		return errors.New("token lacks cnf, status or scope")
	}
	return nil
}

// limitedWriter keeps the first n bytes written to it.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(l.n, len(p))
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}
