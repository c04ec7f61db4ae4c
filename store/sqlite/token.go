package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prosesec/prosesec/store"
)

const sqlInsertToken = `INSERT INTO tokens (jti, subject, scope, format, key_id, issued_at, expires_at, revoked_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (jti) DO NOTHING`

const sqlTokenColumns = `seq, jti, subject, scope, format, key_id, issued_at, expires_at, revoked_at`

const sqlGetToken = `SELECT ` + sqlTokenColumns + ` FROM tokens WHERE jti = ?`

const sqlGetCounter = `SELECT value FROM counters WHERE name = ?`

// sqlInsertTokenIfUE inserts a token record only if the UE ?9 is
// registered with updated_at ?10 (NULL for the zero time), in the same
// statement and transaction (store.GuardedTokenRecorder).
const sqlInsertTokenIfUE = `INSERT INTO tokens (jti, subject, scope, format, key_id, issued_at, expires_at, revoked_at)
SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 WHERE EXISTS (SELECT 1 FROM ues WHERE id = ?9 AND updated_at IS ?10)
ON CONFLICT (jti) DO NOTHING`

var _ store.GuardedTokenRecorder = (*Store)(nil)

// RecordToken stores t durably and sets t.StatusIndex; store.ErrConflict if
// the JTI exists. The first token of a database gets index 0.
func (s *Store) RecordToken(ctx context.Context, t *store.IssuedToken) error {
	return s.recordToken(ctx, t, false, time.Time{})
}

// RecordTokenIfUE is RecordToken if the UE t.Subject is registered with
// UpdatedAt equal to ueUpdatedAt, checked in the insert itself; otherwise
// nothing is written and the error wraps store.ErrStale.
func (s *Store) RecordTokenIfUE(ctx context.Context, t *store.IssuedToken, ueUpdatedAt time.Time) error {
	return s.recordToken(ctx, t, true, ueUpdatedAt)
}

func (s *Store) recordToken(ctx context.Context, t *store.IssuedToken, guarded bool, ueUpdatedAt time.Time) error {
	if t == nil {
		return fmt.Errorf("store/sqlite: nil token")
	}
	issuedAt, err := encTime("token IssuedAt", t.IssuedAt)
	if err != nil {
		return err
	}
	expiresAt, err := encTime("token ExpiresAt", t.ExpiresAt)
	if err != nil {
		return err
	}
	revokedAt, err := encTimePtr("token RevokedAt", t.RevokedAt)
	if err != nil {
		return err
	}
	var ueVersion any
	if guarded {
		if ueVersion, err = encTime("UE UpdatedAt", ueUpdatedAt); err != nil {
			return err
		}
	}
	jti, subject, scope, format, kid := t.JTI, t.Subject, t.Scope, t.Format, t.KeyID
	var seq int64
	err = s.submit(ctx, false, func(w *writer) error {
		var res sql.Result
		var err error
		if guarded {
			res, err = w.insertTokenIfUE.ExecContext(w.ctx, jti, subject, scope, format, kid, issuedAt, expiresAt, revokedAt, subject, ueVersion)
		} else {
			res, err = w.insertToken.ExecContext(w.ctx, jti, subject, scope, format, kid, issuedAt, expiresAt, revokedAt)
		}
		if err != nil {
			return fmt.Errorf("store/sqlite: insert token: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store/sqlite: insert token: %w", err)
		}
		if n == 0 {
			if guarded {
				// Nothing was written: tell a JTI conflict from a failed
				// precondition.
				var exists bool
				if err := w.queryRow(`SELECT EXISTS (SELECT 1 FROM tokens WHERE jti = ?)`, jti).Scan(&exists); err != nil {
					return fmt.Errorf("store/sqlite: insert token: %w", err)
				}
				if !exists {
					return fmt.Errorf("store/sqlite: token %q for UE %q: %w", jti, subject, store.ErrStale)
				}
			}
			return fmt.Errorf("store/sqlite: token %q: %w", jti, store.ErrConflict)
		}
		if seq, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("store/sqlite: insert token: %w", err)
		}
		if revokedAt != nil {
			return w.bump("revocation_version")
		}
		return nil
	})
	if err != nil {
		return err
	}
	idx, err := indexOf(seq)
	if err != nil {
		return err
	}
	t.StatusIndex = idx
	return nil
}

// GetToken returns the record or store.ErrNotFound.
func (s *Store) GetToken(ctx context.Context, jti string) (*store.IssuedToken, error) {
	rctx, err := hotRead(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.getToken.QueryContext(rctx, jti)
	if err != nil {
		return nil, fmt.Errorf("store/sqlite: get token: %w", err)
	}
	toks, err := scanTokens(rows)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("store/sqlite: token %q: %w", jti, store.ErrNotFound)
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
	return s.submit(ctx, false, func(w *writer) error {
		res, err := w.exec(`UPDATE tokens SET revoked_at = ? WHERE jti = ? AND revoked_at IS NULL`, when, jti)
		if err != nil {
			return fmt.Errorf("store/sqlite: revoke token: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store/sqlite: revoke token: %w", err)
		}
		if n > 0 {
			return w.bump("revocation_version")
		}
		var exists bool
		if err := w.queryRow(`SELECT EXISTS (SELECT 1 FROM tokens WHERE jti = ?)`, jti).Scan(&exists); err != nil {
			return fmt.Errorf("store/sqlite: revoke token: %w", err)
		}
		if !exists {
			return fmt.Errorf("store/sqlite: token %q: %w", jti, store.ErrNotFound)
		}
		return nil
	})
}

// RevokeSubject revokes every unrevoked token of subject and returns how many.
func (s *Store) RevokeSubject(ctx context.Context, subject string, at time.Time) (int, error) {
	when, err := encRequiredTime("revocation time", at)
	if err != nil {
		return 0, err
	}
	var count int64
	err = s.submit(ctx, false, func(w *writer) error {
		res, err := w.exec(`UPDATE tokens SET revoked_at = ? WHERE subject = ? AND revoked_at IS NULL`, when, subject)
		if err != nil {
			return fmt.Errorf("store/sqlite: revoke subject: %w", err)
		}
		if count, err = res.RowsAffected(); err != nil {
			return fmt.Errorf("store/sqlite: revoke subject: %w", err)
		}
		if count > 0 {
			return w.bump("revocation_version")
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
		return nil, fmt.Errorf("store/sqlite: list tokens: negative limit %d", f.Limit)
	}
	var (
		q    strings.Builder
		args []any
	)
	q.WriteString(`SELECT ` + sqlTokenColumns + ` FROM tokens WHERE 1`)
	if f.Subject != "" {
		q.WriteString(` AND subject = ?`)
		args = append(args, f.Subject)
	}
	if !f.ActiveAt.IsZero() {
		at, err := encBound("ActiveAt", f.ActiveAt)
		if err != nil {
			return nil, err
		}
		q.WriteString(` AND expires_at > ?`)
		args = append(args, at)
	}
	if f.After || f.AfterIndex != 0 {
		q.WriteString(` AND seq > ?`)
		args = append(args, seqBound(f.AfterIndex))
	}
	q.WriteString(` ORDER BY seq`)
	if f.Limit > 0 {
		q.WriteString(` LIMIT ?`)
		args = append(args, int64(f.Limit))
	}
	return s.queryTokens(ctx, q.String(), args...)
}

func (s *Store) queryTokens(ctx context.Context, query string, args ...any) ([]*store.IssuedToken, error) {
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store/sqlite: query tokens: %w", err)
	}
	return scanTokens(rows)
}

// scanTokens reads and closes rows of sqlTokenColumns.
func scanTokens(rows *sql.Rows) ([]*store.IssuedToken, error) {
	defer rows.Close()
	var out []*store.IssuedToken
	for rows.Next() {
		var (
			t                            store.IssuedToken
			seq                          int64
			issuedAt, expiresAt, revoked sql.NullInt64
		)
		if err := rows.Scan(&seq, &t.JTI, &t.Subject, &t.Scope, &t.Format, &t.KeyID, &issuedAt, &expiresAt, &revoked); err != nil {
			return nil, fmt.Errorf("store/sqlite: scan token: %w", err)
		}
		var err error
		if t.StatusIndex, err = indexOf(seq); err != nil {
			return nil, err
		}
		t.IssuedAt, t.ExpiresAt, t.RevokedAt = decTime(issuedAt), decTime(expiresAt), decTimePtr(revoked)
		out = append(out, &t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/sqlite: query tokens: %w", err)
	}
	return out, nil
}

// RevokedIndices returns, in ascending order, the status indices in [lo, hi)
// of revoked tokens.
func (s *Store) RevokedIndices(ctx context.Context, lo, hi uint64) ([]uint64, error) {
	if lo >= hi {
		return nil, nil
	}
	rows, err := s.read.QueryContext(ctx,
		`SELECT seq FROM tokens WHERE revoked_at IS NOT NULL AND seq >= ? AND seq < ? ORDER BY seq`,
		seqBound(lo), seqBound(hi))
	if err != nil {
		return nil, fmt.Errorf("store/sqlite: revoked indices: %w", err)
	}
	defer rows.Close()
	var out []uint64
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			return nil, fmt.Errorf("store/sqlite: revoked indices: %w", err)
		}
		idx, err := indexOf(seq)
		if err != nil {
			return nil, err
		}
		out = append(out, idx)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/sqlite: revoked indices: %w", err)
	}
	return out, nil
}

// sqlMaxSeq is the highest seq ever assigned, NULL if none.
const sqlMaxSeq = `SELECT nullif(max(
	coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'tokens'), 0),
	coalesce((SELECT max(seq) FROM tokens), 0)), 0)`

// MaxStatusIndex returns the highest status index assigned so far, and
// false when none has been. It reads sqlite_sequence, where AUTOINCREMENT
// keeps the highest seq ever inserted, so that PurgeTokens deleting the
// newest records does not lower it (max(seq) covers a sqlite_sequence row
// removed by hand).
func (s *Store) MaxStatusIndex(ctx context.Context) (uint64, bool, error) {
	var seq sql.NullInt64
	if err := s.read.QueryRowContext(ctx, sqlMaxSeq).Scan(&seq); err != nil {
		return 0, false, fmt.Errorf("store/sqlite: max status index: %w", err)
	}
	if !seq.Valid {
		return 0, false, nil
	}
	idx, err := indexOf(seq.Int64)
	if err != nil {
		return 0, false, err
	}
	return idx, true, nil
}

// RevocationVersion returns a counter bumped by every transaction that
// records a revocation.
func (s *Store) RevocationVersion(ctx context.Context) (int64, error) {
	return s.counter(ctx, "revocation_version")
}

func (s *Store) counter(ctx context.Context, name string) (int64, error) {
	var v int64
	rctx, err := hotRead(ctx)
	if err != nil {
		return 0, err
	}
	err = s.getCounter.QueryRowContext(rctx, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("store/sqlite: counter %s missing from database", name)
	}
	if err != nil {
		return 0, fmt.Errorf("store/sqlite: read %s: %w", name, err)
	}
	return v, nil
}

// PurgeTokens deletes the records that expired before t, earliest expiry
// first, found through tokens_expires_at, in writer requests of at most
// tokenPurgeChunk deletions each, so that token issuance waits for one
// chunk at most, never for the whole purge. On an error it returns the
// records purged by the chunks before the failed one.
func (s *Store) PurgeTokens(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("store/sqlite: purge tokens: limit %d is not positive", limit)
	}
	cut, err := encBound("token purge time", before)
	if err != nil {
		return 0, err
	}
	purged := 0
	for purged < limit {
		want := min(limit-purged, tokenPurgeChunk)
		var n int64
		err := s.submit(ctx, false, func(w *writer) error {
			res, err := w.exec(sqlPurgeTokens, cut, want)
			if err != nil {
				return fmt.Errorf("store/sqlite: purge tokens: %w", err)
			}
			if n, err = res.RowsAffected(); err != nil {
				return fmt.Errorf("store/sqlite: purge tokens: %w", err)
			}
			return nil
		})
		if err != nil {
			return purged, err // n may still be written by the writer: do not read it
		}
		purged += int(n)
		if int(n) < want {
			break
		}
	}
	return purged, nil
}

// sqlPurgeTokens deletes up to ?2 records expired before ?1.
const sqlPurgeTokens = `DELETE FROM tokens WHERE seq IN
(SELECT seq FROM tokens WHERE expires_at < ?1 ORDER BY expires_at LIMIT ?2)`

// tokenPurgeChunk is the most records one writer request of PurgeTokens
// deletes: about 10 ms of the writer on the 2-core reference machine
// (BenchmarkPurgeTokens: 80-110 µs a record, each deletion touching random
// pages of the jti and subject indexes).
const tokenPurgeChunk = 100
