package postgres

import (
	"context"
	"fmt"
	"time"
)

// UseAssertion records (issuer, jti) valid until exp; store.ErrReplay if the
// pair is recorded with an exp after now. Concurrent calls (from this Store)
// share transactions; see the package documentation.
func (s *Store) UseAssertion(ctx context.Context, issuer, jti string, exp, now time.Time) error {
	e, err := encRequiredTime("assertion exp", exp)
	if err != nil {
		return err
	}
	n, err := encBound("assertion check time", now)
	if err != nil {
		return err
	}
	return s.submit(ctx, &request{kind: opAssertion, issuer: issuer, jti: jti, exp: e, now: n})
}

// PurgeAssertions deletes entries whose exp is before t and returns how many.
func (s *Store) PurgeAssertions(ctx context.Context, before time.Time) (int, error) {
	t, err := encBound("purge time", before)
	if err != nil {
		return 0, err
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM assertions WHERE exp < $1`, t)
	if err != nil {
		return 0, fmt.Errorf("store/postgres: purge assertions: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
