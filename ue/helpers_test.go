package ue

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prosesec/prosesec/as"
	"github.com/prosesec/prosesec/as/httpapi"
	"github.com/prosesec/prosesec/store/sqlite"
	"github.com/prosesec/prosesec/token"
)

// clock is a settable clock shared by the AS and the UE client.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var testStart = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

var testKEK = [32]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}

// testAS is a real AS (SQLite in a temporary directory) behind its public
// HTTP API on an httptest TLS server.
type testAS struct {
	t      *testing.T
	clk    *clock
	srv    *httptest.Server
	as     *as.Server
	issuer string
	roots  *x509.CertPool
}

const rscA token.RSC = 0x00002a

func startAS(t *testing.T, mod func(*as.Config)) *testAS {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "as.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv := httptest.NewUnstartedServer(nil)
	a := &testAS{t: t, clk: &clock{t: testStart}, srv: srv, issuer: "https://" + srv.Listener.Addr().String()}
	cfg := as.Config{Issuer: a.issuer, KEK: testKEK, Store: st, Clock: a.clk.Now, Rand: rand.Reader}
	if mod != nil {
		mod(&cfg)
	}
	if a.as, err = as.New(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	h, err := httpapi.NewPublic(httpapi.Options{Server: a.as, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = h
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused TLS handshakes are expected in tests
	srv.StartTLS()
	t.Cleanup(srv.Close)
	a.roots = x509.NewCertPool()
	a.roots.AddCert(srv.Certificate())
	return a
}

func pubPEM(t *testing.T, k crypto.Signer) []byte {
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// register registers a UE with a new key of alg and returns the key and
// its client secret.
func (a *testAS) register(id string, alg token.Algorithm, grants ...token.Scope) (crypto.Signer, string) {
	a.t.Helper()
	k, err := GenerateIdentityKey(alg, rand.Reader)
	if err != nil {
		a.t.Fatal(err)
	}
	if len(grants) == 0 {
		grants = []token.Scope{{Role: token.RoleUse, RSC: rscA}}
	}
	_, secret, err := a.as.RegisterUE(context.Background(), as.UESpec{ID: id, PublicKey: pubPEM(a.t, k), WithSecret: true, Grants: grants})
	if err != nil {
		a.t.Fatal(err)
	}
	return k, secret
}

func (a *testAS) client(id string, key crypto.Signer, mod func(*ClientConfig)) *Client {
	a.t.Helper()
	cfg := ClientConfig{Issuer: a.issuer, ClientID: id, Key: key, RootCAs: a.roots, Clock: a.clk.Now}
	if mod != nil {
		mod(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		a.t.Fatal(err)
	}
	return c
}

// provision registers a UE and provisions it.
func (a *testAS) provision(id string, mod func(*ClientConfig)) (*Credentials, crypto.Signer) {
	a.t.Helper()
	k, _ := a.register(id, token.ES256)
	cr, err := a.client(id, k, mod).Provision(context.Background())
	if err != nil {
		a.t.Fatalf("provisioning %s: %v", id, err)
	}
	return cr, k
}

func newCache(t *testing.T) *Cache {
	t.Helper()
	c, err := OpenCache(filepath.Join(t.TempDir(), "ue"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}
