package postgres

import (
	"fmt"
	"math"
	"time"
)

// Representable instants: those whose Unix nanosecond count fits an int64
// (the years 1678 to 2262).
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// encTime encodes t as Unix nanoseconds, the zero time as NULL (nil).
func encTime(what string, t time.Time) (*int64, error) {
	if t.IsZero() {
		return nil, nil
	}
	if t.Before(minTime) || t.After(maxTime) {
		return nil, fmt.Errorf("store/postgres: %s %s is outside the representable range (years 1678 to 2262)", what, t.Format(time.RFC3339Nano))
	}
	v := t.UnixNano()
	return &v, nil
}

// encTimePtr encodes a nil *time.Time as NULL.
func encTimePtr(what string, t *time.Time) (*int64, error) {
	if t == nil {
		return nil, nil
	}
	if t.IsZero() {
		// A set pointer to the zero time would read back as nil; refuse it
		// rather than change its meaning.
		return nil, fmt.Errorf("store/postgres: %s is set to the zero time", what)
	}
	return encTime(what, *t)
}

// encRequiredTime encodes t, which must not be zero.
func encRequiredTime(what string, t time.Time) (int64, error) {
	if t.IsZero() {
		return 0, fmt.Errorf("store/postgres: %s is the zero time", what)
	}
	v, err := encTime(what, t)
	if err != nil {
		return 0, err
	}
	return *v, nil
}

// encBound encodes a non-zero comparison bound, saturating outside the
// representable range (a bound far in the past or future still compares
// correctly with every stored time).
func encBound(what string, t time.Time) (int64, error) {
	switch {
	case t.IsZero():
		return 0, fmt.Errorf("store/postgres: %s is the zero time", what)
	case t.Before(minTime):
		return math.MinInt64, nil
	case t.After(maxTime):
		return math.MaxInt64, nil
	}
	return t.UnixNano(), nil
}

func decTime(v *int64) time.Time {
	if v == nil {
		return time.Time{}
	}
	return time.Unix(0, *v).UTC()
}

func decTimePtr(v *int64) *time.Time {
	if v == nil {
		return nil
	}
	t := time.Unix(0, *v).UTC()
	return &t
}

// cloneBytes returns a copy of b, keeping nil (NULL) distinct from an empty
// slice.
func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}

// idxBound converts a status index bound to the idx column's domain
// (bigint), saturating at math.MaxInt64.
func idxBound(idx uint64) int64 {
	if idx > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(idx)
}

// indexOf checks an idx read from the database.
func indexOf(idx int64) (uint64, error) {
	if idx < 0 {
		return 0, fmt.Errorf("store/postgres: invalid token index %d in database", idx)
	}
	return uint64(idx), nil
}
