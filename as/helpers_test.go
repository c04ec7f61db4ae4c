package as_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"path/filepath"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/prosesec/prosesec/as"
	"github.com/prosesec/prosesec/store/sqlite"
	"github.com/prosesec/prosesec/token"
)

const testIssuer = "https://as.example.test"

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

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

var testKEK = [32]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}

func openStore(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	return st
}

// env is one AS over a real SQLite store.
type env struct {
	t    testing.TB
	path string
	st   *sqlite.Store
	clk  *clock
	srv  *as.Server
}

func newEnv(t testing.TB, mod func(*as.Config)) *env {
	t.Helper()
	e := &env{t: t, path: filepath.Join(t.TempDir(), "as.db"), clk: newClock()}
	e.st = openStore(t, e.path)
	t.Cleanup(func() { e.st.Close() })
	e.srv = e.newServer(mod)
	return e
}

func (e *env) config(mod func(*as.Config)) as.Config {
	cfg := as.Config{
		Issuer: testIssuer,
		KEK:    testKEK,
		Store:  e.st,
		Clock:  e.clk.Now,
		Rand:   rand.Reader,
	}
	if mod != nil {
		mod(&cfg)
	}
	return cfg
}

func (e *env) newServer(mod func(*as.Config)) *as.Server {
	e.t.Helper()
	s, err := as.New(context.Background(), e.config(mod))
	if err != nil {
		e.t.Fatalf("as.New: %v", err)
	}
	return s
}

// ue is a test UE with its identity key.
type ue struct {
	id     string
	priv   crypto.Signer
	alg    jose.SignatureAlgorithm
	secret string
}

func newP256(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func jwkOf(t testing.TB, pub crypto.PublicKey) []byte {
	b, err := jose.JSONWebKey{Key: pub}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pemOf(t testing.TB, pub crypto.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func mustScopes(t testing.TB, s string) []token.Scope {
	t.Helper()
	sc, err := token.ParseScopes(s)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// register registers a P-256 UE (or Ed25519 with ed=true) with a secret.
func (e *env) register(id, grants string, ed bool) *ue {
	e.t.Helper()
	u := &ue{id: id}
	if ed {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			e.t.Fatal(err)
		}
		u.priv, u.alg = priv, jose.EdDSA
	} else {
		u.priv, u.alg = newP256(e.t), jose.ES256
	}
	_, secret, err := e.srv.RegisterUE(context.Background(), as.UESpec{
		ID: id, PublicKey: jwkOf(e.t, u.priv.Public()), WithSecret: true, Grants: mustScopes(e.t, grants),
	})
	if err != nil {
		e.t.Fatalf("RegisterUE(%s): %v", id, err)
	}
	u.secret = secret
	return u
}

func (u *ue) basic() as.ClientAuth {
	return as.ClientAuth{Method: as.AuthClientSecretBasic, ClientID: u.id, Secret: u.secret}
}

// assertion builds a client assertion; mod may change the claims.
func (u *ue) assertion(t testing.TB, now time.Time, aud string, mod func(*jwt.Claims)) string {
	t.Helper()
	return signAssertion(t, u.priv, u.alg, u.id, now, aud, mod)
}

func signAssertion(t testing.TB, key crypto.Signer, alg jose.SignatureAlgorithm, id string, now time.Time, aud string, mod func(*jwt.Claims)) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	c := jwt.Claims{
		Issuer:   id,
		Subject:  id,
		Audience: jwt.Audience{aud},
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(now.Add(time.Minute)),
		ID:       rand.Text(),
	}
	if mod != nil {
		mod(&c)
	}
	s, err := jwt.Signed(sig).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (u *ue) jwtAuth(t testing.TB, now time.Time, mod func(*jwt.Claims)) as.ClientAuth {
	return as.ClientAuth{
		Method:        as.AuthPrivateKeyJWT,
		AssertionType: as.ClientAssertionTypeJWTBearer,
		Assertion:     u.assertion(t, now, testIssuer+as.PathToken, mod),
	}
}

// verifier verifies tokens against the AS's published JWKS.
func (e *env) verifier() *token.Verifier {
	e.t.Helper()
	jwks, err := e.srv.JWKS(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	ts := token.NewTrustStore()
	if err := ts.AddJWKS(testIssuer, jwks); err != nil {
		e.t.Fatal(err)
	}
	return &token.Verifier{Trust: ts, Algorithms: []token.Algorithm{token.ES256, token.EdDSA}, Audience: as.DefaultAudience, Leeway: 30 * time.Second, SkipStatus: true}
}
