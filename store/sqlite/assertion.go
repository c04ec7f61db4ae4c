package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/prosesec/prosesec/store"
)

// sqlUseAssertion inserts the pair, or replaces an entry that has expired
// (exp <= now); an unexpired entry makes it change nothing.
const sqlUseAssertion = `INSERT INTO assertions (issuer, jti, exp) VALUES (?1, ?2, ?3)
ON CONFLICT (issuer, jti) DO UPDATE SET exp = excluded.exp WHERE assertions.exp <= ?4`

// UseAssertion records (issuer, jti) valid until exp; store.ErrReplay if the
// pair is recorded with an exp after now.
func (s *Store) UseAssertion(ctx context.Context, issuer, jti string, exp, now time.Time) error {
	e, err := encRequiredTime("assertion exp", exp)
	if err != nil {
		return err
	}
	n, err := encBound("assertion check time", now)
	if err != nil {
		return err
	}
	return s.submit(ctx, false, func(w *writer) error {
		res, err := w.useAssertion.ExecContext(w.ctx, issuer, jti, e, n)
		if err != nil {
			return fmt.Errorf("store/sqlite: use assertion: %w", err)
		}
		if c, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store/sqlite: use assertion: %w", err)
		} else if c == 0 {
			return fmt.Errorf("store/sqlite: assertion %q from %q: %w", jti, issuer, store.ErrReplay)
		}
		return nil
	})
}

// PurgeAssertions deletes entries whose exp is before t and returns how many.
func (s *Store) PurgeAssertions(ctx context.Context, before time.Time) (int, error) {
	t, err := encBound("purge time", before)
	if err != nil {
		return 0, err
	}
	var n int64
	err = s.submit(ctx, false, func(w *writer) error {
		res, err := w.exec(`DELETE FROM assertions WHERE exp < ?`, t)
		if err != nil {
			return fmt.Errorf("store/sqlite: purge assertions: %w", err)
		}
		if n, err = res.RowsAffected(); err != nil {
			return fmt.Errorf("store/sqlite: purge assertions: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err // n may still be written by the writer: do not read it
	}
	return int(n), nil
}
