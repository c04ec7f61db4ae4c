package ue

import (
	"crypto"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prosesec/prosesec/token"
)

// Policy defaults.
const (
	DefaultLeeway       = 30 * time.Second
	DefaultMaxStatusAge = 24 * time.Hour
)

// DefaultAlgorithms is the signature allow-list when Policy.Algorithms is
// empty.
var DefaultAlgorithms = []token.Algorithm{token.ES256, token.EdDSA}

// Policy is the offline verification policy of a UE.
type Policy struct {
	// Algorithms is the allow-list for tokens and status lists
	// (DefaultAlgorithms if empty).
	Algorithms []token.Algorithm
	// Leeway is the clock skew allowed on peers' token times
	// (DefaultLeeway if 0; negative means none).
	Leeway time.Duration
	// MaxStatusAge: a status list issued longer ago than this is stale, for
	// the offline start and for every peer token checked against it
	// (DefaultMaxStatusAge if 0; negative means no limit beyond the list's
	// own exp, which always applies).
	MaxStatusAge time.Duration
	// MaxTrustAge: trust anchors (JWKS) fetched longer ago than this are
	// stale (0: no limit). The AS publishes a signing key an offline
	// horizon before it signs, so its offline horizon is a good value.
	MaxTrustAge time.Duration
	// Audience overrides the cached token audience (empty: cached).
	Audience string
}

func (p Policy) algorithms() []token.Algorithm {
	if len(p.Algorithms) == 0 {
		return DefaultAlgorithms
	}
	return p.Algorithms
}

func (p Policy) leeway() time.Duration {
	switch {
	case p.Leeway == 0:
		return DefaultLeeway
	case p.Leeway < 0:
		return 0
	}
	return p.Leeway
}

// maxStatusAge returns the limit, 0 meaning none.
func (p Policy) maxStatusAge() time.Duration {
	switch {
	case p.MaxStatusAge == 0:
		return DefaultMaxStatusAge
	case p.MaxStatusAge < 0:
		return 0
	}
	return p.MaxStatusAge
}

// OfflineBundle is what the PC5 handshake needs out of coverage, built from
// verified cached credentials.
type OfflineBundle struct {
	// ClientID is the UE's user info (its token's sub).
	ClientID string
	// Token is the UE's own token, as sent to peers, in TokenFormat
	// (token.CWT unless the cache holds a JWT).
	Token       []byte
	TokenFormat token.Format
	// Claims are the verified claims of Token (expiry, scopes, cnf).
	Claims *token.Claims
	// IdentityKey signs the handshake transcript; Token is bound to its
	// public key (cnf).
	IdentityKey crypto.Signer
	// Trust holds the cached issuer keys; Status the cached status lists.
	Trust  *token.TrustStore
	Status *token.StatusCache
	// Verifier verifies peers' tokens offline: Trust, the policy's
	// algorithms and leeway, the cached audience and Status. Pass the
	// handshake's time to it.
	Verifier *token.Verifier
	// StatusLists are the cached lists' URIs, issue times and expiries.
	StatusLists []StatusListInfo
}

// StatusListInfo describes one verified cached status list.
type StatusListInfo struct {
	URI      string
	IssuedAt time.Time
	Expiry   time.Time // zero: none
}

// Open verifies the cached credentials offline at now with the identity
// key and returns the bundle for the PC5 handshake. It checks, in order:
// the JWKS parses into trust anchors and is not older than MaxTrustAge
// (ErrTrustStale); every status list verifies with them, names its URI,
// has not expired and is not older than MaxStatusAge (ErrStatusListStale);
// the token verifies with them (signature, audience), names the UE as sub
// and is bound to key (ErrKeyMismatch), has not expired (ErrTokenExpired)
// and is not revoked in the cached list (ErrRevoked). A signed object that
// does not verify is ErrCacheCorrupt. The messages say what to do.
func (c *Credentials) Open(key crypto.Signer, pol Policy, now time.Time) (*OfflineBundle, error) {
	if c == nil {
		return nil, errorf(ErrNoCredentials, "no credentials; %s", reconnect)
	}
	if key == nil {
		return nil, fmt.Errorf("ue: Open needs the identity key")
	}
	who := c.ClientID
	trust := token.NewTrustStore()
	if err := trust.AddJWKS(c.Issuer, c.JWKS); err != nil {
		return nil, errorf(ErrCacheCorrupt, "cached trust anchors of %s do not parse (%v); %s", c.Issuer, err, reconnect)
	}
	if pol.MaxTrustAge > 0 && now.Sub(c.JWKSFetchedAt) > pol.MaxTrustAge {
		return nil, errorf(ErrTrustStale, "cached trust anchors of %s were fetched at %s, more than %s before %s; %s",
			c.Issuer, stamp(c.JWKSFetchedAt), pol.MaxTrustAge, stamp(now), reconnect)
	}
	algs := pol.algorithms()
	leeway := pol.leeway()

	status := token.NewStatusCache(pol.maxStatusAge())
	var infos []StatusListInfo
	lists := map[string]*token.StatusListToken{}
	if len(c.StatusLists) == 0 {
		return nil, errorf(ErrCacheCorrupt, "no status list cached for %s; %s", who, reconnect)
	}
	for _, sl := range c.StatusLists {
		t, err := verifyCachedStatusList(sl, trust, algs, leeway)
		if err != nil {
			return nil, err
		}
		if !t.Expiry.IsZero() && !now.Before(t.Expiry) {
			return nil, errorf(ErrStatusListStale, "cached status list %s expired at %s (now %s); %s", sl.URI, stamp(t.Expiry), stamp(now), reconnect)
		}
		if max := pol.maxStatusAge(); max > 0 && now.Sub(t.IssuedAt) > max {
			return nil, errorf(ErrStatusListStale, "cached status list %s was issued at %s, more than the allowed %s before %s; %s",
				sl.URI, stamp(t.IssuedAt), max, stamp(now), reconnect)
		}
		status.Put(t)
		lists[t.Subject] = t
		infos = append(infos, StatusListInfo{URI: t.Subject, IssuedAt: t.IssuedAt, Expiry: t.Expiry})
	}

	aud := c.Audience
	if pol.Audience != "" {
		aud = pol.Audience
	}
	f, err := formatOf(c.Token.Format)
	if err != nil {
		return nil, errorf(ErrCacheCorrupt, "cached token for %s: %v; %s", who, err, reconnect)
	}
	// The signature and the claims are checked at the token's own issue
	// time (a hint from the cache: a wrong one makes verification fail,
	// never succeed), the expiry below at now with a clear message.
	sv := &token.Verifier{Trust: trust, Algorithms: algs, Audience: aud, Leeway: leeway, SkipStatus: true}
	claims, err := sv.Verify(c.Token.Raw, f, c.Token.IssuedAt)
	if err != nil {
		return nil, errorf(ErrCacheCorrupt, "cached token for %s does not verify with the cached trust anchors (%v); the cache is damaged or was tampered with; %s", who, err, reconnect)
	}
	if err := checkOwnToken(claims, c.ClientID, key); err != nil {
		return nil, err
	}
	if !now.Before(claims.Expiry) {
		return nil, errorf(ErrTokenExpired, "cached token for %s expired at %s (now %s); %s", who, stamp(claims.Expiry), stamp(now), reconnect)
	}
	if err := checkOwnStatus(claims, lists); err != nil {
		return nil, err
	}
	slices.SortFunc(infos, func(a, b StatusListInfo) int { return strings.Compare(a.URI, b.URI) })
	return &OfflineBundle{
		ClientID:    c.ClientID,
		Token:       append([]byte(nil), c.Token.Raw...),
		TokenFormat: f,
		Claims:      claims,
		IdentityKey: key,
		Trust:       trust,
		Status:      status,
		Verifier:    &token.Verifier{Trust: trust, Algorithms: algs, Audience: aud, Leeway: leeway, Status: status},
		StatusLists: infos,
	}, nil
}

func verifyCachedStatusList(sl CachedStatusList, trust *token.TrustStore, algs []token.Algorithm, leeway time.Duration) (*token.StatusListToken, error) {
	f, err := formatOf(sl.Format)
	if err != nil {
		return nil, errorf(ErrCacheCorrupt, "cached status list %s: %v; %s", sl.URI, err, reconnect)
	}
	// Verified at its fetch time (a hint, as for the token); staleness is
	// checked by the caller at now.
	t, err := token.VerifyStatusList(sl.Raw, f, trust, algs, sl.FetchedAt, leeway)
	if err != nil {
		return nil, errorf(ErrCacheCorrupt, "cached status list %s does not verify with the cached trust anchors (%v); the cache is damaged or was tampered with; %s", sl.URI, err, reconnect)
	}
	if t.Subject != sl.URI {
		return nil, errorf(ErrCacheCorrupt, "cached status list filed under %s names itself %s; %s", sl.URI, t.Subject, reconnect)
	}
	return t, nil
}

// checkOwnToken checks that a verified token is the UE's: sub is the
// client ID and cnf is the identity key.
func checkOwnToken(c *token.Claims, clientID string, key crypto.Signer) error {
	if c.Subject != clientID {
		return errorf(ErrKeyMismatch, "the token names %q as subject, not this UE %q", c.Subject, clientID)
	}
	if c.Confirmation == nil {
		return errorf(ErrKeyMismatch, "the token for %s is not bound to a key (no cnf); PC5 peers would reject it", clientID)
	}
	if !publicEqual(key.Public(), c.Confirmation) {
		return errorf(ErrKeyMismatch, "the token for %s is bound to another key than this UE's identity key; register the identity key with the application server, or use the key it knows", clientID)
	}
	return nil
}

// checkOwnStatus looks the token up in the verified lists (by URI), not
// applying staleness: a revoked token is revoked however old the list.
func checkOwnStatus(c *token.Claims, lists map[string]*token.StatusListToken) error {
	if c.Status == nil {
		return nil
	}
	l := lists[c.Status.URI]
	if l == nil || l.Issuer != c.Issuer {
		return errorf(ErrStatusListStale, "the status list of the token for %s (%s) is not cached; %s", c.Subject, c.Status.URI, reconnect)
	}
	v, err := l.List.Get(c.Status.Index)
	if err != nil {
		return errorf(ErrCacheCorrupt, "the token for %s points beyond its status list: %v; %s", c.Subject, err, reconnect)
	}
	if v != token.StatusValid {
		return errorf(ErrRevoked, "the token for %s (jti %s) is revoked (status %d in %s); ask the operator, then %s", c.Subject, c.ID, v, c.Status.URI, reconnect)
	}
	return nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// NeedsProvisioning reports whether err means that the cached credentials
// are not usable offline and the UE must reach the AS (any of ErrNoCredentials,
// ErrCacheCorrupt, ErrTokenExpired, ErrRevoked, ErrStatusListStale,
// ErrTrustStale, ErrKeyMismatch).
func NeedsProvisioning(err error) bool {
	for _, k := range []error{ErrNoCredentials, ErrCacheCorrupt, ErrTokenExpired, ErrRevoked, ErrStatusListStale, ErrTrustStale, ErrKeyMismatch} {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}
