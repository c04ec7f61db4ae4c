package token

import (
	"errors"
	"fmt"
)

// ErrVerifierConfig reports a Verifier (or status-list verification call)
// that is not usable as configured: no trust store, an empty algorithm
// allow-list, an algorithm outside ES256/EdDSA, no audience, a negative
// leeway or size, or an unknown Format. It is a programming error on the
// verifying side, never a property of the token.
var ErrVerifierConfig = errors.New("token: verifier configuration")

// tokenError is the one error type the package returns for verification
// failures: it wraps exactly one sentinel and adds what was expected and
// what was found.
type tokenError struct {
	kind error
	msg  string
}

func (e *tokenError) Error() string { return e.kind.Error() + ": " + e.msg }
func (e *tokenError) Unwrap() error { return e.kind }

// errorf builds an error wrapping kind. Any error among args is rendered as
// text only, so that the result wraps exactly one sentinel.
func errorf(kind error, format string, args ...any) error {
	return &tokenError{kind: kind, msg: fmt.Sprintf(format, args...)}
}
