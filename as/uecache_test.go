package as_test

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"testing"
	"time"

	"github.com/prosesec/prosesec/as"
	"github.com/prosesec/prosesec/store"
	"github.com/prosesec/prosesec/store/sqlite"
	"github.com/prosesec/prosesec/token"
)

// The token endpoint authenticates clients against cached registrations
// (see ueCache). These tests change a registration through a second
// instance on the same store, so that the first one learns nothing but
// what the store tells it, with a frozen clock (the worst case for a
// version that is a time stamp), and check that the very next request
// sees the change.

func tokenOf(t *testing.T, srv *as.Server, scope string, a as.ClientAuth) (*as.TokenResponse, error) {
	t.Helper()
	return srv.Token(ctx, as.TokenRequest{GrantType: as.GrantClientCredentials, Scope: scope, Auth: a})
}

func mustToken(t *testing.T, srv *as.Server, scope string, a as.ClientAuth) *as.TokenResponse {
	t.Helper()
	r, err := tokenOf(t, srv, scope, a)
	if err != nil {
		t.Fatalf("Token(scope %q): %v", scope, err)
	}
	return r
}

func wantTokenErr(t *testing.T, srv *as.Server, scope string, a as.ClientAuth, want error, what string) {
	t.Helper()
	r, err := tokenOf(t, srv, scope, a)
	if !errors.Is(err, want) {
		t.Fatalf("%s: Token = %v, %v; want %v", what, r, err, want)
	}
}

func TestTokenSeesChangesByAnotherInstance(t *testing.T) {
	e := newEnv(t, nil)
	a, b := e.srv, e.newServer(nil) // two instances, one store
	u := e.register("ue-1", "u2u:use:000001 u2u:serve:000002", false)
	mustToken(t, a, "", u.basic()) // a caches the registration

	// Secret rotated elsewhere: the old one fails at once, the new one works.
	_, secret, err := b.UpdateUE(ctx, u.id, as.UEUpdate{Secret: as.SecretRotate})
	if err != nil {
		t.Fatal(err)
	}
	old := u.basic()
	u.secret = secret
	wantTokenErr(t, a, "", old, as.ErrInvalidClient, "old secret after rotation")
	mustToken(t, a, "", u.basic())

	// A grant removed elsewhere is refused at once; one added is granted.
	set := func(scopes string) {
		t.Helper()
		sc := mustScopes(t, scopes)
		if _, _, err := b.UpdateUE(ctx, u.id, as.UEUpdate{Grants: &sc}); err != nil {
			t.Fatal(err)
		}
	}
	set("u2u:use:000001")
	wantTokenErr(t, a, "u2u:serve:000002", u.basic(), as.ErrInvalidScope, "removed grant")
	if r := mustToken(t, a, "", u.basic()); r.Scope != "u2u:use:000001" {
		t.Fatalf("default scope after the grant was removed = %q", r.Scope)
	}
	set("u2u:use:000001 u2u:serve:000003")
	mustToken(t, a, "u2u:serve:000003", u.basic())

	// A new identity key: assertions of the old key fail, the new key's
	// work, and the token is bound to the new key.
	mustToken(t, a, "", u.jwtAuth(t, e.clk.Now(), nil))
	oldKey := *u
	u.priv = newP256(t)
	if _, _, err := b.UpdateUE(ctx, u.id, as.UEUpdate{PublicKey: jwkOf(t, u.priv.Public())}); err != nil {
		t.Fatal(err)
	}
	wantTokenErr(t, a, "", oldKey.jwtAuth(t, e.clk.Now(), nil), as.ErrInvalidClient, "assertion of the replaced key")
	r := mustToken(t, a, "", u.jwtAuth(t, e.clk.Now(), nil))
	c, err := e.verifier().Verify([]byte(r.AccessToken), token.JWT, e.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if pub, ok := c.Confirmation.(*ecdsa.PublicKey); !ok || !pub.Equal(u.priv.Public()) {
		t.Fatalf("token cnf is not the new key")
	}

	// Removed elsewhere: no token, not even once, and nothing recorded.
	before, err := a.ListTokens(ctx, as.TokenFilter{Subject: u.id})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.RemoveUE(ctx, u.id); err != nil {
		t.Fatal(err)
	}
	wantTokenErr(t, a, "", u.basic(), as.ErrInvalidClient, "removed UE")
	after, err := a.ListTokens(ctx, as.TokenFilter{Subject: u.id})
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("%d token records after the removal, %d before", len(after), len(before))
	}
	for _, ti := range after {
		if ti.RevokedAt == nil {
			t.Fatalf("token %s of the removed UE is not revoked", ti.JTI)
		}
	}

	// Registered again under the same ID (same frozen time): the new
	// registration's secret works, the old one does not.
	u2 := &ue{id: u.id}
	u2.priv = newP256(t)
	_, s2, err := b.RegisterUE(ctx, as.UESpec{ID: u.id, PublicKey: jwkOf(t, u2.priv.Public()), WithSecret: true, Grants: mustScopes(t, "u2u:use:000009")})
	if err != nil {
		t.Fatal(err)
	}
	u2.secret = s2
	wantTokenErr(t, a, "", u.basic(), as.ErrInvalidClient, "secret of the removed registration")
	if r := mustToken(t, a, "", u2.basic()); r.Scope != "u2u:use:000009" {
		t.Fatalf("scope of the new registration = %q", r.Scope)
	}
}

func TestUpdateUEAdvancesUpdatedAt(t *testing.T) {
	e := newEnv(t, nil) // the clock does not move
	e.register("ue-1", "u2u:use:000001", false)
	prev, err := e.srv.GetUE(ctx, "ue-1")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		lt := time.Duration(0)
		info, _, err := e.srv.UpdateUE(ctx, "ue-1", as.UEUpdate{TokenLifetime: &lt})
		if err != nil {
			t.Fatal(err)
		}
		if !info.UpdatedAt.After(prev.UpdatedAt) {
			t.Fatalf("UpdatedAt %v after an update, was %v: want it later", info.UpdatedAt, prev.UpdatedAt)
		}
		prev = info
	}
}

// raceStore runs hook (once) just before the first guarded token record,
// as if another instance changed the registration at that moment.
type raceStore struct {
	*sqlite.Store
	hook func()
}

func (r *raceStore) RecordTokenIfUE(c context.Context, t *store.IssuedToken, at time.Time) error {
	if h := r.hook; h != nil {
		r.hook = nil
		h()
	}
	return r.Store.RecordTokenIfUE(c, t, at)
}

func TestTokenRetriesAfterConcurrentChange(t *testing.T) {
	e := newEnv(t, nil)
	rs := &raceStore{Store: e.st}
	a := e.newServer(func(c *as.Config) { c.Store = rs })
	other := e.srv
	u := e.register("ue-1", "u2u:use:000001", false)
	mustToken(t, a, "", u.basic())

	// A change between authentication and the record: the request is
	// retried on the new registration, and the client assertion (already
	// recorded by the first attempt) is not taken for a replay.
	rs.hook = func() {
		lt := 2 * time.Hour
		if _, _, err := other.UpdateUE(ctx, u.id, as.UEUpdate{TokenLifetime: &lt}); err != nil {
			t.Error(err)
		}
	}
	auth := u.jwtAuth(t, e.clk.Now(), nil)
	r := mustToken(t, a, "", auth)
	if r.ExpiresIn != int64((2 * time.Hour).Seconds()) {
		t.Fatalf("expires_in = %d, want the new lifetime", r.ExpiresIn)
	}
	wantTokenErr(t, a, "", auth, as.ErrInvalidClient, "the same assertion again")

	// Removed between authentication and the record: no token.
	before, err := a.ListTokens(ctx, as.TokenFilter{Subject: u.id})
	if err != nil {
		t.Fatal(err)
	}
	rs.hook = func() {
		if _, err := other.RemoveUE(ctx, u.id); err != nil {
			t.Error(err)
		}
	}
	wantTokenErr(t, a, "", u.basic(), as.ErrInvalidClient, "UE removed during the request")
	toks, err := a.ListTokens(ctx, as.TokenFilter{Subject: u.id})
	if err != nil {
		t.Fatal(err)
	}
	if len(toks) != len(before) {
		t.Fatalf("%d token records after the removal, %d before", len(toks), len(before))
	}
}

// plainStore hides the store's GuardedTokenRecorder: the AS then reads the
// registration for every request.
type plainStore struct{ store.Store }

func TestTokenWithoutGuardedRecorder(t *testing.T) {
	e := newEnv(t, nil)
	a := e.newServer(func(c *as.Config) { c.Store = plainStore{e.st} })
	u := e.register("ue-1", "u2u:use:000001", false)
	mustToken(t, a, "", u.basic())
	_, secret, err := e.srv.UpdateUE(ctx, u.id, as.UEUpdate{Secret: as.SecretRotate})
	if err != nil {
		t.Fatal(err)
	}
	wantTokenErr(t, a, "", u.basic(), as.ErrInvalidClient, "old secret")
	u.secret = secret
	mustToken(t, a, "", u.basic())
	mustToken(t, a, "", u.jwtAuth(t, e.clk.Now(), nil))
}
