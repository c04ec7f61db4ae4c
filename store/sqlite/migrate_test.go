package sqlite

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/prosesec/prosesec/store"
)

// v1DB writes a database at schema version 1 holding UEs with the given
// public keys (by ID), as a release before key thumbprints left it.
func v1DB(t *testing.T, path string, keys map[string][]byte) {
	t.Helper()
	db := rawDB(t, path)
	defer db.Close()
	for _, q := range []string{migrations[0], `CREATE TABLE schema_version (version INTEGER NOT NULL)`, `INSERT INTO schema_version (version) VALUES (1)`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	for id, k := range keys {
		if _, err := db.Exec(`INSERT INTO ues (id, public_key, token_lifetime) VALUES (?, ?, 0)`, id, k); err != nil {
			t.Fatal(err)
		}
	}
}

func jwkOf(t *testing.T, extra string) ([]byte, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := jose.JSONWebKey{Key: &k.PublicKey, KeyID: extra}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	tp, err := store.KeyThumbprint(b)
	if err != nil {
		t.Fatal(err)
	}
	return b, tp
}

// TestMigrationBackfillsThumbprints: opening a version-1 database fills in
// every UE's key thumbprint (more than one page of them), after which the
// keys are unique.
func TestMigrationBackfillsThumbprints(t *testing.T) {
	path := filepath.Join(t.TempDir(), "as.db")
	keys := map[string][]byte{}
	want := map[string]string{}
	for i := range 1003 {
		id := "ue-" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
		keys[id], want[id] = jwkOf(t, "")
	}
	v1DB(t, path, keys)
	s := openTest(t, path)
	defer s.Close()
	ctx := context.Background()
	ues, err := s.ListUEs(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ues) != len(want) {
		t.Fatalf("%d UEs after migration, want %d", len(ues), len(want))
	}
	for _, u := range ues {
		if u.KeyThumbprint != want[u.ID] {
			t.Fatalf("UE %s: KeyThumbprint %q, want %q", u.ID, u.KeyThumbprint, want[u.ID])
		}
	}
	dup := &store.UE{ID: "ue-new", PublicKey: keys[ues[0].ID], KeyThumbprint: ues[0].KeyThumbprint}
	if err := s.CreateUE(ctx, dup); !errors.Is(err, store.ErrKeyInUse) {
		t.Fatalf("CreateUE with a migrated UE's key: %v, want ErrKeyInUse", err)
	}
}

// TestMigrationRefusesSharedKeys: two UEs of a version-1 database with one
// key (in two JWK encodings) stop the migration with a *DuplicateKeysError
// naming both, and leave the database at version 1.
func TestMigrationRefusesSharedKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "as.db")
	k1, tp := jwkOf(t, "")
	var parsed jose.JSONWebKey
	if err := parsed.UnmarshalJSON(k1); err != nil {
		t.Fatal(err)
	}
	parsed.KeyID = "another-encoding"
	k1b, err := parsed.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := jwkOf(t, "")
	v1DB(t, path, map[string][]byte{"ue-1": k1, "ue-2": k2, "ue-3": k1b})

	s, err := Open(context.Background(), path)
	if err == nil {
		s.Close()
		t.Fatal("Open migrated a database with a shared key")
	}
	var de *store.DuplicateKeysError
	if !errors.As(err, &de) || de.Thumbprint != tp || len(de.UEs) != 2 || de.UEs[0] != "ue-1" || de.UEs[1] != "ue-3" {
		t.Fatalf("error = %v, want a *DuplicateKeysError for ue-1 and ue-3 with thumbprint %s", err, tp)
	}
	t.Logf("refusal: %v", err)
	db := rawDB(t, path)
	defer db.Close()
	var v int
	if err := db.QueryRow(`SELECT version FROM schema_version`).Scan(&v); err != nil || v != 1 {
		t.Fatalf("schema version after refusal = %d, %v; want 1", v, err)
	}
	if _, err := db.Exec(`SELECT key_thumbprint FROM ues`); err == nil {
		t.Fatal("the refused migration left the key_thumbprint column behind")
	}
}
