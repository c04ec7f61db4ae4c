package as

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prosesec/prosesec/store"
)

// MaintainResult reports what one Maintain call did.
type MaintainResult struct {
	KeysReloaded     bool // another instance changed the keys
	Rotated          bool // this call rotated the signing keys
	PurgedAssertions int
	PurgedKeys       int
	PurgedTokens     int // token records past Config.TokenRetention
}

// Token records are purged by Maintain at most once per tokenPurgeInterval,
// at most tokenPurgeBatch of them per call (on SQLite about a second of
// writer time in all, taken about 10 ms at a time, between which token
// issuance goes on); while a batch comes back full, the next Maintain call
// purges again.
// At one call every 10 s that is up to 86 M records a day, against the
// 20 M a day that 10 M UEs refreshing every 12 h issue.
const (
	tokenPurgeInterval = time.Minute
	tokenPurgeBatch    = 10000
)

// tokenPurgeSchedule says when Maintain purges token records next.
type tokenPurgeSchedule struct {
	mu   sync.Mutex
	next time.Time // zero: at the next call
}

// Maintain runs the periodic housekeeping; cmd/prose-as calls it on a timer
// (every few seconds: the key reload makes instances sharing a database
// converge, so the interval should stay well below Config.Leeway). It
//   - reloads the signing keys when the store's KeysVersion changed,
//   - rotates the keys when KeyRotationPeriod is set, the active key has
//     been active that long and the next key has been published for
//     MaxTokenLifetime + OfflineHorizon,
//   - purges expired client-assertion JTIs and retired keys past PublishUntil,
//   - purges the records of tokens that expired more than TokenRetention
//     ago, in batches (see tokenPurgeBatch), unless TokenRetention is
//     negative.
//
// Errors from the steps are joined; each step runs regardless.
func (s *Server) Maintain(ctx context.Context) (MaintainResult, error) {
	var res MaintainResult
	var errs []error
	now := s.now()

	s.keyMu.Lock()
	reloaded, err := s.reloadKeysLocked(ctx)
	res.KeysReloaded = reloaded
	if err != nil {
		errs = append(errs, err)
	} else if p := s.cfg.KeyRotationPeriod; p > 0 {
		for attempt := 0; attempt < 4; attempt++ {
			ks := s.keys.Load()
			if ks.active.ActivatedAt == nil || ks.next == nil ||
				now.Before(ks.active.ActivatedAt.Add(p)) || now.Before(s.nextSignsFrom(ks.next)) {
				break
			}
			err := s.rotateLocked(ctx, ks, now)
			if err == nil {
				res.Rotated = true
				break
			}
			if !errors.Is(err, store.ErrConflict) {
				errs = append(errs, err)
				break
			}
			// Another instance rotated: reload and re-check (it is no longer due).
			if _, err := s.reloadKeysLocked(ctx); err != nil {
				errs = append(errs, err)
				break
			}
		}
	}
	s.keyMu.Unlock()

	n, err := s.st.PurgeAssertions(ctx, now)
	res.PurgedAssertions = n
	if err != nil {
		errs = append(errs, err)
	}
	n, err = s.st.PurgeKeys(ctx, now)
	res.PurgedKeys = n
	if err != nil {
		errs = append(errs, err)
	}
	if n > 0 {
		// PurgeKeys does not bump KeysVersion: reload unconditionally.
		s.keyMu.Lock()
		ver, keys, err := s.loadKeys(ctx)
		if err == nil {
			err = s.install(ver, keys)
		}
		if err != nil {
			errs = append(errs, err)
		}
		s.keyMu.Unlock()
	}
	n, err = s.purgeTokens(ctx, now)
	res.PurgedTokens = n
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return res, errors.Join(errs...)
	}
	return res, nil
}

// purgeTokens purges one batch of token records expired before now -
// TokenRetention, if one is due.
func (s *Server) purgeTokens(ctx context.Context, now time.Time) (int, error) {
	r := s.cfg.TokenRetention
	if r < 0 {
		return 0, nil
	}
	p := &s.purge
	p.mu.Lock()
	// Due at p.next, or at once if the clock went back before the last
	// purge.
	due := !now.Before(p.next) || now.Before(p.next.Add(-tokenPurgeInterval))
	if due {
		p.next = now.Add(tokenPurgeInterval)
	}
	p.mu.Unlock()
	if !due {
		return 0, nil
	}
	// Validate keeps r >= Leeway: a record goes only once its token has
	// been expired for longer than the leeway any check allows.
	n, err := s.st.PurgeTokens(ctx, now.Add(-r), tokenPurgeBatch)
	if err != nil {
		return n, fmt.Errorf("as: purging token records expired before %s: %w", now.Add(-r).Format(time.RFC3339), err)
	}
	if n >= tokenPurgeBatch {
		// More are left: go on at the next call.
		p.mu.Lock()
		p.next = time.Time{}
		p.mu.Unlock()
	}
	return n, nil
}
