package as

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/prosesec/prosesec/store"
	"github.com/prosesec/prosesec/token"
)

// AuthMethod is an RFC 7591 token_endpoint_auth_method value.
type AuthMethod string

// Client authentication methods (RFC 6749 §2.3.1, RFC 7523 §2.2 / OIDC Core §9).
const (
	AuthNone              AuthMethod = ""
	AuthClientSecretBasic AuthMethod = "client_secret_basic"
	AuthClientSecretPost  AuthMethod = "client_secret_post"
	AuthPrivateKeyJWT     AuthMethod = "private_key_jwt"
)

// ClientAuth is the client authentication presented with a request, as the
// HTTP shell extracted it (Basic credentials already form-decoded per
// RFC 6749 §2.3.1).
type ClientAuth struct {
	Method        AuthMethod
	ClientID      string // Basic user / client_id parameter; optional with private_key_jwt
	Secret        string // client_secret_basic / client_secret_post
	AssertionType string // client_assertion_type (private_key_jwt)
	Assertion     string // client_assertion (private_key_jwt)

	// parsed is Assertion decoded by ClaimedClient (or nil), so that a
	// request's assertion is decoded once; parsedFrom is the string it was
	// decoded from, and parseErr the decoding error.
	parsed     *token.ClientAssertion
	parseErr   error
	parsedFrom string
}

// ClaimedClient returns the client the request claims to be, without
// verifying anything: the client ID (Basic user or client_id parameter),
// else the iss of a client assertion, or "" when none can be read. The
// assertion is decoded exactly as authentication decodes it, and the
// result is kept for it: call it on the ClientAuth that is then passed to
// the Server.
func (a *ClientAuth) ClaimedClient() string {
	if a.ClientID != "" || a.Method != AuthPrivateKeyJWT {
		return a.ClientID
	}
	if p, err := a.assertion(); err == nil {
		return p.Issuer
	}
	return ""
}

// assertion decodes a.Assertion, at most once per value of it.
func (a *ClientAuth) assertion() (*token.ClientAssertion, error) {
	if (a.parsed == nil && a.parseErr == nil) || a.parsedFrom != a.Assertion {
		a.parsed, a.parseErr = token.ParseClientAssertion(a.Assertion)
		a.parsedFrom = a.Assertion
	}
	return a.parsed, a.parseErr
}

// maxAssertionSize bounds a client assertion before it is parsed.
const maxAssertionSize = token.MaxClientAssertionSize

// genericAuthFailure is the one description for unknown clients, wrong
// secrets and bad assertion signatures, so that responses do not reveal
// which client IDs exist.
var errAuthFailed = ErrInvalidClient.WithDescription("client authentication failed")

// authenticate checks a client's credentials and returns its registration.
// Failures are ErrInvalidClient (or ErrInvalidRequest for a malformed
// request, ErrServerError for store failures).
func (s *Server) authenticate(ctx context.Context, a *ClientAuth) (*store.UE, error) {
	ue, p, _, err := s.authenticateDeferred(ctx, a, false)
	if err != nil {
		return nil, err
	}
	if p != nil {
		if err := s.useAssertion(ctx, p); err != nil {
			return nil, err
		}
	}
	return ue, nil
}

// pendingAssertion is a verified client assertion whose jti has not been
// recorded yet (RFC 7523 §3 item 7).
type pendingAssertion struct {
	issuer, jti string
	until, now  time.Time
}

// authenticateDeferred is authenticate without the replay record of a
// client assertion: the caller must pass a non-nil pendingAssertion to
// useAssertion and fail on its error before it lets the client have
// anything. Token runs it concurrently with the token record, so that both
// writes share one store commit.
//
// With useCache, the client's registration may come from the UE cache
// (Token only: it records the token only if that registration is still
// current). cached is then the cached registration that was consulted,
// also when authentication failed, so that the caller can tell a failure
// due to a stale entry from a real one.
func (s *Server) authenticateDeferred(ctx context.Context, a *ClientAuth, useCache bool) (ue *store.UE, p *pendingAssertion, cached *store.UE, err error) {
	switch a.Method {
	case AuthClientSecretBasic, AuthClientSecretPost:
		ue, cached, err := s.authSecret(ctx, a, useCache)
		return ue, nil, cached, err
	case AuthPrivateKeyJWT:
		return s.authAssertion(ctx, a, useCache)
	case AuthNone:
		return nil, nil, nil, ErrInvalidClient.WithDescription("client authentication is required (client_secret_basic, client_secret_post or private_key_jwt)")
	default:
		return nil, nil, nil, ErrInvalidClient.WithDescriptionf("unsupported client authentication method %q", string(a.Method))
	}
}

// useAssertion records the assertion's jti until the assertion can no
// longer be accepted; a second use is ErrInvalidClient.
func (s *Server) useAssertion(ctx context.Context, p *pendingAssertion) error {
	switch err := s.st.UseAssertion(ctx, p.issuer, p.jti, p.until, p.now); {
	case errors.Is(err, store.ErrReplay):
		return ErrInvalidClient.WithDescription("client_assertion jti has been used before")
	case err != nil:
		return storeError("recording assertion", err)
	}
	return nil
}

// Client secrets are 32 random bytes from Rand, base64url without padding,
// shown once at registration. They are stored as SHA-256: with 256 bits of
// entropy neither brute force nor dictionaries apply, so a slow password
// hash (bcrypt, argon2) would add no security and cost ~100 ms of CPU per
// token request, far beyond the issuance budget.
func hashSecret(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

func (s *Server) authSecret(ctx context.Context, a *ClientAuth, useCache bool) (ue, cached *store.UE, err error) {
	if a.ClientID == "" {
		return nil, nil, ErrInvalidClient.WithDescription("client_id is required")
	}
	if a.Secret == "" {
		return nil, nil, ErrInvalidClient.WithDescription("client_secret is required")
	}
	if a.AssertionType != "" || a.Assertion != "" {
		return nil, nil, ErrInvalidRequest.WithDescription("only one client authentication method may be used (RFC 6749 §2.3)")
	}
	got := hashSecret(a.Secret)
	want := s.dummyHash[:]
	ue, cached, err = s.getUEForAuth(ctx, a.ClientID, useCache)
	if err != nil {
		return nil, nil, err
	}
	if ue != nil && len(ue.SecretHash) == sha256.Size {
		want = ue.SecretHash
	}
	ok := subtle.ConstantTimeCompare(got[:], want) == 1
	if !ok || ue == nil || len(ue.SecretHash) != sha256.Size {
		return nil, cached, errAuthFailed
	}
	return ue, cached, nil
}

// getUEForAuth returns the UE, nil for an unknown (or invalid) client ID,
// or a server_error. With useCache it answers from the UE cache when it
// can (cached is then the UE returned) and fills the cache otherwise.
func (s *Server) getUEForAuth(ctx context.Context, id string, useCache bool) (ue, cached *store.UE, err error) {
	if validateUEID(id) != nil {
		return nil, nil, nil
	}
	if useCache {
		if ue := s.ues.get(id); ue != nil {
			return ue, ue, nil
		}
	}
	ue, err = s.st.GetUE(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, storeError("reading UE", err)
	}
	if useCache {
		s.ues.put(ue)
	}
	return ue, nil, nil
}

// assertionClaims converts the decoded claims for go-jose's validation
// rules (time with leeway, issuer, subject, audience), which this server
// has always applied to assertions.
func assertionClaims(c *token.ClientAssertion) jwt.Claims {
	return jwt.Claims{
		Issuer:    c.Issuer,
		Subject:   c.Subject,
		Audience:  c.Audience,
		ID:        c.ID,
		Expiry:    jwt.NewNumericDate(c.Expiry),
		NotBefore: jwt.NewNumericDate(c.NotBefore),
		IssuedAt:  jwt.NewNumericDate(c.IssuedAt),
	}
}

// authAssertion authenticates with a JWT client assertion (RFC 7523 §3,
// OIDC Core §9 private_key_jwt) signed with the UE's PC5 identity key.
func (s *Server) authAssertion(ctx context.Context, a *ClientAuth, useCache bool) (_ *store.UE, _ *pendingAssertion, cached *store.UE, err error) {
	if a.Secret != "" {
		return nil, nil, nil, ErrInvalidRequest.WithDescription("only one client authentication method may be used (RFC 6749 §2.3)")
	}
	if a.AssertionType != ClientAssertionTypeJWTBearer {
		return nil, nil, nil, ErrInvalidRequest.WithDescriptionf("client_assertion_type must be %q", ClientAssertionTypeJWTBearer)
	}
	if a.Assertion == "" {
		return nil, nil, nil, ErrInvalidRequest.WithDescription("client_assertion is required")
	}
	if len(a.Assertion) > maxAssertionSize {
		return nil, nil, nil, ErrInvalidClient.WithDescriptionf("client_assertion exceeds %d bytes", maxAssertionSize)
	}
	c, err := a.assertion()
	if err != nil {
		return nil, nil, nil, ErrInvalidClient.WithDescription("client_assertion does not parse as a JWT (JWS compact serialization, JSON header and claims)").WithCause(err)
	}
	// The allow-list here is every algorithm a UE key can have; the
	// algorithm is pinned to the UE's key type below, before verifying.
	if c.Alg != token.ES256 && c.Alg != token.EdDSA {
		return nil, nil, nil, ErrInvalidClient.WithDescription("client_assertion is not a JWS signed with ES256 or EdDSA").WithCause(fmt.Errorf("alg %q", c.Alg))
	}
	id := c.Issuer
	if id == "" {
		return nil, nil, nil, ErrInvalidClient.WithDescription("client_assertion has no iss")
	}
	if c.Subject != id {
		return nil, nil, nil, ErrInvalidClient.WithDescription("client_assertion iss and sub must both be the client_id")
	}
	if a.ClientID != "" && a.ClientID != id {
		return nil, nil, nil, ErrInvalidClient.WithDescription("client_id does not match the client_assertion issuer")
	}
	ue, cached, err := s.getUEForAuth(ctx, id, useCache)
	if err != nil {
		return nil, nil, nil, err
	}
	if ue == nil {
		// Verify against a dummy key anyway, so that an unknown client ID
		// costs the same time as a bad signature.
		if dummy := s.dummyKeys[string(c.Alg)]; dummy != nil {
			_ = c.VerifySignature(dummy)
		}
		return nil, nil, cached, errAuthFailed
	}
	pub, alg, err := s.ueKey(ue)
	if err != nil {
		return nil, nil, cached, ErrServerError.WithCause(err)
	}
	if c.Alg != alg {
		// Verify anyway, against a dummy key of the assertion's alg, so
		// that an existing client with the other key type costs the same
		// time as an unknown one.
		if dummy := s.dummyKeys[string(c.Alg)]; dummy != nil {
			_ = c.VerifySignature(dummy)
		}
		return nil, nil, cached, errAuthFailed.WithCause(fmt.Errorf("assertion alg %q, key alg %s", c.Alg, alg))
	}
	if err := c.VerifySignature(pub); err != nil {
		return nil, nil, cached, errAuthFailed.WithCause(err)
	}
	// Signature verified: from here on descriptions may be specific, the
	// caller holds the UE's key. The failures below do not depend on the
	// registration, so no cached entry is reported with them.
	now := s.now()
	if c.Expiry.IsZero() {
		return nil, nil, nil, ErrInvalidClient.WithDescription("client_assertion has no exp")
	}
	exp := c.Expiry
	if c.ID == "" {
		return nil, nil, nil, ErrInvalidClient.WithDescription("client_assertion has no jti")
	}
	if len(c.ID) > 256 {
		return nil, nil, nil, ErrInvalidClient.WithDescription("client_assertion jti exceeds 256 characters")
	}
	err = assertionClaims(c).ValidateWithLeeway(jwt.Expected{
		Issuer:      id,
		Subject:     id,
		AnyAudience: jwt.Audience{s.tokenEndpoint, s.cfg.Issuer},
		Time:        now,
	}, s.cfg.Leeway)
	switch {
	case errors.Is(err, jwt.ErrExpired):
		return nil, nil, nil, ErrInvalidClient.WithDescription("client_assertion has expired")
	case errors.Is(err, jwt.ErrNotValidYet):
		return nil, nil, nil, ErrInvalidClient.WithDescription("client_assertion is not valid yet (nbf)")
	case errors.Is(err, jwt.ErrIssuedInTheFuture):
		return nil, nil, nil, ErrInvalidClient.WithDescription("client_assertion iat is in the future")
	case errors.Is(err, jwt.ErrInvalidAudience):
		return nil, nil, nil, ErrInvalidClient.WithDescriptionf("client_assertion aud must contain %q", s.tokenEndpoint)
	case err != nil:
		return nil, nil, nil, ErrInvalidClient.WithDescription("client_assertion claims are invalid").WithCause(err)
	}
	if exp.Sub(now) > s.cfg.AssertionMaxAge {
		return nil, nil, nil, ErrInvalidClient.WithDescriptionf("client_assertion exp is more than %v in the future", s.cfg.AssertionMaxAge)
	}
	// The jti is remembered until the assertion can no longer be accepted.
	return ue, &pendingAssertion{issuer: id, jti: c.ID, until: exp.Add(s.cfg.Leeway), now: now}, cached, nil
}

// ueKeyEntry caches a UE's parsed identity key, keyed by the stored JWK.
type ueKeyEntry struct {
	jwk       []byte
	updatedAt time.Time
	pub       crypto.PublicKey
	alg       token.Algorithm
}

// ueKey returns the parsed identity key of ue and its JOSE algorithm,
// parsing the stored JWK at most once per UE version.
func (s *Server) ueKey(ue *store.UE) (crypto.PublicKey, token.Algorithm, error) {
	if v, ok := s.ueKeys.Load(ue.ID); ok {
		e := v.(*ueKeyEntry)
		if e.updatedAt.Equal(ue.UpdatedAt) && bytes.Equal(e.jwk, ue.PublicKey) {
			return e.pub, e.alg, nil
		}
	}
	pub, err := token.ParsePublicKey(ue.PublicKey)
	if err != nil {
		return nil, "", fmt.Errorf("as: UE %q: stored public key does not parse: %w", ue.ID, err)
	}
	alg, err := algForKey(pub)
	if err != nil {
		return nil, "", fmt.Errorf("as: UE %q: %v", ue.ID, err)
	}
	s.ueKeys.Store(ue.ID, &ueKeyEntry{jwk: slices.Clone(ue.PublicKey), updatedAt: ue.UpdatedAt, pub: pub, alg: alg})
	return pub, alg, nil
}
