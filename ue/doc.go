// Package ue owns the in-coverage half of the prosesec UE agent (docs/design.md §1
// phase A): provisioning from the ProSe Application Server, the credential
// cache on disk, and the offline trust bundle that the PC5 handshake
// (pc5/link) needs out of coverage.
//
//   - Client (client.go) talks to the AS over HTTPS (net/http, TLS trust
//     from a CA file or the server's self-signed certificate: LoadCertPool).
//     Provision fetches the RFC 8414 metadata, the JWKS, the UE's access
//     token in CWT form (token_format=cwt) with client authentication by
//     private_key_jwt (an RFC 7523 assertion signed with the UE's identity
//     key, built with go-jose) or client_secret_basic, and the signed
//     status lists. It verifies everything before returning it: the token
//     with the fetched JWKS, its sub, its cnf (it must be the UE's own
//     identity key) and its status; each status list with
//     token.VerifyStatusList.
//   - Cache (cache.go) is a directory (0700) holding the identity key
//     (identity.pem, PKCS #8, 0600) and the credentials (credentials.json,
//     0600): issuer, token audience, endpoints, JWKS with fetch time, the
//     token with its expiry, the status lists with fetch time. Every write
//     is atomic (temporary file in the same directory, fsync, rename,
//     fsync of the directory), so a crash leaves the old or the new file.
//   - Credentials.Open (bundle.go) re-verifies what was cached, offline, at
//     the caller's "now", and returns an OfflineBundle: the own token (CWT
//     bytes and format), the identity key, and a *token.Verifier built from
//     the cached trust anchors with a token.StatusCache loaded with the
//     cached lists, the policy's MaxStatusAge and leeway. It fails with a
//     clear error that says what to do when the cache is missing
//     (ErrNoCredentials), damaged or tampered with (ErrCacheCorrupt), the
//     token has expired (ErrTokenExpired) or was revoked (ErrRevoked), a
//     status list is too old (ErrStatusListStale) or the trust anchors are
//     (ErrTrustStale).
//   - NextRefresh (refresh.go) is the pure refresh schedule: two thirds of
//     the way through the lifetime of the token, of each status list and of
//     the JWKS (when MaxTrustAge is set), whichever comes first. A driver
//     calls Client.RefreshIfDue while the AS is reachable.
//
// # Which status lists
//
// A peer's token may point into any status list of the issuer, so the UE
// caches all of them, not only its own. The AS numbers lists from 0 and
// answers 404 for a list beyond the highest status index it assigned
// (docs/prose-as.md), so by default Provision walks lists 0, 1, 2, …
// until the first 404 (at most ClientConfig.MaxStatusLists), and then
// fetches the list of the UE's own token if the walk did not reach it.
// ClientConfig.StatusLists names an explicit set instead. A peer token
// issued after the walk into a list the UE does not hold fails with
// token.ErrStatusListMissing until the next refresh.
//
// # What follows a spec, what this project defines
//
// RFC 8414 (metadata, issuer equality), RFC 6749 (token request and errors,
// client_secret_basic with form-encoded credentials), RFC 7523 (client
// assertion: iss = sub = client_id, aud = token endpoint, exp 60 s, random
// jti), RFC 7517 (JWKS), draft-ietf-oauth-status-list (Status List Tokens,
// Accept: application/statuslist+cwt). PROJECT-DEFINED: the token_format
// parameter and the metadata fields prose_token_audience and
// status_list_endpoint (both from package as), the cache layout, the
// refresh schedule and the offline policy (Policy).
//
// Nothing here reads the clock or crypto/rand on a path tests replay: Open
// and NextRefresh take "now"; the Client (a shell) takes ClientConfig.Clock
// and ClientConfig.Rand, defaulting to time.Now and crypto/rand. Errors
// start with "ue: "; the package logs nothing.
package ue
