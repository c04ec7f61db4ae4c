// Package token owns the authorization tokens of TR 33.740 Solution #4: the
// one claims model (Claims) and its two encodings, the verification keys
// that UEs trust offline, and the revocation status lists.
//
//   - Access tokens: a JWT (JWS compact, RFC 9068 "at+jwt") for OAuth
//     clients and JOSE libraries, and a CWT (COSE_Sign1, RFC 8392/9052) for
//     PC5, signed with ES256 (default) or EdDSA by a Signer. Claims: iss,
//     sub, aud, client_id, iat, nbf, exp, jti/cti, scope ("u2u:use:<RSC>",
//     "u2u:serve:<RSC>"), cnf (RFC 7800 / RFC 8747: the UE's PC5 identity
//     key) and status (draft-ietf-oauth-status-list).
//   - Verification offline: Verifier checks size, encoding, algorithm
//     allow-list, issuer and kid in a TrustStore (each key bound to one
//     algorithm), signature, exp/nbf/iat with a leeway at an explicit "now",
//     audience, and the token's status-list entry through a StatusChecker
//     (StatusCache). Every failure wraps exactly one sentinel error (ErrExpired,
//     ErrBadSignature, ...) so that PC5 can map it to a cause value.
//   - Keys: JWK Sets (MarshalJWKS, TrustStore.AddJWKS), PEM/JWK public keys
//     (ParsePublicKey), RFC 7638 thumbprints.
//   - Client assertions (RFC 7523 private_key_jwt): ParseClientAssertion
//     decodes one strictly, ClientAssertion.VerifySignature checks it with
//     the client's key; the AS applies the RFC 7523 claim rules.
//   - Status lists (draft-ietf-oauth-status-list): StatusList (1, 2, 4 or 8
//     bits per entry, ZLIB-compressed), Status List Tokens in JWT and CWT
//     form (Signer.SignStatusList, VerifyStatusList) and the UE-side cache of
//     verified lists (StatusCache).
//
// The package never reads the clock (time is always an argument), logs
// nothing and keeps no global mutable state. Signing draws on crypto/rand
// (AS side); verification is deterministic. docs/token-format.md gives the
// exact layouts, numbers and rules, and which parts follow an RFC or draft
// and which this project defines.
package token
