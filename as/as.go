// Package as owns the core of the ProSe Application Server (TR 33.740
// Solution #4): client authentication (client_secret_basic/post and RFC 7523
// private_key_jwt), the issuance policy for u2u:use / u2u:serve tokens bound
// to each UE's PC5 identity key, the signing-key life cycle (creation,
// encryption at rest, pre-published rotation, retirement), revocation and
// introspection of issued tokens, the signed status lists, and the admin
// operations on registered UEs.
//
// Package as is pure logic over a store.Store: it never imports net/http,
// never logs, and reads time and randomness only through Config.Clock and
// Config.Rand. The HTTP shell is package as/httpapi; the composition root
// (flags, TLS, KEK file, periodic Maintain) is cmd/prose-as.
//
// Errors returned to a caller are *Error values (RFC 6749 §5.2): Code and
// Description are safe to send to the client, the wrapped cause (if any,
// see errors.Unwrap) is for logs only.
package as

import (
	"context"
	"crypto"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prosesec/prosesec/store"
	"github.com/prosesec/prosesec/token"
)

// Defaults applied by New (and assumed by Validate) for zero Config fields.
const (
	DefaultAudience              = "prosesec:pc5"
	DefaultTokenLifetime         = time.Hour
	DefaultMaxTokenLifetime      = 24 * time.Hour
	DefaultOfflineHorizon        = 24 * time.Hour
	DefaultSigningAlgorithm      = token.ES256
	DefaultStatusListSize        = 65536
	DefaultStatusListTTL         = time.Hour
	DefaultAssertionMaxAge       = 5 * time.Minute
	DefaultLeeway                = 30 * time.Second
	DefaultTokenRetention        = 30 * 24 * time.Hour
	ClientAssertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

// Endpoint paths, relative to Config.Issuer. Package httpapi serves them;
// they are defined here because the AS core needs them for the token
// endpoint audience of client assertions, the status list URIs and the
// RFC 8414 metadata.
const (
	PathToken      = "/oauth2/token"
	PathRevoke     = "/oauth2/revoke"
	PathIntrospect = "/oauth2/introspect"
	PathJWKS       = "/.well-known/jwks.json"
	PathMetadata   = "/.well-known/oauth-authorization-server"
	PathStatusList = "/statuslists/" // followed by the decimal list number
)

// Config configures a Server. Zero durations and sizes take the defaults
// above (so Leeway and OfflineHorizon cannot be configured to zero); Store,
// Clock, Rand, Issuer and KEK are required.
type Config struct {
	// Issuer is the https URL of this AS: the token "iss", the base of every
	// endpoint URL and of the status list URIs. No query, fragment or
	// trailing slash.
	Issuer string
	// Audience is the "aud" of every token (default "prosesec:pc5", a
	// project-defined audience naming PC5 link security).
	Audience string
	// DefaultTokenLifetime applies to UEs without a lifetime override (1h).
	DefaultTokenLifetime time.Duration
	// MaxTokenLifetime caps every token lifetime, including per-UE
	// overrides (24h). Retired keys stay published this long (plus Leeway).
	MaxTokenLifetime time.Duration
	// OfflineHorizon is how long a UE may stay out of coverage with its
	// cached trust bundle (24h). A next key is published at least
	// MaxTokenLifetime + OfflineHorizon before it signs.
	OfflineHorizon time.Duration
	// SigningAlgorithm of new signing keys: token.ES256 (default) or token.EdDSA.
	SigningAlgorithm token.Algorithm
	// KeyRotationPeriod: the active key is rotated by Maintain once it has
	// been active this long (and the next key is published long enough).
	// 0 disables automatic rotation (RotateKeys only). When set it must be at
	// least MaxTokenLifetime + OfflineHorizon.
	KeyRotationPeriod time.Duration
	// StatusListSize is the number of entries per status list (65536).
	// Status index i lives in list i/StatusListSize at position
	// i%StatusListSize, URI Issuer + "/statuslists/" + list.
	StatusListSize int
	// StatusListTTL is the validity of a signed status list (1h). A served
	// list is re-signed when a revocation happened or half the TTL elapsed.
	StatusListTTL time.Duration
	// AssertionMaxAge bounds exp - now of a client assertion (5m).
	AssertionMaxAge time.Duration
	// Leeway is the clock skew allowed on client assertions and on the AS's
	// own tokens at introspection (30s).
	Leeway time.Duration
	// TokenRetention is how long the record of an issued token is kept
	// after the token expired (30 days); Maintain then purges it. Negative:
	// records are kept forever. A positive value must be at least Leeway, so
	// that no record goes while its token may still be accepted. Once a
	// revoked token's record is gone, its status list bit reads valid
	// again: keep it well beyond the clock skew of any verifier.
	TokenRetention time.Duration
	// KEK encrypts the private signing keys at rest (AES-256-GCM, the KID as
	// additional data). Required; all zeros is rejected.
	KEK [32]byte
	// Store is the backend. Required. The Server does not close it.
	Store store.Store
	// Clock returns the current time. Required (cmd passes time.Now).
	Clock func() time.Time
	// Rand is the source of key material, token IDs, client secrets and GCM
	// nonces. Required and must be safe for concurrent use
	// (cmd passes crypto/rand.Reader).
	Rand io.Reader
}

// withDefaults returns a copy of c with zero fields set to the defaults.
func (c Config) withDefaults() Config {
	if c.Audience == "" {
		c.Audience = DefaultAudience
	}
	if c.DefaultTokenLifetime == 0 {
		c.DefaultTokenLifetime = DefaultTokenLifetime
	}
	if c.MaxTokenLifetime == 0 {
		c.MaxTokenLifetime = DefaultMaxTokenLifetime
	}
	if c.OfflineHorizon == 0 {
		c.OfflineHorizon = DefaultOfflineHorizon
	}
	if c.SigningAlgorithm == "" {
		c.SigningAlgorithm = DefaultSigningAlgorithm
	}
	if c.StatusListSize == 0 {
		c.StatusListSize = DefaultStatusListSize
	}
	if c.StatusListTTL == 0 {
		c.StatusListTTL = DefaultStatusListTTL
	}
	if c.AssertionMaxAge == 0 {
		c.AssertionMaxAge = DefaultAssertionMaxAge
	}
	if c.Leeway == 0 {
		c.Leeway = DefaultLeeway
	}
	if c.TokenRetention == 0 {
		c.TokenRetention = DefaultTokenRetention
	}
	return c
}

// Validate reports the first problem with c, zero fields standing for their
// defaults. New calls it.
func (c *Config) Validate() error {
	d := c.withDefaults()
	u, err := url.Parse(d.Issuer)
	switch {
	case d.Issuer == "":
		return errors.New("as: config: Issuer is required (the https URL of this server)")
	case err != nil:
		return fmt.Errorf("as: config: Issuer %q is not a URL: %v", d.Issuer, err)
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("as: config: Issuer %q must be an https URL", d.Issuer)
	case u.Host == "":
		return fmt.Errorf("as: config: Issuer %q has no host", d.Issuer)
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return fmt.Errorf("as: config: Issuer %q must not have a query or fragment (RFC 8414 §2)", d.Issuer)
	case strings.HasSuffix(d.Issuer, "/"):
		return fmt.Errorf("as: config: Issuer %q must not end with a slash", d.Issuer)
	case u.User != nil:
		return fmt.Errorf("as: config: Issuer %q must not contain user info", d.Issuer)
	}
	// http is accepted only for loopback hosts (tests, local development).
	if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
		return fmt.Errorf("as: config: Issuer %q must use https (http is allowed for loopback hosts only)", d.Issuer)
	}
	if strings.TrimSpace(d.Audience) != d.Audience || strings.ContainsAny(d.Audience, " \t\r\n") {
		return fmt.Errorf("as: config: Audience %q must not contain white space", d.Audience)
	}
	if d.DefaultTokenLifetime < time.Second {
		return fmt.Errorf("as: config: DefaultTokenLifetime %v must be at least 1s", d.DefaultTokenLifetime)
	}
	if d.MaxTokenLifetime < time.Second {
		return fmt.Errorf("as: config: MaxTokenLifetime %v must be at least 1s", d.MaxTokenLifetime)
	}
	if d.DefaultTokenLifetime > d.MaxTokenLifetime {
		return fmt.Errorf("as: config: DefaultTokenLifetime %v exceeds MaxTokenLifetime %v", d.DefaultTokenLifetime, d.MaxTokenLifetime)
	}
	if d.OfflineHorizon < 0 {
		return fmt.Errorf("as: config: OfflineHorizon %v must not be negative", d.OfflineHorizon)
	}
	if d.SigningAlgorithm != token.ES256 && d.SigningAlgorithm != token.EdDSA {
		return fmt.Errorf("as: config: SigningAlgorithm %q is not supported (want %q or %q)", d.SigningAlgorithm, token.ES256, token.EdDSA)
	}
	if d.KeyRotationPeriod < 0 {
		return fmt.Errorf("as: config: KeyRotationPeriod %v must not be negative", d.KeyRotationPeriod)
	}
	if min := d.MaxTokenLifetime + d.OfflineHorizon; d.KeyRotationPeriod > 0 && d.KeyRotationPeriod < min {
		return fmt.Errorf("as: config: KeyRotationPeriod %v is shorter than MaxTokenLifetime + OfflineHorizon = %v (the next key must be published that long before it signs)", d.KeyRotationPeriod, min)
	}
	if d.StatusListSize < 8 || d.StatusListSize%8 != 0 || d.StatusListSize > 1<<24 {
		return fmt.Errorf("as: config: StatusListSize %d must be a multiple of 8 between 8 and %d", d.StatusListSize, 1<<24)
	}
	if d.StatusListTTL < 2*time.Second {
		return fmt.Errorf("as: config: StatusListTTL %v must be at least 2s", d.StatusListTTL)
	}
	if d.AssertionMaxAge < time.Second {
		return fmt.Errorf("as: config: AssertionMaxAge %v must be at least 1s", d.AssertionMaxAge)
	}
	if d.Leeway < 0 || d.Leeway > 5*time.Minute {
		return fmt.Errorf("as: config: Leeway %v must be between 0 and 5m", d.Leeway)
	}
	if d.TokenRetention > 0 && d.TokenRetention < d.Leeway {
		return fmt.Errorf("as: config: TokenRetention %v is shorter than Leeway %v (a token record must outlive the token; negative keeps records forever)", d.TokenRetention, d.Leeway)
	}
	if d.KEK == ([32]byte{}) {
		return errors.New("as: config: KEK is required (32 random bytes); it is all zeros")
	}
	if d.Store == nil {
		return errors.New("as: config: Store is required")
	}
	if d.Clock == nil {
		return errors.New("as: config: Clock is required (pass time.Now)")
	}
	if d.Rand == nil {
		return errors.New("as: config: Rand is required (pass crypto/rand.Reader)")
	}
	return nil
}

func isLoopbackHost(h string) bool {
	return h == "localhost" || h == "::1" || strings.HasPrefix(h, "127.")
}

// Server is the AS core. It is safe for concurrent use.
type Server struct {
	cfg   Config
	st    store.Store
	now   func() time.Time
	aead  cipher.AEAD // KEK: AES-256-GCM
	keys  atomic.Pointer[keySet]
	keyMu sync.Mutex // serialises key reloads and rotations in this process

	tokenEndpoint string
	statusBase    string

	ueKeys sync.Map // UE ID -> *ueKeyEntry (parsed identity keys)
	ues    ueCache  // registrations for the token endpoint (see ueCache)
	// guarded is the store's GuardedTokenRecorder, nil if it has none (the
	// UE cache is then not used).
	guarded store.GuardedTokenRecorder

	slMu    sync.Mutex
	slCache map[statusListKey]*StatusListResult

	purge tokenPurgeSchedule // Maintain's token purges

	dummyHash [32]byte                    // compared for unknown clients (timing)
	dummyKeys map[string]crypto.PublicKey // verified for unknown clients (timing), by alg
}

// New validates cfg, loads (or on an empty store creates) the signing keys
// and returns a ready Server. A KEK that does not decrypt a stored key is
// an error naming the key.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	s := &Server{
		cfg:           c,
		st:            c.Store,
		now:           c.Clock,
		tokenEndpoint: c.Issuer + PathToken,
		statusBase:    c.Issuer + PathStatusList,
		slCache:       make(map[statusListKey]*StatusListResult),
	}
	s.guarded, _ = c.Store.(store.GuardedTokenRecorder)
	var err error
	if s.aead, err = newAEAD(c.KEK); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(c.Rand, s.dummyHash[:]); err != nil {
		return nil, fmt.Errorf("as: reading Rand: %w", err)
	}
	if s.dummyKeys, err = newDummyKeys(c.Rand); err != nil {
		return nil, err
	}
	if err := s.initKeys(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Issuer returns the configured issuer URL.
func (s *Server) Issuer() string { return s.cfg.Issuer }

// Audience returns the audience of issued tokens.
func (s *Server) Audience() string { return s.cfg.Audience }

// Config returns the effective configuration (defaults applied). The KEK
// field is zeroed in the copy.
func (s *Server) Config() Config {
	c := s.cfg
	c.KEK = [32]byte{}
	return c
}

// Now returns the server's current time (Config.Clock).
func (s *Server) Now() time.Time { return s.now() }

// Ping reports whether the store is reachable (readiness).
func (s *Server) Ping(ctx context.Context) error {
	if err := s.st.Ping(ctx); err != nil {
		return fmt.Errorf("as: store not ready: %w", err)
	}
	return nil
}

// Metadata is the RFC 8414 authorization server metadata, with the
// project-defined fields marked.
type Metadata struct {
	Issuer                            string   `json:"issuer"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	RevocationEndpoint                string   `json:"revocation_endpoint"`
	IntrospectionEndpoint             string   `json:"introspection_endpoint"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	TokenEndpointAuthMethods          []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgs      []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	RevocationEndpointAuthMethods     []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethods  []string `json:"introspection_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthSignAlgs []string `json:"introspection_endpoint_auth_signing_alg_values_supported"`
	RevocationEndpointAuthSignAlgs    []string `json:"revocation_endpoint_auth_signing_alg_values_supported"`
	// Project-defined: where status lists are served (append the list number),
	// the token audience, and the token_format values of the token endpoint.
	StatusListEndpoint    string   `json:"status_list_endpoint"`
	TokenAudience         string   `json:"prose_token_audience"`
	TokenFormatsSupported []string `json:"prose_token_formats_supported"`
	TokenSigningAlgs      []string `json:"prose_token_signing_alg_values_supported"`
}

// Metadata returns the RFC 8414 metadata document of this server.
func (s *Server) Metadata() Metadata {
	auth := []string{string(AuthClientSecretBasic), string(AuthClientSecretPost), string(AuthPrivateKeyJWT)}
	algs := []string{string(token.ES256), string(token.EdDSA)}
	return Metadata{
		Issuer:                            s.cfg.Issuer,
		TokenEndpoint:                     s.cfg.Issuer + PathToken,
		JWKSURI:                           s.cfg.Issuer + PathJWKS,
		RevocationEndpoint:                s.cfg.Issuer + PathRevoke,
		IntrospectionEndpoint:             s.cfg.Issuer + PathIntrospect,
		GrantTypesSupported:               []string{GrantClientCredentials},
		ResponseTypesSupported:            []string{},
		TokenEndpointAuthMethods:          auth,
		TokenEndpointAuthSigningAlgs:      algs,
		RevocationEndpointAuthMethods:     auth,
		IntrospectionEndpointAuthMethods:  auth,
		IntrospectionEndpointAuthSignAlgs: algs,
		RevocationEndpointAuthSignAlgs:    algs,
		StatusListEndpoint:                s.statusBase,
		TokenAudience:                     s.cfg.Audience,
		TokenFormatsSupported:             []string{"jwt", "cwt"},
		TokenSigningAlgs:                  algs,
	}
}

// StatusListURI returns the URI of status list number list.
func (s *Server) StatusListURI(list uint64) string {
	return s.statusBase + fmt.Sprint(list)
}
