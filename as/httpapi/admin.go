package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prosesec/prosesec/as"
	"github.com/prosesec/prosesec/token"
)

// Admin API wire types. The admin CLI (prose-as admin) uses them too.

// RegisterUERequest is the body of POST /admin/v1/ues.
type RegisterUERequest struct {
	ID string `json:"id"`
	// PublicKey is a JWK object or a PEM string (SubjectPublicKeyInfo).
	PublicKey  json.RawMessage `json:"public_key"`
	WithSecret bool            `json:"with_secret,omitempty"`
	// Grants are scope strings "u2u:use:<RSC>" / "u2u:serve:<RSC>".
	Grants []string `json:"grants"`
	// TokenLifetime is a Go duration string ("2h") or a number of seconds;
	// absent or 0: the server default.
	TokenLifetime json.RawMessage `json:"token_lifetime,omitempty"`
}

// UpdateUERequest is the body of PUT /admin/v1/ues/{id}: absent (or null)
// fields are left unchanged.
type UpdateUERequest struct {
	PublicKey     json.RawMessage `json:"public_key,omitempty"`
	Grants        *[]string       `json:"grants,omitempty"`
	TokenLifetime json.RawMessage `json:"token_lifetime,omitempty"` // 0 resets to the default
	// Secret is "rotate" (a new secret is returned once), "remove", or
	// empty (keep).
	Secret string `json:"secret,omitempty"`
}

// UEResponse answers register, get and update. ClientSecret is set only
// when a secret was just generated; it is never shown again.
type UEResponse struct {
	UE           *as.UEInfo `json:"ue"`
	ClientSecret string     `json:"client_secret,omitempty"`
}

// UEListResponse answers GET /admin/v1/ues. Next, when set, is the after=
// value of the next page.
type UEListResponse struct {
	UEs  []*as.UEInfo `json:"ues"`
	Next string       `json:"next,omitempty"`
}

// TokenListResponse answers GET /admin/v1/tokens. Next, when set, is the
// after= value (a status index) of the next page.
type TokenListResponse struct {
	Tokens []*as.TokenInfo `json:"tokens"`
	Next   *uint64         `json:"next,omitempty"`
}

// RevokeResponse answers the revoke operations.
type RevokeResponse struct {
	Revoked int `json:"revoked"`
}

// KeysResponse answers GET /admin/v1/keys and POST /admin/v1/keys/rotate.
type KeysResponse struct {
	Keys []as.KeyInfo `json:"keys"`
}

// RotateKeysRequest is the body of POST /admin/v1/keys/rotate (an empty body
// means force=false).
type RotateKeysRequest struct {
	Force bool `json:"force"`
}

// Page sizes of the list operations.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

func (h *handler) adminRoutes() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range Routes() {
		if rt.Admin {
			pattern := rt.Method + " " + rt.Pattern
			mux.Handle(pattern, h.wrap(pattern, false, h.adminAuth(h.handlerFor(rt))))
		}
	}
	mux.Handle("/admin/", h.wrap("/admin/", false, h.adminAuth(func(w http.ResponseWriter, r *http.Request) {
		writeJSONError(w, http.StatusNotFound, "not_found", "no such admin endpoint or method")
	})))
	return mux
}

// adminAuth requires Authorization: Bearer <admin token>, compared in
// constant time.
func (h *handler) adminAuth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") || !h.isAdmin(cred) {
			info(r).errCode = "unauthorized"
			w.Header().Set("WWW-Authenticate", `Bearer realm="prose-as-admin"`)
			noStore(w)
			writeJSONError(w, http.StatusUnauthorized, "unauthorized", "a valid admin Bearer token is required")
			return
		}
		info(r).clientID = "(admin)"
		noStore(w)
		next(w, r)
	}
}

// adminError writes an *as.Error (or a generic 500) as a JSON error.
func (h *handler) adminError(w http.ResponseWriter, r *http.Request, err error) {
	var e *as.Error
	if !errors.As(err, &e) {
		e = as.ErrServerError.WithCause(err)
	}
	ri := info(r)
	ri.errCode = e.Code
	if c := errors.Unwrap(e); c != nil {
		ri.cause = c
	}
	status := e.Status
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	if e.Code == as.ErrServerError.Code {
		h.m.storeErrors.WithLabelValues(ri.endpoint).Inc()
	}
	writeJSONError(w, status, e.Code, e.Description)
}

func badRequest(format string, a ...any) *as.Error {
	return as.ErrInvalidRequest.WithDescriptionf(format, a...)
}

// readJSON decodes a size-limited application/json body into the struct
// that v points to, strictly: UTF-8 (RFC 8259 §8.1), no member name twice
// in an object (names compared case-insensitively, as encoding/json
// matches them), the struct's members spelled exactly as documented (no
// unknown member, no case variant), nothing after the value but
// whitespace. An empty body leaves v unchanged when allowEmpty.
func (h *handler) readJSON(w http.ResponseWriter, r *http.Request, v any, allowEmpty bool) *as.Error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errTooLarge
		}
		return badRequest("the request body could not be read")
	}
	if len(bytes.TrimSpace(body)) == 0 && allowEmpty {
		return nil
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return badRequest("Content-Type must be application/json")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return badRequest("the JSON body must be UTF-8 encoded")
	}
	if !utf8.Valid(body) {
		return badRequest("the JSON body is not valid UTF-8")
	}
	if err := checkJSONDuplicates(body); err != nil {
		return badRequest("invalid JSON body: %v", err)
	}
	if err := checkJSONMemberNames(body, v); err != nil {
		return badRequest("invalid JSON body: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("invalid JSON body: %v", err)
	}
	// dec.More is false before a stray ']' or '}': ask for the next token.
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("invalid JSON body: trailing data after the JSON value")
	}
	return nil
}

// checkJSONMemberNames rejects a top-level member whose name is not
// exactly the JSON name of a field of the struct v points to, such as a
// case variant ("ID" for "id") that encoding/json would accept. Syntax
// errors and non-object bodies are left to the decoder.
func checkJSONMemberNames(body []byte, v any) error {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return nil
	}
	known := jsonFieldNames(reflect.TypeOf(v).Elem())
	for name := range top {
		if known[name] {
			continue
		}
		for k := range known {
			if strings.EqualFold(k, name) {
				return fmt.Errorf("unknown member %q (member names are case-sensitive: %q)", name, k)
			}
		}
		return fmt.Errorf("unknown member %q", name)
	}
	return nil
}

// jsonFieldNames returns the JSON member names of the exported fields of
// struct type t (no embedded structs in the admin wire types).
func jsonFieldNames(t reflect.Type) map[string]bool {
	names := map[string]bool{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		names[name] = true
	}
	return names
}

// maxJSONDepth bounds the nesting of an admin request body.
const maxJSONDepth = 32

// checkJSONDuplicates rejects a JSON text in which an object has a member
// name twice, compared case-insensitively as encoding/json matches names
// to fields (it would silently keep the last one, so that two parsers could
// read different requests), or that nests deeper than maxJSONDepth.
// Syntax errors are left to the decoder.
func checkJSONDuplicates(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	type frame struct {
		object bool
		keys   map[string]string // folded name → name
		key    bool              // the next token of an object is a member name
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil // io.EOF or a syntax error the decoder reports
		}
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				if top != nil && top.object {
					top.key = true
				}
				if len(stack) >= maxJSONDepth {
					return fmt.Errorf("nested deeper than %d levels", maxJSONDepth)
				}
				stack = append(stack, frame{object: d == '{', keys: map[string]string{}, key: true})
			default:
				stack = stack[:len(stack)-1]
			}
			continue
		}
		if top == nil || !top.object {
			continue
		}
		if top.key {
			name, _ := tok.(string)
			folded := foldName(name)
			if prev, ok := top.keys[folded]; ok {
				if prev == name {
					return fmt.Errorf("member %q appears more than once", name)
				}
				return fmt.Errorf("members %q and %q differ only in case", prev, name)
			}
			top.keys[folded] = name
			top.key = false
		} else {
			top.key = true
		}
	}
}

// foldName maps every rune of name to the smallest rune of its simple case
// folding orbit, so that foldName(a) == foldName(b) exactly when
// strings.EqualFold(a, b) (the equivalence encoding/json uses for names).
func foldName(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	for _, r := range name {
		min := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < min {
				min = f
			}
		}
		b.WriteRune(min)
	}
	return b.String()
}

// adminQuery parses the query string strictly: well-formed, UTF-8, each
// parameter at most once.
func adminQuery(r *http.Request) (map[string]string, *as.Error) {
	vals, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("the query string is not a valid form encoding")
	}
	q := make(map[string]string, len(vals))
	for k, v := range vals {
		if len(v) > 1 {
			return nil, badRequest("query parameter %q is included more than once", k)
		}
		if !utf8.ValidString(k) || !utf8.ValidString(v[0]) {
			return nil, badRequest("the query string is not valid UTF-8")
		}
		q[k] = v[0]
	}
	return q, nil
}

// parsePublicKey accepts a JWK object or a JSON string holding PEM (or a
// JWK) and returns the raw bytes for as.UESpec.PublicKey.
func parsePublicKeyField(raw json.RawMessage) ([]byte, *as.Error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || bytes.Equal(raw, []byte("null")):
		return nil, nil
	case raw[0] == '{':
		return raw, nil
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, badRequest("public_key: %v", err)
		}
		return []byte(s), nil
	}
	return nil, badRequest("public_key must be a JWK object or a PEM string")
}

func parseGrants(gs []string) ([]token.Scope, *as.Error) {
	out := make([]token.Scope, 0, len(gs))
	for _, g := range gs {
		sc, err := token.ParseScope(g)
		if err != nil {
			return nil, badRequest("grant %q must be u2u:use:<RSC> or u2u:serve:<RSC> with the RSC as 6 hex digits", g)
		}
		out = append(out, sc)
	}
	return out, nil
}

// parseLifetime accepts a Go duration string or a number of seconds.
func parseLifetime(raw json.RawMessage) (time.Duration, bool, *as.Error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return 0, false, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, false, badRequest("token_lifetime: %v", err)
		}
		if s == "" {
			return 0, true, nil
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, false, badRequest("token_lifetime %q is not a duration such as \"2h\"", s)
		}
		return d, true, nil
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || n < 0 || n > int64(1<<62/time.Second) {
		return 0, false, badRequest("token_lifetime must be a duration string or a whole number of seconds")
	}
	return time.Duration(n) * time.Second, true, nil
}

func (h *handler) adminRegisterUE(w http.ResponseWriter, r *http.Request) {
	var req RegisterUERequest
	if e := h.readJSON(w, r, &req, false); e != nil {
		h.adminError(w, r, e)
		return
	}
	pk, e := parsePublicKeyField(req.PublicKey)
	if e != nil {
		h.adminError(w, r, e)
		return
	}
	grants, e := parseGrants(req.Grants)
	if e != nil {
		h.adminError(w, r, e)
		return
	}
	lt, _, e := parseLifetime(req.TokenLifetime)
	if e != nil {
		h.adminError(w, r, e)
		return
	}
	ue, secret, err := h.s.RegisterUE(r.Context(), as.UESpec{ID: req.ID, PublicKey: pk, WithSecret: req.WithSecret, Grants: grants, TokenLifetime: lt})
	if err != nil {
		h.adminError(w, r, err)
		return
	}
	w.Header().Set("Location", "/admin/v1/ues/"+ue.ID)
	writeJSON(w, http.StatusCreated, UEResponse{UE: ue, ClientSecret: secret})
}

func (h *handler) adminUpdateUE(w http.ResponseWriter, r *http.Request) {
	var req UpdateUERequest
	if e := h.readJSON(w, r, &req, false); e != nil {
		h.adminError(w, r, e)
		return
	}
	var u as.UEUpdate
	var e *as.Error
	if u.PublicKey, e = parsePublicKeyField(req.PublicKey); e != nil {
		h.adminError(w, r, e)
		return
	}
	if req.Grants != nil {
		g, e := parseGrants(*req.Grants)
		if e != nil {
			h.adminError(w, r, e)
			return
		}
		u.Grants = &g
	}
	lt, set, e := parseLifetime(req.TokenLifetime)
	if e != nil {
		h.adminError(w, r, e)
		return
	}
	if set {
		u.TokenLifetime = &lt
	}
	u.Secret = as.SecretAction(req.Secret)
	ue, secret, err := h.s.UpdateUE(r.Context(), r.PathValue("id"), u)
	if err != nil {
		h.adminError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, UEResponse{UE: ue, ClientSecret: secret})
}

func (h *handler) adminGetUE(w http.ResponseWriter, r *http.Request) {
	ue, err := h.s.GetUE(r.Context(), r.PathValue("id"))
	if err != nil {
		h.adminError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, UEResponse{UE: ue})
}

func pageLimit(q map[string]string) (int, *as.Error) {
	s := q["limit"]
	if s == "" {
		return DefaultPageSize, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxPageSize {
		return 0, badRequest("limit must be an integer between 1 and %d", MaxPageSize)
	}
	return n, nil
}

func (h *handler) adminListUEs(w http.ResponseWriter, r *http.Request) {
	q, e := adminQuery(r)
	if e != nil {
		h.adminError(w, r, e)
		return
	}
	limit, e := pageLimit(q)
	if e != nil {
		h.adminError(w, r, e)
		return
	}
	ues, err := h.s.ListUEs(r.Context(), q["after"], limit)
	if err != nil {
		h.adminError(w, r, err)
		return
	}
	resp := UEListResponse{UEs: ues}
	if len(ues) == limit {
		resp.Next = ues[len(ues)-1].ID
	}
	writeJSON(w, http.StatusOK, resp)
}

func (h *handler) adminRemoveUE(w http.ResponseWriter, r *http.Request) {
	n, err := h.s.RemoveUE(r.Context(), r.PathValue("id"))
	if err != nil {
		h.adminError(w, r, err)
		return
	}
	h.m.revocations.WithLabelValues("admin_ue").Add(float64(n))
	writeJSON(w, http.StatusOK, RevokeResponse{Revoked: n})
}

func (h *handler) adminRevokeUE(w http.ResponseWriter, r *http.Request) {
	n, err := h.s.RevokeUE(r.Context(), r.PathValue("id"))
	if err != nil {
		h.adminError(w, r, err)
		return
	}
	h.m.revocations.WithLabelValues("admin_ue").Add(float64(n))
	writeJSON(w, http.StatusOK, RevokeResponse{Revoked: n})
}

func (h *handler) adminListTokens(w http.ResponseWriter, r *http.Request) {
	q, e := adminQuery(r)
	if e != nil {
		h.adminError(w, r, e)
		return
	}
	limit, e := pageLimit(q)
	if e != nil {
		h.adminError(w, r, e)
		return
	}
	f := as.TokenFilter{Subject: q["sub"], Limit: limit}
	if s := q["active"]; s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			h.adminError(w, r, badRequest("active must be true or false"))
			return
		}
		f.ActiveOnly = b
	}
	if s := q["after"]; s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			h.adminError(w, r, badRequest("after must be a status index (decimal)"))
			return
		}
		f.After, f.AfterIndex = true, n
	}
	toks, err := h.s.ListTokens(r.Context(), f)
	if err != nil {
		h.adminError(w, r, err)
		return
	}
	resp := TokenListResponse{Tokens: toks}
	if len(toks) == limit {
		n := toks[len(toks)-1].StatusIndex
		resp.Next = &n
	}
	writeJSON(w, http.StatusOK, resp)
}

func (h *handler) adminRevokeToken(w http.ResponseWriter, r *http.Request) {
	if err := h.s.RevokeToken(r.Context(), r.PathValue("jti")); err != nil {
		h.adminError(w, r, err)
		return
	}
	h.m.revocations.WithLabelValues("admin_token").Inc()
	writeJSON(w, http.StatusOK, RevokeResponse{Revoked: 1})
}

func (h *handler) adminKeys(w http.ResponseWriter, r *http.Request) {
	keys, err := h.s.Keys(r.Context())
	if err != nil {
		h.adminError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, KeysResponse{Keys: keys})
}

func (h *handler) adminRotate(w http.ResponseWriter, r *http.Request) {
	var req RotateKeysRequest
	if e := h.readJSON(w, r, &req, true); e != nil {
		h.adminError(w, r, e)
		return
	}
	keys, err := h.s.RotateKeys(r.Context(), req.Force)
	if err != nil {
		h.adminError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, KeysResponse{Keys: keys})
}
