package as_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/prosesec/prosesec/as"
	"github.com/prosesec/prosesec/store"
	"github.com/prosesec/prosesec/token"
)

var ctx = context.Background()

func TestConfigValidate(t *testing.T) {
	e := newEnv(t, nil)
	good := e.config(nil)
	if err := good.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*as.Config)
		want string
	}{
		{"no issuer", func(c *as.Config) { c.Issuer = "" }, "Issuer is required"},
		{"http issuer", func(c *as.Config) { c.Issuer = "http://as.example" }, "must use https"},
		{"trailing slash", func(c *as.Config) { c.Issuer = "https://as.example/" }, "slash"},
		{"query", func(c *as.Config) { c.Issuer = "https://as.example?x=1" }, "query"},
		{"default > max", func(c *as.Config) { c.DefaultTokenLifetime = 2 * time.Hour; c.MaxTokenLifetime = time.Hour }, "exceeds MaxTokenLifetime"},
		{"bad alg", func(c *as.Config) { c.SigningAlgorithm = "HS256" }, "not supported"},
		{"short rotation", func(c *as.Config) { c.KeyRotationPeriod = time.Hour }, "shorter than MaxTokenLifetime + OfflineHorizon"},
		{"list size", func(c *as.Config) { c.StatusListSize = 12 }, "multiple of 8"},
		{"zero KEK", func(c *as.Config) { c.KEK = [32]byte{} }, "KEK"},
		{"no store", func(c *as.Config) { c.Store = nil }, "Store is required"},
		{"no clock", func(c *as.Config) { c.Clock = nil }, "Clock is required"},
		{"no rand", func(c *as.Config) { c.Rand = nil }, "Rand is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.config(tc.mod)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "as: ") {
				t.Fatalf("Validate = %v, want error containing %q", err, tc.want)
			}
		})
	}
	// http is fine on loopback (tests, development).
	c := e.config(func(c *as.Config) { c.Issuer = "http://127.0.0.1:8080" })
	if err := c.Validate(); err != nil {
		t.Fatalf("loopback http issuer: %v", err)
	}
}

func TestFirstStartCreatesActiveAndNextKey(t *testing.T) {
	e := newEnv(t, nil)
	keys, err := e.srv.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].State != store.KeyActive || keys[1].State != store.KeyNext {
		t.Fatalf("keys = %+v, want active then next", keys)
	}
	for _, k := range keys {
		if !k.Published || k.Algorithm != token.ES256 {
			t.Errorf("key %+v: want published ES256", k)
		}
	}
	// A second instance on the same store creates no more keys.
	_ = e.newServer(nil)
	keys2, _ := e.srv.Keys(ctx)
	if len(keys2) != 2 {
		t.Fatalf("second instance added keys: %+v", keys2)
	}
	// Stored private keys are encrypted: the algorithm identifier every
	// PKCS #8 EC key holds (the id-ecPublicKey OID, 9 bytes) is not
	// visible. (Two bytes such as the SEQUENCE header turn up by chance
	// in ciphertext, about once in 200 runs.)
	sk, err := e.st.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	idECPublicKey := "\x06\x07\x2a\x86\x48\xce\x3d\x02\x01"
	for _, k := range sk {
		if len(k.EncryptedPriv) < 60 || strings.Contains(string(k.EncryptedPriv), idECPublicKey) {
			t.Errorf("key %s private part looks unencrypted", k.KID)
		}
	}
}

func TestEdDSASigningKeys(t *testing.T) {
	e := newEnv(t, func(c *as.Config) { c.SigningAlgorithm = token.EdDSA })
	u := e.register("ue-ed", "u2u:use:000001", true)
	res, err := e.srv.Token(ctx, as.TokenRequest{GrantType: "client_credentials", Auth: u.basic(), Format: "cwt"})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(res.AccessToken)
	c, err := e.verifier().Verify(raw, token.CWT, e.clk.Now())
	if err != nil {
		t.Fatalf("verify EdDSA CWT: %v", err)
	}
	if c.Subject != "ue-ed" {
		t.Fatalf("sub = %q", c.Subject)
	}
}

func TestWrongKEKRefusesToStart(t *testing.T) {
	e := newEnv(t, nil)
	keys, _ := e.srv.Keys(ctx)
	_, err := as.New(ctx, e.config(func(c *as.Config) { c.KEK[0] ^= 1 }))
	if err == nil {
		t.Fatal("New with a wrong KEK succeeded")
	}
	if !strings.Contains(err.Error(), "KEK does not match") || !strings.Contains(err.Error(), keys[0].KID) {
		t.Fatalf("error %q should name the key %s and say the KEK does not match", err, keys[0].KID)
	}
}

func TestRestartKeepsState(t *testing.T) {
	e := newEnv(t, nil)
	u := e.register("ue-1", "u2u:use:000001", false)
	res, err := e.srv.Token(ctx, as.TokenRequest{GrantType: "client_credentials", Auth: u.basic()})
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := e.srv.Keys(ctx)
	if err := e.st.Close(); err != nil {
		t.Fatal(err)
	}
	e.st = openStore(t, e.path)
	srv2 := e.newServer(nil)
	keys2, _ := srv2.Keys(ctx)
	if len(keys2) != len(keys) || keys2[0].KID != keys[0].KID || keys2[1].KID != keys[1].KID {
		t.Fatalf("keys changed across restart: %+v -> %+v", keys, keys2)
	}
	if _, err := srv2.GetUE(ctx, "ue-1"); err != nil {
		t.Fatalf("UE lost: %v", err)
	}
	toks, err := srv2.ListTokens(ctx, as.TokenFilter{})
	if err != nil || len(toks) != 1 || toks[0].JTI != res.JTI {
		t.Fatalf("tokens after restart = %+v, %v", toks, err)
	}
	// The old token still introspects as active and the UE still authenticates.
	in, err := srv2.Introspect(ctx, as.IntrospectRequest{Token: res.AccessToken, Privileged: true})
	if err != nil || !in.Active {
		t.Fatalf("introspect after restart: %+v %v", in, err)
	}
	if _, err := srv2.Token(ctx, as.TokenRequest{GrantType: "client_credentials", Auth: u.basic()}); err != nil {
		t.Fatalf("token after restart: %v", err)
	}
	e.st.Close()
}

func TestTokenClaimsAndRecord(t *testing.T) {
	e := newEnv(t, nil)
	u := e.register("ue-1", "u2u:use:000001 u2u:serve:00abcd", false)
	for _, f := range []string{"", "jwt", "cwt"} {
		res, err := e.srv.Token(ctx, as.TokenRequest{GrantType: "client_credentials", Auth: u.basic(), Format: f, Scope: "u2u:serve:00abcd"})
		if err != nil {
			t.Fatalf("format %q: %v", f, err)
		}
		if res.TokenType != "Bearer" || res.ExpiresIn != 3600 || res.Scope != "u2u:serve:00abcd" {
			t.Fatalf("response %+v", res)
		}
		tf, raw := token.JWT, []byte(res.AccessToken)
		if f == "cwt" {
			tf = token.CWT
			if raw, err = base64.RawURLEncoding.DecodeString(res.AccessToken); err != nil {
				t.Fatal(err)
			}
		}
		if want := map[string]string{"": "jwt", "jwt": "jwt", "cwt": "cwt"}[f]; res.TokenFormat != want {
			t.Fatalf("token_format %q, want %q", res.TokenFormat, want)
		}
		c, err := e.verifier().Verify(raw, tf, e.clk.Now())
		if err != nil {
			t.Fatalf("verify: %v", err)
		}
		now := e.clk.Now()
		if c.Issuer != testIssuer || c.Subject != "ue-1" || len(c.Audience) != 1 || c.Audience[0] != as.DefaultAudience ||
			!c.IssuedAt.Equal(now) || !c.NotBefore.Equal(now) || !c.Expiry.Equal(now.Add(time.Hour)) || c.ID != res.JTI {
			t.Fatalf("claims %+v", c)
		}
		if !c.HasScope(token.RoleServe, 0xabcd) || c.HasScope(token.RoleUse, 1) {
			t.Fatalf("scopes %v", c.Scopes)
		}
		if !publicEqual(c.Confirmation, u.priv.Public()) {
			t.Fatalf("cnf %v is not the UE key", c.Confirmation)
		}
		rec, err := e.st.GetToken(ctx, res.JTI)
		if err != nil {
			t.Fatalf("token not recorded: %v", err)
		}
		if c.Status == nil || c.Status.Index != rec.StatusIndex%as.DefaultStatusListSize ||
			c.Status.URI != testIssuer+"/statuslists/0" {
			t.Fatalf("status %+v, record index %d", c.Status, rec.StatusIndex)
		}
		keys, _ := e.srv.Keys(ctx)
		if rec.KeyID != keys[0].KID || rec.Subject != "ue-1" || rec.Scope != "u2u:serve:00abcd" || rec.Format != res.TokenFormat || !rec.ExpiresAt.Equal(c.Expiry) {
			t.Fatalf("record %+v", rec)
		}
	}
}

func publicEqual(a, b any) bool {
	type eq interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(eq)
	return ok && e.Equal(b)
}

func TestLifetimeOverrideCapped(t *testing.T) {
	e := newEnv(t, func(c *as.Config) { c.MaxTokenLifetime = 3 * time.Hour })
	u := e.register("ue-1", "u2u:use:000001", false)
	lt := 2 * time.Hour
	if _, _, err := e.srv.UpdateUE(ctx, "ue-1", as.UEUpdate{TokenLifetime: &lt}); err != nil {
		t.Fatal(err)
	}
	res, err := e.srv.Token(ctx, as.TokenRequest{GrantType: "client_credentials", Auth: u.basic()})
	if err != nil || res.ExpiresIn != 7200 {
		t.Fatalf("override: %+v %v", res, err)
	}
	lt = 4 * time.Hour
	if _, _, err := e.srv.UpdateUE(ctx, "ue-1", as.UEUpdate{TokenLifetime: &lt}); !errors.Is(err, as.ErrInvalidRequest) {
		t.Fatalf("override above max: %v", err)
	}
}

func TestScopes(t *testing.T) {
	e := newEnv(t, nil)
	u := e.register("ue-1", "u2u:use:000001 u2u:use:000002", false)
	for _, tc := range []struct {
		scope, want string
		err         error
	}{
		{"", "u2u:use:000001 u2u:use:000002", nil},
		{"u2u:use:000002", "u2u:use:000002", nil},
		{"u2u:use:000002 u2u:use:000001 u2u:use:000002", "u2u:use:000002 u2u:use:000001", nil},
		{"u2u:serve:000001", "", as.ErrInvalidScope},
		{"u2u:use:000003", "", as.ErrInvalidScope},
		{"openid", "", as.ErrInvalidScope},
		{"u2u:use:000001  u2u:use:000002", "", as.ErrInvalidScope},
	} {
		res, err := e.srv.Token(ctx, as.TokenRequest{GrantType: "client_credentials", Auth: u.basic(), Scope: tc.scope})
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("scope %q: err %v, want %v", tc.scope, err, tc.err)
			}
			continue
		}
		if err != nil || res.Scope != tc.want {
			t.Errorf("scope %q: %+v %v, want %q", tc.scope, res, err, tc.want)
		}
	}
	// A UE without grants gets invalid_scope.
	n := e.register("ue-none", "", false)
	if _, err := e.srv.Token(ctx, as.TokenRequest{GrantType: "client_credentials", Auth: n.basic()}); !errors.Is(err, as.ErrInvalidScope) {
		t.Fatalf("no grants: %v", err)
	}
}

func TestGrantTypeAndFormat(t *testing.T) {
	e := newEnv(t, nil)
	u := e.register("ue-1", "u2u:use:000001", false)
	for _, tc := range []struct {
		req as.TokenRequest
		err error
	}{
		{as.TokenRequest{Auth: u.basic()}, as.ErrInvalidRequest},
		{as.TokenRequest{GrantType: "password", Auth: u.basic()}, as.ErrUnsupportedGrantType},
		{as.TokenRequest{GrantType: "client_credentials", Format: "xml", Auth: u.basic()}, as.ErrInvalidRequest},
		{as.TokenRequest{GrantType: "client_credentials"}, as.ErrInvalidClient},
	} {
		if _, err := e.srv.Token(ctx, tc.req); !errors.Is(err, tc.err) {
			t.Errorf("%+v: err %v, want %v", tc.req.GrantType, err, tc.err)
		}
	}
}

func TestClientSecretAuth(t *testing.T) {
	e := newEnv(t, nil)
	u := e.register("ue-1", "u2u:use:000001", false)
	if len(u.secret) != 43 {
		t.Fatalf("secret %q: want 43 base64url characters (32 bytes)", u.secret)
	}
	ok := as.TokenRequest{GrantType: "client_credentials", Auth: u.basic()}
	if _, err := e.srv.Token(ctx, ok); err != nil {
		t.Fatal(err)
	}
	post := ok
	post.Auth.Method = as.AuthClientSecretPost
	if _, err := e.srv.Token(ctx, post); err != nil {
		t.Fatalf("client_secret_post: %v", err)
	}
	var descs []string
	for _, a := range []as.ClientAuth{
		{Method: as.AuthClientSecretBasic, ClientID: "ue-1", Secret: u.secret + "x"},
		{Method: as.AuthClientSecretBasic, ClientID: "nobody", Secret: u.secret},
		{Method: as.AuthClientSecretBasic, ClientID: "bad id with spaces", Secret: u.secret},
	} {
		_, err := e.srv.Token(ctx, as.TokenRequest{GrantType: "client_credentials", Auth: a})
		var ae *as.Error
		if !errors.As(err, &ae) || !errors.Is(err, as.ErrInvalidClient) || ae.Status != 401 {
			t.Fatalf("%+v: %v, want invalid_client", a.ClientID, err)
		}
		descs = append(descs, ae.Description)
	}
	if descs[0] != descs[1] || descs[1] != descs[2] {
		t.Fatalf("unknown client and wrong secret must look the same: %q", descs)
	}
	// A UE without a secret cannot use client_secret_basic.
	_, _, err := e.srv.RegisterUE(ctx, as.UESpec{ID: "ue-nosecret", PublicKey: jwkOf(t, newP256(t).Public()), Grants: mustScopes(t, "u2u:use:000001")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.srv.Token(ctx, as.TokenRequest{GrantType: "client_credentials", Auth: as.ClientAuth{Method: as.AuthClientSecretBasic, ClientID: "ue-nosecret", Secret: "x"}})
	if !errors.Is(err, as.ErrInvalidClient) {
		t.Fatalf("no secret registered: %v", err)
	}
	// Rotating the secret invalidates the old one.
	_, sec2, err := e.srv.UpdateUE(ctx, "ue-1", as.UEUpdate{Secret: as.SecretRotate})
	if err != nil || sec2 == "" || sec2 == u.secret {
		t.Fatalf("rotate secret: %q %v", sec2, err)
	}
	if _, err := e.srv.Token(ctx, ok); !errors.Is(err, as.ErrInvalidClient) {
		t.Fatalf("old secret after rotation: %v", err)
	}
}

func TestPrivateKeyJWT(t *testing.T) {
	e := newEnv(t, nil)
	u := e.register("ue-1", "u2u:use:000001", false)
	ed := e.register("ue-ed", "u2u:use:000001", true)
	now := e.clk.Now()
	tok := func(a as.ClientAuth) error {
		_, err := e.srv.Token(ctx, as.TokenRequest{GrantType: "client_credentials", Auth: a})
		return err
	}
	if err := tok(u.jwtAuth(t, now, nil)); err != nil {
		t.Fatalf("valid ES256 assertion: %v", err)
	}
	if err := tok(ed.jwtAuth(t, now, nil)); err != nil {
		t.Fatalf("valid EdDSA assertion: %v", err)
	}
	// The issuer is accepted as audience too.
	a := u.jwtAuth(t, now, func(c *jwt.Claims) { c.Audience = jwt.Audience{testIssuer} })
	if err := tok(a); err != nil {
		t.Fatalf("issuer audience: %v", err)
	}
	// client_id, when given, must match.
	a = u.jwtAuth(t, now, nil)
	a.ClientID = "ue-ed"
	if err := tok(a); !errors.Is(err, as.ErrInvalidClient) {
		t.Fatalf("client_id mismatch: %v", err)
	}

	other := newP256(t)
	replayed := u.jwtAuth(t, now, nil)
	if err := tok(replayed); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		auth as.ClientAuth
		want string
	}{
		"bad signature": {as.ClientAuth{Method: as.AuthPrivateKeyJWT, AssertionType: as.ClientAssertionTypeJWTBearer,
			Assertion: signAssertion(t, other, "ES256", "ue-1", now, testIssuer+as.PathToken, nil)}, "client authentication failed"},
		"unknown client": {as.ClientAuth{Method: as.AuthPrivateKeyJWT, AssertionType: as.ClientAssertionTypeJWTBearer,
			Assertion: signAssertion(t, other, "ES256", "ue-x", now, testIssuer+as.PathToken, nil)}, "client authentication failed"},
		"alg mismatch (Ed25519 UE, ES256 assertion)": {as.ClientAuth{Method: as.AuthPrivateKeyJWT, AssertionType: as.ClientAssertionTypeJWTBearer,
			Assertion: signAssertion(t, other, "ES256", "ue-ed", now, testIssuer+as.PathToken, nil)}, "client authentication failed"},
		"expired": {u.jwtAuth(t, now, func(c *jwt.Claims) {
			c.IssuedAt = jwt.NewNumericDate(now.Add(-3 * time.Minute))
			c.Expiry = jwt.NewNumericDate(now.Add(-time.Minute))
		}), "expired"},
		"wrong audience":    {u.jwtAuth(t, now, func(c *jwt.Claims) { c.Audience = jwt.Audience{"https://other.example/token"} }), "aud"},
		"no exp":            {u.jwtAuth(t, now, func(c *jwt.Claims) { c.Expiry = nil }), "no exp"},
		"exp too far":       {u.jwtAuth(t, now, func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(time.Hour)) }), "more than"},
		"no jti":            {u.jwtAuth(t, now, func(c *jwt.Claims) { c.ID = "" }), "no jti"},
		"iat in the future": {u.jwtAuth(t, now, func(c *jwt.Claims) { c.IssuedAt = jwt.NewNumericDate(now.Add(2 * time.Minute)) }), "future"},
		"sub != iss":        {u.jwtAuth(t, now, func(c *jwt.Claims) { c.Subject = "ue-ed" }), "iss and sub"},
		"replayed jti":      {replayed, "used before"},
		"garbage":           {as.ClientAuth{Method: as.AuthPrivateKeyJWT, AssertionType: as.ClientAssertionTypeJWTBearer, Assertion: "a.b.c"}, "does not parse"},
		"alg none": {as.ClientAuth{Method: as.AuthPrivateKeyJWT, AssertionType: as.ClientAssertionTypeJWTBearer,
			Assertion: "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ1ZS0xIiwic3ViIjoidWUtMSJ9."}, "not a JWS"},
		"HS256": {as.ClientAuth{Method: as.AuthPrivateKeyJWT, AssertionType: as.ClientAssertionTypeJWTBearer,
			Assertion: hs256Assertion(t)}, "not a JWS"},
	} {
		err := tok(tc.auth)
		var ae *as.Error
		if !errors.As(err, &ae) || ae.Code != "invalid_client" || !strings.Contains(ae.Description, tc.want) {
			t.Errorf("%s: %v, want invalid_client containing %q", name, err, tc.want)
		}
	}
	// The record of the token computed for the replayed assertion is revoked.
	toks, _ := e.srv.ListTokens(ctx, as.TokenFilter{Subject: "ue-1"})
	revoked := 0
	for _, tk := range toks {
		if tk.RevokedAt != nil {
			revoked++
		}
	}
	if revoked != 1 {
		t.Fatalf("%d revoked records after one replay, want 1", revoked)
	}
	// Wrong assertion type is invalid_request.
	a = u.jwtAuth(t, now, nil)
	a.AssertionType = "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"
	if err := tok(a); !errors.Is(err, as.ErrInvalidRequest) {
		t.Fatalf("assertion type: %v", err)
	}
	// The replay cache forgets the jti once the assertion expired.
	e.clk.Advance(5 * time.Minute)
	if res, err := e.srv.Maintain(ctx); err != nil || res.PurgedAssertions == 0 {
		t.Fatalf("Maintain: %+v %v", res, err)
	}
}

func hs256Assertion(t *testing.T) string {
	// {"alg":"HS256","typ":"JWT"}.{"iss":"ue-1","sub":"ue-1"}.sig
	return "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJ1ZS0xIiwic3ViIjoidWUtMSJ9.c2ln"
}

func TestRevokeAndIntrospect(t *testing.T) {
	e := newEnv(t, nil)
	u := e.register("ue-1", "u2u:use:000001", false)
	v := e.register("ue-2", "u2u:use:000001", false)
	res, err := e.srv.Token(ctx, as.TokenRequest{GrantType: "client_credentials", Auth: u.basic(), Format: "cwt"})
	if err != nil {
		t.Fatal(err)
	}
	in, err := e.srv.Introspect(ctx, as.IntrospectRequest{Token: res.AccessToken, Auth: u.basic()})
	if err != nil || !in.Active || in.Subject != "ue-1" || in.ClientID != "ue-1" || in.Scope != "u2u:use:000001" ||
		in.Cnf == nil || in.TokenFormat != "cwt" || in.JTI != res.JTI || in.Issuer != testIssuer {
		t.Fatalf("introspect own: %+v %v", in, err)
	}
	// Another client sees it inactive, and cannot revoke it.
	if in, err := e.srv.Introspect(ctx, as.IntrospectRequest{Token: res.AccessToken, Auth: v.basic()}); err != nil || in.Active {
		t.Fatalf("introspect foreign: %+v %v", in, err)
	}
	if r, err := e.srv.Revoke(ctx, as.RevokeRequest{Token: res.AccessToken, Auth: v.basic()}); err != nil || r.Revoked {
		t.Fatalf("foreign revoke: %+v %v", r, err)
	}
	if in, _ := e.srv.Introspect(ctx, as.IntrospectRequest{Token: res.AccessToken, Privileged: true}); !in.Active {
		t.Fatal("foreign revoke had an effect")
	}
	// Garbage is inactive / ignored.
	for _, g := range []string{"x", "a.b.c", strings.Repeat("A", 9000)} {
		if in, err := e.srv.Introspect(ctx, as.IntrospectRequest{Token: g, Privileged: true}); err != nil || in.Active {
			t.Fatalf("garbage %q: %+v %v", g[:1], in, err)
		}
		if _, err := e.srv.Revoke(ctx, as.RevokeRequest{Token: g, Auth: u.basic()}); err != nil {
			t.Fatalf("revoke garbage: %v", err)
		}
	}
	if r, err := e.srv.Revoke(ctx, as.RevokeRequest{Token: res.AccessToken, Auth: u.basic()}); err != nil || !r.Revoked {
		t.Fatalf("own revoke: %+v %v", r, err)
	}
	if in, _ := e.srv.Introspect(ctx, as.IntrospectRequest{Token: res.AccessToken, Privileged: true}); in.Active {
		t.Fatal("revoked token still active")
	}
	// Expired tokens are inactive.
	res2, _ := e.srv.Token(ctx, as.TokenRequest{GrantType: "client_credentials", Auth: u.basic()})
	e.clk.Advance(time.Hour + time.Minute)
	if in, _ := e.srv.Introspect(ctx, as.IntrospectRequest{Token: res2.AccessToken, Privileged: true}); in.Active {
		t.Fatal("expired token still active")
	}
	// Unauthenticated introspection is refused.
	if _, err := e.srv.Introspect(ctx, as.IntrospectRequest{Token: res2.AccessToken}); !errors.Is(err, as.ErrInvalidClient) {
		t.Fatalf("unauthenticated introspection: %v", err)
	}
}

func TestStatusListReflectsRevocation(t *testing.T) {
	e := newEnv(t, func(c *as.Config) { c.StatusListSize = 16 })
	u := e.register("ue-1", "u2u:use:000001", false)
	var resps []*as.TokenResponse
	for i := 0; i < 18; i++ { // spills into list 1
		r, err := e.srv.Token(ctx, as.TokenRequest{GrantType: "client_credentials", Auth: u.basic()})
		if err != nil {
			t.Fatal(err)
		}
		resps = append(resps, r)
	}
	jwks, _ := e.srv.JWKS(ctx)
	trust := token.NewTrustStore()
	if err := trust.AddJWKS(testIssuer, jwks); err != nil {
		t.Fatal(err)
	}
	algs := []token.Algorithm{token.ES256}
	fetch := func(list uint64, f token.Format) *token.StatusListToken {
		t.Helper()
		r, err := e.srv.StatusList(ctx, list, f)
		if err != nil {
			t.Fatalf("StatusList(%d): %v", list, err)
		}
		sl, err := token.VerifyStatusList(r.Token, f, trust, algs, e.clk.Now(), 0)
		if err != nil {
			t.Fatalf("VerifyStatusList: %v", err)
		}
		if sl.Subject != e.srv.StatusListURI(list) {
			t.Fatalf("status list sub %q", sl.Subject)
		}
		return sl
	}
	first, _ := e.srv.StatusList(ctx, 0, token.JWT)
	again, _ := e.srv.StatusList(ctx, 0, token.JWT)
	if string(first.Token) != string(again.Token) {
		t.Fatal("status list not cached")
	}
	rec, _ := e.st.GetToken(ctx, resps[17].JTI)
	if err := e.srv.RevokeToken(ctx, resps[17].JTI); err != nil {
		t.Fatal(err)
	}
	for _, f := range []token.Format{token.JWT, token.CWT} {
		sl := fetch(rec.StatusIndex/16, f)
		if v, _ := sl.List.Get(rec.StatusIndex % 16); v != token.StatusInvalid {
			t.Fatalf("%v: revoked token's bit = %d", f, v)
		}
		if v, _ := sl.List.Get(0); v != token.StatusValid {
			t.Fatalf("%v: other bit = %d", f, v)
		}
	}
	if _, err := e.srv.StatusList(ctx, 2, token.JWT); !errors.Is(err, as.ErrNotFound) {
		t.Fatalf("list beyond max index: %v", err)
	}
	// Revoking a whole UE flips every bit.
	n, err := e.srv.RevokeUE(ctx, "ue-1")
	if err != nil || n != 17 {
		t.Fatalf("RevokeUE = %d %v", n, err)
	}
	sl := fetch(0, token.JWT)
	for i := uint64(0); i < 16; i++ {
		if v, _ := sl.List.Get(i); v != token.StatusInvalid {
			t.Fatalf("bit %d not set after RevokeUE", i)
		}
	}
	// Re-signed after half the TTL even without revocations.
	before, _ := e.srv.StatusList(ctx, 0, token.JWT)
	e.clk.Advance(31 * time.Minute)
	after, _ := e.srv.StatusList(ctx, 0, token.JWT)
	if !after.IssuedAt.After(before.IssuedAt) {
		t.Fatal("status list not re-signed after half its TTL")
	}
}

func TestKeyRotation(t *testing.T) {
	e := newEnv(t, nil)
	u := e.register("ue-1", "u2u:use:000001", false)
	old, err := e.srv.Token(ctx, as.TokenRequest{GrantType: "client_credentials", Auth: u.basic()})
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := e.srv.Keys(ctx)
	active, next := keys[0], keys[1]

	// The next key is published before it signs; rotating too early is refused.
	if _, err := e.srv.RotateKeys(ctx, false); !errors.Is(err, as.ErrConflict) || !strings.Contains(err.Error(), "may sign only from") {
		t.Fatalf("early rotation: %v", err)
	}
	e.clk.Advance(48 * time.Hour)
	// The old token (1h) has long expired; issue one that lives across the rotation.
	old, _ = e.srv.Token(ctx, as.TokenRequest{GrantType: "client_credentials", Auth: u.basic()})
	jwksBefore := e.verifier()
	if _, err := jwksBefore.Trust.Lookup(testIssuer, next.KID); err != nil {
		t.Fatalf("next key not in the JWKS before it signs: %v", err)
	}
	keys2, err := e.srv.RotateKeys(ctx, false)
	if err != nil {
		t.Fatalf("rotation: %v", err)
	}
	if len(keys2) != 3 || keys2[0].KID != active.KID || keys2[0].State != store.KeyRetired ||
		keys2[1].KID != next.KID || keys2[1].State != store.KeyActive || keys2[2].State != store.KeyNext {
		t.Fatalf("after rotation: %+v", keys2)
	}
	if want := e.clk.Now().Add(24*time.Hour + 30*time.Second); !keys2[0].PublishUntil.Equal(want) {
		t.Fatalf("retired PublishUntil %v, want %v", keys2[0].PublishUntil, want)
	}
	// New tokens verify with the key clients already had.
	newTok, _ := e.srv.Token(ctx, as.TokenRequest{GrantType: "client_credentials", Auth: u.basic()})
	if c, err := jwksBefore.Verify([]byte(newTok.AccessToken), token.JWT, e.clk.Now()); err != nil || c.ID != newTok.JTI {
		t.Fatalf("new token with the pre-rotation JWKS: %v", err)
	}
	rec, _ := e.st.GetToken(ctx, newTok.JTI)
	if rec.KeyID != next.KID {
		t.Fatalf("new token signed by %s, want %s", rec.KeyID, next.KID)
	}
	// Old tokens still verify against the current JWKS (retired key published).
	if _, err := e.verifier().Verify([]byte(old.AccessToken), token.JWT, e.clk.Now()); err != nil {
		t.Fatalf("old token after rotation: %v", err)
	}
	if in, _ := e.srv.Introspect(ctx, as.IntrospectRequest{Token: old.AccessToken, Privileged: true}); !in.Active {
		t.Fatal("old token inactive after rotation")
	}
	// Once every token of the retired key has expired it leaves the JWKS and is purged.
	e.clk.Advance(24*time.Hour + time.Minute)
	if _, err := e.verifier().Trust.Lookup(testIssuer, active.KID); err == nil {
		t.Fatal("retired key still published after PublishUntil")
	}
	res, err := e.srv.Maintain(ctx)
	if err != nil || res.PurgedKeys != 1 {
		t.Fatalf("Maintain: %+v %v", res, err)
	}
	if keys3, _ := e.srv.Keys(ctx); len(keys3) != 2 {
		t.Fatalf("keys after purge: %+v", keys3)
	}
	// Forced rotation ignores the publication rule.
	if _, err := e.srv.RotateKeys(ctx, true); err != nil {
		t.Fatalf("forced rotation: %v", err)
	}
}

func TestAutomaticRotationAndConvergence(t *testing.T) {
	mod := func(c *as.Config) { c.KeyRotationPeriod = 72 * time.Hour }
	e := newEnv(t, mod)
	other := e.newServer(mod) // a second instance on the same database
	keys, _ := e.srv.Keys(ctx)
	if r, _ := e.srv.Maintain(ctx); r.Rotated {
		t.Fatal("rotated too early")
	}
	e.clk.Advance(72 * time.Hour)
	var wg sync.WaitGroup
	results := make([]as.MaintainResult, 2)
	for i, s := range []*as.Server{e.srv, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := s.Maintain(ctx)
			if err != nil {
				t.Errorf("Maintain: %v", err)
			}
			results[i] = r
		}()
	}
	wg.Wait()
	if results[0].Rotated == results[1].Rotated {
		t.Fatalf("want exactly one rotation, got %+v", results)
	}
	k1, _ := e.srv.Keys(ctx)
	k2, _ := other.Keys(ctx)
	if len(k1) != 3 || k1[1].KID != keys[1].KID || k1[1].State != store.KeyActive || k2[1].KID != k1[1].KID {
		t.Fatalf("instances disagree: %+v vs %+v", k1, k2)
	}
	// Concurrent manual rotations rotate once. The instance that comes second
	// either finds the rotation done while it waited (success) or, if it
	// started after the first committed, is refused because the new next key
	// was published just now (conflict) — never a second rotation.
	e.clk.Advance(72 * time.Hour)
	errs := make([]error, 2)
	for i, s := range []*as.Server{e.srv, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.RotateKeys(ctx, false)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, as.ErrConflict) {
			t.Fatalf("RotateKeys: %v", err)
		}
	}
	if errs[0] != nil && errs[1] != nil {
		t.Fatalf("no rotation succeeded: %v / %v", errs[0], errs[1])
	}
	k3, _ := e.srv.Keys(ctx)
	if k3[len(k3)-2].KID != k1[2].KID || k3[len(k3)-2].State != store.KeyActive {
		t.Fatalf("after concurrent manual rotations: %+v", k3)
	}
}

func TestAdminOperations(t *testing.T) {
	e := newEnv(t, nil)
	pub := newP256(t).Public()
	for _, tc := range []struct {
		spec as.UESpec
		want string
	}{
		{as.UESpec{ID: "", PublicKey: jwkOf(t, pub)}, "1 to 128"},
		{as.UESpec{ID: "a b", PublicKey: jwkOf(t, pub)}, "[A-Za-z0-9._:-]"},
		{as.UESpec{ID: strings.Repeat("a", 129), PublicKey: jwkOf(t, pub)}, "1 to 128"},
		{as.UESpec{ID: "ue", PublicKey: nil}, "public_key is required"},
		{as.UESpec{ID: "ue", PublicKey: []byte("nope")}, "does not parse"},
		{as.UESpec{ID: "ue", PublicKey: jwkOf(t, pub), Grants: []token.Scope{{Role: "admin", RSC: 1}}}, "role"},
		{as.UESpec{ID: "ue", PublicKey: jwkOf(t, pub), Grants: []token.Scope{{Role: token.RoleUse, RSC: 1 << 24}}}, "24 bits"},
		{as.UESpec{ID: "ue", PublicKey: jwkOf(t, pub), TokenLifetime: -time.Second}, "negative"},
	} {
		_, _, err := e.srv.RegisterUE(ctx, tc.spec)
		if !errors.Is(err, as.ErrInvalidRequest) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("RegisterUE(%q): %v, want %q", tc.spec.ID, err, tc.want)
		}
	}
	// PEM keys are accepted and stored as JWK.
	info, sec, err := e.srv.RegisterUE(ctx, as.UESpec{ID: "relay-1", PublicKey: pemOf(t, pub), Grants: mustScopes(t, "u2u:serve:000001")})
	if err != nil || sec != "" || info.HasSecret || !strings.HasPrefix(string(info.PublicKey), "{") || info.KeyThumbprint == "" {
		t.Fatalf("register PEM: %+v %q %v", info, sec, err)
	}
	if _, _, err := e.srv.RegisterUE(ctx, as.UESpec{ID: "relay-1", PublicKey: pemOf(t, pub)}); !errors.Is(err, as.ErrConflict) {
		t.Fatalf("duplicate: %v", err)
	}
	// One identity key, one UE: the same key under another ID (PEM or JWK)
	// is refused, naming the holder, at registration and at update.
	for _, k := range [][]byte{pemOf(t, pub), jwkOf(t, pub)} {
		_, _, err := e.srv.RegisterUE(ctx, as.UESpec{ID: "relay-2", PublicKey: k})
		if !errors.Is(err, as.ErrConflict) || !strings.Contains(err.Error(), `already registered to UE "relay-1"`) {
			t.Fatalf("another UE with relay-1's key: %v", err)
		}
	}
	if _, err := e.srv.GetUE(ctx, "relay-2"); !errors.Is(err, as.ErrNotFound) {
		t.Fatalf("the refused registration created relay-2: %v", err)
	}
	other := newP256(t).Public()
	if _, _, err := e.srv.RegisterUE(ctx, as.UESpec{ID: "relay-2", PublicKey: jwkOf(t, other)}); err != nil {
		t.Fatalf("register relay-2 with its own key: %v", err)
	}
	if _, _, err := e.srv.UpdateUE(ctx, "relay-2", as.UEUpdate{PublicKey: pemOf(t, pub)}); !errors.Is(err, as.ErrConflict) || !strings.Contains(err.Error(), `"relay-1"`) {
		t.Fatalf("update relay-2 to relay-1's key: %v", err)
	}
	if _, _, err := e.srv.UpdateUE(ctx, "relay-1", as.UEUpdate{PublicKey: jwkOf(t, pub)}); err != nil {
		t.Fatalf("update relay-1 with its own key again: %v", err)
	}
	if _, err := e.srv.RemoveUE(ctx, "relay-2"); err != nil {
		t.Fatal(err)
	}
	g := mustScopes(t, "u2u:serve:000002")
	info, _, err = e.srv.UpdateUE(ctx, "relay-1", as.UEUpdate{Grants: &g})
	if err != nil || len(info.Grants) != 1 || info.Grants[0] != "u2u:serve:000002" {
		t.Fatalf("update: %+v %v", info, err)
	}
	if _, _, err := e.srv.UpdateUE(ctx, "nobody", as.UEUpdate{}); !errors.Is(err, as.ErrNotFound) {
		t.Fatalf("update unknown: %v", err)
	}
	list, err := e.srv.ListUEs(ctx, "", 0)
	if err != nil || len(list) != 1 {
		t.Fatalf("list: %+v %v", list, err)
	}
	// RemoveUE revokes its tokens.
	u := e.register("ue-1", "u2u:use:000001", false)
	r, _ := e.srv.Token(ctx, as.TokenRequest{GrantType: "client_credentials", Auth: u.basic()})
	n, err := e.srv.RemoveUE(ctx, "ue-1")
	if err != nil || n != 1 {
		t.Fatalf("RemoveUE: %d %v", n, err)
	}
	if _, err := e.srv.GetUE(ctx, "ue-1"); !errors.Is(err, as.ErrNotFound) {
		t.Fatalf("GetUE after remove: %v", err)
	}
	toks, _ := e.srv.ListTokens(ctx, as.TokenFilter{Subject: "ue-1"})
	if len(toks) != 1 || toks[0].JTI != r.JTI || toks[0].RevokedAt == nil {
		t.Fatalf("tokens of removed UE: %+v", toks)
	}
	if err := e.srv.RevokeToken(ctx, "no-such-jti"); !errors.Is(err, as.ErrNotFound) {
		t.Fatalf("revoke unknown jti: %v", err)
	}
}

// failingRand fails after n bytes, to check that Rand errors surface.
type failingRand struct{ n int }

func (f *failingRand) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	k := min(len(p), f.n)
	f.n -= k
	return rand.Read(p[:k])
}

func TestRandFailure(t *testing.T) {
	e := newEnv(t, nil)
	if _, err := as.New(ctx, e.config(func(c *as.Config) { c.Rand = &failingRand{} })); err == nil {
		t.Fatal("New with a failing Rand succeeded")
	}
}

func TestListTokensPagination(t *testing.T) {
	e := newEnv(t, nil)
	u := e.register("ue-page", "u2u:use:000001", false)
	const n = 5
	for i := 0; i < n; i++ {
		if _, err := e.srv.Token(ctx, as.TokenRequest{GrantType: "client_credentials", Auth: u.basic()}); err != nil {
			t.Fatal(err)
		}
	}
	// Page through with a page size of 1: every token exactly once, index 0 included.
	var seen []uint64
	f := as.TokenFilter{Limit: 1}
	for len(seen) <= n {
		page, err := e.srv.ListTokens(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		seen = append(seen, page[0].StatusIndex)
		f.After, f.AfterIndex = true, page[0].StatusIndex
	}
	if len(seen) != n || seen[0] != 0 {
		t.Fatalf("paged indices %v, want %d tokens starting at index 0", seen, n)
	}
}
