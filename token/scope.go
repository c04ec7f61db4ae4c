package token

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Scope syntax (defined by this project, not by an RFC):
//
//	scope = "u2u:" role ":" rsc
//	role  = "use" / "serve"
//	rsc   = 6 lower-case hex digits (the 24-bit relay service code)
//
// A scope claim is a space-separated list of such scopes (RFC 6749 §3.3).

const (
	scopePrefix = "u2u:"
	// MaxRSC is the largest relay service code (24 bits).
	MaxRSC RSC = 1<<24 - 1
)

var errBadScope = errors.New("token: invalid scope")

// ParseRSC parses a relay service code written as exactly 6 hex digits
// (either case).
func ParseRSC(s string) (RSC, error) {
	if len(s) != 6 {
		return 0, fmt.Errorf("token: invalid RSC %q: want 6 hex digits, found %d characters", s, len(s))
	}
	var v RSC
	for i := 0; i < len(s); i++ {
		d, ok := hexDigit(s[i], true)
		if !ok {
			return 0, fmt.Errorf("token: invalid RSC %q: %q is not a hex digit", s, s[i])
		}
		v = v<<4 | RSC(d)
	}
	return v, nil
}

func hexDigit(c byte, upperOK bool) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case upperOK && 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// String returns the RSC as 6 lower-case hex digits. A value above MaxRSC
// (not a valid RSC) is printed with as many digits as it needs.
func (r RSC) String() string { return fmt.Sprintf("%06x", uint32(r)) }

// Valid reports whether r fits in 24 bits.
func (r RSC) Valid() bool { return r <= MaxRSC }

// Valid reports whether r is RoleUse or RoleServe.
func (r Role) Valid() bool { return r == RoleUse || r == RoleServe }

// String returns the scope as "u2u:<role>:<rsc>".
func (s Scope) String() string { return scopePrefix + string(s.Role) + ":" + s.RSC.String() }

// Valid reports whether s has a known role and a 24-bit RSC.
func (s Scope) Valid() bool { return s.Role.Valid() && s.RSC.Valid() }

// ParseScope parses one scope "u2u:<role>:<rsc>". The RSC must be written
// in lower case, so that a scope has exactly one spelling.
func ParseScope(s string) (Scope, error) {
	rest, ok := strings.CutPrefix(s, scopePrefix)
	if !ok {
		return Scope{}, fmt.Errorf("%w %q: want prefix %q", errBadScope, s, scopePrefix)
	}
	role, rsc, ok := strings.Cut(rest, ":")
	if !ok {
		return Scope{}, fmt.Errorf("%w %q: want u2u:<role>:<rsc>", errBadScope, s)
	}
	r := Role(role)
	if !r.Valid() {
		return Scope{}, fmt.Errorf("%w %q: role %q is neither %q nor %q", errBadScope, s, role, RoleUse, RoleServe)
	}
	if len(rsc) != 6 {
		return Scope{}, fmt.Errorf("%w %q: RSC %q is not 6 hex digits", errBadScope, s, rsc)
	}
	var v RSC
	for i := 0; i < len(rsc); i++ {
		d, ok := hexDigit(rsc[i], false)
		if !ok {
			return Scope{}, fmt.Errorf("%w %q: RSC %q is not 6 lower-case hex digits", errBadScope, s, rsc)
		}
		v = v<<4 | RSC(d)
	}
	return Scope{Role: r, RSC: v}, nil
}

// ParseScopes parses a space-separated scope list (RFC 6749 §3.3: scope
// tokens separated by exactly one space). The empty string is the empty
// list. Empty elements (leading, trailing or double spaces) and unknown
// scopes are errors; duplicates are removed, keeping the first occurrence.
func ParseScopes(s string) ([]Scope, error) {
	if s == "" {
		return nil, nil
	}
	var out []Scope
	for elem := range strings.SplitSeq(s, " ") {
		if elem == "" {
			return nil, fmt.Errorf("%w list %q: empty element (scopes are separated by exactly one space)", errBadScope, s)
		}
		sc, err := ParseScope(elem)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out, nil
}

// FormatScopes writes scopes as a space-separated list, in the given order.
func FormatScopes(s []Scope) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0].String()
	}
	var b strings.Builder
	for i, sc := range s {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(sc.String())
	}
	return b.String()
}

// HasScope reports whether the claims grant role for rsc.
func (c *Claims) HasScope(role Role, rsc RSC) bool {
	return slices.Contains(c.Scopes, Scope{Role: role, RSC: rsc})
}

// Require returns an error wrapping ErrScopeNotGranted unless the claims
// grant role for rsc.
func (c *Claims) Require(role Role, rsc RSC) error {
	if c.HasScope(role, rsc) {
		return nil
	}
	want := Scope{Role: role, RSC: rsc}
	return errorf(ErrScopeNotGranted, "want %q, token of %q grants %q", want.String(), c.Subject, FormatScopes(c.Scopes))
}

// RequireSubject returns an error wrapping ErrWrongSubject unless the
// token's subject is sub.
func (c *Claims) RequireSubject(sub string) error {
	if c.Subject == sub {
		return nil
	}
	return errorf(ErrWrongSubject, "want sub %q, found %q", sub, c.Subject)
}

// String returns "jwt" or "cwt".
func (f Format) String() string {
	switch f {
	case JWT:
		return "jwt"
	case CWT:
		return "cwt"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// ParseFormat parses "jwt" or "cwt" (case-insensitive).
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "jwt":
		return JWT, nil
	case "cwt":
		return CWT, nil
	}
	return 0, fmt.Errorf("token: unknown format %q: want \"jwt\" or \"cwt\"", s)
}
