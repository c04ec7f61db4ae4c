package ue

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error of Credentials.Open, Cache.Load and the
// Client that a caller may act on wraps one of these.
var (
	// ErrNoCredentials: nothing cached yet.
	ErrNoCredentials = errors.New("ue: no cached credentials")
	// ErrCacheCorrupt: a cached file does not parse, or a cached object
	// does not verify with the cached trust anchors.
	ErrCacheCorrupt = errors.New("ue: credential cache damaged")
	// ErrTokenExpired: the UE's own token has expired.
	ErrTokenExpired = errors.New("ue: token expired")
	// ErrRevoked: the UE's own token is revoked in the status list.
	ErrRevoked = errors.New("ue: token revoked")
	// ErrStatusListStale: a status list has expired or is older than the
	// policy allows.
	ErrStatusListStale = errors.New("ue: status list stale")
	// ErrTrustStale: the trust anchors (JWKS) are older than the policy
	// allows.
	ErrTrustStale = errors.New("ue: trust anchors stale")
	// ErrKeyMismatch: the token is not bound to the UE's identity key, or
	// the token's subject is not the UE.
	ErrKeyMismatch = errors.New("ue: token not bound to this UE")
	// ErrServer: the AS answered with an error or with something that does
	// not verify.
	ErrServer = errors.New("ue: application server error")
	// ErrUnreachable: the AS could not be reached.
	ErrUnreachable = errors.New("ue: application server unreachable")
)

// reconnect is the advice every offline failure ends with.
const reconnect = "reconnect to the application server (prose-ue provision)"

// ueError wraps exactly one sentinel with a full message.
type ueError struct {
	kind error
	msg  string
}

func (e *ueError) Error() string { return e.msg }
func (e *ueError) Unwrap() error { return e.kind }

// errorf returns an error wrapping kind whose message is "ue: " + the
// formatted text. Errors among args are rendered as text only.
func errorf(kind error, format string, args ...any) error {
	return &ueError{kind: kind, msg: "ue: " + fmt.Sprintf(format, args...)}
}
