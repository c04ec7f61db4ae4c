package token

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// IssuerStatusChecker is a StatusChecker that also learns the issuer of
// the token being checked, so that it can refuse a status list that another
// issuer published under the same URI. StatusCache implements it; the
// Verifier uses it when its StatusChecker has it.
type IssuerStatusChecker interface {
	StatusChecker
	StatusOf(issuer string, ref StatusRef, now time.Time) (uint8, error)
}

// Validate reports whether v is usable: a trust store, a non-empty
// allow-list of ES256/EdDSA, an audience, a non-negative leeway and size.
// Errors wrap ErrVerifierConfig.
func (v *Verifier) Validate() error {
	if v == nil {
		return errorf(ErrVerifierConfig, "nil verifier")
	}
	if v.Trust == nil {
		return errorf(ErrVerifierConfig, "no trust store")
	}
	if err := checkAlgs(v.Algorithms); err != nil {
		return err
	}
	if v.Audience == "" {
		return errorf(ErrVerifierConfig, "no audience")
	}
	if v.Leeway < 0 {
		return errorf(ErrVerifierConfig, "negative leeway %s", v.Leeway)
	}
	if v.MaxSize < 0 {
		return errorf(ErrVerifierConfig, "negative MaxSize %d", v.MaxSize)
	}
	return nil
}

func checkAlgs(algs []Algorithm) error {
	if len(algs) == 0 {
		return errorf(ErrVerifierConfig, "empty algorithm allow-list")
	}
	for _, a := range algs {
		if !a.supported() {
			return errorf(ErrVerifierConfig, "algorithm %q in the allow-list is not supported, want %q or %q", a, ES256, EdDSA)
		}
	}
	return nil
}

// Verify verifies an access token offline at time now and returns its
// claims. In order, it checks: the size cap (ErrTooLarge), the encoding
// (ErrMalformed), the algorithm against the allow-list (ErrAlgorithmNotAllowed),
// the issuer (ErrUnknownIssuer), the kid (ErrUnknownKey), that the key is
// bound to the token's algorithm (ErrAlgorithmNotAllowed), the signature
// (ErrBadSignature), then the time rules, the audience (ErrWrongAudience)
// and the status list entry (ErrRevoked, ErrStatusListStale,
// ErrStatusListMissing).
//
// Time rules, with L = Leeway (RFC 7519 §4.1.4, §4.1.5):
//   - exp is required (else ErrMalformed); the token is valid while
//     now < exp + L, so at now == exp + L it has expired (ErrExpired);
//   - nbf (or iat when nbf is absent): valid once now >= nbf - L
//     (ErrNotYetValid);
//   - iat: a token issued after now + L is ErrNotYetValid.
//
// Every error wraps exactly one of the package's sentinel errors.
func (v *Verifier) Verify(raw []byte, f Format, now time.Time) (*Claims, error) {
	if err := v.Validate(); err != nil {
		return nil, err
	}
	max := v.MaxSize
	if max == 0 {
		max = DefaultMaxSize
	}
	if len(raw) > max {
		return nil, errorf(ErrTooLarge, "%d bytes, limit %d", len(raw), max)
	}
	var p *parsedToken
	var err error
	switch f {
	case JWT:
		p, err = parseJWT(raw, v.Algorithms)
	case CWT:
		p, err = parseCWT(raw, v.Algorithms)
	default:
		return nil, errorf(ErrVerifierConfig, "unknown format %d", int(f))
	}
	if err != nil {
		return nil, err
	}
	if _, err := verifySigned(v.Trust, v.Algorithms, p.c.Issuer, p.kid, p.alg, p.tbs, p.sig); err != nil {
		return nil, err
	}
	c, err := p.finish()
	if err != nil {
		return nil, err
	}
	if err := checkTimes(c.Expiry, c.NotBefore, c.IssuedAt, now, v.Leeway); err != nil {
		return nil, err
	}
	if !slices.Contains(c.Audience, v.Audience) {
		return nil, errorf(ErrWrongAudience, "want %q, token has aud %q", v.Audience, c.Audience)
	}
	if c.Status != nil && !v.SkipStatus {
		if err := v.checkStatus(c, now); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// verifySigned checks algorithm, issuer, key and signature, in that order.
func verifySigned(trust *TrustStore, algs []Algorithm, iss, kid string, alg Algorithm, tbs, sig []byte) (*trustedKey, error) {
	if err := checkAlgAllowed(alg, algs); err != nil {
		return nil, err
	}
	if iss == "" {
		return nil, errorf(ErrUnknownIssuer, "token has no iss")
	}
	k, err := trust.lookup(iss, kid)
	if err != nil {
		return nil, err
	}
	if k.Algorithm != alg {
		return nil, errorf(ErrAlgorithmNotAllowed, "alg %q, but key %q of %q is bound to %q", alg, kid, iss, k.Algorithm)
	}
	if !verifyRaw(k, tbs, sig) {
		return nil, errorf(ErrBadSignature, "%s signature does not verify with key %q of %q", alg, kid, iss)
	}
	return k, nil
}

func checkAlgAllowed(alg Algorithm, algs []Algorithm) error {
	if !slices.Contains(algs, alg) || !alg.supported() {
		return errorf(ErrAlgorithmNotAllowed, "alg %q, allowed %q", alg, algs)
	}
	return nil
}

const timeFmt = time.RFC3339

// checkTimes applies the time rules documented on Verify. exp must be set.
func checkTimes(exp, nbf, iat, now time.Time, leeway time.Duration) error {
	if !now.Before(exp.Add(leeway)) {
		return errorf(ErrExpired, "exp %s is not after now %s minus leeway %s", exp.Format(timeFmt), now.UTC().Format(timeFmt), leeway)
	}
	if !nbf.IsZero() && now.Before(nbf.Add(-leeway)) {
		return errorf(ErrNotYetValid, "nbf %s is after now %s plus leeway %s", nbf.Format(timeFmt), now.UTC().Format(timeFmt), leeway)
	}
	if !iat.IsZero() && iat.After(now.Add(leeway)) {
		return errorf(ErrNotYetValid, "iat %s is after now %s plus leeway %s", iat.Format(timeFmt), now.UTC().Format(timeFmt), leeway)
	}
	return nil
}

var statusSentinels = []error{ErrRevoked, ErrStatusListStale, ErrStatusListMissing, ErrMalformed}

func (v *Verifier) checkStatus(c *Claims, now time.Time) error {
	if v.Status == nil {
		return errorf(ErrStatusListMissing, "token has a status reference (%s #%d) but the verifier has no status checker", c.Status.URI, c.Status.Index)
	}
	var st uint8
	var err error
	if ic, ok := v.Status.(IssuerStatusChecker); ok {
		st, err = ic.StatusOf(c.Issuer, *c.Status, now)
	} else {
		st, err = v.Status.Status(*c.Status, now)
	}
	if err != nil {
		for _, s := range statusSentinels {
			if errors.Is(err, s) {
				return err
			}
		}
		return errorf(ErrStatusListMissing, "status of %s #%d: %v", c.Status.URI, c.Status.Index, err)
	}
	if st != StatusValid {
		return errorf(ErrRevoked, "status list %s entry %d is %s", c.Status.URI, c.Status.Index, statusName(st))
	}
	return nil
}

// statusName names a status value (draft-ietf-oauth-status-list §7.1).
func statusName(v uint8) string {
	switch v {
	case StatusValid:
		return "0 (valid)"
	case StatusInvalid:
		return "1 (invalid)"
	case StatusSuspended:
		return "2 (suspended)"
	}
	return fmt.Sprintf("%d", v)
}
