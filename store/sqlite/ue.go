package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/prosesec/prosesec/store"
)

// ueRow is a UE encoded for the database, prepared in the caller's
// goroutine so that encoding errors never reach the writer.
type ueRow struct {
	id                   string
	publicKey            []byte
	keyThumbprint        any // NULL for ""
	secretHash           any
	lifetime             int64
	createdAt, updatedAt any
	grants               []store.Grant
}

func encodeUE(ue *store.UE) (*ueRow, error) {
	if ue == nil {
		return nil, fmt.Errorf("store/sqlite: nil UE")
	}
	r := &ueRow{
		id:         ue.ID,
		publicKey:  append([]byte{}, ue.PublicKey...),
		secretHash: encBytes(ue.SecretHash),
		keyThumbprint: func() any {
			if ue.KeyThumbprint == "" {
				return nil
			}
			return ue.KeyThumbprint
		}(),
		lifetime: int64(ue.TokenLifetime),
		grants:   append([]store.Grant(nil), ue.Grants...),
	}
	var err error
	if r.createdAt, err = encTime("UE CreatedAt", ue.CreatedAt); err != nil {
		return nil, err
	}
	if r.updatedAt, err = encTime("UE UpdatedAt", ue.UpdatedAt); err != nil {
		return nil, err
	}
	return r, nil
}

// checkKeyFree returns a *store.KeyInUseError if a UE other than r has r's
// key thumbprint. Run inside the write transaction, it is atomic with the
// write that follows (one writer at a time); the unique index backs it.
func (w *writer) checkKeyFree(r *ueRow) error {
	if r.keyThumbprint == nil {
		return nil
	}
	var holder string
	switch err := w.queryRow(`SELECT id FROM ues WHERE key_thumbprint = ? AND id <> ?`, r.keyThumbprint, r.id).Scan(&holder); {
	case err == nil:
		return fmt.Errorf("store/sqlite: UE %q: %w", r.id, &store.KeyInUseError{Holder: holder})
	case errors.Is(err, sql.ErrNoRows):
		return nil
	default:
		return fmt.Errorf("store/sqlite: look up key thumbprint: %w", err)
	}
}

func (w *writer) insertGrants(r *ueRow) error {
	for i, g := range r.grants {
		if _, err := w.exec(`INSERT INTO ue_grants (ue_id, pos, rsc, role) VALUES (?, ?, ?, ?)`,
			r.id, i, int64(g.RSC), string(g.Role)); err != nil {
			return fmt.Errorf("store/sqlite: insert grant: %w", err)
		}
	}
	return nil
}

// CreateUE adds a UE; store.ErrConflict if the ID exists.
func (s *Store) CreateUE(ctx context.Context, ue *store.UE) error {
	r, err := encodeUE(ue)
	if err != nil {
		return err
	}
	return s.submit(ctx, true, func(w *writer) error {
		if err := w.checkKeyFree(r); err != nil {
			return err
		}
		res, err := w.exec(`INSERT INTO ues (id, public_key, key_thumbprint, secret_hash, token_lifetime, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			r.id, r.publicKey, r.keyThumbprint, r.secretHash, r.lifetime, r.createdAt, r.updatedAt)
		if err != nil {
			return fmt.Errorf("store/sqlite: insert UE: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store/sqlite: insert UE: %w", err)
		} else if n == 0 {
			return fmt.Errorf("store/sqlite: UE %q: %w", r.id, store.ErrConflict)
		}
		return w.insertGrants(r)
	})
}

// UpdateUE replaces a UE's fields except CreatedAt; store.ErrNotFound if absent.
func (s *Store) UpdateUE(ctx context.Context, ue *store.UE) error {
	r, err := encodeUE(ue)
	if err != nil {
		return err
	}
	return s.submit(ctx, true, func(w *writer) error {
		if err := w.checkKeyFree(r); err != nil {
			return err
		}
		res, err := w.exec(`UPDATE ues SET public_key = ?, key_thumbprint = ?, secret_hash = ?, token_lifetime = ?, updated_at = ?
			WHERE id = ?`,
			r.publicKey, r.keyThumbprint, r.secretHash, r.lifetime, r.updatedAt, r.id)
		if err != nil {
			return fmt.Errorf("store/sqlite: update UE: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store/sqlite: update UE: %w", err)
		} else if n == 0 {
			return fmt.Errorf("store/sqlite: UE %q: %w", r.id, store.ErrNotFound)
		}
		if _, err := w.exec(`DELETE FROM ue_grants WHERE ue_id = ?`, r.id); err != nil {
			return fmt.Errorf("store/sqlite: update UE grants: %w", err)
		}
		return w.insertGrants(r)
	})
}

// DeleteUE removes a UE and its grants (issued-token records stay);
// store.ErrNotFound if absent.
func (s *Store) DeleteUE(ctx context.Context, id string) error {
	return s.submit(ctx, true, func(w *writer) error {
		res, err := w.exec(`DELETE FROM ues WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("store/sqlite: delete UE: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store/sqlite: delete UE: %w", err)
		} else if n == 0 {
			return fmt.Errorf("store/sqlite: UE %q: %w", id, store.ErrNotFound)
		}
		return nil
	})
}

const sqlSelectUE = `SELECT u.id, u.public_key, u.key_thumbprint, u.secret_hash, u.token_lifetime, u.created_at, u.updated_at,
	g.rsc, g.role
FROM ues u LEFT JOIN ue_grants g ON g.ue_id = u.id`

const sqlGetUE = sqlSelectUE + ` WHERE u.id = ? ORDER BY g.pos`

// GetUE returns the UE or store.ErrNotFound.
func (s *Store) GetUE(ctx context.Context, id string) (*store.UE, error) {
	rctx, err := hotRead(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.getUE.QueryContext(rctx, id)
	if err != nil {
		return nil, fmt.Errorf("store/sqlite: get UE: %w", err)
	}
	ues, err := scanUEs(rows)
	if err != nil {
		return nil, err
	}
	if len(ues) == 0 {
		return nil, fmt.Errorf("store/sqlite: UE %q: %w", id, store.ErrNotFound)
	}
	return ues[0], nil
}

// ListUEs returns UEs ordered by ID with an ID greater than after, at most
// limit of them (0: no limit).
func (s *Store) ListUEs(ctx context.Context, after string, limit int) ([]*store.UE, error) {
	if limit < 0 {
		return nil, fmt.Errorf("store/sqlite: list UEs: negative limit %d", limit)
	}
	lim := int64(limit)
	if limit == 0 {
		lim = -1 // SQLite: no limit
	}
	return s.queryUEs(ctx, `WITH page AS (SELECT id FROM ues WHERE id > ? ORDER BY id LIMIT ?) `+
		sqlSelectUE+` WHERE u.id IN (SELECT id FROM page) ORDER BY u.id, g.pos`, after, lim)
}

// queryUEs runs a query over sqlSelectUE (rows of one UE consecutive).
func (s *Store) queryUEs(ctx context.Context, query string, args ...any) ([]*store.UE, error) {
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store/sqlite: query UEs: %w", err)
	}
	return scanUEs(rows)
}

// scanUEs reads and closes rows of sqlSelectUE.
func scanUEs(rows *sql.Rows) ([]*store.UE, error) {
	defer rows.Close()
	var (
		out []*store.UE
		cur *store.UE
	)
	for rows.Next() {
		var (
			id                   string
			pub                  []byte
			thumb                sql.NullString
			secret               sql.Null[[]byte]
			lifetime             int64
			createdAt, updatedAt sql.NullInt64
			rsc                  sql.NullInt64
			role                 sql.NullString
		)
		if err := rows.Scan(&id, &pub, &thumb, &secret, &lifetime, &createdAt, &updatedAt, &rsc, &role); err != nil {
			return nil, fmt.Errorf("store/sqlite: scan UE: %w", err)
		}
		if cur == nil || cur.ID != id {
			cur = &store.UE{
				ID:            id,
				PublicKey:     decBytes(pub, true),
				KeyThumbprint: thumb.String,
				SecretHash:    decBytes(secret.V, secret.Valid),
				TokenLifetime: time.Duration(lifetime),
				CreatedAt:     decTime(createdAt),
				UpdatedAt:     decTime(updatedAt),
			}
			out = append(out, cur)
		}
		if rsc.Valid {
			if rsc.Int64 < 0 || rsc.Int64 > 1<<32-1 {
				return nil, fmt.Errorf("store/sqlite: UE %q: invalid RSC %d in database", id, rsc.Int64)
			}
			cur.Grants = append(cur.Grants, store.Grant{RSC: uint32(rsc.Int64), Role: store.Role(role.String)})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/sqlite: query UEs: %w", err)
	}
	return out, nil
}
