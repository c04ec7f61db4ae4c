package sim

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prosesec/prosesec/as"
	"github.com/prosesec/prosesec/as/httpapi"
	"github.com/prosesec/prosesec/store/sqlite"
	"github.com/prosesec/prosesec/token"
	"github.com/prosesec/prosesec/ue"
)

// clock is the settable wall clock shared by the in-process AS and the UE
// provisioning clients.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// server is the AS in-process: SQLite in a temporary directory behind the
// public HTTP API on an httptest TLS server bound to 127.0.0.1.
type server struct {
	clk    *clock
	srv    *httptest.Server
	as     *as.Server
	st     *sqlite.Store
	issuer string
	roots  *x509.CertPool
	// http, if set, records the provisioning exchanges (trace.jsonl).
	http *httpLog
}

func startAS(ctx context.Context, dir string, clk *clock) (*server, error) {
	return startASWith(ctx, dir, clk, nil)
}

// startASWith starts the AS with its Config adjusted by tune (if set).
func startASWith(ctx context.Context, dir string, clk *clock, tune func(*as.Config)) (*server, error) {
	st, err := sqlite.Open(ctx, filepath.Join(dir, "as.db"))
	if err != nil {
		return nil, err
	}
	srv := httptest.NewUnstartedServer(nil) // listens on 127.0.0.1:0
	s := &server{clk: clk, srv: srv, st: st, issuer: "https://" + srv.Listener.Addr().String()}
	var kek [32]byte
	if _, err := rand.Read(kek[:]); err != nil {
		st.Close()
		return nil, err
	}
	cfg := as.Config{Issuer: s.issuer, KEK: kek, Store: st, Clock: clk.Now, Rand: rand.Reader}
	if tune != nil {
		tune(&cfg)
	}
	s.as, err = as.New(ctx, cfg)
	if err != nil {
		st.Close()
		return nil, err
	}
	h, err := httpapi.NewPublic(httpapi.Options{Server: s.as, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		st.Close()
		return nil, err
	}
	srv.Config.Handler = h
	srv.Config.ErrorLog = nil
	srv.StartTLS()
	s.roots = x509.NewCertPool()
	s.roots.AddCert(srv.Certificate())
	return s, nil
}

// stop closes the HTTP server (coverage lost) and the store.
func (s *server) stop() {
	s.srv.Close()
	s.st.Close()
}

// provisioned is one UE after its in-coverage phase.
type provisioned struct {
	name  string
	key   crypto.Signer
	cache *ue.Cache
	cred  *ue.Credentials
}

// register registers a UE with a fresh identity key and its grants.
func (s *server) register(ctx context.Context, name string, grants ...token.Scope) (crypto.Signer, error) {
	return s.registerFor(ctx, name, 0, grants...)
}

// registerFor registers a UE whose tokens live lifetime (0: the AS default).
func (s *server) registerFor(ctx context.Context, name string, lifetime time.Duration, grants ...token.Scope) (crypto.Signer, error) {
	k, err := ue.GenerateIdentityKey(token.ES256, rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		return nil, err
	}
	pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	if _, _, err := s.as.RegisterUE(ctx, as.UESpec{ID: name, PublicKey: pub, Grants: grants, TokenLifetime: lifetime}); err != nil {
		return nil, fmt.Errorf("registering %s: %w", name, err)
	}
	return k, nil
}

// provision runs the ue client (private_key_jwt, CWT) and stores the
// result in a cache directory under dir.
func (s *server) provision(ctx context.Context, dir, name string, key crypto.Signer) (*provisioned, error) {
	cc := ue.ClientConfig{Issuer: s.issuer, ClientID: name, Key: key, Auth: ue.AuthPrivateKeyJWT, RootCAs: s.roots, Clock: s.clk.Now}
	if s.http != nil {
		// The ue client's own transport settings, behind the recorder.
		cc.HTTPClient = &http.Client{
			Transport: s.http.transport(name, &http.Transport{
				TLSClientConfig:     &tls.Config{RootCAs: s.roots, MinVersion: tls.VersionTLS12},
				TLSHandshakeTimeout: 10 * time.Second,
				ForceAttemptHTTP2:   true,
			}),
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	c, err := ue.NewClient(cc)
	if err != nil {
		return nil, err
	}
	cr, err := c.Provision(ctx)
	if err != nil {
		return nil, fmt.Errorf("provisioning %s: %w", name, err)
	}
	cache, err := ue.OpenCache(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	if err := cache.SaveIdentityKey(key); err != nil {
		return nil, err
	}
	if err := cache.Save(cr); err != nil {
		return nil, err
	}
	return &provisioned{name: name, key: key, cache: cache, cred: cr}, nil
}

func removeAll(dir string) { _ = os.RemoveAll(dir) }
