// Package store owns the persistence seams of the ProSe Application Server:
// the registered UEs with their grants, the record of every issued token
// (with its status-list index), the encrypted signing keys, and the
// client-assertion replay cache. Each concern is a small interface; a backend
// (store/sqlite, store/postgres) implements all of them and must pass the
// backend-independent conformance suite in store/storetest.
//
// Backends store what they are given: they never see plaintext private keys
// (signing keys arrive encrypted by package as) and never log.
//
// Conventions shared by every backend (the conformance suite checks them):
// times round-trip exactly as instants (time.Time.Equal, nanoseconds
// included; the location is not kept and the zero time stays zero); byte
// slices and grants round-trip by value (the store keeps no reference to a
// caller's structs and hands out fresh ones); IDs are ordered byte-wise, like
// Go strings; writes are durable when the method returns nil. A write whose
// context ends before it completes returns the context's error, but may still
// have been applied.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors every backend returns (wrapped) so that callers can use errors.Is.
var (
	ErrNotFound = errors.New("store: not found")
	ErrConflict = errors.New("store: already exists")
	ErrReplay   = errors.New("store: assertion already used")
	// ErrStale: the precondition of GuardedTokenRecorder.RecordTokenIfUE
	// failed (the UE was removed or changed).
	ErrStale = errors.New("store: the UE changed or was removed")
	// ErrKeyInUse: CreateUE or UpdateUE was given a KeyThumbprint that
	// another UE already has. Backends return it as a *KeyInUseError.
	ErrKeyInUse = errors.New("store: identity key registered to another UE")
)

// KeyInUseError names the UE that already holds an identity key. It
// matches ErrKeyInUse with errors.Is.
type KeyInUseError struct {
	Holder string // ID of the UE registered with the key ("" if unknown)
}

func (e *KeyInUseError) Error() string {
	if e.Holder == "" {
		return ErrKeyInUse.Error()
	}
	return ErrKeyInUse.Error() + " (" + e.Holder + ")"
}

// Is reports whether target is ErrKeyInUse.
func (e *KeyInUseError) Is(target error) bool { return target == ErrKeyInUse }

// Role is a grant role: "use" (end UE) or "serve" (UE-to-UE relay).
type Role string

// Grant lets a UE use or serve one relay service code.
type Grant struct {
	RSC  uint32 // 24-bit relay service code
	Role Role
}

// UE is one registered UE (a source/target end UE or a relay).
type UE struct {
	ID        string // user info ID / application layer ID; the OAuth client_id
	PublicKey []byte // PC5 identity public key as a JWK (JSON)
	// KeyThumbprint identifies PublicKey (package as stores its RFC 7638
	// thumbprint). No two UEs may have the same non-empty KeyThumbprint:
	// CreateUE and UpdateUE refuse it with a *KeyInUseError, atomically
	// with the write. "" (a record written before the field existed) is
	// exempt.
	KeyThumbprint string
	SecretHash    []byte        // hash of the client secret for client_secret_basic; nil if none
	Grants        []Grant       // kept in the given order
	TokenLifetime time.Duration // 0: server default
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// UEStore holds the registered UEs.
type UEStore interface {
	// CreateUE adds a UE; ErrConflict if the ID exists, a *KeyInUseError
	// if another UE has its KeyThumbprint.
	CreateUE(ctx context.Context, ue *UE) error
	// UpdateUE replaces a UE's fields (not CreatedAt); ErrNotFound if
	// absent, a *KeyInUseError if another UE has its KeyThumbprint.
	UpdateUE(ctx context.Context, ue *UE) error
	// GetUE returns the UE or ErrNotFound.
	GetUE(ctx context.Context, id string) (*UE, error)
	// DeleteUE removes the UE (issued-token records stay); ErrNotFound if absent.
	DeleteUE(ctx context.Context, id string) error
	// ListUEs returns UEs ordered by ID, at most limit (0: no limit), with an
	// ID greater than after ("" for the first page).
	ListUEs(ctx context.Context, after string, limit int) ([]*UE, error)
}

// IssuedToken is the record of one token, written before the token is
// returned to the client so that every token ever handed out can be revoked.
type IssuedToken struct {
	JTI         string
	Subject     string
	Scope       string
	Format      string // "jwt" or "cwt"
	KeyID       string
	IssuedAt    time.Time
	ExpiresAt   time.Time
	StatusIndex uint64 // assigned by the store, unique across the backend
	RevokedAt   *time.Time
}

// TokenFilter selects issued tokens for listing.
type TokenFilter struct {
	Subject  string    // "" for all
	ActiveAt time.Time // zero: all; else only tokens with ExpiresAt after it (strictly)
	// AfterIndex is the pagination cursor: when After is true or AfterIndex
	// is not zero, only records with StatusIndex greater than AfterIndex are
	// returned. Status indices start at 0, so the zero filter lists every
	// record, and the page after a page that ended at index 0 needs After.
	// To page: set After to true and AfterIndex to the last StatusIndex of
	// the previous page.
	AfterIndex uint64
	After      bool
	Limit      int // 0: no limit
}

// TokenStore records issued tokens and their revocation.
type TokenStore interface {
	// RecordToken durably stores t, assigning t.StatusIndex from a sequence
	// that never repeats (including across crashes and across several server
	// instances on one database). It returns only after the record is
	// durable. ErrConflict if the JTI exists. Indices start at 0 (the first
	// token of a fresh store gets 0); successive calls from one caller get
	// increasing indices; gaps are allowed. The caller's StatusIndex is
	// ignored and overwritten on success.
	RecordToken(ctx context.Context, t *IssuedToken) error
	// GetToken returns the record or ErrNotFound.
	GetToken(ctx context.Context, jti string) (*IssuedToken, error)
	// RevokeToken marks one token revoked at the given time (idempotent: an
	// already revoked token keeps its first time and nil is returned).
	// ErrNotFound if absent.
	RevokeToken(ctx context.Context, jti string, at time.Time) error
	// RevokeSubject revokes every unrevoked token of subject and returns how many.
	RevokeSubject(ctx context.Context, subject string, at time.Time) (int, error)
	// ListTokens returns the records f selects, ordered by StatusIndex.
	ListTokens(ctx context.Context, f TokenFilter) ([]*IssuedToken, error)
	// RevokedIndices returns, in ascending order, the status indices in
	// [lo, hi) of revoked tokens.
	RevokedIndices(ctx context.Context, lo, hi uint64) ([]uint64, error)
	// MaxStatusIndex returns the highest status index assigned so far, and
	// false when none has been.
	MaxStatusIndex(ctx context.Context) (uint64, bool, error)
	// RevocationVersion returns a value that changes whenever a revocation
	// is recorded (in the same transaction), so that status-list caches know
	// when to rebuild. Reads never change it.
	RevocationVersion(ctx context.Context) (int64, error)
	// PurgeTokens deletes records whose ExpiresAt is before t (strictly),
	// at most limit of them (limit > 0), and returns how many. Status
	// indices are never reused: MaxStatusIndex keeps returning the highest
	// index ever assigned, and RecordToken keeps counting from it.
	PurgeTokens(ctx context.Context, before time.Time, limit int) (int, error)
}

// GuardedTokenRecorder is an optional extension of TokenStore: a backend
// that implements it lets the issuer authenticate a client against a cached
// copy of its registration, and still never record (hence never hand out) a
// token for a UE that was removed or changed in the meantime, by this or
// any other instance sharing the backend. Callers detect it with a type
// assertion; storetest checks it when a backend implements it.
type GuardedTokenRecorder interface {
	// RecordTokenIfUE is RecordToken under a precondition checked in the
	// same transaction as the insert: the UE t.Subject is registered and its
	// UpdatedAt equals ueUpdatedAt (as an instant). Otherwise nothing is
	// written and the error wraps ErrStale. An existing JTI is ErrConflict,
	// whatever the precondition.
	RecordTokenIfUE(ctx context.Context, t *IssuedToken, ueUpdatedAt time.Time) error
}

// KeyState is the life-cycle state of a signing key.
type KeyState string

const (
	KeyNext    KeyState = "next"    // published in the JWKS, not yet signing
	KeyActive  KeyState = "active"  // signing (exactly one per backend)
	KeyRetired KeyState = "retired" // published until PublishUntil, no longer signing
)

// SigningKey is an issuer signing key; the private part is encrypted by the caller.
type SigningKey struct {
	KID           string
	Algorithm     string // "ES256" or "EdDSA"
	State         KeyState
	PublicJWK     []byte // public key as JWK JSON
	EncryptedPriv []byte // AES-GCM sealed private key (sealed by package as)
	CreatedAt     time.Time
	ActivatedAt   *time.Time
	RetiredAt     *time.Time
	PublishUntil  *time.Time // for retired keys: last instant a token it signed can be valid
}

// KeyStore holds the signing keys.
type KeyStore interface {
	// ListKeys returns every key not yet purged, oldest (CreatedAt) first.
	ListKeys(ctx context.Context) ([]*SigningKey, error)
	// PutKey inserts a new key; ErrConflict if the KID exists.
	PutKey(ctx context.Context, k *SigningKey) error
	// Rotate atomically applies a key-rotation step: every key in update is
	// written (State, ActivatedAt, RetiredAt and PublishUntil; the key
	// material, algorithm and CreatedAt stay as stored) and newKey, if not
	// nil, is inserted — all or nothing. ifVersion guards against two
	// instances rotating at once: Rotate fails with ErrConflict unless the
	// current KeysVersion equals it. It fails with ErrNotFound if a key in
	// update does not exist and with ErrConflict if newKey's KID exists; in
	// every failure nothing is written.
	Rotate(ctx context.Context, ifVersion int64, update []*SigningKey, newKey *SigningKey) error
	// KeysVersion returns a counter bumped by every PutKey and Rotate.
	KeysVersion(ctx context.Context) (int64, error)
	// PurgeKeys deletes retired keys whose PublishUntil is before t
	// (strictly; a retired key without PublishUntil is kept) and returns how
	// many. It does not bump KeysVersion.
	PurgeKeys(ctx context.Context, before time.Time) (int, error)
}

// AssertionStore remembers client-assertion JTIs (RFC 7523 §3 item 7) until
// they expire.
type AssertionStore interface {
	// UseAssertion records (issuer, jti) valid until exp. It returns ErrReplay
	// if the pair was recorded before and has not expired at now (an entry
	// has expired when now is not before its exp, as with a JWT "exp"); an
	// expired entry is replaced, so the pair is usable again until the new exp.
	UseAssertion(ctx context.Context, issuer, jti string, exp, now time.Time) error
	// PurgeAssertions deletes entries whose exp is before t (strictly) and
	// returns how many.
	PurgeAssertions(ctx context.Context, before time.Time) (int, error)
}

// Store is a complete backend.
type Store interface {
	UEStore
	TokenStore
	KeyStore
	AssertionStore
	// Ping reports whether the backend is reachable (readiness).
	Ping(ctx context.Context) error
	Close() error
}
