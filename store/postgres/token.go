package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/prosesec/prosesec/store"
)

const sqlTokenColumns = `idx, jti, subject, scope, format, key_id, issued_at, expires_at, revoked_at`

var _ store.GuardedTokenRecorder = (*Store)(nil)

// RecordToken stores t durably and sets t.StatusIndex; store.ErrConflict if
// the JTI exists. The first token of a schema gets index 0. Concurrent
// calls (from this Store) share transactions; see the package documentation.
func (s *Store) RecordToken(ctx context.Context, t *store.IssuedToken) error {
	return s.recordToken(ctx, t, false, time.Time{})
}

// RecordTokenIfUE is RecordToken if the UE t.Subject is registered with
// UpdatedAt equal to ueUpdatedAt, checked in the insert's transaction with
// the UE's row locked (FOR SHARE) until the commit; otherwise nothing is
// written and the error wraps store.ErrStale (store.ErrConflict if the JTI
// exists).
func (s *Store) RecordTokenIfUE(ctx context.Context, t *store.IssuedToken, ueUpdatedAt time.Time) error {
	return s.recordToken(ctx, t, true, ueUpdatedAt)
}

func (s *Store) recordToken(ctx context.Context, t *store.IssuedToken, guarded bool, ueUpdatedAt time.Time) error {
	if t == nil {
		return errors.New("store/postgres: nil token")
	}
	r := &request{kind: opToken, jti: t.JTI, subject: t.Subject, scope: t.Scope, format: t.Format, keyID: t.KeyID, guarded: guarded}
	var err error
	if guarded {
		if r.ueUpdatedAt, err = encTime("UE UpdatedAt", ueUpdatedAt); err != nil {
			return err
		}
	}
	if r.issuedAt, err = encTime("token IssuedAt", t.IssuedAt); err != nil {
		return err
	}
	if r.expiresAt, err = encTime("token ExpiresAt", t.ExpiresAt); err != nil {
		return err
	}
	if r.revokedAt, err = encTimePtr("token RevokedAt", t.RevokedAt); err != nil {
		return err
	}
	if err := s.submit(ctx, r); err != nil {
		return err
	}
	idx, err := indexOf(r.idx)
	if err != nil {
		return err
	}
	t.StatusIndex = idx
	return nil
}

// GetToken returns the record or store.ErrNotFound.
func (s *Store) GetToken(ctx context.Context, jti string) (*store.IssuedToken, error) {
	toks, err := s.queryTokens(ctx, `SELECT `+sqlTokenColumns+` FROM tokens WHERE jti = $1`, jti)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("store/postgres: token %q: %w", jti, store.ErrNotFound)
	}
	return toks[0], nil
}

// RevokeToken marks one token revoked at the given time; an already revoked
// token keeps its first time. store.ErrNotFound if absent.
func (s *Store) RevokeToken(ctx context.Context, jti string, at time.Time) error {
	when, err := encRequiredTime("revocation time", at)
	if err != nil {
		return err
	}
	return inTx(ctx, s.pool, "revoke token", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE tokens SET revoked_at = $1 WHERE jti = $2 AND revoked_at IS NULL`, when, jti)
		if err != nil {
			return fmt.Errorf("store/postgres: revoke token: %w", err)
		}
		if tag.RowsAffected() > 0 {
			return bump(ctx, tx, "revocation_version")
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tokens WHERE jti = $1)`, jti).Scan(&exists); err != nil {
			return fmt.Errorf("store/postgres: revoke token: %w", err)
		}
		if !exists {
			return fmt.Errorf("store/postgres: token %q: %w", jti, store.ErrNotFound)
		}
		return nil
	})
}

// bump increments a counter row in tx.
func bump(ctx context.Context, tx pgx.Tx, name string) error {
	tag, err := tx.Exec(ctx, `UPDATE counters SET value = value + 1 WHERE name = $1`, name)
	if err != nil {
		return fmt.Errorf("store/postgres: bump %s: %w", name, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("store/postgres: bump %s: counter row missing", name)
	}
	return nil
}

// RevokeSubject revokes every unrevoked token of subject and returns how many.
func (s *Store) RevokeSubject(ctx context.Context, subject string, at time.Time) (int, error) {
	when, err := encRequiredTime("revocation time", at)
	if err != nil {
		return 0, err
	}
	var count int64
	err = inTx(ctx, s.pool, "revoke subject", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE tokens SET revoked_at = $1 WHERE subject = $2 AND revoked_at IS NULL`, when, subject)
		if err != nil {
			return fmt.Errorf("store/postgres: revoke subject: %w", err)
		}
		if count = tag.RowsAffected(); count > 0 {
			return bump(ctx, tx, "revocation_version")
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return int(count), nil
}

// ListTokens returns the records f selects, ordered by StatusIndex.
func (s *Store) ListTokens(ctx context.Context, f store.TokenFilter) ([]*store.IssuedToken, error) {
	if f.Limit < 0 {
		return nil, fmt.Errorf("store/postgres: list tokens: negative limit %d", f.Limit)
	}
	var (
		q    strings.Builder
		args []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	q.WriteString(`SELECT ` + sqlTokenColumns + ` FROM tokens WHERE true`)
	if f.Subject != "" {
		q.WriteString(` AND subject = ` + arg(f.Subject))
	}
	if !f.ActiveAt.IsZero() {
		at, err := encBound("ActiveAt", f.ActiveAt)
		if err != nil {
			return nil, err
		}
		q.WriteString(` AND expires_at > ` + arg(at))
	}
	if f.After || f.AfterIndex != 0 {
		q.WriteString(` AND idx > ` + arg(idxBound(f.AfterIndex)))
	}
	q.WriteString(` ORDER BY idx`)
	if f.Limit > 0 {
		q.WriteString(` LIMIT ` + arg(int64(f.Limit)))
	}
	return s.queryTokens(ctx, q.String(), args...)
}

// queryTokens runs a query whose rows are sqlTokenColumns.
func (s *Store) queryTokens(ctx context.Context, query string, args ...any) ([]*store.IssuedToken, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store/postgres: query tokens: %w", err)
	}
	defer rows.Close()
	var out []*store.IssuedToken
	for rows.Next() {
		var (
			t                            store.IssuedToken
			idx                          int64
			issuedAt, expiresAt, revoked *int64
		)
		if err := rows.Scan(&idx, &t.JTI, &t.Subject, &t.Scope, &t.Format, &t.KeyID, &issuedAt, &expiresAt, &revoked); err != nil {
			return nil, fmt.Errorf("store/postgres: scan token: %w", err)
		}
		if t.StatusIndex, err = indexOf(idx); err != nil {
			return nil, err
		}
		t.IssuedAt, t.ExpiresAt, t.RevokedAt = decTime(issuedAt), decTime(expiresAt), decTimePtr(revoked)
		out = append(out, &t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/postgres: query tokens: %w", err)
	}
	return out, nil
}

// RevokedIndices returns, in ascending order, the status indices in [lo, hi)
// of revoked tokens.
func (s *Store) RevokedIndices(ctx context.Context, lo, hi uint64) ([]uint64, error) {
	if lo >= hi {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx,
		`SELECT idx FROM tokens WHERE revoked_at IS NOT NULL AND idx >= $1 AND idx < $2 ORDER BY idx`,
		idxBound(lo), idxBound(hi))
	if err != nil {
		return nil, fmt.Errorf("store/postgres: revoked indices: %w", err)
	}
	defer rows.Close()
	var out []uint64
	for rows.Next() {
		var idx int64
		if err := rows.Scan(&idx); err != nil {
			return nil, fmt.Errorf("store/postgres: revoked indices: %w", err)
		}
		i, err := indexOf(idx)
		if err != nil {
			return nil, err
		}
		out = append(out, i)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/postgres: revoked indices: %w", err)
	}
	return out, nil
}

// MaxStatusIndex returns the highest status index assigned so far, and
// false when none has been. It reads the identity sequence of tokens.idx,
// which PurgeTokens does not lower and which every instance on the schema
// shares (CACHE 1: its last value is the last index any session drew; that
// may be an index whose insert failed or has not committed yet, a gap no
// later RecordToken fills); max(idx) covers a sequence reset by hand.
func (s *Store) MaxStatusIndex(ctx context.Context) (uint64, bool, error) {
	var idx *int64
	if err := s.pool.QueryRow(ctx, `SELECT greatest(
	pg_sequence_last_value(pg_get_serial_sequence('tokens', 'idx')::regclass),
	(SELECT max(idx) FROM tokens))`).Scan(&idx); err != nil {
		return 0, false, fmt.Errorf("store/postgres: max status index: %w", err)
	}
	if idx == nil {
		return 0, false, nil
	}
	i, err := indexOf(*idx)
	if err != nil {
		return 0, false, err
	}
	return i, true, nil
}

// RevocationVersion returns a counter bumped by every transaction that
// records a revocation.
func (s *Store) RevocationVersion(ctx context.Context) (int64, error) {
	return s.counter(ctx, "revocation_version")
}

func (s *Store) counter(ctx context.Context, name string) (int64, error) {
	var v int64
	err := s.pool.QueryRow(ctx, `SELECT value FROM counters WHERE name = $1`, name).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("store/postgres: counter %s missing from database", name)
	}
	if err != nil {
		return 0, fmt.Errorf("store/postgres: read %s: %w", name, err)
	}
	return v, nil
}

// PurgeTokens deletes the records that expired before t, earliest expiry
// first, found through tokens_expires_at, in statements (transactions) of
// at most tokenPurgeChunk deletions each. Rows another transaction holds
// (a revocation, another instance's purge) are skipped, for a later call.
// On an error it returns the records purged by the chunks before the
// failed one.
func (s *Store) PurgeTokens(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("store/postgres: purge tokens: limit %d is not positive", limit)
	}
	cut, err := encBound("token purge time", before)
	if err != nil {
		return 0, err
	}
	purged := 0
	for purged < limit {
		want := min(limit-purged, tokenPurgeChunk)
		tag, err := s.pool.Exec(ctx, sqlPurgeTokens, cut, want)
		if err != nil {
			return purged, fmt.Errorf("store/postgres: purge tokens: %w", err)
		}
		n := int(tag.RowsAffected())
		purged += n
		if n < want {
			break
		}
	}
	return purged, nil
}

// sqlPurgeTokens deletes up to $2 records expired before $1.
const sqlPurgeTokens = `DELETE FROM tokens WHERE idx IN
(SELECT idx FROM tokens WHERE expires_at < $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)`

// tokenPurgeChunk is the most records one statement of PurgeTokens deletes.
const tokenPurgeChunk = 1000
