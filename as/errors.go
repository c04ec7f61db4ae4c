package as

import (
	"context"
	"errors"
	"fmt"
)

// Error is an OAuth 2.0 error (RFC 6749 §5.2, RFC 7009 §2.2.1) or an admin
// API error. Code, Description and URI are safe to show to the client;
// Status is the HTTP status the shell should use (package as does not
// import net/http). An internal cause, if any, is reachable with
// errors.Unwrap and belongs in logs only.
//
// The exported values are prototypes: WithDescription and WithCause return
// copies, and errors.Is(err, ErrInvalidClient) matches any copy by Code.
type Error struct {
	Code        string
	Description string
	Status      int
	URI         string
	cause       error
}

// Prototypes (RFC 6749 §5.2 unless noted).
var (
	ErrInvalidRequest         = &Error{Code: "invalid_request", Status: 400, Description: "the request is malformed"}
	ErrInvalidClient          = &Error{Code: "invalid_client", Status: 401, Description: "client authentication failed"}
	ErrInvalidGrant           = &Error{Code: "invalid_grant", Status: 400, Description: "the grant is invalid"}
	ErrUnauthorizedClient     = &Error{Code: "unauthorized_client", Status: 400, Description: "the client is not authorized to use this grant type"}
	ErrUnsupportedGrantType   = &Error{Code: "unsupported_grant_type", Status: 400, Description: "grant_type must be client_credentials"}
	ErrInvalidScope           = &Error{Code: "invalid_scope", Status: 400, Description: "the requested scope is invalid"}
	ErrServerError            = &Error{Code: "server_error", Status: 500, Description: "internal error"}
	ErrTemporarilyUnavailable = &Error{Code: "temporarily_unavailable", Status: 503, Description: "the server is temporarily unavailable"}
	// RFC 7009 §2.2.1.
	ErrUnsupportedTokenType = &Error{Code: "unsupported_token_type", Status: 400, Description: "the token type is not supported"}

	// Admin API errors (project-defined codes).
	ErrNotFound = &Error{Code: "not_found", Status: 404, Description: "not found"}
	ErrConflict = &Error{Code: "conflict", Status: 409, Description: "conflict"}
)

// Error implements error: "as: <code>: <description>[: <cause>]".
func (e *Error) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("as: %s: %s: %v", e.Code, e.Description, e.cause)
	}
	return fmt.Sprintf("as: %s: %s", e.Code, e.Description)
}

// Is matches any *Error with the same Code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Unwrap returns the internal cause (for logs), or nil.
func (e *Error) Unwrap() error { return e.cause }

// WithDescription returns a copy with a client-safe description.
func (e *Error) WithDescription(d string) *Error {
	c := *e
	c.Description = d
	return &c
}

// WithDescriptionf is WithDescription with formatting.
func (e *Error) WithDescriptionf(format string, a ...any) *Error {
	return e.WithDescription(fmt.Sprintf(format, a...))
}

// WithCause returns a copy wrapping an internal cause that is not shown to
// the client.
func (e *Error) WithCause(err error) *Error {
	c := *e
	c.cause = err
	return &c
}

// storeError turns a backend failure into a server_error that hides it. A
// canceled or timed-out request context (the client went away, or the
// server is shutting down) is temporarily_unavailable instead.
func storeError(op string, err error) *Error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return ErrTemporarilyUnavailable.WithCause(fmt.Errorf("%s: %w", op, err))
	}
	return ErrServerError.WithCause(fmt.Errorf("%s: %w", op, err))
}
