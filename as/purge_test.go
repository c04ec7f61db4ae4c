package as_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prosesec/prosesec/as"
	"github.com/prosesec/prosesec/store"
)

// recordExpiring records a token of subject "ue-p" issued an hour before
// exp, straight into the store.
func (e *env) recordExpiring(jti string, exp time.Time) {
	e.t.Helper()
	err := e.st.RecordToken(ctx, &store.IssuedToken{
		JTI: jti, Subject: "ue-p", Scope: "u2u:use:000001", Format: "jwt", KeyID: "k",
		IssuedAt: exp.Add(-time.Hour), ExpiresAt: exp,
	})
	if err != nil {
		e.t.Fatalf("RecordToken %s: %v", jti, err)
	}
}

func (e *env) tokenExists(jti string) bool {
	e.t.Helper()
	_, err := e.st.GetToken(ctx, jti)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		e.t.Fatalf("GetToken %s: %v", jti, err)
	}
	return err == nil
}

func (e *env) maintain() as.MaintainResult {
	e.t.Helper()
	res, err := e.srv.Maintain(ctx)
	if err != nil {
		e.t.Fatalf("Maintain: %v", err)
	}
	return res
}

func TestTokenRetentionConfig(t *testing.T) {
	e := newEnv(t, nil)
	if got := e.srv.Config().TokenRetention; got != 30*24*time.Hour {
		t.Fatalf("default TokenRetention = %v, want 720h (30 days)", got)
	}
	for _, tc := range []struct {
		retention, leeway time.Duration
		ok                bool
	}{
		{-1, 0, true}, // kept forever
		{time.Hour, 0, true},
		{as.DefaultLeeway, 0, true},
		{as.DefaultLeeway - 1, 0, false},
		{time.Second, time.Second, true},
		{time.Second, 2 * time.Second, false},
		{time.Nanosecond, 0, false},
	} {
		cfg := e.config(func(c *as.Config) { c.TokenRetention, c.Leeway = tc.retention, tc.leeway })
		err := cfg.Validate()
		if tc.ok != (err == nil) {
			t.Errorf("Validate with TokenRetention %v, Leeway %v: %v; want ok = %v", tc.retention, tc.leeway, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "TokenRetention") {
			t.Errorf("error %q should name TokenRetention", err)
		}
	}
}

// TestMaintainPurgesTokensPastRetention: only records whose token expired
// more than TokenRetention ago go; the boundary is strict.
func TestMaintainPurgesTokensPastRetention(t *testing.T) {
	e := newEnv(t, func(c *as.Config) { c.TokenRetention = time.Hour })
	now := e.clk.Now()
	e.recordExpiring("past", now.Add(-time.Hour-time.Nanosecond))
	e.recordExpiring("boundary", now.Add(-time.Hour)) // expired exactly the retention ago
	e.recordExpiring("within", now.Add(-time.Minute))
	e.recordExpiring("unexpired", now.Add(time.Hour))
	if err := e.st.RevokeToken(ctx, "within", now.Add(-2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if res := e.maintain(); res.PurgedTokens != 1 {
		t.Fatalf("PurgedTokens = %d, want 1", res.PurgedTokens)
	}
	for jti, want := range map[string]bool{"past": false, "boundary": true, "within": true, "unexpired": true} {
		if got := e.tokenExists(jti); got != want {
			t.Errorf("record %q exists = %v, want %v", jti, got, want)
		}
	}

	// At most once a minute: "boundary" is due a nanosecond later, but the
	// next purge waits.
	e.clk.Advance(30 * time.Second)
	if res := e.maintain(); res.PurgedTokens != 0 || !e.tokenExists("boundary") {
		t.Fatalf("a purge ran 30 s after the last one: PurgedTokens = %d", res.PurgedTokens)
	}
	e.clk.Advance(30 * time.Second)
	if res := e.maintain(); res.PurgedTokens != 1 || e.tokenExists("boundary") {
		t.Fatalf("a minute later: PurgedTokens = %d, want 1 (the boundary record)", res.PurgedTokens)
	}
	// "within" goes once it has been expired for an hour, revoked or not.
	e.clk.Advance(time.Hour - 2*time.Minute)
	if res := e.maintain(); res.PurgedTokens != 0 || !e.tokenExists("within") {
		t.Fatalf("PurgedTokens = %d, want 0 while within retention", res.PurgedTokens)
	}
	e.clk.Advance(time.Minute)
	if res := e.maintain(); res.PurgedTokens != 1 || e.tokenExists("within") {
		t.Fatalf("PurgedTokens = %d, want 1 past retention", res.PurgedTokens)
	}
	if !e.tokenExists("unexpired") {
		t.Fatal("the unexpired record was purged")
	}
	// The status index is not reused.
	max, found, err := e.st.MaxStatusIndex(ctx)
	if err != nil || !found || max != 3 {
		t.Fatalf("MaxStatusIndex = %d, %v, %v; want 3, true, nil", max, found, err)
	}
}

// TestMaintainTokenRetentionLeeway: with the shortest retention allowed
// (Leeway), an issued token's record outlives the token by more than the
// leeway, and no record of a token still valid is ever purged.
func TestMaintainTokenRetentionLeeway(t *testing.T) {
	e := newEnv(t, func(c *as.Config) { c.TokenRetention = as.DefaultLeeway })
	u := e.register("ue-1", "u2u:use:000001", false)
	res, err := e.srv.Token(ctx, as.TokenRequest{GrantType: "client_credentials", Auth: u.basic()})
	if err != nil {
		t.Fatal(err)
	}
	if m := e.maintain(); m.PurgedTokens != 0 || !e.tokenExists(res.JTI) {
		t.Fatalf("valid token: record purged (PurgedTokens = %d)", m.PurgedTokens)
	}
	// Expired for the leeway exactly, more than a minute after the last
	// purge: the purge runs and keeps the record.
	e.clk.Advance(res.Expiry.Add(as.DefaultLeeway).Sub(e.clk.Now()))
	if m := e.maintain(); m.PurgedTokens != 0 || !e.tokenExists(res.JTI) {
		t.Fatalf("at expiry + leeway: record purged (PurgedTokens = %d)", m.PurgedTokens)
	}
	e.clk.Advance(time.Minute)
	if m := e.maintain(); m.PurgedTokens != 1 || e.tokenExists(res.JTI) {
		t.Fatalf("past retention: PurgedTokens = %d, want 1", m.PurgedTokens)
	}
}

// TestMaintainPurgesTokensInBatches: 10,000 records per call; while a
// batch comes back full, the next call goes on without waiting a minute.
func TestMaintainPurgesTokensInBatches(t *testing.T) {
	if testing.Short() {
		t.Skip("records 12,500 tokens")
	}
	e := newEnv(t, func(c *as.Config) { c.TokenRetention = time.Hour })
	expired := e.clk.Now().Add(-2 * time.Hour)
	const total, workers = 12500, 16
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < total; i += workers {
				e.recordExpiring(fmt.Sprintf("old-%05d", i), expired)
			}
		})
	}
	wg.Wait()
	e.recordExpiring("new", e.clk.Now().Add(time.Hour))
	if res := e.maintain(); res.PurgedTokens != 10000 {
		t.Fatalf("first call: PurgedTokens = %d, want 10000", res.PurgedTokens)
	}
	e.clk.Advance(10 * time.Second)
	if res := e.maintain(); res.PurgedTokens != total-10000 {
		t.Fatalf("second call: PurgedTokens = %d, want %d", res.PurgedTokens, total-10000)
	}
	// Done: the next purge waits a minute again.
	e.recordExpiring("old-late", expired)
	e.clk.Advance(10 * time.Second)
	if res := e.maintain(); res.PurgedTokens != 0 {
		t.Fatalf("third call: PurgedTokens = %d, want 0 (not due)", res.PurgedTokens)
	}
	e.clk.Advance(time.Minute)
	if res := e.maintain(); res.PurgedTokens != 1 {
		t.Fatalf("a minute later: PurgedTokens = %d, want 1", res.PurgedTokens)
	}
	left, err := e.st.ListTokens(ctx, store.TokenFilter{})
	if err != nil || len(left) != 1 || left[0].JTI != "new" {
		t.Fatalf("records left: %d, %v; want only \"new\"", len(left), err)
	}
}

// TestMaintainKeepsTokensForever: a negative TokenRetention never purges.
func TestMaintainKeepsTokensForever(t *testing.T) {
	e := newEnv(t, func(c *as.Config) { c.TokenRetention = -1 })
	e.recordExpiring("ancient", e.clk.Now().Add(-10*365*24*time.Hour))
	for range 3 {
		if res := e.maintain(); res.PurgedTokens != 0 {
			t.Fatalf("PurgedTokens = %d with TokenRetention < 0", res.PurgedTokens)
		}
		e.clk.Advance(time.Hour)
	}
	if !e.tokenExists("ancient") {
		t.Fatal("record purged with TokenRetention < 0")
	}
}
