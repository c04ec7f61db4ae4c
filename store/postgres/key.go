package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/prosesec/prosesec/store"
)

// keyRow is a signing key encoded for the database, a copy of the caller's.
type keyRow struct {
	kid, alg, state                                 string
	pub, priv                                       []byte
	createdAt, activatedAt, retiredAt, publishUntil *int64
}

func encodeKey(k *store.SigningKey) (*keyRow, error) {
	if k == nil {
		return nil, errors.New("store/postgres: nil signing key")
	}
	r := &keyRow{
		kid:   k.KID,
		alg:   k.Algorithm,
		state: string(k.State),
		pub:   append([]byte{}, k.PublicJWK...),
		priv:  append([]byte{}, k.EncryptedPriv...),
	}
	var err error
	if r.createdAt, err = encTime("key CreatedAt", k.CreatedAt); err != nil {
		return nil, err
	}
	if r.activatedAt, err = encTimePtr("key ActivatedAt", k.ActivatedAt); err != nil {
		return nil, err
	}
	if r.retiredAt, err = encTimePtr("key RetiredAt", k.RetiredAt); err != nil {
		return nil, err
	}
	if r.publishUntil, err = encTimePtr("key PublishUntil", k.PublishUntil); err != nil {
		return nil, err
	}
	return r, nil
}

// insertKey inserts r; store.ErrConflict if its KID exists.
func insertKey(ctx context.Context, tx pgx.Tx, r *keyRow) error {
	tag, err := tx.Exec(ctx, `INSERT INTO signing_keys
		(kid, algorithm, state, public_jwk, encrypted_priv, created_at, activated_at, retired_at, publish_until)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (kid) DO NOTHING`,
		r.kid, r.alg, r.state, r.pub, r.priv, r.createdAt, r.activatedAt, r.retiredAt, r.publishUntil)
	if err != nil {
		return fmt.Errorf("store/postgres: insert key: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store/postgres: key %q: %w", r.kid, store.ErrConflict)
	}
	return nil
}

// ListKeys returns every key not yet purged, oldest (CreatedAt) first; keys
// without CreatedAt come first, and keys created at the same instant in
// insertion order.
func (s *Store) ListKeys(ctx context.Context) ([]*store.SigningKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT kid, algorithm, state, public_jwk, encrypted_priv,
		created_at, activated_at, retired_at, publish_until
		FROM signing_keys ORDER BY created_at NULLS FIRST, seq`)
	if err != nil {
		return nil, fmt.Errorf("store/postgres: list keys: %w", err)
	}
	defer rows.Close()
	var out []*store.SigningKey
	for rows.Next() {
		var (
			k                                               store.SigningKey
			state                                           string
			createdAt, activatedAt, retiredAt, publishUntil *int64
		)
		if err := rows.Scan(&k.KID, &k.Algorithm, &state, &k.PublicJWK, &k.EncryptedPriv,
			&createdAt, &activatedAt, &retiredAt, &publishUntil); err != nil {
			return nil, fmt.Errorf("store/postgres: scan key: %w", err)
		}
		k.State = store.KeyState(state)
		k.CreatedAt = decTime(createdAt)
		k.ActivatedAt, k.RetiredAt, k.PublishUntil = decTimePtr(activatedAt), decTimePtr(retiredAt), decTimePtr(publishUntil)
		out = append(out, &k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/postgres: list keys: %w", err)
	}
	return out, nil
}

// PutKey inserts a new key and bumps KeysVersion; store.ErrConflict if the
// KID exists.
func (s *Store) PutKey(ctx context.Context, k *store.SigningKey) error {
	r, err := encodeKey(k)
	if err != nil {
		return err
	}
	return inTx(ctx, s.pool, "put key", func(tx pgx.Tx) error {
		if err := insertKey(ctx, tx, r); err != nil {
			return err
		}
		return bump(ctx, tx, "keys_version")
	})
}

// Rotate applies a key-rotation step all or nothing if KeysVersion still
// equals ifVersion (else store.ErrConflict). See store.KeyStore.
//
// The version row is locked (SELECT … FOR UPDATE) for the transaction, so
// of several instances rotating from one version at once, exactly one
// succeeds: the others wait for it and then find a newer version.
func (s *Store) Rotate(ctx context.Context, ifVersion int64, update []*store.SigningKey, newKey *store.SigningKey) error {
	ups := make([]*keyRow, len(update))
	for i, k := range update {
		r, err := encodeKey(k)
		if err != nil {
			return err
		}
		ups[i] = r
	}
	var nk *keyRow
	if newKey != nil {
		var err error
		if nk, err = encodeKey(newKey); err != nil {
			return err
		}
	}
	return inTx(ctx, s.pool, "rotate", func(tx pgx.Tx) error {
		var v int64
		if err := tx.QueryRow(ctx, `SELECT value FROM counters WHERE name = 'keys_version' FOR UPDATE`).Scan(&v); err != nil {
			return fmt.Errorf("store/postgres: rotate: read keys version: %w", err)
		}
		if v != ifVersion {
			return fmt.Errorf("store/postgres: rotate: keys version is %d, expected %d: %w", v, ifVersion, store.ErrConflict)
		}
		for _, r := range ups {
			tag, err := tx.Exec(ctx, `UPDATE signing_keys SET state = $1, activated_at = $2, retired_at = $3, publish_until = $4
				WHERE kid = $5`, r.state, r.activatedAt, r.retiredAt, r.publishUntil, r.kid)
			if err != nil {
				return fmt.Errorf("store/postgres: rotate: update key: %w", err)
			}
			if tag.RowsAffected() == 0 {
				return fmt.Errorf("store/postgres: rotate: key %q: %w", r.kid, store.ErrNotFound)
			}
		}
		if nk != nil {
			if err := insertKey(ctx, tx, nk); err != nil {
				return err
			}
		}
		return bump(ctx, tx, "keys_version")
	})
}

// KeysVersion returns a counter bumped by every PutKey and Rotate.
func (s *Store) KeysVersion(ctx context.Context) (int64, error) {
	return s.counter(ctx, "keys_version")
}

// PurgeKeys deletes retired keys whose PublishUntil is before t.
func (s *Store) PurgeKeys(ctx context.Context, before time.Time) (int, error) {
	t, err := encBound("purge time", before)
	if err != nil {
		return 0, err
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM signing_keys WHERE state = $1 AND publish_until IS NOT NULL AND publish_until < $2`,
		string(store.KeyRetired), t)
	if err != nil {
		return 0, fmt.Errorf("store/postgres: purge keys: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
