package link

import (
	"errors"
	"fmt"
	"strings"

	"github.com/prosesec/prosesec/pc5/msg"
	"github.com/prosesec/prosesec/token"
)

// Error is a handshake or link failure with the PC5 signalling protocol
// cause value that goes on the wire (TS 24.554 Table 11.3.8.1, values in
// pc5/msg), like a crypto/tls alert. The peer learns only Cause; Err holds
// the detailed reason for the caller's logs and wraps the sentinel errors
// of this package, of package token (ErrExpired, …), pc5/msg and pc5/sec.
type Error struct {
	Cause msg.Cause
	Err   error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return "pc5/link: " + e.Cause.String()
	}
	return "pc5/link: " + e.Cause.String() + ": " + strings.TrimPrefix(e.Err.Error(), "pc5/link: ")
}

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// Sentinel errors. Match them with errors.Is.
var (
	// ErrDiscarded: Step dropped the PDU without changing state (a PDCP
	// integrity or replay failure, a SECURITY MODE COMMAND or COMPLETE that
	// failed before its MAC-I verified, a bare reject on an established
	// link, a message not expected in this state, a duplicate). It is not a
	// link failure. The error may also wrap the kind of the failed check
	// (ErrIntegrity, …), never an *Error.
	ErrDiscarded = errors.New("pc5/link: PDU discarded")
	// ErrState: a method was called in a state that does not allow it.
	ErrState = errors.New("pc5/link: not allowed in this state")
	// ErrClosed: the link was released or its handshake failed.
	ErrClosed = errors.New("pc5/link: link closed")
	// ErrTimeout: a supervision timer ran out of retransmissions.
	ErrTimeout = errors.New("pc5/link: no answer from the peer")
	// ErrPeerRejected: the peer sent an ESTABLISHMENT REJECT or a SECURITY
	// MODE REJECT.
	ErrPeerRejected = errors.New("pc5/link: rejected by the peer")
	// ErrPeerReleased: the peer sent a RELEASE REQUEST.
	ErrPeerReleased = errors.New("pc5/link: released by the peer")
	// ErrLocal: the local caller rejected or released the link.
	ErrLocal = errors.New("pc5/link: closed by the local caller")
	// ErrProtocol: a message is malformed, lacks an IE the handshake needs,
	// or contradicts an earlier one (cause #111).
	ErrProtocol = errors.New("pc5/link: protocol error")
	// ErrIntegrity: the MAC-I of a SECURITY MODE COMMAND or COMPLETE did not
	// verify under the derived keys, or its KNRP-sess ID is not the one
	// being set up (cause #7). Such a PDU is discarded (ErrDiscarded wraps
	// it), not answered.
	ErrIntegrity = errors.New("pc5/link: integrity check failed")
	// ErrCapabilities: no common algorithm pair, or a replayed capability or
	// selected algorithm that differs from what was offered (cause #8).
	ErrCapabilities = errors.New("pc5/link: UE security capabilities mismatch")
	// ErrPolicy: the signalling security policies cannot both be met, or a
	// replayed policy differs from what was sent (cause #10).
	ErrPolicy = errors.New("pc5/link: signalling security policy mismatch")
	// ErrUPPolicy: a user plane security policy (the initiator's, checked
	// by both sides, or the responder's own) cannot be met by the selected
	// algorithms (cause #12).
	ErrUPPolicy = errors.New("pc5/link: user plane security policy not aligned")
	// ErrKNRPSessIDConflict: the KNRP-sess ID completed by the responder's
	// LSB is in use locally (cause #9).
	ErrKNRPSessIDConflict = errors.New("pc5/link: KNRP-sess ID conflict")
	// ErrSuite: the peer offered a suite not in Config.Suites, or changed
	// the suite mid-handshake (cause #6).
	ErrSuite = errors.New("pc5/link: suite not acceptable")
	// ErrKeyShare: an ephemeral public key is not a valid point, or the
	// X25519 output is all zero (cause #6).
	ErrKeyShare = errors.New("pc5/link: invalid ephemeral key share")
	// ErrTranscriptSignature: the peer's transcript signature does not
	// verify under the cnf key of its token (cause #6).
	ErrTranscriptSignature = errors.New("pc5/link: transcript signature does not verify")
	// ErrUnboundToken: the peer's token has no cnf key, or one that the
	// handshake's suite cannot verify (cause #6).
	ErrUnboundToken = errors.New("pc5/link: token not bound to a usable identity key")
	// ErrNotAllowed: the request names a target, peer or RSC this side does
	// not serve (cause #1).
	ErrNotAllowed = errors.New("pc5/link: direct communication not allowed")
)

// tokenCauses is THE table from token verification errors to PC5 signalling
// causes. Every token failure is an authentication failure (#6) except a
// valid token without the scope the link needs (#11). A verifier that is
// not usable as configured is a local fault reported as #111.
var tokenCauses = [...]struct {
	err   error
	cause msg.Cause
}{
	{token.ErrScopeNotGranted, msg.CauseRequiredServiceNotAllowed},
	{token.ErrMalformed, msg.CauseAuthenticationFailure},
	{token.ErrTooLarge, msg.CauseAuthenticationFailure},
	{token.ErrAlgorithmNotAllowed, msg.CauseAuthenticationFailure},
	{token.ErrUnknownIssuer, msg.CauseAuthenticationFailure},
	{token.ErrUnknownKey, msg.CauseAuthenticationFailure},
	{token.ErrBadSignature, msg.CauseAuthenticationFailure},
	{token.ErrExpired, msg.CauseAuthenticationFailure},
	{token.ErrNotYetValid, msg.CauseAuthenticationFailure},
	{token.ErrWrongAudience, msg.CauseAuthenticationFailure},
	{token.ErrWrongSubject, msg.CauseAuthenticationFailure},
	{token.ErrRevoked, msg.CauseAuthenticationFailure},
	{token.ErrStatusListStale, msg.CauseAuthenticationFailure},
	{token.ErrStatusListMissing, msg.CauseAuthenticationFailure},
	{token.ErrVerifierConfig, msg.CauseProtocolErrorUnspecified},
	{ErrTranscriptSignature, msg.CauseAuthenticationFailure},
	{ErrUnboundToken, msg.CauseAuthenticationFailure},
}

// TokenCause returns the PC5 signalling cause for an error from token
// verification or from the binding checks of this package (the one mapping
// table above). An error the table does not know maps to #6: a token that
// cannot be judged is not accepted.
func TokenCause(err error) msg.Cause {
	for _, tc := range tokenCauses {
		if errors.Is(err, tc.err) {
			return tc.cause
		}
	}
	return msg.CauseAuthenticationFailure
}

// fail builds an *Error wrapping kind with a detail message.
func fail(cause msg.Cause, kind error, format string, args ...any) *Error {
	return &Error{Cause: cause, Err: fmt.Errorf("%w: "+format, append([]any{kind}, args...)...)}
}

// failWrap builds an *Error that wraps both kind and a lower-level error
// (pc5/msg, pc5/sec).
func failWrap(cause msg.Cause, kind error, what string, err error) *Error {
	return &Error{Cause: cause, Err: fmt.Errorf("%w: %s: %w", kind, what, err)}
}

func protocolError(what string, err error) *Error {
	return failWrap(msg.CauseProtocolErrorUnspecified, ErrProtocol, what, err)
}

// discardFailure is the discard of a PDU that failed check e before anything
// authenticated it: the error wraps ErrDiscarded and e's kind (ErrIntegrity,
// …) but not e itself, so it is never taken for an *Error with a cause.
func discardFailure(what string, e *Error) error {
	return fmt.Errorf("%w: %s (%v): %w", ErrDiscarded, what, e.Cause, e.Err)
}

// asFailure sorts the result of a check that may discard: ok is false for a
// discard (err wraps ErrDiscarded), else e is the failure (nil on success).
func asFailure(err error) (e *Error, ok bool) {
	if err == nil {
		return nil, true
	}
	if errors.Is(err, ErrDiscarded) || !errors.As(err, &e) {
		return nil, false
	}
	return e, true
}

func discard(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrDiscarded}, args...)...)
}
