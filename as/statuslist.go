package as

import (
	"context"
	"fmt"
	"time"

	"github.com/prosesec/prosesec/token"
)

// StatusListResult is a signed status list (draft-ietf-oauth-status-list).
type StatusListResult struct {
	Token    []byte // JWT (typ statuslist+jwt) or COSE_Sign1 bytes
	Format   token.Format
	URI      string
	IssuedAt time.Time
	Expiry   time.Time
	TTL      time.Duration

	revVersion int64
}

type statusListKey struct {
	list   uint64
	format token.Format
}

// StatusList returns status list number list, signed in the given format,
// with bit 1 (invalid) at the position of every revoked token. The signed
// list is cached per (list, format) and re-signed when a revocation has been
// recorded since (the store's RevocationVersion changed) or half its TTL
// has elapsed. List 0 always exists; a list beyond the highest assigned
// status index is ErrNotFound.
func (s *Server) StatusList(ctx context.Context, list uint64, format token.Format) (*StatusListResult, error) {
	if format != token.JWT && format != token.CWT {
		return nil, ErrInvalidRequest.WithDescription("status list format must be JWT or CWT")
	}
	size := uint64(s.cfg.StatusListSize)
	if list > 0 {
		max, ok, err := s.st.MaxStatusIndex(ctx)
		if err != nil {
			return nil, storeError("reading max status index", err)
		}
		if !ok || list > max/size {
			return nil, ErrNotFound.WithDescriptionf("status list %d does not exist", list)
		}
	}
	ver, err := s.st.RevocationVersion(ctx)
	if err != nil {
		return nil, storeError("reading revocation version", err)
	}
	now := s.now()
	key := statusListKey{list, format}

	s.slMu.Lock()
	defer s.slMu.Unlock()
	if c := s.slCache[key]; c != nil && c.revVersion == ver && now.Sub(c.IssuedAt) < s.cfg.StatusListTTL/2 && !now.Before(c.IssuedAt) {
		return c, nil
	}
	lo := list * size
	idx, err := s.st.RevokedIndices(ctx, lo, lo+size)
	if err != nil {
		return nil, storeError("reading revoked indices", err)
	}
	sl, err := token.NewStatusList(int(size), 1)
	if err != nil {
		return nil, ErrServerError.WithCause(fmt.Errorf("as: new status list: %w", err))
	}
	for _, i := range idx {
		if i < lo || i >= lo+size {
			return nil, ErrServerError.WithCause(fmt.Errorf("as: store returned index %d outside [%d, %d)", i, lo, lo+size))
		}
		if err := sl.Set(i-lo, token.StatusInvalid); err != nil {
			return nil, ErrServerError.WithCause(fmt.Errorf("as: status list set: %w", err))
		}
	}
	iat := now.Truncate(time.Second)
	uri := s.StatusListURI(list)
	t := &token.StatusListToken{
		Issuer:   s.cfg.Issuer,
		Subject:  uri,
		IssuedAt: iat,
		Expiry:   iat.Add(s.cfg.StatusListTTL),
		TTL:      s.cfg.StatusListTTL,
		List:     sl,
	}
	raw, err := s.keys.Load().signer.SignStatusList(t, format)
	if err != nil {
		return nil, ErrServerError.WithCause(fmt.Errorf("as: signing status list: %w", err))
	}
	r := &StatusListResult{Token: raw, Format: format, URI: uri, IssuedAt: iat, Expiry: t.Expiry, TTL: t.TTL, revVersion: ver}
	s.slCache[key] = r
	return r, nil
}
