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
	var used bool // the client assertion's jti is already recorded
	resp, retry, err := s.issue(ctx, &req, format, requested, &used)
	if retry {
		// The cached registration was stale: once more, from a fresh one.
		resp, retry, err = s.issue(ctx, &req, format, requested, &used)
		if retry {
			err = ErrTemporarilyUnavailable.WithDescription("the client's registration changed during the request; retry").WithCause(err)
		}
	}
	return resp, err
}

// issue is one attempt of Token. retry reports that the attempt failed on
// a cached registration that has changed since (see ueCache): the caller
// may try again, and err is the failure to report if it does not. used is
// set once the request's client assertion jti is recorded, so that a retry
// does not take it for a replay.
func (s *Server) issue(ctx context.Context, req *TokenRequest, format token.Format, requested []token.Scope, used *bool) (_ *TokenResponse, retry bool, _ error) {
	ue, pending, cached, err := s.authenticateDeferred(ctx, &req.Auth, s.guarded != nil)
	if err != nil {
		return nil, cached != nil && s.refreshUE(ctx, cached), err
	}
	granted := grantsToScopes(ue.Grants)
	var scopes []token.Scope
	if req.Scope == "" {
		if len(granted) == 0 {
			err = ErrInvalidScope.WithDescription("the client has no scopes granted")
		}
		scopes = granted
	} else {
		for _, sc := range requested {
			if !containsScope(granted, sc) {
				err = ErrInvalidScope.WithDescriptionf("scope %s is not granted to this client", sc)
				break
			}
			if !containsScope(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
	}
	if err != nil {
		return nil, cached != nil && s.refreshUE(ctx, cached), err
	}
	cnf, _, err := s.ueKey(ue)
	if err != nil {
		return nil, false, ErrServerError.WithCause(err)
	}

	lifetime := s.cfg.DefaultTokenLifetime
	if ue.TokenLifetime > 0 {
		lifetime = ue.TokenLifetime
	}
	lifetime = min(lifetime, s.cfg.MaxTokenLifetime).Truncate(time.Second)
	if lifetime < time.Second {
		lifetime = time.Second
	}
	clock := s.now()
	now := clock.Truncate(time.Second)
	exp := now.Add(lifetime)

	jti, err := s.newJTI(clock)
	if err != nil {
		return nil, false, ErrServerError.WithCause(err)
	}

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
	// With a GuardedTokenRecorder the token is recorded only if the UE's
	// registration is still the one the client was authenticated with.
	var useErr error
	var wg sync.WaitGroup
	if pending != nil && !*used {
		wg.Go(func() {
			if useErr = s.useAssertion(ctx, pending); useErr == nil {
				*used = true
			}
		})
	}
	var recErr error
	if s.guarded != nil {
		recErr = s.guarded.RecordTokenIfUE(ctx, rec, ue.UpdatedAt)
	} else {
		recErr = s.st.RecordToken(ctx, rec)
	}
	wg.Wait()
	if useErr != nil {
		if recErr == nil && errors.Is(useErr, ErrInvalidClient) {
			// Best effort: the record of a token nobody received.
			_ = s.st.RevokeToken(ctx, rec.JTI, s.now())
		}
		return nil, false, useErr
	}
	if errors.Is(recErr, store.ErrStale) {
		// The registration changed or was removed after it was read.
		s.ues.drop(ue.ID)
		return nil, true, storeError("recording token", recErr)
	}
	if recErr != nil {
		if errors.Is(recErr, store.ErrConflict) {
			return nil, false, ErrServerError.WithCause(fmt.Errorf("as: token ID collision (Rand is broken?): %w", recErr))
		}
		return nil, false, storeError("recording token", recErr)
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
		return nil, false, ErrServerError.WithCause(fmt.Errorf("as: signing token: %w", err))
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
	}, false, nil
}

// newJTI returns a token ID: 16 bytes as unpadded base64url (the form a
// CWT cti needs). The first 6 bytes are the issuance time in milliseconds
// since the epoch, big-endian; the other 10 come from Rand. 80 random bits
// per millisecond keep IDs unique (the store rejects a duplicate anyway),
// and the time prefix keeps IDs issued together next to each other in the
// store's jti index: a group commit of many records then dirties a few
// index pages instead of one random page per token, which is the largest
// share of a record's cost in SQLite. The ID reveals nothing the token's
// iat does not.
func (s *Server) newJTI(now time.Time) (string, error) {
	var b [16]byte
	ms := uint64(now.UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (40 - 8*i))
	}
	if _, err := io.ReadFull(s.cfg.Rand, b[6:]); err != nil {
		return "", fmt.Errorf("as: reading Rand: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
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
