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

// OAuthError is an RFC 6749 §5.2 error the application server answered
// a token request with. Errors of the Client that carry one wrap it along
// with ErrServer, so callers can act on the code (errors.As).
type OAuthError struct {
	StatusCode  int    // HTTP status
	Code        string // "error", e.g. invalid_client
	Description string // "error_description", may be empty
}

func (e *OAuthError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.StatusCode, e.Code, e.Description)
}

// ueError wraps exactly one sentinel with a full message, and optionally
// the cause (a transport error, an *OAuthError) for errors.As.
type ueError struct {
	kind  error
	cause error
	msg   string
}

func (e *ueError) Error() string { return e.msg }
func (e *ueError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

// errorf returns an error wrapping kind whose message is "ue: " + the
// formatted text. Errors among args are rendered as text only.
func errorf(kind error, format string, args ...any) error {
	return &ueError{kind: kind, msg: "ue: " + fmt.Sprintf(format, args...)}
}

// errorc is errorf that also wraps cause, so that errors.Is and errors.As
// see it (a TLS verification error, an *OAuthError); its text is in the
// message only where the format puts it.
func errorc(kind, cause error, format string, args ...any) error {
	return &ueError{kind: kind, cause: cause, msg: "ue: " + fmt.Sprintf(format, args...)}
}
