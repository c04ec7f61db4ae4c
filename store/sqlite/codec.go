package sqlite

import (
	"database/sql"
	"fmt"
	"math"
	"time"
)

// Representable instants: those whose Unix nanosecond count fits an int64.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// encTime encodes t as Unix nanoseconds, the zero time as NULL.
func encTime(what string, t time.Time) (any, error) {
	if t.IsZero() {
		return nil, nil
	}
	if t.Before(minTime) || t.After(maxTime) {
		return nil, fmt.Errorf("store/sqlite: %s %s is outside the representable range (years 1678 to 2262)", what, t.Format(time.RFC3339Nano))
	}
	return t.UnixNano(), nil
}

// encTimePtr encodes a nil *time.Time as NULL.
func encTimePtr(what string, t *time.Time) (any, error) {
	if t == nil {
		return nil, nil
	}
	if t.IsZero() {
		// A set pointer to the zero time would read back as nil; refuse it
		// rather than change its meaning.
		return nil, fmt.Errorf("store/sqlite: %s is set to the zero time", what)
	}
	return encTime(what, *t)
}

// encRequiredTime encodes t, which must not be zero.
func encRequiredTime(what string, t time.Time) (int64, error) {
	if t.IsZero() {
		return 0, fmt.Errorf("store/sqlite: %s is the zero time", what)
	}
	v, err := encTime(what, t)
	if err != nil {
		return 0, err
	}
	return v.(int64), nil
}

// encBound encodes a non-zero comparison bound, saturating outside the
// representable range (a bound far in the past or future still compares
// correctly with every stored time).
func encBound(what string, t time.Time) (int64, error) {
	switch {
	case t.IsZero():
		return 0, fmt.Errorf("store/sqlite: %s is the zero time", what)
	case t.Before(minTime):
		return math.MinInt64, nil
	case t.After(maxTime):
		return math.MaxInt64, nil
	}
	return t.UnixNano(), nil
}

func decTime(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.Unix(0, v.Int64).UTC()
}

func decTimePtr(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := time.Unix(0, v.Int64).UTC()
	return &t
}

// encBytes returns a copy of b for a nullable BLOB column, keeping nil
// (NULL) distinct from an empty slice.
func encBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}

// decBytes returns a copy; a NULL reads as nil and an empty BLOB as an empty
// non-nil slice.
func decBytes(b []byte, valid bool) []byte {
	if !valid {
		return nil
	}
	out := make([]byte, len(b))
	copy(out, b)
	return out
}

// seqBound converts a status index bound to the seq (index + 1) domain,
// saturating at math.MaxInt64.
func seqBound(idx uint64) int64 {
	if idx >= math.MaxInt64-1 {
		return math.MaxInt64
	}
	return int64(idx) + 1
}

// indexOf converts a seq back to a status index.
func indexOf(seq int64) (uint64, error) {
	if seq < 1 {
		return 0, fmt.Errorf("store/sqlite: invalid token seq %d in database", seq)
	}
	return uint64(seq - 1), nil
}
