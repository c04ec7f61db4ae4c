package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/prosesec/prosesec/store"
)

// ErrSchemaTooNew is returned (wrapped, with both versions) by Open for a
// database schema written by a newer version of this code.
var ErrSchemaTooNew = errors.New("store/postgres: database schema is newer than this program supports")

// migrations are applied in order; migrations[i] takes the schema from
// version i to version i+1. Never edit a released migration: append one.
//
// Every object is created unqualified, so in the first existing schema of
// the connection's search_path (see WithSchema).
var migrations = [...]string{
	// 1: initial schema.
	`
CREATE TABLE ues (
	id             text COLLATE "C" PRIMARY KEY,
	public_key     bytea NOT NULL,
	secret_hash    bytea,
	token_lifetime bigint NOT NULL,
	created_at     bigint,
	updated_at     bigint
);

CREATE TABLE ue_grants (
	ue_id text COLLATE "C" NOT NULL REFERENCES ues (id) ON DELETE CASCADE,
	pos   integer NOT NULL,
	rsc   bigint NOT NULL,
	role  text NOT NULL,
	PRIMARY KEY (ue_id, pos)
);

-- idx is the token's status index: an identity sequence from 0 that never
-- repeats (CACHE 1, so that it also increases across connections).
CREATE TABLE tokens (
	idx        bigint GENERATED ALWAYS AS IDENTITY (MINVALUE 0 START WITH 0 CACHE 1 NO CYCLE) PRIMARY KEY,
	jti        text NOT NULL UNIQUE,
	subject    text NOT NULL,
	scope      text NOT NULL,
	format     text NOT NULL,
	key_id     text NOT NULL,
	issued_at  bigint,
	expires_at bigint,
	revoked_at bigint
);
CREATE INDEX tokens_subject ON tokens (subject, idx);
CREATE INDEX tokens_revoked ON tokens (idx) WHERE revoked_at IS NOT NULL;

-- seq breaks ties between keys created at the same instant (insertion order).
CREATE TABLE signing_keys (
	kid            text PRIMARY KEY,
	seq            bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
	algorithm      text NOT NULL,
	state          text NOT NULL,
	public_jwk     bytea NOT NULL,
	encrypted_priv bytea NOT NULL,
	created_at     bigint,
	activated_at   bigint,
	retired_at     bigint,
	publish_until  bigint
);

CREATE TABLE assertions (
	issuer text NOT NULL,
	jti    text NOT NULL,
	exp    bigint NOT NULL,
	PRIMARY KEY (issuer, jti)
);
CREATE INDEX assertions_exp ON assertions (exp);

CREATE TABLE counters (
	name  text PRIMARY KEY,
	value bigint NOT NULL
);
INSERT INTO counters (name, value) VALUES ('revocation_version', 0), ('keys_version', 0);
`,
	// 2: identity keys are unique across UEs (the thumbprints of existing
	// UEs are filled in by backfillKeyThumbprints, in the same transaction).
	`
ALTER TABLE ues ADD COLUMN key_thumbprint text;
CREATE UNIQUE INDEX ues_key_thumbprint ON ues (key_thumbprint) WHERE key_thumbprint IS NOT NULL;
`,
	// 3: expired token records are found by expiry (PurgeTokens).
	`
CREATE INDEX tokens_expires_at ON tokens (expires_at);
`,
}

// migrationHooks[v] runs after migrations[v-1], in the same transaction.
var migrationHooks = map[int]func(ctx context.Context, tx pgx.Tx) error{
	2: backfillKeyThumbprints,
}

// backfillKeyThumbprints computes the key thumbprint of every UE, a page at
// a time, refusing the migration if two UEs share a key.
func backfillKeyThumbprints(ctx context.Context, tx pgx.Tx) error {
	after := ""
	for {
		rows, err := tx.Query(ctx, `SELECT id, public_key FROM ues WHERE id > $1 ORDER BY id LIMIT 1000`, after)
		if err != nil {
			return fmt.Errorf("store/postgres: read UE keys: %w", err)
		}
		type idKey struct {
			id  string
			key []byte
		}
		var page []idKey
		for rows.Next() {
			var r idKey
			if err := rows.Scan(&r.id, &r.key); err != nil {
				rows.Close()
				return fmt.Errorf("store/postgres: read UE keys: %w", err)
			}
			page = append(page, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store/postgres: read UE keys: %w", err)
		}
		if len(page) == 0 {
			return nil
		}
		for _, r := range page {
			tp, err := store.KeyThumbprint(r.key)
			if err != nil {
				return fmt.Errorf("store/postgres: UE %q: %w", r.id, err)
			}
			var holder string
			switch err := tx.QueryRow(ctx, `SELECT id FROM ues WHERE key_thumbprint = $1`, tp).Scan(&holder); {
			case err == nil:
				return &store.DuplicateKeysError{Thumbprint: tp, UEs: []string{holder, r.id}}
			case !errors.Is(err, pgx.ErrNoRows):
				return fmt.Errorf("store/postgres: look up key thumbprint: %w", err)
			}
			if _, err := tx.Exec(ctx, `UPDATE ues SET key_thumbprint = $1 WHERE id = $2`, tp, r.id); err != nil {
				return fmt.Errorf("store/postgres: set key thumbprint of UE %q: %w", r.id, err)
			}
		}
		after = page[len(page)-1].id
	}
}

// SchemaVersion is the schema version this code writes and understands.
const SchemaVersion = len(migrations)

// migrationLockClass is the first key of the transaction-level advisory lock
// that serializes migrations; the second is a hash of the schema's name, so
// that instances migrating different schemas do not wait for each other.
const migrationLockClass = 0x50534543 // "PSEC"

// migrate brings the schema up to SchemaVersion in one transaction, under an
// advisory lock so that instances starting at once migrate it once, or
// refuses a newer one.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return inTx(ctx, pool, "migrate", func(tx pgx.Tx) error {
		var schema *string
		if err := tx.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
			return fmt.Errorf("store/postgres: read current schema: %w", err)
		}
		if schema == nil {
			var path string
			_ = tx.QueryRow(ctx, `SHOW search_path`).Scan(&path)
			return fmt.Errorf("store/postgres: no schema of search_path %q exists; create it or choose another with WithSchema or the DSN's search_path", path)
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, int32(migrationLockClass), *schema); err != nil {
			return fmt.Errorf("store/postgres: lock schema %q for migration: %w", *schema, err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)`); err != nil {
			return fmt.Errorf("store/postgres: create schema_version in schema %q: %w", *schema, err)
		}
		var (
			cur   int64
			found = true
		)
		switch err := tx.QueryRow(ctx, `SELECT version FROM schema_version`).Scan(&cur); {
		case errors.Is(err, pgx.ErrNoRows):
			found = false
		case err != nil:
			return fmt.Errorf("store/postgres: read schema version: %w", err)
		}
		if cur < 0 {
			return fmt.Errorf("store/postgres: invalid schema version %d in schema %q", cur, *schema)
		}
		if cur > int64(len(migrations)) {
			return fmt.Errorf("%w: schema %q has version %d, this program knows up to %d", ErrSchemaTooNew, *schema, cur, len(migrations))
		}
		for v := cur; v < int64(len(migrations)); v++ {
			if _, err := tx.Exec(ctx, migrations[v]); err != nil {
				return fmt.Errorf("store/postgres: migration of schema %q to version %d: %w", *schema, v+1, err)
			}
			if hook := migrationHooks[int(v)+1]; hook != nil {
				if err := hook(ctx, tx); err != nil {
					return fmt.Errorf("store/postgres: migration of schema %q to version %d: %w", *schema, v+1, err)
				}
			}
		}
		var err error
		if !found {
			_, err = tx.Exec(ctx, `INSERT INTO schema_version (version) VALUES ($1)`, len(migrations))
		} else if cur != int64(len(migrations)) {
			_, err = tx.Exec(ctx, `UPDATE schema_version SET version = $1`, len(migrations))
		}
		if err != nil {
			return fmt.Errorf("store/postgres: record schema version: %w", err)
		}
		return nil
	})
}
