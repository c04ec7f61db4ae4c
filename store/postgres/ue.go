package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/prosesec/prosesec/store"
)

// ueRow is a UE encoded for the database, a copy of the caller's.
type ueRow struct {
	id                   string
	publicKey            []byte
	keyThumbprint        *string // NULL for ""
	secretHash           []byte
	lifetime             int64
	createdAt, updatedAt *int64
	grants               []store.Grant
}

func encodeUE(ue *store.UE) (*ueRow, error) {
	if ue == nil {
		return nil, errors.New("store/postgres: nil UE")
	}
	r := &ueRow{
		id:         ue.ID,
		publicKey:  append([]byte{}, ue.PublicKey...),
		secretHash: cloneBytes(ue.SecretHash),
		lifetime:   int64(ue.TokenLifetime),
		grants:     append([]store.Grant(nil), ue.Grants...),
	}
	if ue.KeyThumbprint != "" {
		tp := ue.KeyThumbprint
		r.keyThumbprint = &tp
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
// key thumbprint. Two transactions can both pass it; the unique index then
// fails the later one, which keyInUse maps to the same error.
func checkKeyFree(ctx context.Context, tx pgx.Tx, r *ueRow) error {
	if r.keyThumbprint == nil {
		return nil
	}
	var holder string
	switch err := tx.QueryRow(ctx, `SELECT id FROM ues WHERE key_thumbprint = $1 AND id <> $2`, *r.keyThumbprint, r.id).Scan(&holder); {
	case err == nil:
		return fmt.Errorf("store/postgres: UE %q: %w", r.id, &store.KeyInUseError{Holder: holder})
	case errors.Is(err, pgx.ErrNoRows):
		return nil
	default:
		return fmt.Errorf("store/postgres: look up key thumbprint: %w", err)
	}
}

// keyInUse maps a violation of the key thumbprint's unique index (a
// concurrent registration of the same key) to a *store.KeyInUseError, and
// returns nil for any other error.
func keyInUse(err error, id string) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "ues_key_thumbprint" {
		return fmt.Errorf("store/postgres: UE %q: %w", id, &store.KeyInUseError{})
	}
	return nil
}

// insertGrants writes r's grants in one statement.
func insertGrants(ctx context.Context, tx pgx.Tx, r *ueRow) error {
	if len(r.grants) == 0 {
		return nil
	}
	rscs := make([]int64, len(r.grants))
	roles := make([]string, len(r.grants))
	for i, g := range r.grants {
		rscs[i], roles[i] = int64(g.RSC), string(g.Role)
	}
	_, err := tx.Exec(ctx, `INSERT INTO ue_grants (ue_id, pos, rsc, role)
		SELECT $1, g.ord - 1, g.rsc, g.role FROM unnest($2::bigint[], $3::text[]) WITH ORDINALITY AS g (rsc, role, ord)`,
		r.id, rscs, roles)
	if err != nil {
		return fmt.Errorf("store/postgres: insert grants: %w", err)
	}
	return nil
}

// CreateUE adds a UE; store.ErrConflict if the ID exists.
func (s *Store) CreateUE(ctx context.Context, ue *store.UE) error {
	r, err := encodeUE(ue)
	if err != nil {
		return err
	}
	err = inTx(ctx, s.pool, "create UE", func(tx pgx.Tx) error {
		if err := checkKeyFree(ctx, tx, r); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO ues (id, public_key, key_thumbprint, secret_hash, token_lifetime, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
			r.id, r.publicKey, r.keyThumbprint, r.secretHash, r.lifetime, r.createdAt, r.updatedAt)
		if err != nil {
			return fmt.Errorf("store/postgres: insert UE: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("store/postgres: UE %q: %w", r.id, store.ErrConflict)
		}
		return insertGrants(ctx, tx, r)
	})
	if kerr := keyInUse(err, r.id); kerr != nil {
		return kerr
	}
	return err
}

// UpdateUE replaces a UE's fields except CreatedAt; store.ErrNotFound if absent.
func (s *Store) UpdateUE(ctx context.Context, ue *store.UE) error {
	r, err := encodeUE(ue)
	if err != nil {
		return err
	}
	err = inTx(ctx, s.pool, "update UE", func(tx pgx.Tx) error {
		if err := checkKeyFree(ctx, tx, r); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE ues SET public_key = $1, key_thumbprint = $2, secret_hash = $3, token_lifetime = $4, updated_at = $5
			WHERE id = $6`,
			r.publicKey, r.keyThumbprint, r.secretHash, r.lifetime, r.updatedAt, r.id)
		if err != nil {
			return fmt.Errorf("store/postgres: update UE: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("store/postgres: UE %q: %w", r.id, store.ErrNotFound)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM ue_grants WHERE ue_id = $1`, r.id); err != nil {
			return fmt.Errorf("store/postgres: update UE grants: %w", err)
		}
		return insertGrants(ctx, tx, r)
	})
	if kerr := keyInUse(err, r.id); kerr != nil {
		return kerr
	}
	return err
}

// DeleteUE removes a UE and its grants (issued-token records stay);
// store.ErrNotFound if absent.
func (s *Store) DeleteUE(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM ues WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("store/postgres: delete UE: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store/postgres: UE %q: %w", id, store.ErrNotFound)
	}
	return nil
}

const sqlSelectUE = `SELECT u.id, u.public_key, u.key_thumbprint, u.secret_hash, u.token_lifetime, u.created_at, u.updated_at,
	g.rsc, g.role
FROM ues u LEFT JOIN ue_grants g ON g.ue_id = u.id`

// GetUE returns the UE or store.ErrNotFound.
func (s *Store) GetUE(ctx context.Context, id string) (*store.UE, error) {
	ues, err := s.queryUEs(ctx, sqlSelectUE+` WHERE u.id = $1 ORDER BY g.pos`, id)
	if err != nil {
		return nil, err
	}
	if len(ues) == 0 {
		return nil, fmt.Errorf("store/postgres: UE %q: %w", id, store.ErrNotFound)
	}
	return ues[0], nil
}

// ListUEs returns UEs ordered by ID (byte-wise) with an ID greater than
// after, at most limit of them (0: no limit).
func (s *Store) ListUEs(ctx context.Context, after string, limit int) ([]*store.UE, error) {
	if limit < 0 {
		return nil, fmt.Errorf("store/postgres: list UEs: negative limit %d", limit)
	}
	var lim *int64 // LIMIT NULL: no limit
	if limit > 0 {
		l := int64(limit)
		lim = &l
	}
	return s.queryUEs(ctx, `WITH page AS (SELECT id FROM ues WHERE id > $1 ORDER BY id LIMIT $2) `+
		sqlSelectUE+` WHERE u.id IN (SELECT id FROM page) ORDER BY u.id, g.pos`, after, lim)
}

// queryUEs runs a query over sqlSelectUE (rows of one UE consecutive).
func (s *Store) queryUEs(ctx context.Context, query string, args ...any) ([]*store.UE, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store/postgres: query UEs: %w", err)
	}
	defer rows.Close()
	var (
		out []*store.UE
		cur *store.UE
	)
	for rows.Next() {
		var (
			id                   string
			pub, secret          []byte
			thumb                *string
			lifetime             int64
			createdAt, updatedAt *int64
			rsc                  *int64
			role                 *string
		)
		if err := rows.Scan(&id, &pub, &thumb, &secret, &lifetime, &createdAt, &updatedAt, &rsc, &role); err != nil {
			return nil, fmt.Errorf("store/postgres: scan UE: %w", err)
		}
		if cur == nil || cur.ID != id {
			if pub == nil {
				pub = []byte{}
			}
			cur = &store.UE{
				ID:            id,
				PublicKey:     pub, // pgx scans into a fresh slice
				SecretHash:    secret,
				KeyThumbprint: deref(thumb),
				TokenLifetime: time.Duration(lifetime),
				CreatedAt:     decTime(createdAt),
				UpdatedAt:     decTime(updatedAt),
			}
			out = append(out, cur)
		}
		if rsc != nil {
			if *rsc < 0 || *rsc > 1<<32-1 {
				return nil, fmt.Errorf("store/postgres: UE %q: invalid RSC %d in database", id, *rsc)
			}
			var r string
			if role != nil {
				r = *role
			}
			cur.Grants = append(cur.Grants, store.Grant{RSC: uint32(*rsc), Role: store.Role(r)})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/postgres: query UEs: %w", err)
	}
	return out, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
