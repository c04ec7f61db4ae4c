package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/prosesec/prosesec/as"
	"github.com/prosesec/prosesec/as/httpapi"
	"github.com/prosesec/prosesec/store"
	"github.com/prosesec/prosesec/store/postgres"
	"github.com/prosesec/prosesec/store/sqlite"
	"github.com/prosesec/prosesec/token"
)

// HTTP server limits (the timeouts are defaults of serve flags).
const (
	defaultReadHeaderTimeout = 5 * time.Second
	defaultReadTimeout       = 15 * time.Second
	defaultWriteTimeout      = 30 * time.Second
	defaultIdleTimeout       = 2 * time.Minute
	maxHeaderBytes           = 32 << 10
	shutdownTimeout          = 15 * time.Second
	// maxMaintainInterval bounds the period of Server.Maintain. It stays
	// well below the AS leeway (30s) so that instances sharing a database
	// pick up each other's key changes in time.
	maxMaintainInterval = 10 * time.Second
)

// Default per-client limit of the token endpoint. A UE needs one token per
// token lifetime (hours), a few more when it re-provisions: 10 per second
// with bursts of 50 never slows a real client, and bounds what one client
// (or anyone sending bad credentials under its ID from one address) can
// make the server sign or verify. Load tests of one client pass
// --client-rate-limit 0.
const (
	defaultClientRateLimit = 10
	defaultClientRateBurst = 50
)

// serveSettings are the settings of "prose-as serve", bound to its flags.
type serveSettings struct {
	DataDir           string
	Listen            string
	AdminListen       string
	Issuer            string
	Audience          string
	DB                string
	TLSCert, TLSKey   string
	InsecureHTTP      bool
	KEKFile           string
	AdminTokenFile    string
	TokenLifetime     time.Duration
	MaxTokenLifetime  time.Duration
	OfflineHorizon    time.Duration
	StatusListTTL     time.Duration
	KeyRotationPeriod time.Duration
	TokenRetention    time.Duration
	SigningAlg        string
	LogLevel          string
	LogFormat         string
	Metrics           string
	ClientRateLimit   float64
	ClientRateBurst   int
	TrustedProxies    string
	trustedProxies    []netip.Prefix // parsed by check
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	Config            string
	CPUProfile        string // hidden: for prose-bench and pprof
}

func serveFlags(fs *flag.FlagSet) *serveSettings {
	s := &serveSettings{}
	fs.StringVar(&s.DataDir, "data-dir", "./prose-as-data", "`DIR` for the database, KEK, admin token and TLS files (created 0700)")
	fs.StringVar(&s.Listen, "listen", "127.0.0.1:8443", "`ADDR` (host:port) of the public OAuth endpoints; port 0 picks a free port, written to DIR/listen.addr")
	fs.StringVar(&s.AdminListen, "admin-listen", "127.0.0.1:8444", "`ADDR` of the admin API; \"\" disables it. Plain HTTP on loopback, TLS otherwise; the bound address is written to DIR/admin.addr")
	fs.StringVar(&s.Issuer, "issuer", "", "issuer `URL` (token iss, base of every endpoint URL); default https://<listen address>, or http:// with --insecure-http")
	fs.StringVar(&s.Audience, "audience", as.DefaultAudience, "`AUDIENCE` (aud claim) of issued tokens: the PC5 audience the UEs verify")
	fs.StringVar(&s.DB, "db", "", "database: a SQLite file `PATH` (default DIR/prose-as.db), or a PostgreSQL URL postgres://USER@HOST:PORT/DB (several instances may share one; put the password in PGPASSWORD or ~/.pgpass, not in the URL); a search_path parameter selects the schema")
	fs.StringVar(&s.TLSCert, "tls-cert", "", "TLS certificate `FILE` (PEM, with chain); without --tls-cert/--tls-key a self-signed one is generated in DIR")
	fs.StringVar(&s.TLSKey, "tls-key", "", "TLS private key `FILE` (PEM, mode 0600)")
	fs.BoolVar(&s.InsecureHTTP, "insecure-http", false, "serve plain HTTP instead of HTTPS; refused unless every listen address is loopback (for local tests or behind a TLS proxy on the same host)")
	fs.StringVar(&s.KEKFile, "kek-file", "", "`FILE` holding the key-encryption key of the signing keys: 32 random bytes, raw, hex or base64, mode 0600; default DIR/kek, created if absent. PROSE_AS_KEK may hold the key itself instead")
	fs.StringVar(&s.AdminTokenFile, "admin-token-file", "", "`FILE` holding the admin API bearer token, mode 0600; default DIR/admin.token, created if absent. PROSE_AS_ADMIN_TOKEN may hold the token itself instead")
	fs.DurationVar(&s.TokenLifetime, "token-lifetime", as.DefaultTokenLifetime, "default token lifetime `DURATION` (a UE may have its own, see admin ue add --token-lifetime)")
	fs.DurationVar(&s.MaxTokenLifetime, "max-token-lifetime", as.DefaultMaxTokenLifetime, "upper bound (`DURATION`) of every token lifetime")
	fs.DurationVar(&s.OfflineHorizon, "offline-horizon", as.DefaultOfflineHorizon, "`DURATION` a UE may stay out of coverage with its cached keys; a next key is published this long (plus --max-token-lifetime) before it signs")
	fs.DurationVar(&s.StatusListTTL, "status-list-ttl", as.DefaultStatusListTTL, "validity (`DURATION`) of a signed status list")
	fs.DurationVar(&s.KeyRotationPeriod, "key-rotation-period", 30*24*time.Hour, "`DURATION` after which the active signing key is rotated automatically (at least --max-token-lifetime + --offline-horizon); 0: only when an operator runs prose-as admin keys rotate")
	fs.DurationVar(&s.TokenRetention, "token-retention", as.DefaultTokenRetention, "`DURATION` an issued token's record is kept after the token expired; maintenance then purges it (at least 1h: a UE that allows clock skew must never see a revoked, just-expired token's status bit cleared); 0: keep records forever")
	fs.StringVar(&s.SigningAlg, "signing-alg", string(as.DefaultSigningAlgorithm), "signature `ALG` of new signing keys: ES256 or EdDSA")
	fs.StringVar(&s.LogLevel, "log-level", "info", "log `LEVEL`: debug, info, warn or error")
	fs.StringVar(&s.LogFormat, "log-format", "text", "log `FORMAT`: text or json")
	fs.StringVar(&s.Metrics, "metrics", "public", "where GET /metrics is served: `WHERE` is public (the --listen address), admin (the --admin-listen address, unauthenticated) or off")
	fs.Float64Var(&s.ClientRateLimit, "client-rate-limit", defaultClientRateLimit, "sustained token requests per second (`RATE`) each client may make at POST /oauth2/token; more are answered 429 slow_down with Retry-After. Failed token, revoke and introspect requests are limited per source address and claimed client at the same rate, and per address at 10× that, so nobody can lock a client out by knowing its ID (behind a reverse proxy: name it in --trusted-proxies). 0 disables the limit")
	fs.StringVar(&s.TrustedProxies, "trusted-proxies", "", "comma-separated `CIDRS` of the reverse proxies in front of the server (e.g. 127.0.0.1/32,::1/128): a request from one of them is rate-limited by the client address its X-Forwarded-For names (the rightmost one that is not a listed proxy); from any other peer X-Forwarded-For is ignored. Default: none, every peer is its own source")
	fs.IntVar(&s.ClientRateBurst, "client-rate-burst", defaultClientRateBurst, "bucket size of the per-client limit: token requests (`N`) a client may make at once after a quiet period")
	fs.DurationVar(&s.ReadHeaderTimeout, "read-header-timeout", defaultReadHeaderTimeout, "`DURATION` a client has to send its request headers; a slower connection is closed (Slowloris)")
	fs.DurationVar(&s.ReadTimeout, "read-timeout", defaultReadTimeout, "`DURATION` a client has to send a whole request, headers and body; a slower connection is closed")
	fs.DurationVar(&s.WriteTimeout, "write-timeout", defaultWriteTimeout, "`DURATION` from the end of the request headers until the response must be written")
	fs.DurationVar(&s.IdleTimeout, "idle-timeout", defaultIdleTimeout, "`DURATION` an idle keep-alive connection stays open")
	fs.StringVar(&s.Config, "config", "", "YAML `FILE` whose keys are these flag names; flags and environment variables take precedence (env PROSE_AS_CONFIG)")
	fs.StringVar(&s.CPUProfile, "cpuprofile", "", "write a CPU profile of the whole run to `FILE` (for go tool pprof)")
	return s
}

// serveHiddenFlags are not listed by --help and have no environment
// variable or config key: developer tools, not operator settings.
var serveHiddenFlags = []string{"cpuprofile"}

func serveEnvNames(fs *flag.FlagSet) map[string]string {
	return allEnvNames(fs, append([]string{"config"}, serveHiddenFlags...)...)
}

func serveCommand() *command {
	return &command{
		name:     "serve",
		synopsis: "prose-as serve [flags]",
		short:    "run the ProSe Application Server",
		long: "Runs the ProSe Application Server: the OAuth 2.0 token endpoint (client_credentials with " +
			"client_secret_basic, client_secret_post or private_key_jwt), JWKS, RFC 8414 metadata, " +
			"revocation, introspection, status lists, /healthz, /readyz and /metrics on --listen, and " +
			"the admin API on --admin-listen. On first start it creates the data directory with a SQLite " +
			"database, a key-encryption key, an admin token and a self-signed TLS certificate. Each " +
			"setting comes from its flag, else its PROSE_AS_* environment variable, else the --config " +
			"file, else the default. SIGINT or SIGTERM shuts down gracefully.",
		examples: []string{
			"# First start: everything generated under ./prose-as-data\nprose-as serve",
			"# Production: own certificate, public issuer URL, KEK from a secret store\n" +
				"PROSE_AS_KEK=$(cat /run/secrets/prose-as-kek) prose-as serve --listen :8443 \\\n" +
				"  --issuer https://as.example.net --tls-cert /etc/prose-as/tls.crt --tls-key /etc/prose-as/tls.key",
			"# Local test on a free port over plain HTTP; the bound address appears in listen.addr\n" +
				"prose-as serve --insecure-http --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --data-dir /tmp/as &\n" +
				"sleep 1; curl http://$(cat /tmp/as/listen.addr)/readyz",
		},
		envNames:    serveEnvNames,
		hiddenFlags: serveHiddenFlags,
		setup: func(fs *flag.FlagSet) action {
			s := serveFlags(fs)
			return func(ctx context.Context, e *env, fs *flag.FlagSet) error {
				src, err := s.resolve(fs, e)
				if err != nil {
					return err
				}
				return serve(ctx, e, s, src)
			}
		},
	}
}

// resolve completes the settings from the environment and the config file
// and checks them.
func (s *serveSettings) resolve(fs *flag.FlagSet, e *env) (map[string]source, error) {
	src, err := s.complete(fs, e)
	if err != nil {
		return nil, err
	}
	return src, s.check()
}

// complete completes the settings from the environment and the config file
// (--config, else PROSE_AS_CONFIG), without checking them.
func (s *serveSettings) complete(fs *flag.FlagSet, e *env) (map[string]source, error) {
	cfgPath := s.Config
	if !isSet(fs, "config") {
		if v, ok := e.lookupEnv(envName("config")); ok {
			cfgPath = v
			s.Config = v
		}
	}
	var doc []byte
	if cfgPath != "" {
		var err error
		if doc, err = os.ReadFile(cfgPath); err != nil {
			return nil, fmt.Errorf("prose-as: reading config file: %v; fix --config or %s", err, envName("config"))
		}
	}
	return resolveSettings(fs, serveEnvNames(fs), e.lookupEnv, doc, cfgPath)
}

// check validates the settings that do not need the file system.
func (s *serveSettings) check() error {
	switch s.Metrics {
	case "public", "off":
	case "admin":
		if s.AdminListen == "" {
			return usagef("serve: --metrics admin needs an --admin-listen address")
		}
	default:
		return usagef("serve: --metrics %q: use public, admin or off", s.Metrics)
	}
	if s.ClientRateLimit < 0 || math.IsNaN(s.ClientRateLimit) || math.IsInf(s.ClientRateLimit, 0) {
		return usagef("serve: --client-rate-limit %v: want a number of requests per second >= 0 (0 disables the limit)", s.ClientRateLimit)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"read-header-timeout", s.ReadHeaderTimeout}, {"read-timeout", s.ReadTimeout}, {"write-timeout", s.WriteTimeout}, {"idle-timeout", s.IdleTimeout}} {
		if d.v <= 0 {
			return usagef("serve: --%s %v: want a positive duration such as 5s", d.name, d.v)
		}
	}
	if s.ReadHeaderTimeout > s.ReadTimeout {
		return usagef("serve: --read-header-timeout %v exceeds --read-timeout %v, which bounds headers and body together", s.ReadHeaderTimeout, s.ReadTimeout)
	}
	s.trustedProxies = nil
	for _, f := range strings.Split(s.TrustedProxies, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				return usagef("serve: --trusted-proxies: %q is neither a CIDR prefix (10.0.0.0/8) nor an address", f)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		if p.Masked() != p {
			return usagef("serve: --trusted-proxies: %s has host bits set; did you mean %s?", p, p.Masked())
		}
		s.trustedProxies = append(s.trustedProxies, p)
	}
	if s.TokenRetention < 0 || (s.TokenRetention > 0 && s.TokenRetention < minTokenRetention) {
		return usagef("serve: --token-retention %v: want 0 (keep records forever) or at least %v (once a record is purged, its token's status bit reads valid: it must outlast any clock-skew leeway a verifier allows after expiry)", s.TokenRetention, minTokenRetention)
	}
	if s.ClientRateBurst < 1 {
		return usagef("serve: --client-rate-burst %d: want at least 1", s.ClientRateBurst)
	}
	switch s.LogFormat {
	case "text", "json":
	default:
		return usagef("serve: --log-format %q: use text or json", s.LogFormat)
	}
	if _, err := parseLevel(s.LogLevel); err != nil {
		return err
	}
	switch token.Algorithm(s.SigningAlg) {
	case token.ES256, token.EdDSA:
	default:
		return usagef("serve: --signing-alg %q: use ES256 or EdDSA", s.SigningAlg)
	}
	if !isPostgresDSN(s.DB) && strings.Contains(s.DB, "://") {
		return usagef("serve: --db %s: want a SQLite file path or a postgres:// URL", postgres.Describe(s.DB))
	}
	if (s.TLSCert == "") != (s.TLSKey == "") {
		return usagef("serve: give both --tls-cert and --tls-key, or neither to use a generated self-signed certificate")
	}
	if s.Listen == "" {
		return usagef("serve: --listen is empty; give host:port, e.g. 127.0.0.1:8443")
	}
	addrs := []string{s.Listen}
	if s.AdminListen != "" {
		addrs = append(addrs, s.AdminListen)
	}
	for _, a := range addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return usagef("serve: listen address %q: %v; write host:port, e.g. 127.0.0.1:8443", a, err)
		}
	}
	if s.InsecureHTTP {
		for _, a := range addrs {
			if !isLoopbackAddr(a) {
				return fmt.Errorf("prose-as: --insecure-http refused: listen address %q is not loopback; plain HTTP would expose client secrets and the admin token on the network. Use TLS (drop --insecure-http), or listen on 127.0.0.1 / ::1 behind a TLS-terminating proxy", a)
			}
		}
		if s.TLSCert != "" || s.TLSKey != "" {
			return usagef("serve: --insecure-http cannot be combined with --tls-cert/--tls-key")
		}
	}
	if s.AdminListen != "" && s.AdminListen == s.Listen && !strings.HasSuffix(s.Listen, ":0") {
		return usagef("serve: --admin-listen must differ from --listen (or be \"\" to disable the admin API)")
	}
	return nil
}

// isLoopbackAddr reports whether host:port names a loopback host only.
func isLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, usagef("--log-level %q: use debug, info, warn or error", s)
	}
	return l, nil
}

func newLogger(w io.Writer, level, format string) *slog.Logger {
	l, _ := parseLevel(level)
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// defaultIssuer derives the issuer URL from the bound public address.
// An unspecified host (0.0.0.0, ::) becomes localhost: only the operator
// knows the name clients use (warn is set then).
func defaultIssuer(bound net.Addr, insecure bool) (issuer string, warn bool) {
	scheme := "https"
	if insecure {
		scheme = "http"
	}
	host, port, err := net.SplitHostPort(bound.String())
	if err != nil {
		return scheme + "://localhost", true
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host, warn = "localhost", true
	}
	return scheme + "://" + net.JoinHostPort(host, port), warn
}

// secretChoice says where a secret (KEK, admin token) comes from.
type secretChoice struct {
	value  string // from the value variable ("" if not used)
	path   string // file to read
	create bool   // create path if absent (default file only)
	origin string // for logs: "env PROSE_AS_KEK", "file …"
}

// chooseSecret picks the KEK or admin token: the file flag given on the
// command line wins, then the value variable (PROSE_AS_KEK), then the file
// flag from the environment or config file, then the default file in the
// data directory (created when absent). Setting both the value variable and
// the file flag's variable is an error.
func chooseSecret(flagName, flagValue string, flagSrc source, valueVar, dataDir, defaultFile string, lookupEnv func(string) (string, bool)) (secretChoice, error) {
	v, haveValue := lookupEnv(valueVar)
	if haveValue && flagSrc == fromEnv {
		return secretChoice{}, fmt.Errorf("prose-as: both %s and %s are set; unset one", valueVar, envName(flagName))
	}
	switch {
	case flagSrc == fromFlag:
		return secretChoice{path: flagValue, origin: "file " + flagValue}, nil
	case haveValue:
		return secretChoice{value: v, origin: "env " + valueVar}, nil
	case flagValue != "":
		return secretChoice{path: flagValue, origin: "file " + flagValue}, nil
	}
	p := filepath.Join(dataDir, defaultFile)
	return secretChoice{path: p, create: true, origin: "file " + p}, nil
}

// serve runs the server until ctx ends.
func serve(ctx context.Context, e *env, s *serveSettings, src map[string]source) (err error) {
	log := newLogger(e.stderr, s.LogLevel, s.LogFormat)
	if s.CPUProfile != "" {
		f, perr := os.Create(s.CPUProfile)
		if perr != nil {
			return fmt.Errorf("prose-as: --cpuprofile: %v", perr)
		}
		if perr := pprof.StartCPUProfile(f); perr != nil {
			f.Close()
			return fmt.Errorf("prose-as: --cpuprofile: %v", perr)
		}
		defer func() {
			pprof.StopCPUProfile()
			if cerr := f.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("prose-as: --cpuprofile: %v", cerr)
			}
		}()
	}
	if s.Config != "" {
		log.Info("config file loaded", "path", s.Config)
	}
	for _, name := range sortedKeys(toStrings(src)) {
		if src[name] != fromDefault {
			log.Debug("setting", "name", name, "from", src[name].String())
		}
	}

	warn, err := ensureDataDir(s.DataDir)
	if err != nil {
		return err
	}
	if warn != "" {
		log.Warn(warn)
	}
	for _, f := range []string{fileListenAddr, fileAdminAddr} {
		os.Remove(filepath.Join(s.DataDir, f)) // stale from an earlier run
	}

	// Key-encryption key.
	kc, err := chooseSecret("kek-file", s.KEKFile, src["kek-file"], "PROSE_AS_KEK", s.DataDir, fileKEK, e.lookupEnv)
	if err != nil {
		return err
	}
	var (
		kek        [32]byte
		kekCreated bool // a new KEK file was written by this start
	)
	if kc.path == "" {
		if kek, err = parseKEK([]byte(kc.value)); err != nil {
			return fmt.Errorf("prose-as: PROSE_AS_KEK: %v", err)
		}
	} else {
		if kek, kekCreated, err = loadOrCreateKEK(kc.path, kc.create, e.rand); err != nil {
			return err
		}
		if kekCreated {
			log.Warn("created a new key-encryption key; the signing keys at rest are only as safe as this file: back it up apart from the database and keep it 0600, or pass --kek-file / PROSE_AS_KEK from a secret store", "path", kc.path)
		}
	}
	defer clear(kek[:])

	// Admin token.
	tc, err := chooseSecret("admin-token-file", s.AdminTokenFile, src["admin-token-file"], "PROSE_AS_ADMIN_TOKEN", s.DataDir, fileAdminToken, e.lookupEnv)
	if err != nil {
		return err
	}
	var adminToken string
	if tc.path == "" {
		if adminToken, err = parseAdminToken([]byte(tc.value)); err != nil {
			return fmt.Errorf("prose-as: PROSE_AS_ADMIN_TOKEN: %v", err)
		}
	} else {
		var created bool
		if adminToken, created, err = loadOrCreateAdminToken(tc.path, tc.create, e.rand); err != nil {
			return err
		}
		if created {
			log.Warn("created a new admin token; prose-as admin reads it from this file", "path", tc.path)
		}
	}

	// TLS.
	var tlsCfg *tls.Config
	tlsDesc := "off (plain HTTP on loopback)"
	if !s.InsecureHTTP {
		certPath, keyPath, generated, err := tlsFiles(s.TLSCert, s.TLSKey, s.DataDir, e.now(), e.rand)
		if err != nil {
			return err
		}
		cfg, cert, err := loadTLS(certPath, keyPath)
		if err != nil {
			return err
		}
		tlsCfg = cfg
		tlsDesc = certPath
		selfSigned := s.TLSCert == ""
		if generated {
			log.Warn("generated a self-signed TLS certificate for localhost, 127.0.0.1 and ::1; clients must trust it explicitly, e.g. curl --cacert "+certPath+"; use --tls-cert/--tls-key for a real one", "cert", certPath, "key", keyPath)
		} else if selfSigned {
			log.Warn("serving the self-signed TLS certificate from the data directory; clients need curl --cacert "+certPath, "cert", certPath)
		}
		if left := cert.NotAfter.Sub(e.now()); left < 30*24*time.Hour {
			hint := "renew it"
			if selfSigned {
				hint = "delete " + certPath + " and " + keyPath + " and restart to generate a new one"
			}
			log.Warn("TLS certificate expires soon: "+hint, "not_after", cert.NotAfter.UTC().Format(time.RFC3339))
		}
	}

	// Listeners: bound before the issuer is derived, so port 0 works.
	pubLn, err := net.Listen("tcp", s.Listen)
	if err != nil {
		return fmt.Errorf("prose-as: listening on %s: %v; is another server running? choose another --listen", s.Listen, err)
	}
	defer pubLn.Close()
	var admLn net.Listener
	if s.AdminListen != "" {
		if admLn, err = net.Listen("tcp", s.AdminListen); err != nil {
			return fmt.Errorf("prose-as: listening on %s: %v; is another server running? choose another --admin-listen", s.AdminListen, err)
		}
		defer admLn.Close()
	}

	issuer := s.Issuer
	if issuer == "" {
		var warnIssuer bool
		issuer, warnIssuer = defaultIssuer(pubLn.Addr(), s.InsecureHTTP)
		switch {
		case isPostgresDSN(s.DB):
			// Instances on one database recognise only tokens that carry
			// their own issuer (introspection, revocation): behind a load
			// balancer they must share the URL clients use.
			log.Warn("the issuer URL was derived from this instance's listen address; with a shared PostgreSQL database every instance must have the same --issuer, the URL clients use (docs/postgres.md)", "issuer", issuer)
		case warnIssuer:
			log.Warn("the issuer URL was derived from a wildcard listen address; set --issuer to the URL clients use", "issuer", issuer)
		}
	}

	// Store.
	st, dbPath, err := openStore(ctx, s)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := st.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("prose-as: closing database: %v", cerr)
		}
	}()

	srv, err := as.New(ctx, as.Config{
		Issuer:               issuer,
		Audience:             s.Audience,
		DefaultTokenLifetime: s.TokenLifetime,
		MaxTokenLifetime:     s.MaxTokenLifetime,
		OfflineHorizon:       s.OfflineHorizon,
		SigningAlgorithm:     token.Algorithm(s.SigningAlg),
		KeyRotationPeriod:    s.KeyRotationPeriod,
		TokenRetention:       tokenRetention(s.TokenRetention),
		StatusListTTL:        s.StatusListTTL,
		KEK:                  kek,
		Store:                st,
		Clock:                time.Now,
		Rand:                 e.rand,
	})
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "as: ")
		if strings.Contains(msg, "KEK does not match") {
			if kekCreated {
				// The KEK file was missing and this start made one, but
				// the database already holds keys sealed under another:
				// take the new file away again, so that it does not stand
				// in the way of restoring the right one.
				if rerr := os.Remove(kc.path); rerr == nil {
					msg += "; " + kc.path + " was missing, so a new KEK was generated, which cannot open them: it has been removed again"
				}
			}
			msg += "; start with the KEK this database was created with (--kek-file or PROSE_AS_KEK), or use a new --data-dir"
		}
		return fmt.Errorf("prose-as: %s", msg)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	maint := newMaintainMetrics(reg)
	registerStoreMetrics(reg, st)
	opts := httpapi.Options{
		Server:     srv,
		Registry:   reg,
		Logger:     log,
		AdminToken: []byte(adminToken),
		RateLimit:  httpapi.RateLimit{Rate: s.ClientRateLimit, Burst: s.ClientRateBurst},

		TrustedProxies: s.trustedProxies,
	}
	if s.Metrics == "public" {
		opts.Gatherer = reg
	}
	pubH, err := httpapi.NewPublic(opts)
	if err != nil {
		return fmt.Errorf("prose-as: %v", err)
	}
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	servers := []*http.Server{newHTTPServer(pubH, tlsCfg, errLog, s)}
	lns := []net.Listener{pubLn}
	if admLn != nil {
		admH, err := httpapi.NewAdmin(opts)
		if err != nil {
			return fmt.Errorf("prose-as: %v", err)
		}
		if s.Metrics == "admin" {
			mux := http.NewServeMux()
			mux.Handle("/admin/", admH)
			mux.Handle("GET /metrics", httpapi.MetricsHandler(reg))
			admH = mux
		}
		var admTLS *tls.Config
		if !isLoopbackAddr(s.AdminListen) {
			admTLS = tlsCfg // never plain HTTP off loopback (check refused --insecure-http)
		}
		servers = append(servers, newHTTPServer(admH, admTLS, errLog, s))
		lns = append(lns, admLn)
	}

	serveErr := make(chan error, len(servers))
	for i, hs := range servers {
		ln := lns[i]
		if hs.TLSConfig != nil {
			ln = tls.NewListener(ln, hs.TLSConfig)
		}
		go func() { serveErr <- hs.Serve(ln) }()
	}

	// Address files, written once serving: scripts and tests wait for them.
	if err := writeFileReplace(filepath.Join(s.DataDir, fileListenAddr), []byte(pubLn.Addr().String()+"\n"), 0o600); err != nil {
		log.Warn("could not write the listen address file", "err", err)
	}
	adminAddr := ""
	if admLn != nil {
		adminAddr = admLn.Addr().String()
		if err := writeFileReplace(filepath.Join(s.DataDir, fileAdminAddr), []byte(adminAddr+"\n"), 0o600); err != nil {
			log.Warn("could not write the admin address file", "err", err)
		}
	}
	defer func() {
		os.Remove(filepath.Join(s.DataDir, fileListenAddr))
		os.Remove(filepath.Join(s.DataDir, fileAdminAddr))
	}()

	var activeKID, nextKID string
	if keys, err := srv.Keys(ctx); err == nil {
		for _, k := range keys {
			switch k.State {
			case "active":
				activeKID = k.KID
			case "next":
				nextKID = k.KID
			}
		}
	}
	log.Info("prose-as started",
		"version", versionString(),
		"issuer", issuer,
		"listen", pubLn.Addr().String(),
		"admin_listen", adminAddr,
		"tls", tlsDesc,
		"db", dbPath,
		"kek", kc.origin,
		"admin_token", tc.origin,
		"signing_alg", s.SigningAlg,
		"client_rate_limit", s.ClientRateLimit,
		"client_rate_burst", s.ClientRateBurst,
		"trusted_proxies", s.TrustedProxies,
		"active_kid", activeKID,
		"next_kid", nextKID,
	)

	// Periodic maintenance: key reload/rotation, purges.
	mctx, stopMaintain := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		maintainLoop(mctx, srv, log, maint, maintainInterval(s.StatusListTTL))
	}()

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "timeout", shutdownTimeout.String())
	case err := <-serveErr:
		runErr = fmt.Errorf("prose-as: serving HTTP: %v", err)
		log.Error("HTTP server failed; shutting down", "err", err)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	var swg sync.WaitGroup
	for _, hs := range servers {
		swg.Add(1)
		go func() {
			defer swg.Done()
			if err := hs.Shutdown(sctx); err != nil {
				log.Warn("HTTP shutdown did not finish in time; closing connections", "err", err)
				hs.Close()
			}
		}()
	}
	swg.Wait()
	stopMaintain()
	wg.Wait()
	if runErr == nil {
		log.Info("stopped")
	}
	return runErr
}

func toStrings(m map[string]source) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v.String()
	}
	return out
}

// newHTTPServer returns a server with the limits of s: a client that sends
// its headers or body too slowly is disconnected (each connection has its
// own goroutine and deadlines, so a slow client delays no other).
func newHTTPServer(h http.Handler, tlsCfg *tls.Config, errLog *stdlog.Logger, s *serveSettings) *http.Server {
	hs := &http.Server{
		Handler:           h,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: s.ReadHeaderTimeout,
		ReadTimeout:       s.ReadTimeout,
		WriteTimeout:      s.WriteTimeout,
		IdleTimeout:       s.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          errLog,
	}
	return hs
}

// minTokenRetention is the shortest --token-retention: far above the 30 s
// leeway of prose-as and of UEs by default, and above any clock skew a
// verifier should allow. (as.Config accepts down to its Leeway.)
const minTokenRetention = time.Hour

// tokenRetention maps --token-retention to as.Config.TokenRetention: 0
// (keep forever) is negative there, where 0 stands for the default.
func tokenRetention(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// isPostgresDSN reports whether --db names a PostgreSQL database.
func isPostgresDSN(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// openStore opens the backend --db selects and returns it with a
// description fit for logs (never a password).
func openStore(ctx context.Context, s *serveSettings) (store.Store, string, error) {
	if isPostgresDSN(s.DB) {
		desc := postgres.Describe(s.DB)
		st, err := postgres.Open(ctx, s.DB)
		if err != nil {
			return nil, desc, fmt.Errorf("prose-as: opening database %s: %v", desc, err)
		}
		return st, desc, nil
	}
	path := s.DB
	if path == "" {
		path = filepath.Join(s.DataDir, fileDB)
	}
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, path, fmt.Errorf("prose-as: opening database %s: %v", path, err)
	}
	return st, path, nil
}
