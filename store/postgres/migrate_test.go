package postgres

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/prosesec/prosesec/store"
)

// v1Schema fills schema with the version-1 tables holding UEs with the
// given public keys (by ID), as a release before key thumbprints left it.
func v1Schema(t *testing.T, dsn, schema string, keys map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	c := connect(t, dsn)
	defer c.Close(ctx)
	for _, q := range []string{`SET search_path TO ` + schema, migrations[0], `CREATE TABLE schema_version (version integer NOT NULL)`, `INSERT INTO schema_version (version) VALUES (1)`} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for id, k := range keys {
		if _, err := c.Exec(ctx, `INSERT INTO ues (id, public_key, token_lifetime) VALUES ($1, $2, 0)`, id, k); err != nil {
			t.Fatal(err)
		}
	}
}

func newJWK(t *testing.T) ([]byte, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := jose.JSONWebKey{Key: &k.PublicKey}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	tp, err := store.KeyThumbprint(b)
	if err != nil {
		t.Fatal(err)
	}
	return b, tp
}

// TestMigrationBackfillsThumbprints: opening a version-1 schema fills in
// every UE's key thumbprint (more than one page of them), after which the
// keys are unique.
func TestMigrationBackfillsThumbprints(t *testing.T) {
	dsn, schema := newSchema(t)
	keys := map[string][]byte{}
	want := map[string]string{}
	for i := range 1003 {
		id := fmt.Sprintf("ue-%04d", i)
		keys[id], want[id] = newJWK(t)
	}
	v1Schema(t, dsn, schema, keys)
	s := openSchema(t, dsn, schema)
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

// TestMigrationRefusesSharedKeys: two UEs of a version-1 schema with one
// key (in two JWK encodings) stop the migration with a *DuplicateKeysError
// naming both, and leave the schema at version 1.
func TestMigrationRefusesSharedKeys(t *testing.T) {
	dsn, schema := newSchema(t)
	k1, tp := newJWK(t)
	var parsed jose.JSONWebKey
	if err := parsed.UnmarshalJSON(k1); err != nil {
		t.Fatal(err)
	}
	parsed.KeyID = "another-encoding"
	k1b, err := parsed.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := newJWK(t)
	v1Schema(t, dsn, schema, map[string][]byte{"ue-1": k1, "ue-2": k2, "ue-3": k1b})

	s, err := Open(context.Background(), dsn, WithSchema(schema))
	if err == nil {
		s.Close()
		t.Fatal("Open migrated a schema with a shared key")
	}
	var de *store.DuplicateKeysError
	if !errors.As(err, &de) || de.Thumbprint != tp || len(de.UEs) != 2 || de.UEs[0] != "ue-1" || de.UEs[1] != "ue-3" {
		t.Fatalf("error = %v, want a *DuplicateKeysError for ue-1 and ue-3 with thumbprint %s", err, tp)
	}
	t.Logf("refusal: %v", err)
	c := connect(t, dsn)
	defer c.Close(context.Background())
	var v int
	if err := c.QueryRow(context.Background(), `SELECT version FROM `+schema+`.schema_version`).Scan(&v); err != nil || v != 1 {
		t.Fatalf("schema version after refusal = %d, %v; want 1", v, err)
	}
	var n int
	if err := c.QueryRow(context.Background(), `SELECT count(*) FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'ues' AND column_name = 'key_thumbprint'`, schema).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the refused migration left the key_thumbprint column behind (%d, %v)", n, err)
	}
}
