package as

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/prosesec/prosesec/store"
	"github.com/prosesec/prosesec/token"
)

// GrantClientCredentials is the only grant type of the token endpoint.
const GrantClientCredentials = "client_credentials"

// TokenRequest is a token endpoint request (RFC 6749 §4.4.2).
type TokenRequest struct {
	GrantType string // must be "client_credentials"
	// Scope is the space-separated list of u2u:use:<RSC> / u2u:serve:<RSC>
	// scopes; it must be a subset of the UE's grants. Empty means every
	// scope the UE was granted (RFC 6749 §3.3 lets the server apply a
	// default; the granted scope is returned in the response).
	Scope string
	// Format is the project-defined token_format parameter: "jwt" (default
	// when empty) or "cwt".
	Format string
	Auth   ClientAuth
}

// TokenResponse is a successful token response (RFC 6749 §5.1).
//
// For token_format=cwt, AccessToken is the base64url encoding (no padding)
// of the COSE_Sign1 bytes. TokenType is "Bearer" for OAuth interoperability;
// the token is additionally bound to the UE's PC5 identity key (cnf), which
// PC5 peers check by a signature of that key in the link handshake.
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
	TokenFormat string `json:"token_format"` // project-defined: "jwt" or "cwt"

	// For logs and metrics; not part of the response body.
	ClientID string    `json:"-"`
	JTI      string    `json:"-"`
	Expiry   time.Time `json:"-"`
}

// ParseFormat maps a token_format value to a token.Format ("" is JWT).
func ParseFormat(s string) (token.Format, error) {
	switch s {
	case "", "jwt":
		return token.JWT, nil
	case "cwt":
		return token.CWT, nil
	}
	return 0, ErrInvalidRequest.WithDescription(`token_format must be "jwt" or "cwt"`)
}

func formatName(f token.Format) string {
	if f == token.CWT {
		return "cwt"
	}
	return "jwt"
}

// Token handles a client_credentials token request: it authenticates the
// client, checks the requested scope against the UE's grants, records the
// token (which assigns its status-list index) and only then signs and
// returns it, so every token a client ever receives is on record.
func (s *Server) Token(ctx context.Context, req TokenRequest) (*TokenResponse, error) {
	switch req.GrantType {
	case GrantClientCredentials:
	case "":
		return nil, ErrInvalidRequest.WithDescription("grant_type is required")
	default:
		return nil, ErrUnsupportedGrantType
	}
	format, err := ParseFormat(req.Format)
	if err != nil {
		return nil, err
	}
	var requested []token.Scope
	if req.Scope != "" {
		if requested, err = token.ParseScopes(req.Scope); err != nil {
			return nil, ErrInvalidScope.WithDescription("scope must be space-separated u2u:use:<RSC> or u2u:serve:<RSC> values (RSC as 6 hex digits)").WithCause(err)
		}
	}
	ue, pending, err := s.authenticateDeferred(ctx, &req.Auth)
	if err != nil {
		return nil, err
	}
	granted := grantsToScopes(ue.Grants)
	var scopes []token.Scope
	if req.Scope == "" {
		if len(granted) == 0 {
			return nil, ErrInvalidScope.WithDescription("the client has no scopes granted")
		}
		scopes = granted
	} else {
		for _, sc := range requested {
			if !containsScope(granted, sc) {
				return nil, ErrInvalidScope.WithDescriptionf("scope %s is not granted to this client", sc)
			}
			if !containsScope(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
	}
	cnf, _, err := s.ueKey(ue)
	if err != nil {
		return nil, ErrServerError.WithCause(err)
	}

	lifetime := s.cfg.DefaultTokenLifetime
	if ue.TokenLifetime > 0 {
		lifetime = ue.TokenLifetime
	}
	lifetime = min(lifetime, s.cfg.MaxTokenLifetime).Truncate(time.Second)
	if lifetime < time.Second {
		lifetime = time.Second
	}
	now := s.now().Truncate(time.Second)
	exp := now.Add(lifetime)

	var jb [16]byte
	if _, err := io.ReadFull(s.cfg.Rand, jb[:]); err != nil {
		return nil, ErrServerError.WithCause(fmt.Errorf("as: reading Rand: %w", err))
	}
	jti := base64.RawURLEncoding.EncodeToString(jb[:])

	ks := s.keys.Load()
	scopeStr := token.FormatScopes(scopes)
	rec := &store.IssuedToken{
		JTI:       jti,
		Subject:   ue.ID,
		Scope:     scopeStr,
		Format:    formatName(format),
		KeyID:     ks.signer.KeyID,
		IssuedAt:  now,
		ExpiresAt: exp,
	}
	// The assertion's replay record and the token record are written
	// concurrently so that they share one store commit (one fsync). The
	// token is signed and returned only if both succeeded; a token recorded
	// for a replayed assertion is revoked at once (it was never handed out).
	var useErr error
	var wg sync.WaitGroup
	if pending != nil {
		wg.Go(func() { useErr = s.useAssertion(ctx, pending) })
	}
	recErr := s.st.RecordToken(ctx, rec)
	wg.Wait()
	if useErr != nil {
		if recErr == nil && errors.Is(useErr, ErrInvalidClient) {
			// Best effort: the record of a token nobody received.
			_ = s.st.RevokeToken(ctx, rec.JTI, s.now())
		}
		return nil, useErr
	}
	if recErr != nil {
		if errors.Is(recErr, store.ErrConflict) {
			return nil, ErrServerError.WithCause(fmt.Errorf("as: token ID collision (Rand is broken?): %w", recErr))
		}
		return nil, storeError("recording token", recErr)
	}
	size := uint64(s.cfg.StatusListSize)
	claims := &token.Claims{
		Issuer:       s.cfg.Issuer,
		Subject:      ue.ID,
		Audience:     []string{s.cfg.Audience},
		ClientID:     ue.ID,
		IssuedAt:     now,
		NotBefore:    now,
		Expiry:       exp,
		ID:           jti,
		Scopes:       scopes,
		Confirmation: cnf,
		Status:       &token.StatusRef{URI: s.StatusListURI(rec.StatusIndex / size), Index: rec.StatusIndex % size},
	}
	raw, err := ks.signer.Sign(claims, format)
	if err != nil {
		return nil, ErrServerError.WithCause(fmt.Errorf("as: signing token: %w", err))
	}
	access := string(raw)
	if format == token.CWT {
		access = base64.RawURLEncoding.EncodeToString(raw)
	}
	return &TokenResponse{
		AccessToken: access,
		TokenType:   "Bearer",
		ExpiresIn:   int64(lifetime / time.Second),
		Scope:       scopeStr,
		TokenFormat: formatName(format),
		ClientID:    ue.ID,
		JTI:         jti,
		Expiry:      exp,
	}, nil
}

func grantsToScopes(gs []store.Grant) []token.Scope {
	out := make([]token.Scope, 0, len(gs))
	for _, g := range gs {
		out = append(out, token.Scope{Role: token.Role(g.Role), RSC: token.RSC(g.RSC)})
	}
	return out
}

func scopesToGrants(ss []token.Scope) []store.Grant {
	out := make([]store.Grant, 0, len(ss))
	for _, s := range ss {
		out = append(out, store.Grant{Role: store.Role(s.Role), RSC: uint32(s.RSC)})
	}
	return out
}

func containsScope(list []token.Scope, s token.Scope) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
