package ue

import "time"

// How far into a lifetime NextRefresh schedules the refresh: 2/3, leaving
// a third of the lifetime to retry while the AS is unreachable.
const (
	refreshNum = 2
	refreshDen = 3
)

// refreshPoint returns start + 2/3 (end - start), or zero if end is zero.
func refreshPoint(start, end time.Time) time.Time {
	if end.IsZero() {
		return time.Time{}
	}
	if end.Before(start) {
		return end
	}
	return start.Add(end.Sub(start) / refreshDen * refreshNum)
}

// NextRefresh returns when the UE should next reach the AS: two thirds
// into the lifetime of its token (issued at → expiry), of each status list
// (issued at → the earlier of its exp and issued at + the policy's
// MaxStatusAge) and of the trust anchors (fetched at → fetched at +
// MaxTrustAge, when that is set), whichever comes first; now if that time
// has passed or nothing is cached. It is a pure function of its arguments
// and the cached time fields.
func NextRefresh(now time.Time, c *Credentials, pol Policy) time.Time {
	if c == nil || len(c.Token.Raw) == 0 {
		return now
	}
	next := refreshPoint(c.Token.IssuedAt, c.Token.Expiry)
	earliest := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, sl := range c.StatusLists {
		end := sl.Expiry
		if max := pol.maxStatusAge(); max > 0 {
			if byAge := sl.IssuedAt.Add(max); end.IsZero() || byAge.Before(end) {
				end = byAge
			}
		}
		earliest(refreshPoint(sl.IssuedAt, end))
	}
	if pol.MaxTrustAge > 0 {
		earliest(refreshPoint(c.JWKSFetchedAt, c.JWKSFetchedAt.Add(pol.MaxTrustAge)))
	}
	if next.IsZero() || next.Before(now) {
		return now
	}
	return next
}
