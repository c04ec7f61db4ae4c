package ue

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prosesec/prosesec/as"
	"github.com/prosesec/prosesec/token"
)

func TestProvisionAndOfflineStart(t *testing.T) {
	// Tokens live 2h, status lists 1h (the AS default).
	a := startAS(t, func(c *as.Config) { c.DefaultTokenLifetime = 2 * time.Hour })
	ctx := context.Background()

	// UE 1 with private_key_jwt (the default), UE 2 a peer.
	key1, _ := a.register("ue-1", token.ES256)
	cache := newCache(t)
	if err := cache.SaveIdentityKey(key1); err != nil {
		t.Fatal(err)
	}
	c1 := a.client("ue-1", key1, nil)
	cr, next, err := c1.Refresh(ctx, cache)
	if err != nil {
		t.Fatal(err)
	}
	peer, _ := a.provision("ue-2", nil)

	if cr.Issuer != a.issuer || cr.Audience != as.DefaultAudience || cr.ClientID != "ue-1" || cr.Token.Format != "cwt" {
		t.Fatalf("credentials %+v", cr)
	}
	if cr.TokenEndpoint != a.issuer+as.PathToken || cr.StatusListEndpoint != a.issuer+as.PathStatusList {
		t.Fatalf("endpoints %q %q", cr.TokenEndpoint, cr.StatusListEndpoint)
	}
	if !cr.Token.IssuedAt.Equal(testStart) || !cr.Token.Expiry.Equal(testStart.Add(2*time.Hour)) || cr.Token.Scope != "u2u:use:00002a" {
		t.Fatalf("token %+v", cr.Token)
	}
	// Only list 0 exists: the walk stops at list 1 (404).
	if len(cr.StatusLists) != 1 || cr.StatusLists[0].URI != a.issuer+"/statuslists/0" || cr.StatusLists[0].Format != "cwt" {
		t.Fatalf("status lists %+v", cr.StatusLists)
	}
	if want := testStart.Add(40 * time.Minute); !next.Equal(want) {
		t.Fatalf("next refresh %v, want %v (2/3 of the status list lifetime)", next, want)
	}

	// Files and modes.
	checkMode(t, cache.Dir(), 0o700)
	checkMode(t, filepath.Join(cache.Dir(), IdentityKeyFile), 0o600)
	checkMode(t, filepath.Join(cache.Dir(), CredentialsFile), 0o600)
	if ents, _ := os.ReadDir(cache.Dir()); len(ents) != 2 {
		t.Fatalf("cache holds %d entries (temporary files left?)", len(ents))
	}

	// The AS goes away; the UE restarts from its cache.
	a.srv.Close()
	if _, err := a.client("ue-1", key1, nil).Provision(ctx); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("provision with the AS down: %v", err)
	}
	cache2, err := OpenCache(cache.Dir())
	if err != nil {
		t.Fatal(err)
	}
	now := testStart.Add(10 * time.Minute)
	b, err := cache2.Open(Policy{}, now)
	if err != nil {
		t.Fatal(err)
	}
	if b.ClientID != "ue-1" || b.TokenFormat != token.CWT || string(b.Token) != string(cr.Token.Raw) || b.Claims.Subject != "ue-1" {
		t.Fatalf("bundle %+v", b)
	}
	if !publicEqual(b.IdentityKey.Public(), key1.Public()) || !publicEqual(b.Claims.Confirmation, key1.Public()) {
		t.Fatal("bundle key")
	}
	if len(b.StatusLists) != 1 || b.Verifier.Audience != as.DefaultAudience || b.Verifier.Leeway != DefaultLeeway {
		t.Fatalf("bundle %+v", b)
	}
	// The bundle verifies the peer's token offline, status included.
	claims, err := b.Verifier.Verify(peer.Token.Raw, token.CWT, now)
	if err != nil {
		t.Fatalf("verifying the peer's token offline: %v", err)
	}
	if claims.Subject != "ue-2" {
		t.Fatalf("peer claims %+v", claims)
	}
	// Its own token too (what a peer does).
	if _, err := b.Verifier.Verify(b.Token, b.TokenFormat, now); err != nil {
		t.Fatal(err)
	}
	// The cached status list goes stale for peers after MaxStatusAge.
	if _, err := b.Verifier.Verify(peer.Token.Raw, token.CWT, testStart.Add(59*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Verifier.Verify(peer.Token.Raw, token.CWT, testStart.Add(61*time.Minute)); !errors.Is(err, token.ErrStatusListStale) {
		t.Fatalf("peer token after the list expired: %v", err)
	}
	// And so does the offline start.
	if _, err := cache2.Open(Policy{}, testStart.Add(61*time.Minute)); !errors.Is(err, ErrStatusListStale) {
		t.Fatalf("offline start after the list expired: %v", err)
	}
}

func checkMode(t *testing.T, p string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Fatalf("%s has mode %04o, want %04o", p, got, want)
	}
}

func TestProvisionClientSecretBasicAndEdDSA(t *testing.T) {
	a := startAS(t, nil)
	k, secret := a.register("relay-1", token.EdDSA, token.Scope{Role: token.RoleServe, RSC: rscA}, token.Scope{Role: token.RoleUse, RSC: 7})
	// private_key_jwt with an Ed25519 key.
	cr, err := a.client("relay-1", k, func(c *ClientConfig) { c.Scope = "u2u:serve:00002a" }).Provision(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cr.Token.Scope != "u2u:serve:00002a" {
		t.Fatalf("scope %q", cr.Token.Scope)
	}
	// client_secret_basic.
	cr, err = a.client("relay-1", k, func(c *ClientConfig) {
		c.Auth, c.ClientSecret = AuthClientSecretBasic, secret
	}).Provision(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, err := cr.Open(k, Policy{}, testStart)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Claims.Scopes) != 2 {
		t.Fatalf("scopes %v", b.Claims.Scopes)
	}
	// A wrong secret is the AS's invalid_client.
	_, err = a.client("relay-1", k, func(c *ClientConfig) { c.Auth, c.ClientSecret = AuthClientSecretBasic, "wrong" }).Provision(context.Background())
	if !errors.Is(err, ErrServer) || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("wrong secret: %v", err)
	}
	// An unknown scope is invalid_scope.
	_, err = a.client("relay-1", k, func(c *ClientConfig) { c.Scope = "u2u:serve:000099" }).Provision(context.Background())
	if !errors.Is(err, ErrServer) || !strings.Contains(err.Error(), "invalid_scope") {
		t.Fatalf("wrong scope: %v", err)
	}
}

// TestUntrustedASCertificate: a UE without the AS's certificate in its
// roots gets ErrUnreachable wrapping the TLS verification error.
func TestUntrustedASCertificate(t *testing.T) {
	a := startAS(t, nil)
	key, _ := a.register("ue-1", token.ES256)
	_, err := a.client("ue-1", key, func(c *ClientConfig) { c.RootCAs = x509.NewCertPool() }).Provision(context.Background())
	var unknownCA x509.UnknownAuthorityError
	if !errors.Is(err, ErrUnreachable) || !errors.As(err, &unknownCA) {
		t.Fatalf("provision against an untrusted certificate: %v", err)
	}
}

func TestProvisionKeyMismatch(t *testing.T) {
	a := startAS(t, nil)
	_, secret := a.register("ue-1", token.ES256)
	other, _ := GenerateIdentityKey(token.ES256, nil)
	// private_key_jwt with another key: the AS refuses the assertion.
	_, err := a.client("ue-1", other, nil).Provision(context.Background())
	if !errors.Is(err, ErrServer) || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("assertion with the wrong key: %v", err)
	}
	var oe *OAuthError
	if !errors.As(err, &oe) || oe.StatusCode != http.StatusUnauthorized || oe.Code != "invalid_client" {
		t.Fatalf("the RFC 6749 error is not wrapped: %v (%+v)", err, oe)
	}
	// client_secret_basic works, but the token is bound to the registered
	// key, not to this UE's.
	_, err = a.client("ue-1", other, func(c *ClientConfig) { c.Auth, c.ClientSecret = AuthClientSecretBasic, secret }).Provision(context.Background())
	if !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("token for another key: %v", err)
	}
}

func TestOfflineExpiredAndStale(t *testing.T) {
	a := startAS(t, func(c *as.Config) { c.DefaultTokenLifetime = 10 * time.Minute })
	cr, key := a.provision("ue-1", nil)

	_, err := cr.Open(key, Policy{}, testStart.Add(10*time.Minute))
	if !errors.Is(err, ErrTokenExpired) || !NeedsProvisioning(err) {
		t.Fatalf("expired token: %v", err)
	}
	want := "ue: cached token for ue-1 expired at 2030-01-02T03:14:05Z (now 2030-01-02T03:14:05Z); reconnect to the application server (prose-ue provision)"
	if err.Error() != want {
		t.Fatalf("message\n got %s\nwant %s", err, want)
	}
	if _, err := cr.Open(key, Policy{}, testStart.Add(10*time.Minute-time.Second)); err != nil {
		t.Fatalf("a second before expiry: %v", err)
	}

	// Stale by policy: the list was issued more than MaxStatusAge ago.
	_, err = cr.Open(key, Policy{MaxStatusAge: 5 * time.Minute}, testStart.Add(6*time.Minute))
	if !errors.Is(err, ErrStatusListStale) || !strings.Contains(err.Error(), "cached status list "+a.issuer+"/statuslists/0 was issued at 2030-01-02T03:04:05Z, more than the allowed 5m0s") || !strings.Contains(err.Error(), "prose-ue provision") {
		t.Fatalf("stale list: %v", err)
	}
	// Stale by the list's own exp (the AS's status list TTL, 1h), whatever
	// the policy.
	a2 := startAS(t, func(c *as.Config) { c.DefaultTokenLifetime = 2 * time.Hour; c.StatusListTTL = 30 * time.Minute })
	cr2, key2 := a2.provision("ue-1", nil)
	_, err = cr2.Open(key2, Policy{MaxStatusAge: -1}, testStart.Add(31*time.Minute))
	if !errors.Is(err, ErrStatusListStale) || !strings.Contains(err.Error(), "expired at 2030-01-02T03:34:05Z") {
		t.Fatalf("expired list: %v", err)
	}
	// Trust anchors too old for the policy.
	_, err = cr.Open(key, Policy{MaxTrustAge: time.Minute}, testStart.Add(2*time.Minute))
	if !errors.Is(err, ErrTrustStale) {
		t.Fatalf("stale trust: %v", err)
	}
	// The wrong identity key.
	other, _ := GenerateIdentityKey(token.ES256, nil)
	if _, err := cr.Open(other, Policy{}, testStart); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("other key: %v", err)
	}
}

func TestOfflineRevoked(t *testing.T) {
	a := startAS(t, nil)
	ctx := context.Background()
	old, key := a.provision("ue-1", nil)
	peer, peerKey := a.provision("ue-2", nil)
	if _, err := a.as.RevokeUE(ctx, "ue-1"); err != nil {
		t.Fatal(err)
	}
	a.clk.Advance(time.Minute)
	fresh, err := a.client("ue-1", key, nil).Provision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The old token with the new lists: revoked.
	mixed := *old
	mixed.StatusLists = fresh.StatusLists
	_, err = mixed.Open(key, Policy{}, testStart.Add(2*time.Minute))
	if !errors.Is(err, ErrRevoked) || !strings.Contains(err.Error(), "is revoked") {
		t.Fatalf("revoked own token: %v", err)
	}
	// A peer that refreshed its lists rejects the old token offline.
	peer2, err := a.client("ue-2", peerKey, nil).Provision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := peer2.Open(peerKey, Policy{}, testStart.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Verifier.Verify(old.Token.Raw, token.CWT, testStart.Add(2*time.Minute)); !errors.Is(err, token.ErrRevoked) {
		t.Fatalf("peer verifying a revoked token: %v", err)
	}
	if _, err := b.Verifier.Verify(fresh.Token.Raw, token.CWT, testStart.Add(2*time.Minute)); err != nil {
		t.Fatalf("peer verifying the fresh token: %v", err)
	}
	_ = peer
}

func TestTamperedCache(t *testing.T) {
	a := startAS(t, nil)
	cr, key := a.provision("ue-1", nil)
	cache := newCache(t)
	if err := cache.SaveIdentityKey(key); err != nil {
		t.Fatal(err)
	}
	if err := cache.Save(cr); err != nil {
		t.Fatal(err)
	}
	if _, err := cache.Open(Policy{}, testStart); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(cache.Dir(), CredentialsFile)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		mutate func(*Credentials)
		want   string
	}{
		{"token signature", func(c *Credentials) { c.Token.Raw[len(c.Token.Raw)-1] ^= 1 }, "cached token for ue-1 does not verify"},
		{"token claims", func(c *Credentials) { c.Token.Raw[20] ^= 1 }, "cached token for ue-1 does not verify"},
		{"status list", func(c *Credentials) { c.StatusLists[0].Raw[len(c.StatusLists[0].Raw)-1] ^= 1 }, "does not verify with the cached trust anchors"},
		{"status list URI", func(c *Credentials) { c.StatusLists[0].URI += "9" }, "names itself"},
		{"issue time hint", func(c *Credentials) { c.Token.IssuedAt = c.Token.IssuedAt.Add(-time.Hour) }, "does not verify"},
		{"trust anchors", func(c *Credentials) {
			other, _ := GenerateIdentityKey(token.ES256, nil)
			kid, _ := token.ShortKeyID(other.Public())
			jwks, _ := token.MarshalJWKS([]token.IssuerKey{{Issuer: c.Issuer, KeyID: kid, Algorithm: token.ES256, Key: other.Public()}})
			c.JWKS = jwks
		}, "does not verify"},
		{"no status lists", func(c *Credentials) { c.StatusLists = nil }, "no status list cached"},
	} {
		mod, err := parseCredentials(orig, "test")
		if err != nil {
			t.Fatal(err)
		}
		c.mutate(mod)
		if err := cache.Save(mod); err != nil {
			t.Fatal(err)
		}
		_, err = cache.Open(Policy{}, testStart)
		if !errors.Is(err, ErrCacheCorrupt) || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "ue: ") {
			t.Errorf("%s: %v, want ErrCacheCorrupt containing %q", c.name, err, c.want)
		}
	}
	// Broken JSON, unknown fields, another version.
	for _, c := range []struct{ name, data string }{
		{"truncated", string(orig[:len(orig)/2])},
		{"unknown field", strings.Replace(string(orig), `"version": 1`, `"version": 1, "extra": true`, 1)},
		{"version", strings.Replace(string(orig), `"version": 1`, `"version": 2`, 1)},
		{"trailing", string(orig) + "{}"},
	} {
		os.WriteFile(path, []byte(c.data), 0o600)
		if _, err := cache.Load(); !errors.Is(err, ErrCacheCorrupt) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	// A credentials file others can read is refused.
	os.WriteFile(path, orig, 0o600)
	os.Chmod(path, 0o644)
	if _, err := cache.Load(); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable file: %v", err)
	}
}

func TestStatusListWalk(t *testing.T) {
	a := startAS(t, func(c *as.Config) { c.StatusListSize = 8 })
	ctx := context.Background()
	// 10 tokens: indices 0..9, lists 0 and 1.
	k, _ := a.register("ue-1", token.ES256)
	cl := a.client("ue-1", k, nil)
	var cr *Credentials
	for range 10 {
		var err error
		if cr, err = cl.Provision(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var uris []string
	for _, l := range cr.StatusLists {
		uris = append(uris, l.URI)
	}
	if strings.Join(uris, " ") != a.issuer+"/statuslists/0 "+a.issuer+"/statuslists/1" {
		t.Fatalf("lists %v", uris)
	}
	// An explicit set gets the token's own list added.
	cr, err := a.client("ue-1", k, func(c *ClientConfig) { c.StatusLists = []uint64{0} }).Provision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cr.StatusLists) != 2 || cr.StatusLists[1].URI != a.issuer+"/statuslists/1" {
		t.Fatalf("lists %+v", cr.StatusLists)
	}
	// A list that does not exist is an error.
	_, err = a.client("ue-1", k, func(c *ClientConfig) { c.StatusLists = []uint64{5} }).Provision(ctx)
	if !errors.Is(err, ErrServer) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing list: %v", err)
	}
	// The walk cap.
	cr, err = a.client("ue-1", k, func(c *ClientConfig) { c.MaxStatusLists = 1 }).Provision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cr.StatusLists) != 2 { // list 0 by the walk, list 1 as the token's own
		t.Fatalf("lists %+v", cr.StatusLists)
	}
}

func TestMetadataChecks(t *testing.T) {
	var md string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(md))
	}))
	defer srv.Close()
	key, _ := GenerateIdentityKey(token.ES256, nil)
	c, err := NewClient(ClientConfig{Issuer: srv.URL, ClientID: "ue-1", Key: key, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	base := srv.URL
	for _, tc := range []struct{ name, doc, want string }{
		{"issuer", `{"issuer": "https://elsewhere"}`, `names issuer "https://elsewhere"`},
		{"origin", `{"issuer": "` + base + `", "token_endpoint": "https://evil.example/token", "jwks_uri": "` + base + `/j", "status_list_endpoint": "` + base + `/s/"}`, "not on the issuer's origin"},
		{"no status lists", `{"issuer": "` + base + `", "token_endpoint": "` + base + `/t", "jwks_uri": "` + base + `/j"}`, "status_list_endpoint: missing"},
		{"no cwt", `{"issuer": "` + base + `", "token_endpoint": "` + base + `/t", "jwks_uri": "` + base + `/j", "status_list_endpoint": "` + base + `/s/", "prose_token_formats_supported": ["jwt"]}`, "does not issue CWTs"},
		{"not json", `<html>`, "not JSON"},
	} {
		md = tc.doc
		_, err := c.Provision(context.Background())
		if !errors.Is(err, ErrServer) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	// Without the server's certificate, TLS fails.
	c2, _ := NewClient(ClientConfig{Issuer: srv.URL, ClientID: "ue-1", Key: key})
	if _, err := c2.Provision(context.Background()); !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted certificate: %v", err)
	}
}

func TestNewClientChecks(t *testing.T) {
	key, _ := GenerateIdentityKey(token.ES256, nil)
	for _, cfg := range []ClientConfig{
		{Issuer: "http://as.example", ClientID: "a", Key: key},
		{Issuer: "https://as.example/", ClientID: "a", Key: key},
		{Issuer: "ftp://as.example", ClientID: "a", Key: key},
		{Issuer: "https://as.example", Key: key},
		{Issuer: "https://as.example", ClientID: "a"},
		{Issuer: "https://as.example", ClientID: "a", Key: key, Auth: AuthClientSecretBasic},
		{Issuer: "https://as.example", ClientID: "a", Key: key, Auth: "tls_client_auth"},
	} {
		if _, err := NewClient(cfg); err == nil || !strings.HasPrefix(err.Error(), "ue: ") {
			t.Errorf("NewClient(%+v): %v", cfg, err)
		}
	}
	if _, err := NewClient(ClientConfig{Issuer: "http://127.0.0.1:8443", ClientID: "a", Key: key}); err != nil {
		t.Fatalf("loopback http: %v", err)
	}
}

func TestRefreshIfDue(t *testing.T) {
	a := startAS(t, nil)
	ctx := context.Background()
	key, _ := a.register("ue-1", token.ES256)
	cache := newCache(t)
	cl := a.client("ue-1", key, nil)

	// Nothing cached: provisions.
	cr, next, err := cl.RefreshIfDue(ctx, cache)
	if err != nil {
		t.Fatal(err)
	}
	if !next.Equal(testStart.Add(40 * time.Minute)) {
		t.Fatalf("next %v", next)
	}
	// Not due: the cache is returned without asking the AS.
	a.clk.Advance(39 * time.Minute)
	cr2, next2, err := cl.RefreshIfDue(ctx, cache)
	if err != nil || cr2.Token.ID != cr.Token.ID || !next2.Equal(next) {
		t.Fatalf("not due: %v %v", err, next2)
	}
	// Due: a new token.
	a.clk.Advance(time.Minute)
	cr3, next3, err := cl.RefreshIfDue(ctx, cache)
	if err != nil || cr3.Token.ID == cr.Token.ID || !next3.Equal(testStart.Add(80*time.Minute)) {
		t.Fatalf("due: %v %v", err, next3)
	}
	// Due but unreachable: an error, and the cache keeps the last credentials.
	a.clk.Advance(45 * time.Minute)
	a.srv.Close()
	if _, _, err := cl.RefreshIfDue(ctx, cache); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("unreachable: %v", err)
	}
	kept, err := cache.Load()
	if err != nil || kept.Token.ID != cr3.Token.ID {
		t.Fatalf("cache after a failed refresh: %v", err)
	}
}
