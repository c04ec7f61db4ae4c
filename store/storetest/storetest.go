// Package storetest owns the backend-independent conformance suite for
// store.Store. Every backend runs it from its own tests against a real
// database:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "as.db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
//
// open must return a fresh, EMPTY store each time it is called: no UEs,
// tokens, keys or assertions, and no status index assigned yet. The suite
// calls it once per subtest, never shares a store between subtests, and
// closes each store itself when its subtest ends (open must not close it).
// Nothing here depends on a particular backend: the suite checks only the
// contracts written in package store, including the conventions in its
// documentation (exact time round trips, byte-wise ID order, 0-based status
// indices, the "exp" boundary of the assertion cache).
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/prosesec/prosesec/store"
)

// base is the suite's reference instant: nanoseconds set, and far enough from
// the Unix epoch to catch unit mistakes.
var base = time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.UTC)

// east is a non-UTC zone: backends must keep instants, not zones.
var east = time.FixedZone("UTC+05:30", 5*3600+1800)

// Run runs the conformance suite. See the package documentation for what
// open must do.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	fresh := func(t *testing.T) store.Store {
		t.Helper()
		s := open(t)
		if s == nil {
			t.Fatal("open returned a nil store")
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Ping", testPing},
		{"UE/CreateGet", testUECreateGet},
		{"UE/Conflict", testUEConflict},
		{"UE/Update", testUEUpdate},
		{"UE/Delete", testUEDelete},
		{"UE/List", testUEList},
		{"UE/KeyInUse", testUEKeyInUse},
		{"Token/RecordGet", testTokenRecordGet},
		{"Token/Indices", testTokenIndices},
		{"Token/DuplicateJTI", testTokenDuplicate},
		{"Token/GuardedRecord", testGuardedRecord},
		{"Token/Revoke", testTokenRevoke},
		{"Token/RevokeSubject", testTokenRevokeSubject},
		{"Token/List", testTokenList},
		{"Token/ListPaging", testTokenListPaging},
		{"Token/RevokedIndices", testRevokedIndices},
		{"Token/RevocationVersion", testRevocationVersion},
		{"Token/Purge", testTokenPurge},
		{"Key/PutList", testKeyPutList},
		{"Key/Rotate", testKeyRotate},
		{"Key/RotateAllOrNothing", testKeyRotateAllOrNothing},
		{"Key/Purge", testKeyPurge},
		{"Assertion/Replay", testAssertionReplay},
		{"Assertion/Purge", testAssertionPurge},
		{"Concurrent/RecordToken", testConcurrentRecord},
		{"Concurrent/SameJTI", testConcurrentSameJTI},
		{"Concurrent/SameAssertion", testConcurrentSameAssertion},
		{"Concurrent/Mixed", testConcurrentMixed},
		{"CanceledContext", testCanceledContext},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, fresh(t)) })
	}
}

// ---- helpers ----

func ok(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", what, err)
	}
}

func isErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error = %v, want one matching %v", what, err, target)
	}
}

func ptr(t time.Time) *time.Time { return &t }

func sameTime(a, b time.Time) bool { return a.Equal(b) && a.IsZero() == b.IsZero() }

func sameTimePtr(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return sameTime(*a, *b)
}

func fmtPtr(p *time.Time) string {
	if p == nil {
		return "nil"
	}
	return p.Format(time.RFC3339Nano)
}

func sampleUE(id string) *store.UE {
	return &store.UE{
		ID:            id,
		PublicKey:     []byte(`{"kty":"OKP","crv":"X25519","x":"` + id + `"}`),
		KeyThumbprint: "tp-" + id,
		SecretHash:    []byte{0x00, 0x01, 0xfe, 0xff, byte(len(id))},
		Grants:        []store.Grant{{RSC: 0xabcdef, Role: "use"}, {RSC: 1, Role: "serve"}, {RSC: 0xffffff, Role: "use"}},
		TokenLifetime: 90*time.Minute + 7*time.Nanosecond,
		CreatedAt:     base.In(east),
		UpdatedAt:     base.Add(time.Second),
	}
}

func diffUE(got, want *store.UE) string {
	switch {
	case got == nil:
		return "got nil UE"
	case got.ID != want.ID:
		return fmt.Sprintf("ID = %q, want %q", got.ID, want.ID)
	case !bytes.Equal(got.PublicKey, want.PublicKey):
		return fmt.Sprintf("PublicKey = %q, want %q", got.PublicKey, want.PublicKey)
	case got.KeyThumbprint != want.KeyThumbprint:
		return fmt.Sprintf("KeyThumbprint = %q, want %q", got.KeyThumbprint, want.KeyThumbprint)
	case (got.SecretHash == nil) != (want.SecretHash == nil) || !bytes.Equal(got.SecretHash, want.SecretHash):
		return fmt.Sprintf("SecretHash = %#v, want %#v", got.SecretHash, want.SecretHash)
	case len(got.Grants) != len(want.Grants):
		return fmt.Sprintf("Grants = %v, want %v", got.Grants, want.Grants)
	case got.TokenLifetime != want.TokenLifetime:
		return fmt.Sprintf("TokenLifetime = %v, want %v", got.TokenLifetime, want.TokenLifetime)
	case !sameTime(got.CreatedAt, want.CreatedAt):
		return fmt.Sprintf("CreatedAt = %v, want %v", got.CreatedAt, want.CreatedAt)
	case !sameTime(got.UpdatedAt, want.UpdatedAt):
		return fmt.Sprintf("UpdatedAt = %v, want %v", got.UpdatedAt, want.UpdatedAt)
	}
	for i := range got.Grants {
		if got.Grants[i] != want.Grants[i] {
			return fmt.Sprintf("Grants = %v, want %v (in order)", got.Grants, want.Grants)
		}
	}
	return ""
}

func sampleToken(jti, subject string) *store.IssuedToken {
	return &store.IssuedToken{
		JTI:       jti,
		Subject:   subject,
		Scope:     "prose:relay:0x00abcdef:use",
		Format:    "jwt",
		KeyID:     "k1",
		IssuedAt:  base.In(east),
		ExpiresAt: base.Add(time.Hour),
	}
}

func diffToken(got, want *store.IssuedToken) string {
	switch {
	case got == nil:
		return "got nil token"
	case got.JTI != want.JTI || got.Subject != want.Subject || got.Scope != want.Scope ||
		got.Format != want.Format || got.KeyID != want.KeyID:
		return fmt.Sprintf("got %+v, want %+v", *got, *want)
	case got.StatusIndex != want.StatusIndex:
		return fmt.Sprintf("StatusIndex = %d, want %d", got.StatusIndex, want.StatusIndex)
	case !sameTime(got.IssuedAt, want.IssuedAt):
		return fmt.Sprintf("IssuedAt = %v, want %v", got.IssuedAt, want.IssuedAt)
	case !sameTime(got.ExpiresAt, want.ExpiresAt):
		return fmt.Sprintf("ExpiresAt = %v, want %v", got.ExpiresAt, want.ExpiresAt)
	case !sameTimePtr(got.RevokedAt, want.RevokedAt):
		return fmt.Sprintf("RevokedAt = %s, want %s", fmtPtr(got.RevokedAt), fmtPtr(want.RevokedAt))
	}
	return ""
}

func record(t *testing.T, s store.Store, tok *store.IssuedToken) *store.IssuedToken {
	t.Helper()
	ok(t, s.RecordToken(context.Background(), tok), "RecordToken "+tok.JTI)
	return tok
}

func getToken(t *testing.T, s store.Store, jti string) *store.IssuedToken {
	t.Helper()
	tok, err := s.GetToken(context.Background(), jti)
	ok(t, err, "GetToken "+jti)
	return tok
}

func indicesOf(toks []*store.IssuedToken) []uint64 {
	out := make([]uint64, len(toks))
	for i, tk := range toks {
		out[i] = tk.StatusIndex
	}
	return out
}

func equalIdx(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func sampleKey(kid string, state store.KeyState, created time.Time) *store.SigningKey {
	return &store.SigningKey{
		KID:           kid,
		Algorithm:     "ES256",
		State:         state,
		PublicJWK:     []byte(`{"kty":"EC","crv":"P-256","kid":"` + kid + `"}`),
		EncryptedPriv: []byte("sealed:" + kid + "\x00\xff"),
		CreatedAt:     created,
	}
}

func diffKey(got, want *store.SigningKey) string {
	switch {
	case got == nil:
		return "got nil key"
	case got.KID != want.KID || got.Algorithm != want.Algorithm || got.State != want.State:
		return fmt.Sprintf("got %s/%s/%s, want %s/%s/%s", got.KID, got.Algorithm, got.State, want.KID, want.Algorithm, want.State)
	case !bytes.Equal(got.PublicJWK, want.PublicJWK):
		return fmt.Sprintf("%s: PublicJWK = %q, want %q", want.KID, got.PublicJWK, want.PublicJWK)
	case !bytes.Equal(got.EncryptedPriv, want.EncryptedPriv):
		return fmt.Sprintf("%s: EncryptedPriv = %q, want %q", want.KID, got.EncryptedPriv, want.EncryptedPriv)
	case !sameTime(got.CreatedAt, want.CreatedAt):
		return fmt.Sprintf("%s: CreatedAt = %v, want %v", want.KID, got.CreatedAt, want.CreatedAt)
	case !sameTimePtr(got.ActivatedAt, want.ActivatedAt):
		return fmt.Sprintf("%s: ActivatedAt = %s, want %s", want.KID, fmtPtr(got.ActivatedAt), fmtPtr(want.ActivatedAt))
	case !sameTimePtr(got.RetiredAt, want.RetiredAt):
		return fmt.Sprintf("%s: RetiredAt = %s, want %s", want.KID, fmtPtr(got.RetiredAt), fmtPtr(want.RetiredAt))
	case !sameTimePtr(got.PublishUntil, want.PublishUntil):
		return fmt.Sprintf("%s: PublishUntil = %s, want %s", want.KID, fmtPtr(got.PublishUntil), fmtPtr(want.PublishUntil))
	}
	return ""
}

func checkKeys(t *testing.T, s store.Store, want ...*store.SigningKey) {
	t.Helper()
	got, err := s.ListKeys(context.Background())
	ok(t, err, "ListKeys")
	if len(got) != len(want) {
		kids := make([]string, len(got))
		for i, k := range got {
			kids[i] = k.KID
		}
		t.Fatalf("ListKeys returned %d keys %v, want %d", len(got), kids, len(want))
	}
	for i := range want {
		if d := diffKey(got[i], want[i]); d != "" {
			t.Fatalf("ListKeys[%d]: %s", i, d)
		}
	}
}

func keysVersion(t *testing.T, s store.Store) int64 {
	t.Helper()
	v, err := s.KeysVersion(context.Background())
	ok(t, err, "KeysVersion")
	return v
}

func revVersion(t *testing.T, s store.Store) int64 {
	t.Helper()
	v, err := s.RevocationVersion(context.Background())
	ok(t, err, "RevocationVersion")
	return v
}

// ---- tests ----

func testPing(t *testing.T, s store.Store) {
	ok(t, s.Ping(context.Background()), "Ping")
}

func testUECreateGet(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.GetUE(ctx, "ue-a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetUE on an empty store: error = %v, want ErrNotFound", err)
	}

	in := sampleUE("ue-a")
	want := sampleUE("ue-a")
	ok(t, s.CreateUE(ctx, in), "CreateUE")
	// The store keeps no reference to the caller's struct.
	in.PublicKey[0], in.SecretHash[0], in.Grants[0].RSC = 'X', 0x42, 7
	got, err := s.GetUE(ctx, "ue-a")
	ok(t, err, "GetUE")
	if d := diffUE(got, want); d != "" {
		t.Fatalf("GetUE after CreateUE: %s", d)
	}
	// Nor hands out its own.
	got.PublicKey[0], got.Grants = 'Y', nil
	again, err := s.GetUE(ctx, "ue-a")
	ok(t, err, "GetUE")
	if d := diffUE(again, want); d != "" {
		t.Fatalf("GetUE after mutating an earlier result: %s", d)
	}

	// A UE without secret, grants, lifetime or times.
	bare := &store.UE{ID: "ue-bare", PublicKey: []byte(`{}`)}
	ok(t, s.CreateUE(ctx, bare), "CreateUE bare")
	got, err = s.GetUE(ctx, "ue-bare")
	ok(t, err, "GetUE bare")
	if d := diffUE(got, bare); d != "" {
		t.Fatalf("GetUE bare: %s", d)
	}
	if got.SecretHash != nil {
		t.Fatalf("SecretHash = %#v, want nil when none was set", got.SecretHash)
	}
	if !got.CreatedAt.IsZero() || !got.UpdatedAt.IsZero() {
		t.Fatalf("zero times came back as %v / %v", got.CreatedAt, got.UpdatedAt)
	}
}

func testUEConflict(t *testing.T, s store.Store) {
	ctx := context.Background()
	first := sampleUE("ue-a")
	ok(t, s.CreateUE(ctx, first), "CreateUE")
	dup := sampleUE("ue-a")
	dup.PublicKey = []byte(`{"other":true}`)
	dup.Grants = []store.Grant{{RSC: 99, Role: "serve"}}
	isErr(t, s.CreateUE(ctx, dup), store.ErrConflict, "CreateUE with an existing ID")
	got, err := s.GetUE(ctx, "ue-a")
	ok(t, err, "GetUE")
	if d := diffUE(got, first); d != "" {
		t.Fatalf("a conflicting CreateUE changed the UE: %s", d)
	}
}

func testUEUpdate(t *testing.T, s store.Store) {
	ctx := context.Background()
	isErr(t, s.UpdateUE(ctx, sampleUE("ue-missing")), store.ErrNotFound, "UpdateUE of an absent UE")
	if _, err := s.GetUE(ctx, "ue-missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UpdateUE of an absent UE created it (GetUE error %v)", err)
	}

	orig := sampleUE("ue-a")
	ok(t, s.CreateUE(ctx, orig), "CreateUE")
	ok(t, s.CreateUE(ctx, sampleUE("ue-b")), "CreateUE")

	upd := &store.UE{
		ID:            "ue-a",
		PublicKey:     []byte(`{"rotated":1}`),
		SecretHash:    nil,
		Grants:        []store.Grant{{RSC: 0x000102, Role: "serve"}},
		TokenLifetime: 0,
		CreatedAt:     base.Add(99 * time.Hour), // must be ignored
		UpdatedAt:     base.Add(2 * time.Hour).In(east),
	}
	ok(t, s.UpdateUE(ctx, upd), "UpdateUE")
	want := *upd
	want.CreatedAt = orig.CreatedAt
	got, err := s.GetUE(ctx, "ue-a")
	ok(t, err, "GetUE")
	if d := diffUE(got, &want); d != "" {
		t.Fatalf("GetUE after UpdateUE: %s", d)
	}

	// Grants can be emptied and the secret set again.
	upd2 := want
	upd2.Grants = nil
	upd2.SecretHash = []byte{9, 9, 9}
	ok(t, s.UpdateUE(ctx, &upd2), "UpdateUE")
	got, err = s.GetUE(ctx, "ue-a")
	ok(t, err, "GetUE")
	if d := diffUE(got, &upd2); d != "" {
		t.Fatalf("GetUE after second UpdateUE: %s", d)
	}

	// The other UE is untouched.
	got, err = s.GetUE(ctx, "ue-b")
	ok(t, err, "GetUE ue-b")
	if d := diffUE(got, sampleUE("ue-b")); d != "" {
		t.Fatalf("UpdateUE of ue-a changed ue-b: %s", d)
	}
}

func testUEDelete(t *testing.T, s store.Store) {
	ctx := context.Background()
	isErr(t, s.DeleteUE(ctx, "ue-a"), store.ErrNotFound, "DeleteUE of an absent UE")
	ok(t, s.CreateUE(ctx, sampleUE("ue-a")), "CreateUE")
	ok(t, s.CreateUE(ctx, sampleUE("ue-b")), "CreateUE")
	tok := record(t, s, sampleToken("jti-1", "ue-a"))

	ok(t, s.DeleteUE(ctx, "ue-a"), "DeleteUE")
	if _, err := s.GetUE(ctx, "ue-a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetUE after DeleteUE: error = %v, want ErrNotFound", err)
	}
	isErr(t, s.DeleteUE(ctx, "ue-a"), store.ErrNotFound, "second DeleteUE")
	if _, err := s.GetUE(ctx, "ue-b"); err != nil {
		t.Fatalf("DeleteUE of ue-a removed ue-b: %v", err)
	}
	// Issued-token records stay.
	if d := diffToken(getToken(t, s, "jti-1"), tok); d != "" {
		t.Fatalf("token of a deleted UE: %s", d)
	}
	// The ID can be registered again, without the old grants.
	re := &store.UE{ID: "ue-a", PublicKey: []byte(`{"new":1}`), Grants: []store.Grant{{RSC: 5, Role: "use"}}}
	ok(t, s.CreateUE(ctx, re), "CreateUE after DeleteUE")
	got, err := s.GetUE(ctx, "ue-a")
	ok(t, err, "GetUE")
	if d := diffUE(got, re); d != "" {
		t.Fatalf("re-created UE: %s", d)
	}
}

func testUEList(t *testing.T, s store.Store) {
	ctx := context.Background()
	list := func(after string, limit int) []string {
		t.Helper()
		ues, err := s.ListUEs(ctx, after, limit)
		ok(t, err, fmt.Sprintf("ListUEs(%q, %d)", after, limit))
		ids := make([]string, len(ues))
		for i, u := range ues {
			ids[i] = u.ID
			if d := diffUE(u, sampleUE(u.ID)); d != "" {
				t.Fatalf("ListUEs(%q, %d)[%d]: %s", after, limit, i, d)
			}
		}
		return ids
	}
	eq := func(got []string, want ...string) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) || len(got) != len(want) {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	eq(list("", 0))

	// Lower-case ASCII IDs of one shape, so that every collation agrees with
	// byte order. Inserted out of order.
	ids := []string{"ue-05", "ue-01", "ue-07", "ue-03", "ue-02", "ue-06", "ue-04"}
	for _, id := range ids {
		ok(t, s.CreateUE(ctx, sampleUE(id)), "CreateUE "+id)
	}
	all := append([]string(nil), ids...)
	sort.Strings(all)
	eq(list("", 0), all...)
	eq(list("", 3), all[:3]...)
	eq(list("ue-03", 3), all[3:6]...)
	eq(list("ue-06", 3), all[6:]...)
	eq(list("ue-07", 3))
	eq(list("ue-035", 0), all[3:]...) // after need not exist
	eq(list("", 100), all...)

	// Paging visits everything exactly once.
	var paged []string
	for after := ""; ; {
		page := list(after, 2)
		paged = append(paged, page...)
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1]
	}
	eq(paged, all...)
}

func testTokenRecordGet(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.GetToken(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetToken of an absent JTI: error = %v, want ErrNotFound", err)
	}
	if _, found, err := s.MaxStatusIndex(ctx); err != nil || found {
		t.Fatalf("MaxStatusIndex on an empty store = found %v, err %v; want false, nil", found, err)
	}

	tok := sampleToken("jti-1", "ue-a")
	tok.StatusIndex = 12345 // ignored: the store assigns it
	record(t, s, tok)
	if tok.StatusIndex != 0 {
		t.Fatalf("first StatusIndex = %d, want 0", tok.StatusIndex)
	}
	got := getToken(t, s, "jti-1")
	if d := diffToken(got, tok); d != "" {
		t.Fatalf("GetToken: %s", d)
	}
	if got.RevokedAt != nil {
		t.Fatalf("RevokedAt = %v, want nil", got.RevokedAt)
	}

	cwt := sampleToken("jti-2", "ue-b")
	cwt.Format, cwt.KeyID, cwt.Scope = "cwt", "k2", ""
	cwt.IssuedAt = time.Date(2262, 1, 1, 0, 0, 0, 1, time.UTC)
	cwt.ExpiresAt = time.Date(2262, 1, 1, 0, 0, 0, 999999999, time.UTC)
	record(t, s, cwt)
	if d := diffToken(getToken(t, s, "jti-2"), cwt); d != "" {
		t.Fatalf("GetToken: %s", d)
	}
	max, found, err := s.MaxStatusIndex(ctx)
	if err != nil || !found || max != cwt.StatusIndex {
		t.Fatalf("MaxStatusIndex = %d, %v, %v; want %d, true, nil", max, found, err, cwt.StatusIndex)
	}
}

func testTokenIndices(t *testing.T, s store.Store) {
	ctx := context.Background()
	var toks []*store.IssuedToken
	seen := map[uint64]bool{}
	for i := range 20 {
		tok := record(t, s, sampleToken(fmt.Sprintf("jti-%02d", i), "ue-a"))
		if i == 0 && tok.StatusIndex != 0 {
			t.Fatalf("first StatusIndex = %d, want 0", tok.StatusIndex)
		}
		if i > 0 && tok.StatusIndex <= toks[i-1].StatusIndex {
			t.Fatalf("StatusIndex %d after %d: want increasing indices", tok.StatusIndex, toks[i-1].StatusIndex)
		}
		if seen[tok.StatusIndex] {
			t.Fatalf("StatusIndex %d assigned twice", tok.StatusIndex)
		}
		seen[tok.StatusIndex] = true
		toks = append(toks, tok)
		max, found, err := s.MaxStatusIndex(ctx)
		if err != nil || !found || max != tok.StatusIndex {
			t.Fatalf("MaxStatusIndex = %d, %v, %v; want %d, true, nil", max, found, err, tok.StatusIndex)
		}
	}
	for _, tok := range toks {
		if d := diffToken(getToken(t, s, tok.JTI), tok); d != "" {
			t.Fatalf("GetToken %s: %s", tok.JTI, d)
		}
	}
}

func testTokenDuplicate(t *testing.T, s store.Store) {
	ctx := context.Background()
	first := record(t, s, sampleToken("jti-1", "ue-a"))
	dup := sampleToken("jti-1", "ue-b")
	dup.Scope = "other"
	isErr(t, s.RecordToken(ctx, dup), store.ErrConflict, "RecordToken with an existing JTI")
	if d := diffToken(getToken(t, s, "jti-1"), first); d != "" {
		t.Fatalf("a conflicting RecordToken changed the record: %s", d)
	}
	next := record(t, s, sampleToken("jti-2", "ue-a"))
	if next.StatusIndex <= first.StatusIndex {
		t.Fatalf("StatusIndex after a conflict = %d, want more than %d", next.StatusIndex, first.StatusIndex)
	}
	all, err := s.ListTokens(ctx, store.TokenFilter{})
	ok(t, err, "ListTokens")
	if len(all) != 2 {
		t.Fatalf("ListTokens returned %d records, want 2", len(all))
	}
}

// testGuardedRecord checks store.GuardedTokenRecorder, for backends that
// implement it.
func testGuardedRecord(t *testing.T, s store.Store) {
	g, impl := s.(store.GuardedTokenRecorder)
	if !impl {
		t.Skip("the backend does not implement store.GuardedTokenRecorder")
	}
	ctx := context.Background()
	ue := sampleUE("ue-a")
	ok(t, s.CreateUE(ctx, ue), "CreateUE")
	zero := sampleUE("ue-zero")
	zero.UpdatedAt = time.Time{}
	ok(t, s.CreateUE(ctx, zero), "CreateUE")

	first := sampleToken("jti-1", "ue-a")
	ok(t, g.RecordTokenIfUE(ctx, first, ue.UpdatedAt.In(east)), "RecordTokenIfUE with the current UpdatedAt")
	if d := diffToken(getToken(t, s, "jti-1"), first); d != "" {
		t.Fatalf("GetToken after RecordTokenIfUE: %s", d)
	}
	ok(t, g.RecordTokenIfUE(ctx, sampleToken("jti-z", "ue-zero"), time.Time{}), "RecordTokenIfUE with a zero UpdatedAt")

	stale := func(tok *store.IssuedToken, at time.Time, what string) {
		t.Helper()
		isErr(t, g.RecordTokenIfUE(ctx, tok, at), store.ErrStale, what)
		if _, err := s.GetToken(ctx, tok.JTI); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s: the token was recorded anyway (GetToken error %v)", what, err)
		}
	}
	stale(sampleToken("jti-2", "ue-a"), ue.UpdatedAt.Add(time.Nanosecond), "RecordTokenIfUE with another UpdatedAt")
	stale(sampleToken("jti-3", "ue-a"), time.Time{}, "RecordTokenIfUE with a zero UpdatedAt for a UE that has one")
	stale(sampleToken("jti-4", "ue-zero"), base, "RecordTokenIfUE with an UpdatedAt for a UE without one")
	stale(sampleToken("jti-5", "ue-missing"), base, "RecordTokenIfUE for an unknown UE")
	isErr(t, g.RecordTokenIfUE(ctx, sampleToken("jti-1", "ue-a"), ue.UpdatedAt), store.ErrConflict, "RecordTokenIfUE with an existing JTI")
	isErr(t, g.RecordTokenIfUE(ctx, sampleToken("jti-1", "ue-a"), base), store.ErrConflict, "RecordTokenIfUE with an existing JTI and a stale UpdatedAt")

	upd := sampleUE("ue-a")
	upd.UpdatedAt = ue.UpdatedAt.Add(time.Minute)
	ok(t, s.UpdateUE(ctx, upd), "UpdateUE")
	stale(sampleToken("jti-6", "ue-a"), ue.UpdatedAt, "RecordTokenIfUE after UpdateUE")
	next := sampleToken("jti-7", "ue-a")
	ok(t, g.RecordTokenIfUE(ctx, next, upd.UpdatedAt), "RecordTokenIfUE with the new UpdatedAt")
	if next.StatusIndex <= first.StatusIndex {
		t.Fatalf("StatusIndex = %d after %d, want it to increase", next.StatusIndex, first.StatusIndex)
	}
	ok(t, s.DeleteUE(ctx, "ue-a"), "DeleteUE")
	stale(sampleToken("jti-8", "ue-a"), upd.UpdatedAt, "RecordTokenIfUE after DeleteUE")
}

func testTokenRevoke(t *testing.T, s store.Store) {
	ctx := context.Background()
	isErr(t, s.RevokeToken(ctx, "nope", base), store.ErrNotFound, "RevokeToken of an absent JTI")
	a := record(t, s, sampleToken("jti-a", "ue-a"))
	b := record(t, s, sampleToken("jti-b", "ue-a"))

	t1 := base.Add(10 * time.Minute).In(east)
	ok(t, s.RevokeToken(ctx, "jti-a", t1), "RevokeToken")
	a.RevokedAt = ptr(t1)
	if d := diffToken(getToken(t, s, "jti-a"), a); d != "" {
		t.Fatalf("after RevokeToken: %s", d)
	}
	// Idempotent, keeping the first time.
	ok(t, s.RevokeToken(ctx, "jti-a", t1.Add(time.Hour)), "second RevokeToken")
	if d := diffToken(getToken(t, s, "jti-a"), a); d != "" {
		t.Fatalf("after second RevokeToken: %s", d)
	}
	// Other tokens are untouched.
	if d := diffToken(getToken(t, s, "jti-b"), b); d != "" {
		t.Fatalf("RevokeToken of jti-a changed jti-b: %s", d)
	}
}

func testTokenRevokeSubject(t *testing.T, s store.Store) {
	ctx := context.Background()
	n, err := s.RevokeSubject(ctx, "ue-a", base)
	if err != nil || n != 0 {
		t.Fatalf("RevokeSubject on an empty store = %d, %v; want 0, nil", n, err)
	}
	a1 := record(t, s, sampleToken("a1", "ue-a"))
	b1 := record(t, s, sampleToken("b1", "ue-b"))
	a2 := record(t, s, sampleToken("a2", "ue-a"))
	a3 := record(t, s, sampleToken("a3", "ue-a"))
	b2 := record(t, s, sampleToken("b2", "ue-b"))

	early := base.Add(time.Minute)
	ok(t, s.RevokeToken(ctx, "a2", early), "RevokeToken a2")
	late := base.Add(time.Hour)
	n, err = s.RevokeSubject(ctx, "ue-a", late)
	if err != nil || n != 2 {
		t.Fatalf("RevokeSubject = %d, %v; want 2, nil", n, err)
	}
	a1.RevokedAt, a2.RevokedAt, a3.RevokedAt = ptr(late), ptr(early), ptr(late)
	for _, want := range []*store.IssuedToken{a1, a2, a3, b1, b2} {
		if d := diffToken(getToken(t, s, want.JTI), want); d != "" {
			t.Fatalf("after RevokeSubject, %s: %s", want.JTI, d)
		}
	}
	n, err = s.RevokeSubject(ctx, "ue-a", late.Add(time.Hour))
	if err != nil || n != 0 {
		t.Fatalf("second RevokeSubject = %d, %v; want 0, nil", n, err)
	}
	n, err = s.RevokeSubject(ctx, "ue-unknown", late)
	if err != nil || n != 0 {
		t.Fatalf("RevokeSubject of an unknown subject = %d, %v; want 0, nil", n, err)
	}
}

func testTokenList(t *testing.T, s store.Store) {
	ctx := context.Background()
	list := func(f store.TokenFilter) []*store.IssuedToken {
		t.Helper()
		toks, err := s.ListTokens(ctx, f)
		ok(t, err, fmt.Sprintf("ListTokens(%+v)", f))
		for i := 1; i < len(toks); i++ {
			if toks[i].StatusIndex <= toks[i-1].StatusIndex {
				t.Fatalf("ListTokens(%+v) not ordered by StatusIndex: %v", f, indicesOf(toks))
			}
		}
		return toks
	}
	if got := list(store.TokenFilter{}); len(got) != 0 {
		t.Fatalf("ListTokens on an empty store returned %d records", len(got))
	}

	// Tokens i = 0..9; subject ue-a for even i, ue-b for odd; token i
	// expires at base + i minutes.
	var toks []*store.IssuedToken
	for i := range 10 {
		tok := sampleToken(fmt.Sprintf("jti-%d", i), []string{"ue-a", "ue-b"}[i%2])
		tok.ExpiresAt = base.Add(time.Duration(i) * time.Minute)
		toks = append(toks, record(t, s, tok))
	}
	ok(t, s.RevokeToken(ctx, "jti-4", base), "RevokeToken")
	toks[4].RevokedAt = ptr(base)
	want := func(name string, got []*store.IssuedToken, idx ...int) {
		t.Helper()
		if len(got) != len(idx) {
			t.Fatalf("%s: got %d records %v, want tokens %v", name, len(got), indicesOf(got), idx)
		}
		for i, j := range idx {
			if d := diffToken(got[i], toks[j]); d != "" {
				t.Fatalf("%s: record %d: %s", name, i, d)
			}
		}
	}
	want("all", list(store.TokenFilter{}), 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
	want("subject", list(store.TokenFilter{Subject: "ue-a"}), 0, 2, 4, 6, 8)
	want("unknown subject", list(store.TokenFilter{Subject: "ue-z"}))
	// ActiveAt keeps ExpiresAt strictly after it.
	want("active", list(store.TokenFilter{ActiveAt: base.Add(6 * time.Minute)}), 7, 8, 9)
	want("active+subject", list(store.TokenFilter{Subject: "ue-b", ActiveAt: base.Add(2 * time.Minute).In(east)}), 3, 5, 7, 9)
	want("limit", list(store.TokenFilter{Limit: 3}), 0, 1, 2)
	want("after", list(store.TokenFilter{AfterIndex: toks[6].StatusIndex}), 7, 8, 9)
	want("after 0 with After", list(store.TokenFilter{AfterIndex: toks[0].StatusIndex, After: true}), 1, 2, 3, 4, 5, 6, 7, 8, 9)
	want("After without index", list(store.TokenFilter{After: true}), 1, 2, 3, 4, 5, 6, 7, 8, 9)
	want("after+limit", list(store.TokenFilter{AfterIndex: toks[2].StatusIndex, Limit: 2}), 3, 4)
	want("everything", list(store.TokenFilter{Subject: "ue-a", ActiveAt: base.Add(time.Minute), AfterIndex: toks[2].StatusIndex, Limit: 2}), 4, 6)
	want("after the last", list(store.TokenFilter{AfterIndex: toks[9].StatusIndex}))
	want("after far", list(store.TokenFilter{AfterIndex: ^uint64(0)}))
}

func testTokenListPaging(t *testing.T, s store.Store) {
	ctx := context.Background()
	var want []uint64
	for i := range 7 {
		want = append(want, record(t, s, sampleToken(fmt.Sprintf("jti-%d", i), "ue-a")).StatusIndex)
	}
	for _, limit := range []int{1, 2, 3, 7, 8} {
		var got []uint64
		f := store.TokenFilter{Limit: limit}
		for range 20 {
			page, err := s.ListTokens(ctx, f)
			ok(t, err, "ListTokens")
			got = append(got, indicesOf(page)...)
			if len(page) < limit {
				break
			}
			f.After, f.AfterIndex = true, page[len(page)-1].StatusIndex
		}
		if !equalIdx(got, want) {
			t.Fatalf("paging with limit %d visited %v, want %v", limit, got, want)
		}
	}
}

func testRevokedIndices(t *testing.T, s store.Store) {
	ctx := context.Background()
	ri := func(lo, hi uint64) []uint64 {
		t.Helper()
		got, err := s.RevokedIndices(ctx, lo, hi)
		ok(t, err, fmt.Sprintf("RevokedIndices(%d, %d)", lo, hi))
		return got
	}
	if got := ri(0, 1000); len(got) != 0 {
		t.Fatalf("RevokedIndices on an empty store = %v", got)
	}
	var toks []*store.IssuedToken
	for i := range 12 {
		toks = append(toks, record(t, s, sampleToken(fmt.Sprintf("jti-%d", i), "ue-a")))
	}
	if got := ri(0, 1000); len(got) != 0 {
		t.Fatalf("RevokedIndices with nothing revoked = %v", got)
	}
	revoked := []int{0, 3, 4, 11}
	for _, i := range revoked {
		ok(t, s.RevokeToken(ctx, toks[i].JTI, base), "RevokeToken")
	}
	idx := func(is ...int) []uint64 {
		out := []uint64{}
		for _, i := range is {
			out = append(out, toks[i].StatusIndex)
		}
		return out
	}
	check := func(lo, hi uint64, want []uint64) {
		t.Helper()
		got := ri(lo, hi)
		if !equalIdx(got, want) {
			t.Fatalf("RevokedIndices(%d, %d) = %v, want %v", lo, hi, got, want)
		}
	}
	last := toks[11].StatusIndex
	check(0, last+1, idx(0, 3, 4, 11))
	check(0, ^uint64(0), idx(0, 3, 4, 11))
	check(0, last, idx(0, 3, 4)) // hi is exclusive
	check(toks[3].StatusIndex, toks[4].StatusIndex, idx(3))
	check(toks[3].StatusIndex, toks[4].StatusIndex+1, idx(3, 4))
	check(toks[0].StatusIndex+1, toks[3].StatusIndex, nil)
	check(toks[4].StatusIndex, toks[4].StatusIndex, nil) // empty range
	check(toks[4].StatusIndex+1, toks[4].StatusIndex, nil)
	check(last+1, last+100, nil)
}

func testRevocationVersion(t *testing.T, s store.Store) {
	ctx := context.Background()
	record(t, s, sampleToken("jti-a", "ue-a"))
	record(t, s, sampleToken("jti-b", "ue-a"))
	record(t, s, sampleToken("jti-c", "ue-b"))
	v1 := revVersion(t, s)
	// Reads never change it.
	_, _ = s.GetToken(ctx, "jti-a")
	_, _ = s.ListTokens(ctx, store.TokenFilter{})
	_, _ = s.RevokedIndices(ctx, 0, 100)
	_, _, _ = s.MaxStatusIndex(ctx)
	if v := revVersion(t, s); v != v1 {
		t.Fatalf("RevocationVersion changed from %d to %d on reads", v1, v)
	}

	ok(t, s.RevokeToken(ctx, "jti-a", base), "RevokeToken")
	v2 := revVersion(t, s)
	if v2 == v1 {
		t.Fatalf("RevocationVersion stayed %d after RevokeToken", v1)
	}
	if n, err := s.RevokeSubject(ctx, "ue-a", base); err != nil || n != 1 {
		t.Fatalf("RevokeSubject = %d, %v; want 1, nil", n, err)
	}
	v3 := revVersion(t, s)
	if v3 == v2 || v3 == v1 {
		t.Fatalf("RevocationVersion after RevokeSubject = %d, seen before (%d, %d)", v3, v1, v2)
	}
	if v := revVersion(t, s); v != v3 {
		t.Fatalf("RevocationVersion changed from %d to %d on a read", v3, v)
	}
}

func testKeyPutList(t *testing.T, s store.Store) {
	ctx := context.Background()
	checkKeys(t, s)
	v0 := keysVersion(t, s)

	k1 := sampleKey("k1", store.KeyActive, base)
	k1.ActivatedAt = ptr(base.Add(time.Second).In(east))
	k2 := sampleKey("k2", store.KeyNext, base.Add(time.Hour))
	k2.Algorithm = "EdDSA"
	k0 := sampleKey("k0", store.KeyRetired, base.Add(-time.Hour))
	k0.ActivatedAt = ptr(base.Add(-time.Hour))
	k0.RetiredAt = ptr(base)
	k0.PublishUntil = ptr(base.Add(24 * time.Hour))

	// Inserted out of age order: ListKeys orders by CreatedAt.
	ok(t, s.PutKey(ctx, k2), "PutKey k2")
	v1 := keysVersion(t, s)
	if v1 <= v0 {
		t.Fatalf("KeysVersion after PutKey = %d, want more than %d", v1, v0)
	}
	ok(t, s.PutKey(ctx, k1), "PutKey k1")
	ok(t, s.PutKey(ctx, k0), "PutKey k0")
	v2 := keysVersion(t, s)
	if v2 <= v1 {
		t.Fatalf("KeysVersion after two more PutKey = %d, want more than %d", v2, v1)
	}
	checkKeys(t, s, k0, k1, k2)

	dup := sampleKey("k1", store.KeyNext, base.Add(48*time.Hour))
	isErr(t, s.PutKey(ctx, dup), store.ErrConflict, "PutKey with an existing KID")
	checkKeys(t, s, k0, k1, k2)
	if v := keysVersion(t, s); v != v2 {
		t.Fatalf("a conflicting PutKey changed KeysVersion from %d to %d", v2, v)
	}

	// Returned keys are copies.
	got, err := s.ListKeys(ctx)
	ok(t, err, "ListKeys")
	got[0].EncryptedPriv[0] = 'X'
	checkKeys(t, s, k0, k1, k2)
}

func testKeyRotate(t *testing.T, s store.Store) {
	ctx := context.Background()
	k1 := sampleKey("k1", store.KeyActive, base)
	k1.ActivatedAt = ptr(base)
	k2 := sampleKey("k2", store.KeyNext, base.Add(time.Hour))
	ok(t, s.PutKey(ctx, k1), "PutKey")
	ok(t, s.PutKey(ctx, k2), "PutKey")
	v := keysVersion(t, s)

	now := base.Add(2 * time.Hour).In(east)
	r1 := *k1
	r1.State, r1.RetiredAt, r1.PublishUntil = store.KeyRetired, ptr(now), ptr(now.Add(time.Hour))
	r2 := *k2
	r2.State, r2.ActivatedAt = store.KeyActive, ptr(now)
	k3 := sampleKey("k3", store.KeyNext, now)
	ok(t, s.Rotate(ctx, v, []*store.SigningKey{&r1, &r2}, k3), "Rotate")
	checkKeys(t, s, &r1, &r2, k3)
	v2 := keysVersion(t, s)
	if v2 == v {
		t.Fatalf("KeysVersion stayed %d after Rotate", v)
	}

	// A stale version fails and writes nothing.
	r3 := *k3
	r3.State, r3.ActivatedAt = store.KeyActive, ptr(now.Add(time.Hour))
	isErr(t, s.Rotate(ctx, v, []*store.SigningKey{&r3}, sampleKey("k4", store.KeyNext, now)), store.ErrConflict, "Rotate with a stale version")
	checkKeys(t, s, &r1, &r2, k3)
	if got := keysVersion(t, s); got != v2 {
		t.Fatalf("a failed Rotate changed KeysVersion from %d to %d", v2, got)
	}

	// Rotate writes state and times, not key material, algorithm or CreatedAt.
	r3.PublicJWK, r3.EncryptedPriv, r3.Algorithm, r3.CreatedAt = []byte("{}"), []byte("x"), "EdDSA", base.Add(-time.Hour)
	ok(t, s.Rotate(ctx, v2, []*store.SigningKey{&r3}, nil), "Rotate without a new key")
	want3 := *k3
	want3.State, want3.ActivatedAt = r3.State, r3.ActivatedAt
	checkKeys(t, s, &r1, &r2, &want3)
	v3 := keysVersion(t, s)
	if v3 == v2 {
		t.Fatalf("KeysVersion stayed %d after Rotate", v2)
	}

	// Clearing times.
	r2b := r2
	r2b.State, r2b.ActivatedAt = store.KeyNext, nil
	ok(t, s.Rotate(ctx, v3, []*store.SigningKey{&r2b}, nil), "Rotate clearing ActivatedAt")
	checkKeys(t, s, &r1, &r2b, &want3)
}

func testKeyRotateAllOrNothing(t *testing.T, s store.Store) {
	ctx := context.Background()
	k1 := sampleKey("k1", store.KeyActive, base)
	k1.ActivatedAt = ptr(base)
	k2 := sampleKey("k2", store.KeyNext, base.Add(time.Hour))
	ok(t, s.PutKey(ctx, k1), "PutKey")
	ok(t, s.PutKey(ctx, k2), "PutKey")
	v := keysVersion(t, s)

	r1 := *k1
	r1.State, r1.RetiredAt, r1.PublishUntil = store.KeyRetired, ptr(base), ptr(base)
	r2 := *k2
	r2.State, r2.ActivatedAt = store.KeyActive, ptr(base)

	// New key's KID exists: the updates before it are undone.
	err := s.Rotate(ctx, v, []*store.SigningKey{&r1, &r2}, sampleKey("k1", store.KeyNext, base))
	isErr(t, err, store.ErrConflict, "Rotate with an existing new KID")
	checkKeys(t, s, k1, k2)

	// An update of an absent key: the updates before it are undone.
	ghost := sampleKey("ghost", store.KeyRetired, base)
	err = s.Rotate(ctx, v, []*store.SigningKey{&r1, ghost, &r2}, sampleKey("k3", store.KeyNext, base))
	isErr(t, err, store.ErrNotFound, "Rotate updating an absent key")
	checkKeys(t, s, k1, k2)
	if got := keysVersion(t, s); got != v {
		t.Fatalf("failed Rotates changed KeysVersion from %d to %d", v, got)
	}

	// And the version still works for the real rotation.
	ok(t, s.Rotate(ctx, v, []*store.SigningKey{&r1, &r2}, nil), "Rotate")
	checkKeys(t, s, &r1, &r2)
}

func testKeyPurge(t *testing.T, s store.Store) {
	ctx := context.Background()
	n, err := s.PurgeKeys(ctx, base)
	if err != nil || n != 0 {
		t.Fatalf("PurgeKeys on an empty store = %d, %v; want 0, nil", n, err)
	}
	mk := func(kid string, state store.KeyState, created time.Time, until *time.Time) *store.SigningKey {
		k := sampleKey(kid, state, created)
		k.PublishUntil = until
		if state == store.KeyRetired {
			k.RetiredAt = ptr(created.Add(time.Minute))
		}
		ok(t, s.PutKey(ctx, k), "PutKey "+kid)
		return k
	}
	mk("old", store.KeyRetired, base, ptr(base.Add(time.Hour)))
	boundary := mk("boundary", store.KeyRetired, base.Add(time.Second), ptr(base.Add(2*time.Hour)))
	young := mk("young", store.KeyRetired, base.Add(2*time.Second), ptr(base.Add(3*time.Hour)))
	forever := mk("forever", store.KeyRetired, base.Add(3*time.Second), nil)
	active := mk("active", store.KeyActive, base.Add(4*time.Second), ptr(base)) // not retired: kept
	next := mk("next", store.KeyNext, base.Add(5*time.Second), nil)
	v := keysVersion(t, s)

	n, err = s.PurgeKeys(ctx, base.Add(2*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("PurgeKeys = %d, %v; want 1, nil", n, err)
	}
	checkKeys(t, s, boundary, young, forever, active, next)
	n, err = s.PurgeKeys(ctx, base.Add(2*time.Hour+time.Nanosecond))
	if err != nil || n != 1 {
		t.Fatalf("PurgeKeys just after PublishUntil = %d, %v; want 1, nil", n, err)
	}
	checkKeys(t, s, young, forever, active, next)
	n, err = s.PurgeKeys(ctx, base.Add(1000*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("PurgeKeys far ahead = %d, %v; want 1, nil", n, err)
	}
	checkKeys(t, s, forever, active, next)
	// A purged KID can be used again.
	ok(t, s.PutKey(ctx, sampleKey("old", store.KeyNext, base.Add(time.Hour))), "PutKey of a purged KID")
	if got := keysVersion(t, s); got == v {
		t.Fatalf("KeysVersion stayed %d after PutKey", v)
	}
}

func testAssertionReplay(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := base.In(east)
	exp := base.Add(5 * time.Minute)
	ok(t, s.UseAssertion(ctx, "ue-a", "j1", exp, now), "UseAssertion")
	isErr(t, s.UseAssertion(ctx, "ue-a", "j1", exp, now), store.ErrReplay, "UseAssertion replayed")
	isErr(t, s.UseAssertion(ctx, "ue-a", "j1", exp.Add(time.Hour), exp.Add(-time.Nanosecond)), store.ErrReplay, "UseAssertion replayed just before exp")
	// Same JTI from another issuer, another JTI from the same issuer.
	ok(t, s.UseAssertion(ctx, "ue-b", "j1", exp, now), "UseAssertion other issuer")
	ok(t, s.UseAssertion(ctx, "ue-a", "j2", exp, now), "UseAssertion other JTI")
	isErr(t, s.UseAssertion(ctx, "ue-b", "j1", exp, now), store.ErrReplay, "UseAssertion other issuer replayed")
	// At exp the entry has expired: the pair is usable again, until the new exp.
	exp2 := exp.Add(10 * time.Minute)
	ok(t, s.UseAssertion(ctx, "ue-a", "j1", exp2, exp), "UseAssertion at the old exp")
	isErr(t, s.UseAssertion(ctx, "ue-a", "j1", exp2, exp.Add(time.Minute)), store.ErrReplay, "UseAssertion after reuse")
	ok(t, s.UseAssertion(ctx, "ue-a", "j1", exp2.Add(time.Minute), exp2.Add(time.Second)), "UseAssertion after the new exp")
}

func testAssertionPurge(t *testing.T, s store.Store) {
	ctx := context.Background()
	n, err := s.PurgeAssertions(ctx, base)
	if err != nil || n != 0 {
		t.Fatalf("PurgeAssertions on an empty store = %d, %v; want 0, nil", n, err)
	}
	now := base
	for i := range 5 {
		exp := base.Add(time.Duration(i+1) * time.Minute) // 1..5 minutes
		ok(t, s.UseAssertion(ctx, "ue-a", fmt.Sprintf("j%d", i), exp, now), "UseAssertion")
	}
	// Strictly before: the entry expiring at base+2m stays.
	n, err = s.PurgeAssertions(ctx, base.Add(2*time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("PurgeAssertions = %d, %v; want 1, nil", n, err)
	}
	// Unexpired entries still block replays after a purge.
	isErr(t, s.UseAssertion(ctx, "ue-a", "j4", base.Add(time.Hour), base.Add(3*time.Minute)), store.ErrReplay, "UseAssertion after PurgeAssertions")
	n, err = s.PurgeAssertions(ctx, base.Add(time.Hour))
	if err != nil || n != 4 {
		t.Fatalf("PurgeAssertions = %d, %v; want 4, nil", n, err)
	}
	// Purged entries are gone: reusing the pair, even with the old "now", succeeds.
	ok(t, s.UseAssertion(ctx, "ue-a", "j4", base.Add(5*time.Minute), now), "UseAssertion of a purged pair")
}

// workers is the concurrency of the parallel tests.
const workers = 16

// recordConcurrently records per tokens from each of workers goroutines,
// made by mk(worker, i), and returns them in no particular order.
func recordConcurrently(t *testing.T, s store.Store, per int, mk func(w, i int) *store.IssuedToken) []*store.IssuedToken {
	t.Helper()
	ctx := context.Background()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		toks []*store.IssuedToken
		errs = make(chan error, workers)
	)
	for w := range workers {
		wg.Go(func() {
			for i := range per {
				tok := mk(w, i)
				if err := s.RecordToken(ctx, tok); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				toks = append(toks, tok)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent RecordToken: %v", err)
	}
	return toks
}

func testConcurrentRecord(t *testing.T, s store.Store) {
	ctx := context.Background()
	const per = 25
	toks := recordConcurrently(t, s, per, func(w, i int) *store.IssuedToken {
		return sampleToken(fmt.Sprintf("w%02d-%03d", w, i), fmt.Sprintf("ue-%02d", w))
	})
	seen := map[uint64]string{}
	var max uint64
	for _, tok := range toks {
		if other, dup := seen[tok.StatusIndex]; dup {
			t.Fatalf("StatusIndex %d given to both %s and %s", tok.StatusIndex, other, tok.JTI)
		}
		seen[tok.StatusIndex] = tok.JTI
		max = maxU(max, tok.StatusIndex)
		if d := diffToken(getToken(t, s, tok.JTI), tok); d != "" {
			t.Fatalf("GetToken %s: %s", tok.JTI, d)
		}
	}
	got, found, err := s.MaxStatusIndex(ctx)
	if err != nil || !found || got != max {
		t.Fatalf("MaxStatusIndex = %d, %v, %v; want %d, true, nil", got, found, err, max)
	}
	all, err := s.ListTokens(ctx, store.TokenFilter{})
	ok(t, err, "ListTokens")
	if len(all) != workers*per {
		t.Fatalf("ListTokens returned %d records, want %d", len(all), workers*per)
	}
}

func maxU(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

func testConcurrentSameJTI(t *testing.T, s store.Store) {
	ctx := context.Background()
	var (
		wg        sync.WaitGroup
		successes = make(chan uint64, workers)
		errs      = make(chan error, workers)
	)
	start := make(chan struct{})
	for range workers {
		wg.Go(func() {
			<-start
			tok := sampleToken("same", "ue-a")
			if err := s.RecordToken(ctx, tok); err != nil {
				errs <- err
				return
			}
			successes <- tok.StatusIndex
		})
	}
	close(start)
	wg.Wait()
	close(successes)
	close(errs)
	if len(successes) != 1 {
		t.Fatalf("%d of %d concurrent RecordToken calls with one JTI succeeded, want 1", len(successes), workers)
	}
	for err := range errs {
		isErr(t, err, store.ErrConflict, "concurrent RecordToken with one JTI")
	}
	idx := <-successes
	if got := getToken(t, s, "same"); got.StatusIndex != idx {
		t.Fatalf("stored StatusIndex = %d, the winner was told %d", got.StatusIndex, idx)
	}
}

func testConcurrentSameAssertion(t *testing.T, s store.Store) {
	ctx := context.Background()
	var (
		wg        sync.WaitGroup
		successes = make(chan struct{}, workers)
		errs      = make(chan error, workers)
	)
	start := make(chan struct{})
	for range workers {
		wg.Go(func() {
			<-start
			if err := s.UseAssertion(ctx, "ue-a", "j", base.Add(time.Minute), base); err != nil {
				errs <- err
				return
			}
			successes <- struct{}{}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	if len(successes) != 1 {
		t.Fatalf("%d of %d concurrent UseAssertion calls with one pair succeeded, want 1", len(successes), workers)
	}
	for err := range errs {
		isErr(t, err, store.ErrReplay, "concurrent UseAssertion of one pair")
	}
}

// testConcurrentMixed runs every kind of write at once; each caller must get
// its own outcome.
func testConcurrentMixed(t *testing.T, s store.Store) {
	ctx := context.Background()
	ok(t, s.CreateUE(ctx, sampleUE("ue-x")), "CreateUE")
	record(t, s, sampleToken("existing", "ue-x"))
	ok(t, s.UseAssertion(ctx, "ue-x", "used", base.Add(time.Hour), base), "UseAssertion")

	var wg sync.WaitGroup
	fail := make(chan string, 1000)
	check := func(what string, err, want error) {
		if want == nil && err != nil || want != nil && !errors.Is(err, want) {
			fail <- fmt.Sprintf("%s: error = %v, want %v", what, err, want)
		}
	}
	for w := range workers {
		wg.Go(func() {
			for i := range 10 {
				id := fmt.Sprintf("%02d-%02d", w, i)
				check("RecordToken new", s.RecordToken(ctx, sampleToken("t-"+id, "ue-x")), nil)
				check("RecordToken dup", s.RecordToken(ctx, sampleToken("existing", "ue-x")), store.ErrConflict)
				check("UseAssertion new", s.UseAssertion(ctx, "ue-x", "a-"+id, base.Add(time.Hour), base), nil)
				check("UseAssertion replay", s.UseAssertion(ctx, "ue-x", "used", base.Add(time.Hour), base), store.ErrReplay)
				check("CreateUE dup", s.CreateUE(ctx, sampleUE("ue-x")), store.ErrConflict)
				check("CreateUE new", s.CreateUE(ctx, sampleUE("ue-"+id)), nil)
				check("UpdateUE absent", s.UpdateUE(ctx, sampleUE("absent-"+id)), store.ErrNotFound)
				check("RevokeToken absent", s.RevokeToken(ctx, "absent-"+id, base), store.ErrNotFound)
			}
		})
	}
	wg.Wait()
	close(fail)
	for msg := range fail {
		t.Fatal(msg)
	}
	ues, err := s.ListUEs(ctx, "", 0)
	ok(t, err, "ListUEs")
	if len(ues) != workers*10+1 {
		t.Fatalf("ListUEs returned %d UEs, want %d", len(ues), workers*10+1)
	}
	toks, err := s.ListTokens(ctx, store.TokenFilter{Subject: "ue-x"})
	ok(t, err, "ListTokens")
	if len(toks) != workers*10+1 {
		t.Fatalf("ListTokens returned %d records, want %d", len(toks), workers*10+1)
	}
}

func testCanceledContext(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.RecordToken(ctx, sampleToken("jti-1", "ue-a")); !errors.Is(err, context.Canceled) {
		t.Fatalf("RecordToken with a canceled context: error = %v, want context.Canceled", err)
	}
	if err := s.UseAssertion(ctx, "ue-a", "j", base.Add(time.Minute), base); !errors.Is(err, context.Canceled) {
		t.Fatalf("UseAssertion with a canceled context: error = %v, want context.Canceled", err)
	}
	if _, err := s.GetToken(ctx, "jti-1"); !errors.Is(err, context.Canceled) {
		t.Fatalf("GetToken with a canceled context: error = %v, want context.Canceled", err)
	}
	// The store still works with a live context.
	ok(t, s.Ping(context.Background()), "Ping")
	record(t, s, sampleToken("jti-2", "ue-a"))
}
