package httpapi_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/prosesec/prosesec/as"
	"github.com/prosesec/prosesec/as/httpapi"
	"github.com/prosesec/prosesec/store/sqlite"
	"github.com/prosesec/prosesec/token"
)

var ctx = context.Background()

const adminToken = "admin-token-0123456789abcdef"

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

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testAS is an AS over a real SQLite store served on loopback.
type testAS struct {
	t      testing.TB
	clk    *clock
	srv    *as.Server
	hs     *httptest.Server
	issuer string
	logs   *syncBuffer
	reg    *prometheus.Registry
}

func newTestAS(t testing.TB) *testAS {
	t.Helper()
	return newTestASWith(t, nil)
}

// newTestASWith is newTestAS with Options changed by mod.
func newTestASWith(t testing.TB, mod func(*httpapi.Options)) *testAS {
	t.Helper()
	a := &testAS{t: t, clk: &clock{t: time.Now().Truncate(time.Second)}, logs: &syncBuffer{}, reg: prometheus.NewRegistry()}
	var h http.Handler
	a.hs = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(a.hs.Close)
	a.issuer = a.hs.URL
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "as.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var kek [32]byte
	rand.Read(kek[:])
	a.srv, err = as.New(ctx, as.Config{Issuer: a.issuer, KEK: kek, Store: st, Clock: a.clk.Now, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	o := httpapi.Options{
		Server:     a.srv,
		Registry:   a.reg,
		Gatherer:   a.reg,
		Logger:     slog.New(slog.NewTextHandler(a.logs, nil)),
		AdminToken: []byte(adminToken),
	}
	if mod != nil {
		mod(&o)
	}
	pub, err := httpapi.NewPublic(o)
	if err != nil {
		t.Fatal(err)
	}
	adm, err := httpapi.NewAdmin(o)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/", adm)
	mux.Handle("/", pub)
	h = mux
	return a
}

// testUE is a UE registered through the admin API.
type testUE struct {
	id     string
	priv   crypto.Signer
	alg    jose.SignatureAlgorithm
	secret string
}

func (a *testAS) registerUE(id string, grants []string, ed bool) *testUE {
	a.t.Helper()
	u := &testUE{id: id, alg: jose.ES256}
	if ed {
		_, k, _ := ed25519.GenerateKey(rand.Reader)
		u.priv, u.alg = k, jose.EdDSA
	} else {
		u.priv, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	jwk, _ := jose.JSONWebKey{Key: u.priv.Public()}.MarshalJSON()
	body, _ := json.Marshal(httpapi.RegisterUERequest{ID: id, PublicKey: jwk, WithSecret: true, Grants: grants})
	var resp httpapi.UEResponse
	if code := a.adminDo("POST", "/admin/v1/ues", body, &resp); code != http.StatusCreated {
		a.t.Fatalf("register %s: %d", id, code)
	}
	u.secret = resp.ClientSecret
	return u
}

func (a *testAS) adminDo(method, path string, body []byte, out any) int {
	a.t.Helper()
	req, _ := http.NewRequest(method, a.issuer+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			a.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	if resp.StatusCode >= 300 && out != nil {
		json.Unmarshal(b, out)
	}
	return resp.StatusCode
}

func (u *testUE) assertion(t *testing.T, aud string, now time.Time, mod func(*jwt.Claims)) string {
	return signAssertion(t, u.priv, u.alg, u.id, aud, now, mod)
}

func signAssertion(t *testing.T, key crypto.Signer, alg jose.SignatureAlgorithm, id, aud string, now time.Time, mod func(*jwt.Claims)) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	c := jwt.Claims{Issuer: id, Subject: id, Audience: jwt.Audience{aud}, IssuedAt: jwt.NewNumericDate(now),
		Expiry: jwt.NewNumericDate(now.Add(time.Minute)), ID: rand.Text()}
	if mod != nil {
		mod(&c)
	}
	s, err := jwt.Signed(sig).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (a *testAS) get(path string, hdr map[string]string) (*http.Response, []byte) {
	a.t.Helper()
	req, _ := http.NewRequest("GET", a.issuer+path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// post sends a raw body; hdr adds headers (Content-Type defaults to a form).
func (a *testAS) post(path, body string, hdr map[string]string) (*http.Response, map[string]any) {
	a.t.Helper()
	req, _ := http.NewRequest("POST", a.issuer+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			a.t.Fatalf("POST %s: non-JSON body %q (%d)", path, b, resp.StatusCode)
		}
	}
	return resp, m
}

func basicHdr(id, secret string) map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))}
}

func (a *testAS) jwks() *jose.JSONWebKeySet {
	a.t.Helper()
	resp, b := a.get("/.well-known/jwks.json", nil)
	if resp.StatusCode != 200 {
		a.t.Fatalf("jwks: %d", resp.StatusCode)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		a.t.Fatal(err)
	}
	return &set
}

// verifyJWTWithJose verifies an access token with go-jose against the
// served JWKS, independently of package token.
func verifyJWTWithJose(t *testing.T, set *jose.JSONWebKeySet, raw string) map[string]any {
	t.Helper()
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA})
	if err != nil {
		t.Fatalf("parse JWT: %v", err)
	}
	h := tok.Headers[0]
	if h.ExtraHeaders["typ"] != "at+jwt" {
		t.Errorf("typ = %v, want at+jwt", h.ExtraHeaders["typ"])
	}
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q: %d keys in the JWKS", h.KeyID, len(keys))
	}
	var claims map[string]any
	if err := tok.Claims(keys[0].Key, &claims); err != nil {
		t.Fatalf("JWT signature with the served JWKS: %v", err)
	}
	return claims
}

func TestEndToEndClientSecretBasic(t *testing.T) {
	a := newTestAS(t)
	u := a.registerUE("ue-src", []string{"u2u:use:000001", "u2u:use:000002"}, false)
	cc := clientcredentials.Config{
		ClientID: u.id, ClientSecret: u.secret, TokenURL: a.issuer + "/oauth2/token",
		Scopes: []string{"u2u:use:000001"}, AuthStyle: oauth2.AuthStyleInHeader,
	}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatalf("clientcredentials: %v", err)
	}
	if tok.TokenType != "Bearer" || tok.Extra("scope") != "u2u:use:000001" || tok.Extra("token_format") != "jwt" ||
		time.Until(tok.Expiry) < 50*time.Minute {
		t.Fatalf("token %+v", tok)
	}
	claims := verifyJWTWithJose(t, a.jwks(), tok.AccessToken)
	if claims["iss"] != a.issuer || claims["sub"] != "ue-src" || claims["client_id"] != "ue-src" || claims["scope"] != "u2u:use:000001" {
		t.Fatalf("claims %v", claims)
	}
	cnf, _ := claims["cnf"].(map[string]any)
	if cnf == nil || cnf["jwk"] == nil {
		t.Fatalf("cnf %v", claims["cnf"])
	}
	// client_secret_post works too.
	cc.AuthStyle = oauth2.AuthStyleInParams
	if _, err := cc.Token(ctx); err != nil {
		t.Fatalf("client_secret_post: %v", err)
	}
	// Introspection by the client itself.
	_, m := a.post("/oauth2/introspect", "token="+tok.AccessToken, basicHdr(u.id, u.secret))
	if m["active"] != true || m["sub"] != "ue-src" || m["cnf"] == nil {
		t.Fatalf("introspection %v", m)
	}
	// Secrets, tokens and Authorization headers are never logged.
	logs := a.logs.String()
	for _, s := range []string{u.secret, tok.AccessToken, "Basic "} {
		if strings.Contains(logs, s) {
			t.Fatalf("log contains %q", s)
		}
	}
	if !strings.Contains(logs, "client_id=ue-src") || !strings.Contains(logs, "status=200") {
		t.Fatalf("access log lacks fields: %s", logs)
	}
}

func TestEndToEndPrivateKeyJWTAndCWT(t *testing.T) {
	a := newTestAS(t)
	u := a.registerUE("relay-1", []string{"u2u:serve:00abcd"}, false)
	cc := clientcredentials.Config{
		ClientID: u.id, TokenURL: a.issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams,
		EndpointParams: url.Values{
			"client_assertion_type": {as.ClientAssertionTypeJWTBearer},
			"client_assertion":      {u.assertion(t, a.issuer+"/oauth2/token", a.clk.Now(), nil)},
			"token_format":          {"cwt"},
		},
	}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatalf("private_key_jwt: %v", err)
	}
	if tok.Extra("token_format") != "cwt" || tok.Extra("scope") != "u2u:serve:00abcd" {
		t.Fatalf("token %+v", tok)
	}
	// Replaying the same assertion fails.
	if _, err := cc.Token(ctx); err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("replayed assertion: %v", err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok.AccessToken)
	if err != nil {
		t.Fatalf("CWT access_token is not base64url: %v", err)
	}
	claims := verifyCOSEWithStdlib(t, a.jwks(), raw)
	if claims[uint64(1)] != a.issuer || claims[uint64(2)] != "relay-1" {
		t.Fatalf("CWT claims %v", claims)
	}
	// An Ed25519 UE too.
	ed := a.registerUE("ue-ed", []string{"u2u:use:000001"}, true)
	resp, m := a.post("/oauth2/token", url.Values{
		"grant_type": {"client_credentials"}, "client_assertion_type": {as.ClientAssertionTypeJWTBearer},
		"client_assertion": {ed.assertion(t, a.issuer, a.clk.Now(), nil)},
	}.Encode(), nil)
	if resp.StatusCode != 200 || m["access_token"] == nil {
		t.Fatalf("EdDSA assertion: %d %v", resp.StatusCode, m)
	}
}

// verifyCOSEWithStdlib decodes a COSE_Sign1 CWT with a generic CBOR decoder
// and checks its ES256 signature over the Sig_structure (RFC 9052 §4.4)
// with crypto/ecdsa. It returns the claims map.
func verifyCOSEWithStdlib(t *testing.T, set *jose.JSONWebKeySet, raw []byte) map[any]any {
	t.Helper()
	var v any
	if err := cbor.Unmarshal(raw, &v); err != nil {
		t.Fatalf("CBOR: %v", err)
	}
	tag, ok := v.(cbor.Tag)
	if ok && tag.Number == 61 {
		tag, ok = tag.Content.(cbor.Tag)
	}
	if !ok || tag.Number != 18 {
		t.Fatalf("not a tagged COSE_Sign1: %#v", v)
	}
	arr, ok := tag.Content.([]any)
	if !ok || len(arr) != 4 {
		t.Fatalf("COSE_Sign1 is not a 4-array: %#v", tag.Content)
	}
	protected, _ := arr[0].([]byte)
	unprotected, _ := arr[1].(map[any]any)
	payload, _ := arr[2].([]byte)
	sig, _ := arr[3].([]byte)
	var ph map[any]any
	if err := cbor.Unmarshal(protected, &ph); err != nil {
		t.Fatalf("protected header: %v", err)
	}
	if ph[uint64(1)] != int64(-7) {
		t.Fatalf("alg %v, want -7 (ES256)", ph[uint64(1)])
	}
	kidV := ph[uint64(4)]
	if kidV == nil {
		kidV = unprotected[uint64(4)]
	}
	kid, _ := kidV.([]byte)
	keys := set.Key(string(kid))
	if len(keys) != 1 {
		t.Fatalf("kid %q not in the JWKS", kid)
	}
	pub := keys[0].Key.(*ecdsa.PublicKey)
	tbs, err := cbor.Marshal([]any{"Signature1", protected, []byte{}, payload})
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(tbs)
	if len(sig) != 64 || !ecdsa.Verify(pub, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Fatal("COSE signature does not verify with crypto/ecdsa")
	}
	var claims map[any]any
	if err := cbor.Unmarshal(payload, &claims); err != nil {
		t.Fatalf("claims: %v", err)
	}
	return claims
}

func checkOAuthError(t *testing.T, name string, resp *http.Response, m map[string]any, status int, code string) {
	t.Helper()
	if resp.StatusCode != status || m["error"] != code {
		t.Errorf("%s: %d %v, want %d %s", name, resp.StatusCode, m, status, code)
		return
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", name, ct)
	}
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Pragma") != "no-cache" {
		t.Errorf("%s: missing no-store headers", name)
	}
	if status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("%s: 401 without WWW-Authenticate", name)
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	a := newTestAS(t)
	u := a.registerUE("ue-1", []string{"u2u:use:000001"}, false)
	now := a.clk.Now()
	tokenURL := a.issuer + "/oauth2/token"
	form := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	jwtForm := func(assertion string) string {
		return form("grant_type", "client_credentials", "client_assertion_type", as.ClientAssertionTypeJWTBearer, "client_assertion", assertion)
	}
	replayed := u.assertion(t, tokenURL, now, nil)
	if resp, m := a.post("/oauth2/token", jwtForm(replayed), nil); resp.StatusCode != 200 {
		t.Fatalf("first use: %v", m)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cc := form("grant_type", "client_credentials")
	ok := basicHdr(u.id, u.secret)

	// unknown client and wrong secret: same status and body.
	r1, m1 := a.post("/oauth2/token", cc, basicHdr("nobody", u.secret))
	r2, m2 := a.post("/oauth2/token", cc, basicHdr(u.id, u.secret+"x"))
	checkOAuthError(t, "unknown client", r1, m1, 401, "invalid_client")
	checkOAuthError(t, "wrong secret", r2, m2, 401, "invalid_client")
	if fmt.Sprint(m1) != fmt.Sprint(m2) {
		t.Errorf("unknown client %v and wrong secret %v differ", m1, m2)
	}
	if !strings.HasPrefix(r1.Header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("WWW-Authenticate %q", r1.Header.Get("WWW-Authenticate"))
	}

	for _, tc := range []struct {
		name   string
		body   string
		hdr    map[string]string
		status int
		code   string
	}{
		{"bad assertion signature", jwtForm(signAssertion(t, other, jose.ES256, u.id, tokenURL, now, nil)), nil, 401, "invalid_client"},
		{"expired assertion", jwtForm(u.assertion(t, tokenURL, now, func(c *jwt.Claims) {
			c.IssuedAt = jwt.NewNumericDate(now.Add(-10 * time.Minute))
			c.Expiry = jwt.NewNumericDate(now.Add(-5 * time.Minute))
		})), nil, 401, "invalid_client"},
		{"wrong audience", jwtForm(u.assertion(t, "https://elsewhere.example/token", now, nil)), nil, 401, "invalid_client"},
		{"replayed jti", jwtForm(replayed), nil, 401, "invalid_client"},
		{"no client auth", cc, nil, 401, "invalid_client"},
		{"unsupported grant type", form("grant_type", "password", "username", "x", "password", "y"), ok, 400, "unsupported_grant_type"},
		{"missing grant type", form("scope", "u2u:use:000001"), ok, 400, "invalid_request"},
		{"scope not granted", form("grant_type", "client_credentials", "scope", "u2u:serve:000001"), ok, 400, "invalid_scope"},
		{"bad token_format", form("grant_type", "client_credentials", "token_format", "saml"), ok, 400, "invalid_request"},
		{"malformed body", "grant_type=client_credentials&%zz", ok, 400, "invalid_request"},
		{"semicolon", "grant_type=client_credentials;scope=x", ok, 400, "invalid_request"},
		{"wrong content type", cc, map[string]string{"Authorization": ok["Authorization"], "Content-Type": "application/json"}, 400, "invalid_request"},
		{"no content type", cc, map[string]string{"Authorization": ok["Authorization"], "Content-Type": ""}, 400, "invalid_request"},
		{"oversize body", cc + "&pad=" + strings.Repeat("a", 70<<10), ok, 413, "invalid_request"},
		{"duplicated parameter", cc + "&grant_type=client_credentials", ok, 400, "invalid_request"},
		{"duplicated unknown parameter", cc + "&x=1&x=2", ok, 400, "invalid_request"},
		{"invalid UTF-8", cc + "&scope=%ff%fe", ok, 400, "invalid_request"},
		{"basic and secret in body", cc + "&client_secret=" + url.QueryEscape(u.secret), ok, 400, "invalid_request"},
		{"basic and assertion", jwtForm(u.assertion(t, tokenURL, now, nil)), ok, 400, "invalid_request"},
		{"secret and assertion in body", jwtForm(u.assertion(t, tokenURL, now, nil)) + "&client_id=ue-1&client_secret=" + url.QueryEscape(u.secret), nil, 400, "invalid_request"},
		{"basic client_id mismatch", cc + "&client_id=other", ok, 400, "invalid_request"},
		{"bearer on token endpoint", cc, map[string]string{"Authorization": "Bearer x"}, 401, "invalid_client"},
		{"basic not base64", cc, map[string]string{"Authorization": "Basic !!!"}, 401, "invalid_client"},
		{"basic bad escape", cc, map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("ue-1:%zz"))}, 401, "invalid_client"},
	} {
		resp, m := a.post("/oauth2/token", tc.body, tc.hdr)
		checkOAuthError(t, tc.name, resp, m, tc.status, tc.code)
	}
	// Wrong method: RFC 6749 JSON error, 405.
	req, _ := http.NewRequest("GET", tokenURL, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET token endpoint: %d %v", resp.StatusCode, resp.Header)
	}
	// The token response carries no-store headers too.
	resp, m := a.post("/oauth2/token", cc, ok)
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Pragma") != "no-cache" {
		t.Fatalf("token response headers: %d %v %v", resp.StatusCode, resp.Header, m)
	}
	// Errors are counted by code.
	_, metricsBody := a.get("/metrics", nil)
	for _, s := range []string{`prose_as_oauth_errors_total{endpoint="/oauth2/token",error="invalid_client"}`, `prose_as_tokens_issued_total{format="jwt"}`,
		`prose_as_token_request_duration_seconds_bucket`, `prose_as_http_requests_total{code="413",endpoint="/oauth2/token"}`} {
		if !strings.Contains(string(metricsBody), s) {
			t.Errorf("metrics lack %s", s)
		}
	}
}

func TestNoInputProduces5xx(t *testing.T) {
	a := newTestAS(t)
	u := a.registerUE("ue-1", []string{"u2u:use:000001"}, false)
	bodies := []string{"", "=", "&&&", "a", "%", "%00=%00", "grant_type=client_credentials&client_assertion=" + strings.Repeat("x.", 4000),
		"grant_type=client_credentials&client_assertion_type=" + url.QueryEscape(as.ClientAssertionTypeJWTBearer) + "&client_assertion=e30.e30.e30",
		"token=" + strings.Repeat("A", 10000), "token=a.b.c", "token=%ff", "grant_type=client_credentials&token_format=cwt&scope=u2u:use:0000011",
		"client_id=" + strings.Repeat("x", 5000) + "&client_secret=x&grant_type=client_credentials", string([]byte{0xff, 0xfe, 0x00})}
	hdrs := []map[string]string{nil, basicHdr(u.id, u.secret), basicHdr("", ""), {"Authorization": "Basic"}, {"Authorization": "Bearer " + adminToken},
		{"Content-Type": "application/x-www-form-urlencoded; charset=latin1"}, {"Content-Type": "multipart/form-data; boundary=x"}}
	for _, path := range []string{"/oauth2/token", "/oauth2/revoke", "/oauth2/introspect"} {
		for _, b := range bodies {
			for _, h := range hdrs {
				resp, m := a.post(path, b, h)
				if resp.StatusCode >= 500 {
					t.Errorf("POST %s %q %v: %d %v", path, b[:min(len(b), 40)], h, resp.StatusCode, m)
				}
				if resp.StatusCode >= 400 && m["error"] == nil {
					t.Errorf("POST %s: %d without an error body", path, resp.StatusCode)
				}
			}
		}
	}
	for _, p := range []string{"/statuslists/-1", "/statuslists/99999999999999999999999", "/statuslists/007", "/statuslists/x", "/statuslists/",
		"/statuslists/1", "/nope", "/.well-known/jwks.json/x", "/admin/v1/ues", "/admin/v1/nope"} {
		for _, h := range []map[string]string{nil, {"Accept": "text/html"}, {"Accept": "application/statuslist+cwt;q=abc"}} {
			resp, _ := a.get(p, h)
			if resp.StatusCode >= 500 {
				t.Errorf("GET %s: %d", p, resp.StatusCode)
			}
		}
	}
	// Admin API with bad bodies.
	for _, b := range []string{"", "{", "[]", `{"id":1}`, `{"id":"x","public_key":5}`, `{"id":"x","public_key":"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"}`,
		`{"id":"x","public_key":{"kty":"oct","k":"AAAA"}}`, `{"id":"x","unknown":1}`, `{"id":"x"} trailing`, `{"id":"x","token_lifetime":"forever"}`, `{"id":"x","token_lifetime":-5}`} {
		for _, path := range []string{"/admin/v1/ues", "/admin/v1/keys/rotate"} {
			if code := a.adminDo("POST", path, []byte(b), nil); code >= 500 {
				t.Errorf("admin POST %s %q: %d", path, b, code)
			}
		}
		if code := a.adminDo("PUT", "/admin/v1/ues/ue-1", []byte(b), nil); code >= 500 {
			t.Errorf("admin PUT %q: %d", b, code)
		}
	}
}

func TestRevocationFlipsStatusListBit(t *testing.T) {
	a := newTestAS(t)
	u := a.registerUE("ue-1", []string{"u2u:use:000001"}, false)
	hdr := basicHdr(u.id, u.secret)
	var toks []string
	for _, f := range []string{"jwt", "cwt"} {
		resp, m := a.post("/oauth2/token", "grant_type=client_credentials&token_format="+f, hdr)
		if resp.StatusCode != 200 {
			t.Fatalf("token: %v", m)
		}
		toks = append(toks, m["access_token"].(string))
	}
	jwksResp, jwksBody := a.get("/.well-known/jwks.json", nil)
	if jwksResp.Header.Get("Content-Type") != "application/jwk-set+json" {
		t.Errorf("JWKS content type %q", jwksResp.Header.Get("Content-Type"))
	}
	trust := token.NewTrustStore()
	if err := trust.AddJWKS(a.issuer, jwksBody); err != nil {
		t.Fatal(err)
	}
	v := &token.Verifier{Trust: trust, Algorithms: []token.Algorithm{token.ES256}, Audience: as.DefaultAudience, SkipStatus: true}
	c, err := v.Verify([]byte(toks[0]), token.JWT, a.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	fetch := func(accept string, f token.Format) *token.StatusListToken {
		t.Helper()
		resp, body := a.get(strings.TrimPrefix(c.Status.URI, a.issuer), map[string]string{"Accept": accept})
		if resp.StatusCode != 200 {
			t.Fatalf("status list: %d %s", resp.StatusCode, body)
		}
		want := map[token.Format]string{token.JWT: httpapi.MediaStatusListJWT, token.CWT: httpapi.MediaStatusListCWT}[f]
		if resp.Header.Get("Content-Type") != want || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age=") {
			t.Fatalf("status list headers %v", resp.Header)
		}
		sl, err := token.VerifyStatusList(body, f, trust, []token.Algorithm{token.ES256}, a.clk.Now(), 0)
		if err != nil {
			t.Fatalf("VerifyStatusList: %v", err)
		}
		return sl
	}
	if bit, _ := fetch("", token.JWT).List.Get(c.Status.Index); bit != 0 {
		t.Fatalf("bit before revocation = %d", bit)
	}
	// Revocation by the client (RFC 7009).
	resp, m := a.post("/oauth2/revoke", "token="+url.QueryEscape(toks[0])+"&token_type_hint=access_token", hdr)
	if resp.StatusCode != 200 || m != nil {
		t.Fatalf("revoke: %d %v", resp.StatusCode, m)
	}
	for _, acc := range []struct {
		accept string
		f      token.Format
	}{{"", token.JWT}, {httpapi.MediaStatusListJWT, token.JWT}, {httpapi.MediaStatusListCWT, token.CWT},
		{"application/statuslist+jwt;q=0.5, application/statuslist+cwt", token.CWT}, {"*/*", token.JWT}} {
		if bit, _ := fetch(acc.accept, acc.f).List.Get(c.Status.Index); bit != 1 {
			t.Fatalf("Accept %q: bit after revocation = %d", acc.accept, bit)
		}
	}
	if resp, _ := a.get("/statuslists/0", map[string]string{"Accept": "text/html"}); resp.StatusCode != 406 {
		t.Fatalf("Accept text/html: %d", resp.StatusCode)
	}
	// Introspection now says inactive; revoking an unknown token is a no-op 200.
	_, m = a.post("/oauth2/introspect", "token="+url.QueryEscape(toks[0]), map[string]string{"Authorization": "Bearer " + adminToken})
	if m["active"] != false || len(m) != 1 {
		t.Fatalf("introspect revoked: %v", m)
	}
	_, m = a.post("/oauth2/introspect", "token="+url.QueryEscape(toks[1]), map[string]string{"Authorization": "Bearer " + adminToken})
	if m["active"] != true || m["token_format"] != "cwt" {
		t.Fatalf("introspect CWT: %v", m)
	}
	if resp, _ := a.post("/oauth2/revoke", "token=unknown", hdr); resp.StatusCode != 200 {
		t.Fatalf("revoke unknown: %d", resp.StatusCode)
	}
	resp, m = a.post("/oauth2/introspect", "token=x", map[string]string{"Authorization": "Bearer wrong"})
	checkOAuthError(t, "introspect wrong bearer", resp, m, 401, "invalid_client")
	resp, m = a.post("/oauth2/revoke", "token=x", nil)
	checkOAuthError(t, "revoke unauthenticated", resp, m, 401, "invalid_client")
}

func TestKeyRotationOverHTTP(t *testing.T) {
	a := newTestAS(t)
	u := a.registerUE("ue-1", []string{"u2u:use:000001"}, false)
	hdr := basicHdr(u.id, u.secret)
	_, m := a.post("/oauth2/token", "grant_type=client_credentials", hdr)
	old := m["access_token"].(string)
	var keys httpapi.KeysResponse
	if code := a.adminDo("GET", "/admin/v1/keys", nil, &keys); code != 200 || len(keys.Keys) != 2 {
		t.Fatalf("keys: %d %+v", code, keys)
	}
	nextKID := keys.Keys[1].KID
	if len(a.jwks().Key(nextKID)) != 1 {
		t.Fatal("next key not published before it signs")
	}
	var e httpapi.ErrorResponse
	if code := a.adminDo("POST", "/admin/v1/keys/rotate", []byte(`{"force":false}`), &e); code != 409 || e.Error != "conflict" {
		t.Fatalf("early rotation: %d %+v", code, e)
	}
	if code := a.adminDo("POST", "/admin/v1/keys/rotate", []byte(`{"force":true}`), &keys); code != 200 || len(keys.Keys) != 3 {
		t.Fatalf("forced rotation: %d %+v", code, keys)
	}
	set := a.jwks()
	if len(set.Keys) != 3 {
		t.Fatalf("JWKS after rotation has %d keys", len(set.Keys))
	}
	verifyJWTWithJose(t, set, old) // the retired key still verifies earlier tokens
	_, m = a.post("/oauth2/token", "grant_type=client_credentials", hdr)
	tok, _ := jwt.ParseSigned(m["access_token"].(string), []jose.SignatureAlgorithm{jose.ES256})
	if tok.Headers[0].KeyID != nextKID {
		t.Fatalf("new token kid %s, want the pre-published %s", tok.Headers[0].KeyID, nextKID)
	}
}

func TestAdminAPI(t *testing.T) {
	a := newTestAS(t)
	// Authentication.
	for _, auth := range []string{"", "Bearer", "Bearer wrong", "Basic " + adminToken, "Bearer " + adminToken + "x"} {
		req, _ := http.NewRequest("GET", a.issuer+"/admin/v1/ues", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e httpapi.ErrorResponse
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != 401 || e.Error != "unauthorized" || resp.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("auth %q: %d %+v", auth, resp.StatusCode, e)
		}
	}
	// Register with a PEM key, no secret, a lifetime override.
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(priv.Public())
	pemKey, _ := json.Marshal(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	body, _ := json.Marshal(httpapi.RegisterUERequest{ID: "relay-7", PublicKey: pemKey, Grants: []string{"u2u:serve:000007"}, TokenLifetime: json.RawMessage(`"2h"`)})
	var ur httpapi.UEResponse
	if code := a.adminDo("POST", "/admin/v1/ues", body, &ur); code != 201 || ur.ClientSecret != "" || ur.UE.TokenLifetime != "2h0m0s" || ur.UE.HasSecret {
		t.Fatalf("register: %d %+v", code, ur)
	}
	var e httpapi.ErrorResponse
	if code := a.adminDo("POST", "/admin/v1/ues", body, &e); code != 409 {
		t.Fatalf("duplicate: %d %+v", code, e)
	}
	// The same key under another ID: 409, naming the UE that has it.
	sameKey, _ := json.Marshal(httpapi.RegisterUERequest{ID: "relay-8", PublicKey: pemKey})
	if code := a.adminDo("POST", "/admin/v1/ues", sameKey, &e); code != 409 || e.Error != "conflict" || !strings.Contains(e.ErrorDescription, `already registered to UE "relay-7"`) {
		t.Fatalf("another UE with relay-7's key: %d %+v", code, e)
	}
	bad, _ := json.Marshal(httpapi.RegisterUERequest{ID: "bad id", PublicKey: pemKey})
	if code := a.adminDo("POST", "/admin/v1/ues", bad, &e); code != 400 || !strings.Contains(e.ErrorDescription, "[A-Za-z0-9._:-]") {
		t.Fatalf("bad id: %d %+v", code, e)
	}
	// Update: add a secret (rotate) and change grants.
	upd := []byte(`{"secret":"rotate","grants":["u2u:serve:000007","u2u:use:000001"],"token_lifetime":3600}`)
	if code := a.adminDo("PUT", "/admin/v1/ues/relay-7", upd, &ur); code != 200 || ur.ClientSecret == "" || len(ur.UE.Grants) != 2 || ur.UE.TokenLifetime != "1h0m0s" {
		t.Fatalf("update: %d %+v", code, ur)
	}
	secret := ur.ClientSecret
	ur = httpapi.UEResponse{}
	if code := a.adminDo("GET", "/admin/v1/ues/relay-7", nil, &ur); code != 200 || ur.ClientSecret != "" || !ur.UE.HasSecret {
		t.Fatalf("get: %d %+v", code, ur)
	}
	if code := a.adminDo("GET", "/admin/v1/ues/nobody", nil, &e); code != 404 {
		t.Fatalf("get unknown: %d", code)
	}
	// Issue two tokens, list them, revoke one, then the UE.
	var jtis []string
	for i := 0; i < 2; i++ {
		resp, m := a.post("/oauth2/token", "grant_type=client_credentials", basicHdr("relay-7", secret))
		if resp.StatusCode != 200 || m["expires_in"].(float64) != 3600 {
			t.Fatalf("token: %v", m)
		}
	}
	var tl httpapi.TokenListResponse
	if code := a.adminDo("GET", "/admin/v1/tokens?sub=relay-7&active=true", nil, &tl); code != 200 || len(tl.Tokens) != 2 {
		t.Fatalf("list tokens: %d %+v", code, tl)
	}
	for _, tk := range tl.Tokens {
		jtis = append(jtis, tk.JTI)
	}
	if code := a.adminDo("GET", "/admin/v1/tokens?limit=1", nil, &tl); code != 200 || len(tl.Tokens) != 1 || tl.Next == nil {
		t.Fatalf("paged list: %d %+v", code, tl)
	}
	var rr httpapi.RevokeResponse
	if code := a.adminDo("POST", "/admin/v1/tokens/"+jtis[0]+"/revoke", nil, &rr); code != 200 || rr.Revoked != 1 {
		t.Fatalf("revoke token: %d %+v", code, rr)
	}
	if code := a.adminDo("POST", "/admin/v1/tokens/nope/revoke", nil, &e); code != 404 {
		t.Fatalf("revoke unknown token: %d", code)
	}
	if code := a.adminDo("POST", "/admin/v1/ues/relay-7/revoke", nil, &rr); code != 200 || rr.Revoked != 1 {
		t.Fatalf("revoke UE: %d %+v", code, rr)
	}
	var ul httpapi.UEListResponse
	if code := a.adminDo("GET", "/admin/v1/ues", nil, &ul); code != 200 || len(ul.UEs) != 1 {
		t.Fatalf("list UEs: %d %+v", code, ul)
	}
	if code := a.adminDo("DELETE", "/admin/v1/ues/relay-7", nil, &rr); code != 200 {
		t.Fatalf("delete: %d", code)
	}
	if code := a.adminDo("DELETE", "/admin/v1/ues/relay-7", nil, &e); code != 404 {
		t.Fatalf("delete twice: %d", code)
	}
	// The deleted UE can no longer get tokens.
	resp, m := a.post("/oauth2/token", "grant_type=client_credentials", basicHdr("relay-7", secret))
	checkOAuthError(t, "deleted UE", resp, m, 401, "invalid_client")
	if strings.Contains(a.logs.String(), secret) || strings.Contains(a.logs.String(), adminToken) {
		t.Fatal("secret or admin token logged")
	}
}

func TestMetadataHealthMetrics(t *testing.T) {
	a := newTestAS(t)
	resp, body := a.get("/.well-known/oauth-authorization-server", nil)
	var md map[string]any
	if resp.StatusCode != 200 || json.Unmarshal(body, &md) != nil {
		t.Fatalf("metadata: %d %s", resp.StatusCode, body)
	}
	if md["issuer"] != a.issuer || md["token_endpoint"] != a.issuer+"/oauth2/token" || md["jwks_uri"] != a.issuer+"/.well-known/jwks.json" ||
		md["revocation_endpoint"] != a.issuer+"/oauth2/revoke" || md["introspection_endpoint"] != a.issuer+"/oauth2/introspect" ||
		md["status_list_endpoint"] != a.issuer+"/statuslists/" {
		t.Fatalf("metadata %v", md)
	}
	if fmt.Sprint(md["token_endpoint_auth_methods_supported"]) != "[client_secret_basic client_secret_post private_key_jwt]" ||
		fmt.Sprint(md["token_endpoint_auth_signing_alg_values_supported"]) != "[ES256 EdDSA]" ||
		fmt.Sprint(md["grant_types_supported"]) != "[client_credentials]" {
		t.Fatalf("metadata %v", md)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if resp, _ := a.get(p, nil); resp.StatusCode != 200 {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
	}
	if resp, body := a.get("/metrics", nil); resp.StatusCode != 200 || !strings.Contains(string(body), "prose_as_http_requests_total") {
		t.Fatalf("metrics: %d", resp.StatusCode)
	}
	// Options checks.
	if _, err := httpapi.NewAdmin(httpapi.Options{Server: a.srv}); err == nil {
		t.Fatal("NewAdmin without an admin token succeeded")
	}
	if _, err := httpapi.NewPublic(httpapi.Options{Server: a.srv, AdminToken: []byte("short")}); err == nil {
		t.Fatal("short admin token accepted")
	}
	if _, err := httpapi.NewPublic(httpapi.Options{}); err == nil {
		t.Fatal("no server accepted")
	}
}

// FuzzOAuthEndpoints feeds arbitrary bodies, content types and
// Authorization headers to the OAuth endpoints: no input may produce a 5xx
// or a non-JSON error.
func FuzzOAuthEndpoints(f *testing.F) {
	f.Add(uint8(0), "grant_type=client_credentials", "application/x-www-form-urlencoded", "Basic dWUtMTpzZWNyZXQ=")
	f.Add(uint8(0), "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=e30.e30.e30", "application/x-www-form-urlencoded", "")
	f.Add(uint8(1), "token=a.b.c&token=x", "application/x-www-form-urlencoded; charset=utf-8", "Bearer x")
	f.Add(uint8(2), "token=%ff", "text/plain", "Basic !")
	f.Add(uint8(0), "grant_type=client_credentials&scope=u2u:use:000001&token_format=cwt", "application/x-www-form-urlencoded", "Basic dWUtMTo=")
	a := newFuzzAS(f)
	paths := []string{"/oauth2/token", "/oauth2/revoke", "/oauth2/introspect"}
	f.Fuzz(func(t *testing.T, which uint8, body, ctype, auth string) {
		req := httptest.NewRequest("POST", paths[int(which)%len(paths)], strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		a.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("status %d for %q", w.Code, body)
		}
		if w.Code >= 400 {
			var m map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil || m["error"] == nil {
				t.Fatalf("status %d without an RFC 6749 body: %q", w.Code, w.Body.String())
			}
		}
	})
}

func newFuzzAS(f *testing.F) http.Handler {
	st, err := sqlite.Open(ctx, filepath.Join(f.TempDir(), "as.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	clk := &clock{t: time.Now()}
	srv, err := as.New(ctx, as.Config{Issuer: "https://as.example", KEK: [32]byte{1}, Store: st, Clock: clk.Now, Rand: rand.Reader})
	if err != nil {
		f.Fatal(err)
	}
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwk, _ := jose.JSONWebKey{Key: priv.Public()}.MarshalJSON()
	if _, _, err := srv.RegisterUE(ctx, as.UESpec{ID: "ue-1", PublicKey: jwk, WithSecret: true, Grants: []token.Scope{{Role: token.RoleUse, RSC: 1}}}); err != nil {
		f.Fatal(err)
	}
	h, err := httpapi.NewPublic(httpapi.Options{Server: srv, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), AdminToken: []byte(adminToken)})
	if err != nil {
		f.Fatal(err)
	}
	return h
}
