package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prosesec/prosesec/as"
)

// readForm reads a strictly formed application/x-www-form-urlencoded body:
// size-limited, UTF-8, every parameter at most once (RFC 6749 §3.1, §3.2).
// Parameters with an empty value count as omitted (RFC 6749 §3.1).
func (h *handler) readForm(w http.ResponseWriter, r *http.Request) (map[string]string, *as.Error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, as.ErrInvalidRequest.WithDescription("Content-Type must be application/x-www-form-urlencoded")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return nil, as.ErrInvalidRequest.WithDescription("the form must be UTF-8 encoded")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errTooLarge
		}
		return nil, as.ErrInvalidRequest.WithDescription("the request body could not be read")
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, as.ErrInvalidRequest.WithDescription("the request body is not a valid form encoding")
	}
	form := make(map[string]string, len(vals))
	for k, v := range vals {
		if !utf8.ValidString(k) {
			return nil, as.ErrInvalidRequest.WithDescription("a parameter name is not valid UTF-8")
		}
		if len(v) > 1 {
			return nil, as.ErrInvalidRequest.WithDescriptionf("parameter %q is included more than once (RFC 6749 §3.2)", k)
		}
		if !utf8.ValidString(v[0]) {
			return nil, as.ErrInvalidRequest.WithDescriptionf("parameter %q is not valid UTF-8", k)
		}
		if v[0] != "" {
			form[k] = v[0]
		}
	}
	return form, nil
}

// errSlowDown answers a request refused by the rate limit. RFC 6749
// defines no error code for it; slow_down (RFC 8628 §3.5, registered for
// the token endpoint) says exactly "you are asking too often, back off",
// whereas temporarily_unavailable would blame the server for what is one
// client's (or one source's) excess.
var errSlowDown = &as.Error{Code: "slow_down", Status: http.StatusTooManyRequests, Description: "too many requests for this client or from this address; retry after the time in Retry-After"}

// admit applies the rate limit to a request that presents client
// credentials (see ratelimit.go), before they are checked. It decodes a
// client assertion into auth, which authentication then reuses. When the
// request is refused it answers 429 and returns false; otherwise the
// caller calls succeeded on the ticket if the request succeeds.
func (h *handler) admit(w http.ResponseWriter, r *http.Request, auth *as.ClientAuth, issuance bool) (ticket, bool) {
	if auth.Method == as.AuthNone {
		return ticket{}, true // rejected before any costly work
	}
	tk, wait := h.limit.admit(auth.ClaimedClient(), h.sourceIP(r), issuance)
	if wait > 0 {
		h.slowDown(w, r, wait)
		return ticket{}, false
	}
	return tk, true
}

// slowDown answers a request the rate limit refused: 429 slow_down with
// Retry-After.
func (h *handler) slowDown(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	h.m.rateLimited.Inc()
	w.Header().Set("Retry-After", strconv.FormatInt(retryAfterSeconds(wait), 10))
	h.oauthError(w, r, errSlowDown)
}

// errTooLarge is answered 413; the body is still an RFC 6749 error.
var errTooLarge = &as.Error{Code: "invalid_request", Status: http.StatusRequestEntityTooLarge, Description: "request body too large"}

// clientAuth extracts the client authentication of a request: HTTP Basic
// (credentials form-encoded per RFC 6749 §2.3.1), client_secret in the body,
// or a client assertion (RFC 7523 §2.2). More than one method is
// invalid_request (RFC 6749 §2.3).
func clientAuth(r *http.Request, form map[string]string) (as.ClientAuth, *as.Error) {
	a := as.ClientAuth{
		ClientID:      form["client_id"],
		Secret:        form["client_secret"],
		AssertionType: form["client_assertion_type"],
		Assertion:     form["client_assertion"],
	}
	if hdr := r.Header.Get("Authorization"); hdr != "" {
		scheme, cred, _ := strings.Cut(hdr, " ")
		if !strings.EqualFold(scheme, "Basic") {
			return a, as.ErrInvalidClient.WithDescription("the Authorization header must use the Basic scheme")
		}
		if a.Secret != "" || a.Assertion != "" || a.AssertionType != "" {
			return a, as.ErrInvalidRequest.WithDescription("only one client authentication method may be used (RFC 6749 §2.3)")
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
		if err != nil {
			return a, as.ErrInvalidClient.WithDescription("the Basic credentials are not valid base64")
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		if !ok {
			return a, as.ErrInvalidClient.WithDescription("the Basic credentials have no colon")
		}
		if user, err = url.QueryUnescape(user); err != nil {
			return a, as.ErrInvalidClient.WithDescription("the Basic user is not form-encoded (RFC 6749 §2.3.1)")
		}
		if pass, err = url.QueryUnescape(pass); err != nil {
			return a, as.ErrInvalidClient.WithDescription("the Basic password is not form-encoded (RFC 6749 §2.3.1)")
		}
		if a.ClientID != "" && a.ClientID != user {
			return a, as.ErrInvalidRequest.WithDescription("client_id does not match the Basic credentials")
		}
		a.Method, a.ClientID, a.Secret = as.AuthClientSecretBasic, user, pass
		return a, nil
	}
	switch {
	case a.Assertion != "" || a.AssertionType != "":
		if a.Secret != "" {
			return a, as.ErrInvalidRequest.WithDescription("only one client authentication method may be used (RFC 6749 §2.3)")
		}
		a.Method = as.AuthPrivateKeyJWT
	case a.Secret != "":
		a.Method = as.AuthClientSecretPost
	}
	return a, nil
}

// token handles POST /oauth2/token.
func (h *handler) token(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	method, outcome := "none", "error"
	defer func() {
		h.m.issueTime.WithLabelValues(method, outcome).Observe(time.Since(start).Seconds())
	}()
	form, e := h.readForm(w, r)
	if e != nil {
		h.oauthError(w, r, e)
		return
	}
	auth, e := clientAuth(r, form)
	if e != nil {
		h.oauthError(w, r, e)
		return
	}
	if auth.Method != as.AuthNone {
		method = string(auth.Method)
	}
	info(r).clientID = auth.ClientID
	tk, ok := h.admit(w, r, &auth, true)
	if !ok {
		return
	}
	resp, err := h.s.Token(r.Context(), as.TokenRequest{
		GrantType: form["grant_type"],
		Scope:     form["scope"],
		Format:    form["token_format"],
		Auth:      auth,
	})
	if err != nil {
		h.oauthError(w, r, err)
		return
	}
	tk.succeeded(resp.ClientID)
	outcome = "ok"
	info(r).clientID = resp.ClientID
	h.m.issued.WithLabelValues(resp.TokenFormat).Inc()
	noStore(w)
	writeJSON(w, http.StatusOK, resp)
}

// revoke handles POST /oauth2/revoke (RFC 7009).
func (h *handler) revoke(w http.ResponseWriter, r *http.Request) {
	form, e := h.readForm(w, r)
	if e != nil {
		h.oauthError(w, r, e)
		return
	}
	auth, e := clientAuth(r, form)
	if e != nil {
		h.oauthError(w, r, e)
		return
	}
	info(r).clientID = auth.ClientID
	tk, ok := h.admit(w, r, &auth, false)
	if !ok {
		return
	}
	res, err := h.s.Revoke(r.Context(), as.RevokeRequest{Token: form["token"], TokenTypeHint: form["token_type_hint"], Auth: auth})
	if err != nil {
		h.oauthError(w, r, err)
		return
	}
	tk.succeeded("")
	info(r).clientID = res.ClientID
	if res.Revoked {
		h.m.revocations.WithLabelValues("oauth").Inc()
	}
	noStore(w)
	w.WriteHeader(http.StatusOK)
}

// introspect handles POST /oauth2/introspect (RFC 7662). The caller is a
// registered client (its own tokens only) or the admin (Authorization:
// Bearer <admin token>, all tokens).
func (h *handler) introspect(w http.ResponseWriter, r *http.Request) {
	form, e := h.readForm(w, r)
	if e != nil {
		h.oauthError(w, r, e)
		return
	}
	req := as.IntrospectRequest{Token: form["token"], TokenTypeHint: form["token_type_hint"]}
	var tk ticket
	if scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " "); strings.EqualFold(scheme, "Bearer") {
		// The admin token is charged like a client credential, to the
		// failure buckets of the address and of "(admin)" from that
		// address (refunded when it is right), so that it cannot be
		// guessed at full speed on this public listener.
		var wait time.Duration
		if tk, wait = h.limit.admit("(admin)", h.sourceIP(r), false); wait > 0 {
			h.slowDown(w, r, wait)
			return
		}
		if !h.isAdmin(cred) {
			h.oauthError(w, r, as.ErrInvalidClient.WithDescription("the Bearer credential is not valid"))
			return
		}
		req.Privileged = true
		info(r).clientID = "(admin)"
	} else {
		auth, e := clientAuth(r, form)
		if e != nil {
			h.oauthError(w, r, e)
			return
		}
		req.Auth = auth
		info(r).clientID = auth.ClientID
	}
	if !req.Privileged {
		var ok bool
		if tk, ok = h.admit(w, r, &req.Auth, false); !ok {
			return
		}
	}
	res, err := h.s.Introspect(r.Context(), req)
	if err != nil {
		h.oauthError(w, r, err)
		return
	}
	tk.succeeded("")
	if res.CallerID != "" {
		info(r).clientID = res.CallerID
	}
	noStore(w)
	writeJSON(w, http.StatusOK, res)
}

// isAdmin compares a presented admin credential in constant time: both
// sides are hashed first so that the comparison does not leak the length.
func (h *handler) isAdmin(cred string) bool {
	if h.adminHash == nil {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(cred)))
	return subtle.ConstantTimeCompare(got[:], h.adminHash[:]) == 1
}

// methodNotAllowed answers other methods on an OAuth endpoint with an
// RFC 6749 error body.
func (h *handler) methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		h.oauthError(w, r, &as.Error{Code: "invalid_request", Status: http.StatusMethodNotAllowed, Description: "method must be " + allow})
	}
}
