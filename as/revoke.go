package as

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/prosesec/prosesec/store"
	"github.com/prosesec/prosesec/token"
)

// maxTokenSize bounds a token presented for revocation or introspection.
const maxTokenSize = 8192

// RevokeRequest is an RFC 7009 revocation request.
type RevokeRequest struct {
	Token         string
	TokenTypeHint string // ignored: the AS issues access tokens only (RFC 7009 §2.1 lets it ignore the hint)
	Auth          ClientAuth
}

// IntrospectRequest is an RFC 7662 introspection request. The caller is
// either a registered client (Auth), which may introspect only its own
// tokens, or the admin (Privileged, set by the shell after checking the
// admin credential; Auth is then ignored).
type IntrospectRequest struct {
	Token         string
	TokenTypeHint string // ignored (RFC 7662 §2.1)
	Auth          ClientAuth
	Privileged    bool
}

// Confirmation is the RFC 7800 cnf member of an introspection response.
type Confirmation struct {
	JKT string `json:"jkt"` // RFC 7638 thumbprint of the UE's identity key (RFC 9449 §6)
}

// Introspection is an RFC 7662 §2.2 response. Only Active is set for an
// inactive (expired, revoked, unknown, foreign or malformed) token.
type Introspection struct {
	Active      bool          `json:"active"`
	Scope       string        `json:"scope,omitempty"`
	ClientID    string        `json:"client_id,omitempty"`
	Subject     string        `json:"sub,omitempty"`
	TokenType   string        `json:"token_type,omitempty"`
	Expiry      int64         `json:"exp,omitempty"`
	IssuedAt    int64         `json:"iat,omitempty"`
	NotBefore   int64         `json:"nbf,omitempty"`
	Audience    []string      `json:"aud,omitempty"`
	Issuer      string        `json:"iss,omitempty"`
	JTI         string        `json:"jti,omitempty"`
	Cnf         *Confirmation `json:"cnf,omitempty"`
	TokenFormat string        `json:"token_format,omitempty"` // project-defined
	StatusIndex *uint64       `json:"status_index,omitempty"` // project-defined: global index (list = idx / size)

	// CallerID is the authenticated client (empty for the admin), for logs.
	CallerID string `json:"-"`
}

// verifyOwn verifies a token signed by this AS (signature, issuer,
// audience, time; status from the store, not from a list). It returns nil
// claims for anything that does not verify.
func (s *Server) verifyOwn(raw string) (*token.Claims, token.Format) {
	if raw == "" || len(raw) > maxTokenSize {
		return nil, 0
	}
	f, b := token.JWT, []byte(raw)
	if !strings.Contains(raw, ".") {
		var err error
		if b, err = base64.RawURLEncoding.DecodeString(raw); err != nil {
			return nil, 0
		}
		f = token.CWT
	}
	c, err := s.keys.Load().verify.Verify(b, f, s.now())
	if err != nil {
		return nil, 0
	}
	return c, f
}

// RevokeResult reports what a revocation request did (for logs and metrics;
// the HTTP response is always an empty 200).
type RevokeResult struct {
	ClientID string // the authenticated client
	Revoked  bool   // a token of the client was revoked by this request
}

// Revoke handles an RFC 7009 revocation request. The client must
// authenticate and may revoke only its own tokens; an invalid, unknown,
// expired or foreign token is answered with success and no effect
// (RFC 7009 §2.2).
func (s *Server) Revoke(ctx context.Context, req RevokeRequest) (*RevokeResult, error) {
	if req.Token == "" {
		return nil, ErrInvalidRequest.WithDescription("token is required")
	}
	ue, err := s.authenticate(ctx, &req.Auth)
	if err != nil {
		return nil, err
	}
	res := &RevokeResult{ClientID: ue.ID}
	c, _ := s.verifyOwn(req.Token)
	if c == nil || c.Subject != ue.ID {
		return res, nil
	}
	switch err := s.st.RevokeToken(ctx, c.ID, s.now()); {
	case errors.Is(err, store.ErrNotFound):
		return res, nil
	case err != nil:
		return nil, storeError("revoking token", err)
	}
	res.Revoked = true
	return res, nil
}

// Introspect handles an RFC 7662 introspection request.
func (s *Server) Introspect(ctx context.Context, req IntrospectRequest) (*Introspection, error) {
	if req.Token == "" {
		return nil, ErrInvalidRequest.WithDescription("token is required")
	}
	caller := ""
	if !req.Privileged {
		ue, err := s.authenticate(ctx, &req.Auth)
		if err != nil {
			return nil, err
		}
		caller = ue.ID
	}
	inactive := &Introspection{Active: false, CallerID: caller}
	c, f := s.verifyOwn(req.Token)
	if c == nil || (caller != "" && c.Subject != caller) {
		return inactive, nil
	}
	rec, err := s.st.GetToken(ctx, c.ID)
	if errors.Is(err, store.ErrNotFound) {
		return inactive, nil
	}
	if err != nil {
		return nil, storeError("reading token record", err)
	}
	if rec.RevokedAt != nil || rec.Subject != c.Subject {
		return inactive, nil
	}
	out := &Introspection{
		Active:      true,
		Scope:       token.FormatScopes(c.Scopes),
		ClientID:    c.ClientID,
		Subject:     c.Subject,
		TokenType:   "Bearer",
		Expiry:      c.Expiry.Unix(),
		IssuedAt:    c.IssuedAt.Unix(),
		NotBefore:   unixOrZero(c.NotBefore),
		Audience:    c.Audience,
		Issuer:      c.Issuer,
		JTI:         c.ID,
		TokenFormat: formatName(f),
		CallerID:    caller,
	}
	if out.ClientID == "" {
		out.ClientID = c.Subject
	}
	idx := rec.StatusIndex
	out.StatusIndex = &idx
	if c.Confirmation != nil {
		jkt, err := token.Thumbprint(c.Confirmation)
		if err != nil {
			return nil, ErrServerError.WithCause(err)
		}
		out.Cnf = &Confirmation{JKT: jkt}
	}
	return out, nil
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}
