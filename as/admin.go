package as

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/prosesec/prosesec/store"
	"github.com/prosesec/prosesec/token"
)

// UESpec registers a UE.
type UESpec struct {
	// ID is the UE's user info / application layer ID and its OAuth
	// client_id: 1 to 128 characters of [A-Za-z0-9._:-].
	ID string
	// PublicKey is the UE's PC5 identity public key, as a JWK (JSON) or PEM
	// (SubjectPublicKeyInfo); ECDSA P-256 or Ed25519. Stored as a JWK.
	PublicKey []byte
	// WithSecret generates a client secret for client_secret_basic/post,
	// returned once by RegisterUE.
	WithSecret bool
	// Grants are the scopes the UE may request.
	Grants []token.Scope
	// TokenLifetime overrides Config.DefaultTokenLifetime (0: default);
	// at most Config.MaxTokenLifetime.
	TokenLifetime time.Duration
}

// UEUpdate changes a registered UE; nil fields are left as they are.
type UEUpdate struct {
	PublicKey     []byte // JWK or PEM; nil: keep
	Grants        *[]token.Scope
	TokenLifetime *time.Duration
	// Secret: SecretKeep (default), SecretRotate (generate a new one,
	// returned once) or SecretRemove.
	Secret SecretAction
}

// SecretAction says what UpdateUE does with the client secret.
type SecretAction string

const (
	SecretKeep   SecretAction = ""
	SecretRotate SecretAction = "rotate"
	SecretRemove SecretAction = "remove"
)

// UEInfo describes a registered UE (never the secret or its hash).
type UEInfo struct {
	ID            string          `json:"id"`
	PublicKey     json.RawMessage `json:"public_key"` // JWK
	KeyThumbprint string          `json:"key_thumbprint"`
	HasSecret     bool            `json:"has_secret"`
	Grants        []string        `json:"grants"`
	TokenLifetime string          `json:"token_lifetime,omitempty"` // Go duration; empty: server default
	CreatedAt     time.Time       `json:"created_at"`
	UpdatedAt     time.Time       `json:"updated_at"`
}

// validateUEID checks a UE ID: 1–128 characters of [A-Za-z0-9._:-].
func validateUEID(id string) error {
	if len(id) < 1 || len(id) > 128 {
		return fmt.Errorf("UE ID must be 1 to 128 characters of [A-Za-z0-9._:-], got %d characters", len(id))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return fmt.Errorf("UE ID must be 1 to 128 characters of [A-Za-z0-9._:-]; character %d (%q) is not allowed", i, rune(c))
		}
	}
	return nil
}

func invalidUE(format string, a ...any) *Error {
	return ErrInvalidRequest.WithDescriptionf(format, a...)
}

// keyInUse is the admin error for a public key registered to another UE:
// one identity key, one UE, so that a token's cnf names a single UE.
func keyInUse(err error) *Error {
	var kiu *store.KeyInUseError
	if errors.As(err, &kiu) && kiu.Holder != "" {
		return ErrConflict.WithDescriptionf("public_key is already registered to UE %q; every UE needs its own identity key", kiu.Holder)
	}
	return ErrConflict.WithDescription("public_key is already registered to another UE; every UE needs its own identity key")
}

// normalizeUEKey parses a JWK or PEM public key and returns it as JWK JSON.
func normalizeUEKey(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, invalidUE("public_key is required (a JWK or PEM ECDSA P-256 or Ed25519 public key)")
	}
	if len(b) > 16384 {
		return nil, invalidUE("public_key exceeds 16384 bytes")
	}
	pub, err := token.ParsePublicKey(b)
	if err != nil {
		return nil, invalidUE("public_key does not parse as a JWK or PEM public key: %v", err)
	}
	if _, err := algForKey(pub); err != nil {
		return nil, invalidUE("public_key: %v", err)
	}
	jwk, err := jose.JSONWebKey{Key: pub}.MarshalJSON()
	if err != nil {
		return nil, ErrServerError.WithCause(err)
	}
	return jwk, nil
}

func (s *Server) validateGrants(gs []token.Scope) ([]store.Grant, error) {
	var seen []token.Scope
	for _, g := range gs {
		if g.Role != token.RoleUse && g.Role != token.RoleServe {
			return nil, invalidUE("grant role %q must be %q or %q", string(g.Role), token.RoleUse, token.RoleServe)
		}
		if g.RSC > 0xFFFFFF {
			return nil, invalidUE("grant RSC %#x exceeds 24 bits", uint32(g.RSC))
		}
		if !containsScope(seen, g) {
			seen = append(seen, g)
		}
	}
	return scopesToGrants(seen), nil
}

func (s *Server) validateLifetime(d time.Duration) error {
	if d < 0 {
		return invalidUE("token_lifetime %v must not be negative", d)
	}
	if d > 0 && d < time.Second {
		return invalidUE("token_lifetime %v must be at least 1s", d)
	}
	if d > s.cfg.MaxTokenLifetime {
		return invalidUE("token_lifetime %v exceeds the server's maximum %v", d, s.cfg.MaxTokenLifetime)
	}
	return nil
}

// newSecret returns a fresh client secret and its stored hash.
func (s *Server) newSecret() (string, []byte, error) {
	var b [32]byte
	if _, err := io.ReadFull(s.cfg.Rand, b[:]); err != nil {
		return "", nil, ErrServerError.WithCause(fmt.Errorf("as: reading Rand: %w", err))
	}
	sec := base64.RawURLEncoding.EncodeToString(b[:])
	h := hashSecret(sec)
	return sec, h[:], nil
}

// RegisterUE registers a UE and returns it with the generated client secret
// (empty unless spec.WithSecret). The secret is shown only here.
func (s *Server) RegisterUE(ctx context.Context, spec UESpec) (*UEInfo, string, error) {
	if err := validateUEID(spec.ID); err != nil {
		return nil, "", invalidUE("%v", err)
	}
	jwk, err := normalizeUEKey(spec.PublicKey)
	if err != nil {
		return nil, "", err
	}
	grants, err := s.validateGrants(spec.Grants)
	if err != nil {
		return nil, "", err
	}
	if err := s.validateLifetime(spec.TokenLifetime); err != nil {
		return nil, "", err
	}
	tp, err := store.KeyThumbprint(jwk)
	if err != nil {
		return nil, "", ErrServerError.WithCause(err)
	}
	now := s.now()
	ue := &store.UE{ID: spec.ID, PublicKey: jwk, KeyThumbprint: tp, Grants: grants, TokenLifetime: spec.TokenLifetime, CreatedAt: now, UpdatedAt: now}
	var secret string
	if spec.WithSecret {
		if secret, ue.SecretHash, err = s.newSecret(); err != nil {
			return nil, "", err
		}
	}
	switch err := s.st.CreateUE(ctx, ue); {
	case errors.Is(err, store.ErrConflict):
		return nil, "", ErrConflict.WithDescriptionf("UE %q is already registered", spec.ID)
	case errors.Is(err, store.ErrKeyInUse):
		return nil, "", keyInUse(err)
	case err != nil:
		return nil, "", storeError("creating UE", err)
	}
	s.ues.drop(spec.ID) // an entry of an earlier UE with this ID
	info, err := ueInfo(ue)
	return info, secret, err
}

// UpdateUE changes a registered UE. It returns the new client secret when
// u.Secret is SecretRotate.
func (s *Server) UpdateUE(ctx context.Context, id string, u UEUpdate) (*UEInfo, string, error) {
	ue, err := s.getUE(ctx, id)
	if err != nil {
		return nil, "", err
	}
	if u.PublicKey != nil {
		if ue.PublicKey, err = normalizeUEKey(u.PublicKey); err != nil {
			return nil, "", err
		}
	}
	if ue.KeyThumbprint, err = store.KeyThumbprint(ue.PublicKey); err != nil {
		return nil, "", ErrServerError.WithCause(err)
	}
	if u.Grants != nil {
		if ue.Grants, err = s.validateGrants(*u.Grants); err != nil {
			return nil, "", err
		}
	}
	if u.TokenLifetime != nil {
		if err := s.validateLifetime(*u.TokenLifetime); err != nil {
			return nil, "", err
		}
		ue.TokenLifetime = *u.TokenLifetime
	}
	var secret string
	switch u.Secret {
	case SecretKeep:
	case SecretRotate:
		if secret, ue.SecretHash, err = s.newSecret(); err != nil {
			return nil, "", err
		}
	case SecretRemove:
		ue.SecretHash = nil
	default:
		return nil, "", invalidUE("secret action %q must be %q or %q", string(u.Secret), SecretRotate, SecretRemove)
	}
	// UpdatedAt is the registration's version (see ueCache): it must
	// change with every update, even if the clock did not move.
	now := s.now()
	if !now.After(ue.UpdatedAt) {
		now = ue.UpdatedAt.Add(time.Nanosecond)
	}
	ue.UpdatedAt = now
	switch err := s.st.UpdateUE(ctx, ue); {
	case errors.Is(err, store.ErrNotFound):
		return nil, "", ErrNotFound.WithDescriptionf("UE %q is not registered", id)
	case errors.Is(err, store.ErrKeyInUse):
		return nil, "", keyInUse(err)
	case err != nil:
		return nil, "", storeError("updating UE", err)
	}
	s.ueKeys.Delete(id)
	s.ues.drop(id)
	info, err := ueInfo(ue)
	return info, secret, err
}

// RemoveUE deletes a UE and revokes every token it still holds (a removed
// UE must not keep working offline); it returns how many were revoked. The
// issued-token records stay.
func (s *Server) RemoveUE(ctx context.Context, id string) (int, error) {
	if _, err := s.getUE(ctx, id); err != nil {
		return 0, err
	}
	// Revoke first so that a failure leaves the UE in place for a retry,
	// then again after the deletion for tokens issued in between.
	n, err := s.st.RevokeSubject(ctx, id, s.now())
	if err != nil {
		return 0, storeError("revoking the UE's tokens", err)
	}
	switch err := s.st.DeleteUE(ctx, id); {
	case errors.Is(err, store.ErrNotFound):
		return n, ErrNotFound.WithDescriptionf("UE %q is not registered", id)
	case err != nil:
		return n, storeError("deleting UE", err)
	}
	s.ueKeys.Delete(id)
	s.ues.drop(id)
	m, err := s.st.RevokeSubject(ctx, id, s.now())
	if err != nil {
		return n, storeError("revoking the removed UE's tokens", err)
	}
	return n + m, nil
}

func (s *Server) getUE(ctx context.Context, id string) (*store.UE, error) {
	if err := validateUEID(id); err != nil {
		return nil, ErrNotFound.WithDescriptionf("UE %q is not registered", id)
	}
	ue, err := s.st.GetUE(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, ErrNotFound.WithDescriptionf("UE %q is not registered", id)
	case err != nil:
		return nil, storeError("reading UE", err)
	}
	return ue, nil
}

// GetUE returns a registered UE.
func (s *Server) GetUE(ctx context.Context, id string) (*UEInfo, error) {
	ue, err := s.getUE(ctx, id)
	if err != nil {
		return nil, err
	}
	return ueInfo(ue)
}

// ListUEs lists UEs ordered by ID, after the given ID, at most limit
// (0: no limit).
func (s *Server) ListUEs(ctx context.Context, after string, limit int) ([]*UEInfo, error) {
	if limit < 0 {
		return nil, invalidUE("limit %d must not be negative", limit)
	}
	ues, err := s.st.ListUEs(ctx, after, limit)
	if err != nil {
		return nil, storeError("listing UEs", err)
	}
	out := make([]*UEInfo, 0, len(ues))
	for _, ue := range ues {
		info, err := ueInfo(ue)
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	return out, nil
}

func ueInfo(ue *store.UE) (*UEInfo, error) {
	info := &UEInfo{
		ID:        ue.ID,
		PublicKey: json.RawMessage(slices.Clone(ue.PublicKey)),
		HasSecret: len(ue.SecretHash) == sha256.Size,
		Grants:    make([]string, 0, len(ue.Grants)),
		CreatedAt: ue.CreatedAt,
		UpdatedAt: ue.UpdatedAt,
	}
	if ue.TokenLifetime > 0 {
		info.TokenLifetime = ue.TokenLifetime.String()
	}
	for _, sc := range grantsToScopes(ue.Grants) {
		info.Grants = append(info.Grants, sc.String())
	}
	if pub, err := token.ParsePublicKey(ue.PublicKey); err == nil {
		info.KeyThumbprint, _ = token.Thumbprint(pub)
	}
	return info, nil
}

// RevokeToken revokes one issued token by its jti (idempotent).
func (s *Server) RevokeToken(ctx context.Context, jti string) error {
	if jti == "" || len(jti) > 256 {
		return ErrNotFound.WithDescriptionf("token %q is not on record", jti)
	}
	switch err := s.st.RevokeToken(ctx, jti, s.now()); {
	case errors.Is(err, store.ErrNotFound):
		return ErrNotFound.WithDescriptionf("token %q is not on record", jti)
	case err != nil:
		return storeError("revoking token", err)
	}
	return nil
}

// RevokeUE revokes every unrevoked token issued to a UE and returns how
// many. It works for removed UEs too (their records stay).
func (s *Server) RevokeUE(ctx context.Context, id string) (int, error) {
	if err := validateUEID(id); err != nil {
		return 0, invalidUE("%v", err)
	}
	n, err := s.st.RevokeSubject(ctx, id, s.now())
	if err != nil {
		return 0, storeError("revoking tokens", err)
	}
	return n, nil
}

// TokenFilter selects issued tokens for ListTokens.
type TokenFilter struct {
	Subject    string // "" for all UEs
	ActiveOnly bool   // only tokens not yet expired (revoked ones included, marked)
	After      bool   // pagination: only status indices greater than AfterIndex
	AfterIndex uint64 // with After: the last status index of the previous page
	Limit      int    // 0: no limit
}

// TokenInfo is the record of one issued token.
type TokenInfo struct {
	JTI         string     `json:"jti"`
	Subject     string     `json:"sub"`
	Scope       string     `json:"scope"`
	Format      string     `json:"token_format"`
	KeyID       string     `json:"kid"`
	IssuedAt    time.Time  `json:"iat"`
	ExpiresAt   time.Time  `json:"exp"`
	StatusIndex uint64     `json:"status_index"`
	StatusList  string     `json:"status_list"` // URI of its status list
	StatusPos   uint64     `json:"status_idx"`  // index within that list
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
	Expired     bool       `json:"expired"`
}

// ListTokens lists issued-token records ordered by status index.
func (s *Server) ListTokens(ctx context.Context, f TokenFilter) ([]*TokenInfo, error) {
	if f.Limit < 0 {
		return nil, invalidUE("limit %d must not be negative", f.Limit)
	}
	now := s.now()
	sf := store.TokenFilter{Subject: f.Subject, After: f.After, AfterIndex: f.AfterIndex, Limit: f.Limit}
	if f.ActiveOnly {
		sf.ActiveAt = now
	}
	recs, err := s.st.ListTokens(ctx, sf)
	if err != nil {
		return nil, storeError("listing tokens", err)
	}
	size := uint64(s.cfg.StatusListSize)
	out := make([]*TokenInfo, 0, len(recs))
	for _, r := range recs {
		out = append(out, &TokenInfo{
			JTI: r.JTI, Subject: r.Subject, Scope: r.Scope, Format: r.Format, KeyID: r.KeyID,
			IssuedAt: r.IssuedAt, ExpiresAt: r.ExpiresAt, StatusIndex: r.StatusIndex,
			StatusList: s.StatusListURI(r.StatusIndex / size), StatusPos: r.StatusIndex % size,
			RevokedAt: r.RevokedAt, Expired: !now.Before(r.ExpiresAt),
		})
	}
	return out, nil
}
