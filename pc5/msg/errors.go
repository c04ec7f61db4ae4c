package msg

import (
	"errors"
	"fmt"
)

// Error kinds. Every error returned by this package is an *Error whose Kind
// is one of these, so callers can test with errors.Is and still print a
// precise message ("pc5/msg: SECURITY MODE COMMAND: Nonce_2: need 16 octets,
// have 9").
var (
	// ErrTruncated: the input ended inside a field.
	ErrTruncated = errors.New("pc5/msg: truncated")
	// ErrLength: a length (prefix or fixed size) is outside its bounds.
	ErrLength = errors.New("pc5/msg: bad length")
	// ErrTrailingData: octets left after a structure with no optional part.
	ErrTrailingData = errors.New("pc5/msg: trailing data")
	// ErrDuplicateIE: an optional IE appeared twice.
	ErrDuplicateIE = errors.New("pc5/msg: duplicate IE")
	// ErrComprehensionRequired: an unknown IE in the comprehension-required
	// range 0x00..0x0F.
	ErrComprehensionRequired = errors.New("pc5/msg: unknown comprehension-required IE")
	// ErrUnknownMessageType: the message type octet is not a known PC5-S type.
	ErrUnknownMessageType = errors.New("pc5/msg: unknown message type")
	// ErrUnsupportedMessageType: a known PC5-S type this codec does not implement.
	ErrUnsupportedMessageType = errors.New("pc5/msg: unsupported message type")
	// ErrWrongMessageType: UnmarshalBinary got another message type.
	ErrWrongMessageType = errors.New("pc5/msg: wrong message type")
	// ErrInvalid: a field value is not valid: it cannot be encoded, or a
	// decoded value breaks a rule other than a length (e.g. a P-256 key
	// share that is not an uncompressed point).
	ErrInvalid = errors.New("pc5/msg: invalid field")
	// ErrShortBuffer: MarshalTo's buffer is smaller than MarshalLen.
	ErrShortBuffer = errors.New("pc5/msg: buffer too short")
	// ErrVersion: a Key_Est_Info payload has a version other than KeyEstVersion.
	ErrVersion = errors.New("pc5/msg: unsupported Key_Est_Info version")
	// ErrUnknownSuite: a Key_Est_Info payload names an undefined suite.
	ErrUnknownSuite = errors.New("pc5/msg: unknown suite")
	// ErrUnknownTokenFormat: a Key_Est_Info payload names an undefined token format.
	ErrUnknownTokenFormat = errors.New("pc5/msg: unknown token format")
)

// Error is the error type of this package.
type Error struct {
	Context string // message or payload name, e.g. "SECURITY MODE COMMAND", "KeyEstResponse"
	Field   string // IE or field name, e.g. "Nonce_2"; empty for whole-structure errors
	Kind    error  // one of the Err* values above
	Detail  string // what was expected and what was found
}

func (e *Error) Error() string {
	if e.Field == "" {
		return "pc5/msg: " + e.Context + ": " + e.Detail
	}
	return "pc5/msg: " + e.Context + ": " + e.Field + ": " + e.Detail
}

// Unwrap returns Kind.
func (e *Error) Unwrap() error { return e.Kind }

func newError(ctx, field string, kind error, format string, args ...any) *Error {
	return &Error{Context: ctx, Field: field, Kind: kind, Detail: fmt.Sprintf(format, args...)}
}
