package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/prosesec/prosesec/store"
)

// ErrSchemaTooNew is returned (wrapped, with both versions) by Open for a
// database written by a newer version of this code.
var ErrSchemaTooNew = errors.New("store/sqlite: database schema is newer than this program supports")

// migrations are applied in order; migrations[i] takes the schema from
// version i to version i+1. Never edit a released migration: append one.
var migrations = [...]string{
	// 1: initial schema.
	`
CREATE TABLE ues (
	id             TEXT PRIMARY KEY,
	public_key     BLOB NOT NULL,
	secret_hash    BLOB,
	token_lifetime INTEGER NOT NULL,
	created_at     INTEGER,
	updated_at     INTEGER
) STRICT;

CREATE TABLE ue_grants (
	ue_id TEXT NOT NULL REFERENCES ues(id) ON DELETE CASCADE,
	pos   INTEGER NOT NULL,
	rsc   INTEGER NOT NULL,
	role  TEXT NOT NULL,
	PRIMARY KEY (ue_id, pos)
) STRICT, WITHOUT ROWID;

-- seq - 1 is the token's status index; AUTOINCREMENT never reuses a seq.
CREATE TABLE tokens (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	jti        TEXT NOT NULL UNIQUE,
	subject    TEXT NOT NULL,
	scope      TEXT NOT NULL,
	format     TEXT NOT NULL,
	key_id     TEXT NOT NULL,
	issued_at  INTEGER,
	expires_at INTEGER,
	revoked_at INTEGER
) STRICT;
CREATE INDEX tokens_subject ON tokens (subject, seq);
CREATE INDEX tokens_revoked ON tokens (seq) WHERE revoked_at IS NOT NULL;

CREATE TABLE signing_keys (
	kid            TEXT PRIMARY KEY,
	algorithm      TEXT NOT NULL,
	state          TEXT NOT NULL,
	public_jwk     BLOB NOT NULL,
	encrypted_priv BLOB NOT NULL,
	created_at     INTEGER,
	activated_at   INTEGER,
	retired_at     INTEGER,
	publish_until  INTEGER
) STRICT;

CREATE TABLE assertions (
	issuer TEXT NOT NULL,
	jti    TEXT NOT NULL,
	exp    INTEGER NOT NULL,
	PRIMARY KEY (issuer, jti)
) STRICT, WITHOUT ROWID;
CREATE INDEX assertions_exp ON assertions (exp);

CREATE TABLE counters (
	name  TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
INSERT INTO counters (name, value) VALUES ('revocation_version', 0), ('keys_version', 0);
`,
	// 2: identity keys are unique across UEs (the thumbprints of existing
	// UEs are filled in by backfillKeyThumbprints, in the same transaction).
	`
ALTER TABLE ues ADD COLUMN key_thumbprint TEXT;
CREATE UNIQUE INDEX ues_key_thumbprint ON ues (key_thumbprint) WHERE key_thumbprint IS NOT NULL;
`,
	// 3: expired token records are found by expiry (PurgeTokens).
	`
CREATE INDEX tokens_expires_at ON tokens (expires_at);
`,
}

// migrationHooks[v] runs after migrations[v-1], in the same transaction.
var migrationHooks = map[int]func(ctx context.Context, c *sql.Conn) error{
	2: backfillKeyThumbprints,
}

// backfillKeyThumbprints computes the key thumbprint of every UE, a page at
// a time, refusing the migration if two UEs share a key.
func backfillKeyThumbprints(ctx context.Context, c *sql.Conn) error {
	after := ""
	for {
		rows, err := c.QueryContext(ctx, `SELECT id, public_key FROM ues WHERE id > ? ORDER BY id LIMIT 1000`, after)
		if err != nil {
			return fmt.Errorf("store/sqlite: read UE keys: %w", err)
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
				return fmt.Errorf("store/sqlite: read UE keys: %w", err)
			}
			page = append(page, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("store/sqlite: read UE keys: %w", err)
		}
		if len(page) == 0 {
			return nil
		}
		for _, r := range page {
			tp, err := store.KeyThumbprint(r.key)
			if err != nil {
				return fmt.Errorf("store/sqlite: UE %q: %w", r.id, err)
			}
			var holder string
			switch err := c.QueryRowContext(ctx, `SELECT id FROM ues WHERE key_thumbprint = ?`, tp).Scan(&holder); {
			case err == nil:
				return &store.DuplicateKeysError{Thumbprint: tp, UEs: []string{holder, r.id}}
			case !errors.Is(err, sql.ErrNoRows):
				return fmt.Errorf("store/sqlite: look up key thumbprint: %w", err)
			}
			if _, err := c.ExecContext(ctx, `UPDATE ues SET key_thumbprint = ? WHERE id = ?`, tp, r.id); err != nil {
				return fmt.Errorf("store/sqlite: set key thumbprint of UE %q: %w", r.id, err)
			}
		}
		after = page[len(page)-1].id
	}
}

// SchemaVersion is the schema version this code writes and understands.
const SchemaVersion = len(migrations)

// migrate brings the database on c up to SchemaVersion in one IMMEDIATE
// transaction, or refuses a newer one.
func migrate(ctx context.Context, c *sql.Conn) (err error) {
	if _, err := c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("store/sqlite: begin migration: %w", err)
	}
	defer func() {
		if err != nil {
			_, _ = c.ExecContext(context.Background(), "ROLLBACK")
		}
	}()
	if _, err := c.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("store/sqlite: create schema_version: %w", err)
	}
	var (
		cur   int64
		found = true
	)
	switch err := c.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&cur); {
	case errors.Is(err, sql.ErrNoRows):
		found = false
	case err != nil:
		return fmt.Errorf("store/sqlite: read schema version: %w", err)
	}
	if cur < 0 {
		return fmt.Errorf("store/sqlite: invalid schema version %d", cur)
	}
	if cur > int64(len(migrations)) {
		return fmt.Errorf("%w: database has version %d, this program knows up to %d", ErrSchemaTooNew, cur, len(migrations))
	}
	for v := cur; v < int64(len(migrations)); v++ {
		if _, err := c.ExecContext(ctx, migrations[v]); err != nil {
			return fmt.Errorf("store/sqlite: migration to version %d: %w", v+1, err)
		}
		if hook := migrationHooks[int(v)+1]; hook != nil {
			if err := hook(ctx, c); err != nil {
				return fmt.Errorf("store/sqlite: migration to version %d: %w", v+1, err)
			}
		}
	}
	if !found {
		_, err = c.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (?)`, len(migrations))
	} else if cur != int64(len(migrations)) {
		_, err = c.ExecContext(ctx, `UPDATE schema_version SET version = ?`, len(migrations))
	}
	if err != nil {
		return fmt.Errorf("store/sqlite: record schema version: %w", err)
	}
	if _, err := c.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("store/sqlite: commit migration: %w", err)
	}
	return nil
}
