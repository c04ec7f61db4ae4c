package as

import (
	"context"
	"errors"

	"github.com/prosesec/prosesec/store"
)

// MaintainResult reports what one Maintain call did.
type MaintainResult struct {
	KeysReloaded     bool // another instance changed the keys
	Rotated          bool // this call rotated the signing keys
	PurgedAssertions int
	PurgedKeys       int
}

// Maintain runs the periodic housekeeping; cmd/prose-as calls it on a timer
// (every few seconds: the key reload makes instances sharing a database
// converge, so the interval should stay well below Config.Leeway). It
//   - reloads the signing keys when the store's KeysVersion changed,
//   - rotates the keys when KeyRotationPeriod is set, the active key has
//     been active that long and the next key has been published for
//     MaxTokenLifetime + OfflineHorizon,
//   - purges expired client-assertion JTIs and retired keys past PublishUntil.
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
	if len(errs) > 0 {
		return res, errors.Join(errs...)
	}
	return res, nil
}
