package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/prosesec/prosesec/store"
)

// keyRow is a signing key encoded for the database.
type keyRow struct {
	kid, alg, state                                 string
	pub, priv                                       []byte
	createdAt, activatedAt, retiredAt, publishUntil any
}

func encodeKey(k *store.SigningKey) (*keyRow, error) {
	if k == nil {
		return nil, fmt.Errorf("store/sqlite: nil signing key")
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

// insertKey inserts r; the ErrConflict outcome comes before any write.
func (w *writer) insertKey(r *keyRow) error {
	res, err := w.exec(`INSERT INTO signing_keys
		(kid, algorithm, state, public_jwk, encrypted_priv, created_at, activated_at, retired_at, publish_until)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (kid) DO NOTHING`,
		r.kid, r.alg, r.state, r.pub, r.priv, r.createdAt, r.activatedAt, r.retiredAt, r.publishUntil)
	if err != nil {
		return fmt.Errorf("store/sqlite: insert key: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store/sqlite: insert key: %w", err)
	} else if n == 0 {
		return fmt.Errorf("store/sqlite: key %q: %w", r.kid, store.ErrConflict)
	}
	return nil
}

// ListKeys returns every key not yet purged, oldest (CreatedAt) first.
func (s *Store) ListKeys(ctx context.Context) ([]*store.SigningKey, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT kid, algorithm, state, public_jwk, encrypted_priv,
		created_at, activated_at, retired_at, publish_until
		FROM signing_keys ORDER BY created_at, rowid`)
	if err != nil {
		return nil, fmt.Errorf("store/sqlite: list keys: %w", err)
	}
	defer rows.Close()
	var out []*store.SigningKey
	for rows.Next() {
		var (
			k                                               store.SigningKey
			state                                           string
			pub, priv                                       []byte
			createdAt, activatedAt, retiredAt, publishUntil sql.NullInt64
		)
		if err := rows.Scan(&k.KID, &k.Algorithm, &state, &pub, &priv,
			&createdAt, &activatedAt, &retiredAt, &publishUntil); err != nil {
			return nil, fmt.Errorf("store/sqlite: scan key: %w", err)
		}
		k.State = store.KeyState(state)
		k.PublicJWK, k.EncryptedPriv = decBytes(pub, true), decBytes(priv, true)
		k.CreatedAt = decTime(createdAt)
		k.ActivatedAt, k.RetiredAt, k.PublishUntil = decTimePtr(activatedAt), decTimePtr(retiredAt), decTimePtr(publishUntil)
		out = append(out, &k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/sqlite: list keys: %w", err)
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
	return s.submit(ctx, true, func(w *writer) error {
		if err := w.insertKey(r); err != nil {
			return err
		}
		return w.bump("keys_version")
	})
}

// Rotate applies a key-rotation step all or nothing if KeysVersion still
// equals ifVersion (else store.ErrConflict). See store.KeyStore.
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
	return s.submit(ctx, true, func(w *writer) error {
		var v int64
		if err := w.queryRow(`SELECT value FROM counters WHERE name = 'keys_version'`).Scan(&v); err != nil {
			return fmt.Errorf("store/sqlite: read keys version: %w", err)
		}
		if v != ifVersion {
			return fmt.Errorf("store/sqlite: rotate: keys version is %d, expected %d: %w", v, ifVersion, store.ErrConflict)
		}
		for _, r := range ups {
			res, err := w.exec(`UPDATE signing_keys SET state = ?, activated_at = ?, retired_at = ?, publish_until = ?
				WHERE kid = ?`, r.state, r.activatedAt, r.retiredAt, r.publishUntil, r.kid)
			if err != nil {
				return fmt.Errorf("store/sqlite: rotate: update key: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("store/sqlite: rotate: update key: %w", err)
			} else if n == 0 {
				return fmt.Errorf("store/sqlite: rotate: key %q: %w", r.kid, store.ErrNotFound)
			}
		}
		if nk != nil {
			if err := w.insertKey(nk); err != nil {
				return err
			}
		}
		return w.bump("keys_version")
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
	var n int64
	err = s.submit(ctx, true, func(w *writer) error {
		res, err := w.exec(`DELETE FROM signing_keys WHERE state = ? AND publish_until IS NOT NULL AND publish_until < ?`,
			string(store.KeyRetired), t)
		if err != nil {
			return fmt.Errorf("store/sqlite: purge keys: %w", err)
		}
		if n, err = res.RowsAffected(); err != nil {
			return fmt.Errorf("store/sqlite: purge keys: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err // n may still be written by the writer: do not read it
	}
	return int(n), nil
}
