package token

// This file holds the public types of package token: algorithms, formats,
// scopes, the claims model, signer and verifier configuration, and the
// sentinel errors every verification failure wraps.

import (
	"crypto"
	"errors"
	"time"
)

// Algorithm is a JOSE/COSE signature algorithm name.
type Algorithm string

// Supported algorithms. ES256 is the default; EdDSA is Ed25519.
const (
	ES256 Algorithm = "ES256" // ECDSA P-256 SHA-256; COSE -7
	EdDSA Algorithm = "EdDSA" // Ed25519; COSE -8
)

// Format is a token encoding.
type Format int

const (
	JWT Format = iota + 1 // JWS compact, RFC 9068 "at+jwt"
	CWT                   // COSE_Sign1, RFC 8392 / RFC 9052
)

// Role is what a scope lets the holder do with a UE-to-UE relay service.
type Role string

const (
	RoleUse   Role = "use"   // an end UE (source or target) may use the service
	RoleServe Role = "serve" // a UE-to-UE relay may serve the service
)

// RSC is a 24-bit relay service code (TS 24.554 §11.3.x; 3 octets).
type RSC uint32

// Scope is one grant: a role for one RSC, written "u2u:<role>:<6 hex digits>".
type Scope struct {
	Role Role
	RSC  RSC
}

// StatusRef points at the token's entry in a status list
// (draft-ietf-oauth-status-list "status": {"status_list": {"idx", "uri"}}).
type StatusRef struct {
	URI   string
	Index uint64
}

// Claims is the one claims model shared by the JWT and CWT encodings.
type Claims struct {
	Issuer    string
	Subject   string // the UE's user info ID / application layer ID
	Audience  []string
	ClientID  string // RFC 9068 client_id; equals Subject for UE tokens
	IssuedAt  time.Time
	NotBefore time.Time
	Expiry    time.Time
	ID        string // jti / cti
	Scopes    []Scope
	// Confirmation is the UE's PC5 identity public key (RFC 7800 / RFC 8747
	// cnf): *ecdsa.PublicKey (P-256) or ed25519.PublicKey. Nil if unbound.
	Confirmation crypto.PublicKey
	Status       *StatusRef
}

// Signer signs tokens and status lists with one issuer key.
type Signer struct {
	Issuer    string
	KeyID     string
	Algorithm Algorithm
	Key       crypto.Signer
	// UncompressedCnf makes CWTs carry a P-256 cnf key with its y
	// coordinate (32 bytes longer) instead of the compressed form (y = sign
	// bit, RFC 9053 §7.1.1), which verifiers must decompress. JWTs always
	// carry x and y. Verifiers accept both forms.
	UncompressedCnf bool
}

// IssuerKey is one trusted verification key of one issuer.
type IssuerKey struct {
	Issuer    string
	KeyID     string
	Algorithm Algorithm
	Key       crypto.PublicKey
}

// StatusChecker answers the status of a token's status-list entry offline.
type StatusChecker interface {
	// Status returns the status value at ref (0 valid, 1 invalid, 2
	// suspended) as seen at now, or ErrStatusListMissing /
	// ErrStatusListStale.
	Status(ref StatusRef, now time.Time) (uint8, error)
}

// Verifier verifies tokens offline. It never reads the clock: now is an
// argument of every call.
type Verifier struct {
	Trust      *TrustStore
	Algorithms []Algorithm   // allow-list; required, no default
	Audience   string        // required audience value
	Leeway     time.Duration // clock skew allowed on exp/nbf/iat
	MaxSize    int           // input cap in bytes before any parsing; 0 means DefaultMaxSize
	Status     StatusChecker // nil: tokens with a status claim are rejected unless SkipStatus
	SkipStatus bool          // deliberately skip revocation checks (AS-side introspection only)
}

// DefaultMaxSize caps the size of a token handed to a Verifier.
const DefaultMaxSize = 4096

// Verification failures. Every error a Verifier returns wraps exactly one of
// these, so that PC5 can map it to a cause value with errors.Is.
var (
	ErrMalformed           = errors.New("token: malformed")
	ErrTooLarge            = errors.New("token: too large")
	ErrAlgorithmNotAllowed = errors.New("token: algorithm not allowed")
	ErrUnknownIssuer       = errors.New("token: unknown issuer")
	ErrUnknownKey          = errors.New("token: unknown key")
	ErrBadSignature        = errors.New("token: bad signature")
	ErrExpired             = errors.New("token: expired")
	ErrNotYetValid         = errors.New("token: not yet valid")
	ErrWrongAudience       = errors.New("token: wrong audience")
	ErrWrongSubject        = errors.New("token: wrong subject")
	ErrScopeNotGranted     = errors.New("token: scope not granted")
	ErrRevoked             = errors.New("token: revoked")
	ErrStatusListStale     = errors.New("token: status list stale")
	ErrStatusListMissing   = errors.New("token: status list missing")
)
