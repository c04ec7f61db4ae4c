package httpapi

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prosesec/prosesec/as"
	"github.com/prosesec/prosesec/token"
)

// Media types of the status list endpoint (draft-ietf-oauth-status-list §8).
const (
	MediaStatusListJWT = "application/statuslist+jwt"
	MediaStatusListCWT = "application/statuslist+cwt"
)

// Body kinds of a route (Route.Body).
const (
	BodyNone         = ""              // the body is ignored
	BodyForm         = "form"          // application/x-www-form-urlencoded, RFC 6749 rules
	BodyJSON         = "json"          // application/json, required
	BodyJSONOptional = "json-optional" // application/json, may be empty
)

// Route describes one route of NewPublic or NewAdmin. Routes lists them
// all; the handlers are built from the same table, so that a test
// iterating over Routes covers every endpoint.
type Route struct {
	Method  string // GET, POST, PUT, DELETE
	Pattern string // Go 1.22 path pattern, e.g. /admin/v1/ues/{id}
	Admin   bool   // served by NewAdmin (Authorization: Bearer <admin token>)
	OAuth   bool   // RFC 6749 §5.2 errors, 405 on other methods
	Body    string // BodyNone, BodyForm, BodyJSON or BodyJSONOptional
	// Query lists the query parameters the route reads (strictly: a
	// repeated or malformed one is invalid_request).
	Query []string
	// Metrics marks GET /metrics, served by NewPublic only when
	// Options.Gatherer is set.
	Metrics bool
}

// Routes returns the routes of NewPublic and NewAdmin.
func Routes() []Route {
	return []Route{
		{Method: "POST", Pattern: as.PathToken, OAuth: true, Body: BodyForm},
		{Method: "POST", Pattern: as.PathRevoke, OAuth: true, Body: BodyForm},
		{Method: "POST", Pattern: as.PathIntrospect, OAuth: true, Body: BodyForm},
		{Method: "GET", Pattern: as.PathMetadata},
		{Method: "GET", Pattern: as.PathJWKS},
		{Method: "GET", Pattern: as.PathStatusList + "{n}"},
		{Method: "GET", Pattern: "/healthz"},
		{Method: "GET", Pattern: "/readyz"},
		{Method: "GET", Pattern: "/metrics", Metrics: true},
		{Method: "POST", Pattern: "/admin/v1/ues", Admin: true, Body: BodyJSON},
		{Method: "GET", Pattern: "/admin/v1/ues", Admin: true, Query: []string{"after", "limit"}},
		{Method: "GET", Pattern: "/admin/v1/ues/{id}", Admin: true},
		{Method: "PUT", Pattern: "/admin/v1/ues/{id}", Admin: true, Body: BodyJSON},
		{Method: "DELETE", Pattern: "/admin/v1/ues/{id}", Admin: true},
		{Method: "POST", Pattern: "/admin/v1/ues/{id}/revoke", Admin: true},
		{Method: "GET", Pattern: "/admin/v1/tokens", Admin: true, Query: []string{"sub", "active", "after", "limit"}},
		{Method: "POST", Pattern: "/admin/v1/tokens/{jti}/revoke", Admin: true},
		{Method: "GET", Pattern: "/admin/v1/keys", Admin: true},
		{Method: "POST", Pattern: "/admin/v1/keys/rotate", Admin: true, Body: BodyJSONOptional},
	}
}

// handlerFor returns the handler function of a route of Routes.
func (h *handler) handlerFor(rt Route) http.HandlerFunc {
	switch rt.Method + " " + rt.Pattern {
	case "POST " + as.PathToken:
		return h.token
	case "POST " + as.PathRevoke:
		return h.revoke
	case "POST " + as.PathIntrospect:
		return h.introspect
	case "GET " + as.PathMetadata:
		return h.metadata
	case "GET " + as.PathJWKS:
		return h.jwks
	case "GET " + as.PathStatusList + "{n}":
		return h.statusList
	case "GET /healthz":
		return h.healthz
	case "GET /readyz":
		return h.readyz
	case "POST /admin/v1/ues":
		return h.adminRegisterUE
	case "GET /admin/v1/ues":
		return h.adminListUEs
	case "GET /admin/v1/ues/{id}":
		return h.adminGetUE
	case "PUT /admin/v1/ues/{id}":
		return h.adminUpdateUE
	case "DELETE /admin/v1/ues/{id}":
		return h.adminRemoveUE
	case "POST /admin/v1/ues/{id}/revoke":
		return h.adminRevokeUE
	case "GET /admin/v1/tokens":
		return h.adminListTokens
	case "POST /admin/v1/tokens/{jti}/revoke":
		return h.adminRevokeToken
	case "GET /admin/v1/keys":
		return h.adminKeys
	case "POST /admin/v1/keys/rotate":
		return h.adminRotate
	}
	panic("as/httpapi: no handler for route " + rt.Method + " " + rt.Pattern)
}

func (h *handler) publicRoutes() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range Routes() {
		switch {
		case rt.Admin:
		case rt.Metrics:
			if h.gatherer != nil {
				mux.Handle("GET /metrics", MetricsHandler(h.gatherer))
			}
		case rt.OAuth:
			mux.Handle(rt.Method+" "+rt.Pattern, h.wrap(rt.Pattern, true, h.handlerFor(rt)))
			mux.Handle(rt.Pattern, h.wrap(rt.Pattern, true, h.methodNotAllowed(rt.Method)))
		default:
			mux.Handle(rt.Method+" "+rt.Pattern, h.wrap(rt.Pattern, false, h.handlerFor(rt)))
		}
	}
	mux.Handle("/", h.wrap("other", false, func(w http.ResponseWriter, r *http.Request) {
		writeJSONError(w, http.StatusNotFound, "not_found", "no such endpoint")
	}))
	return mux
}

func (h *handler) metadata(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=3600")
	writeJSON(w, http.StatusOK, h.s.Metadata())
}

func (h *handler) jwks(w http.ResponseWriter, r *http.Request) {
	b, err := h.s.JWKS(r.Context())
	if err != nil {
		h.internalError(w, r, err)
		return
	}
	// Keys are published long before they sign, so a short cache is safe.
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(b)
}

// statusList serves GET /statuslists/{n}. The format follows the Accept
// header (application/statuslist+jwt by default, +cwt on request; 406 if
// neither is acceptable). Cache-Control max-age is the time until the AS
// re-signs the list because of its age (half the TTL after issuance), so
// that caches never hold a list longer than the AS keeps it; a revocation
// makes the AS re-sign at once.
func (h *handler) statusList(w http.ResponseWriter, r *http.Request) {
	n, ok := parseListNumber(r.PathValue("n"))
	if !ok {
		writeJSONError(w, http.StatusNotFound, "not_found", "status list numbers are decimal integers")
		return
	}
	f, ok := negotiateStatusList(r.Header.Get("Accept"))
	if !ok {
		writeJSONError(w, http.StatusNotAcceptable, "not_acceptable", "acceptable types: "+MediaStatusListJWT+", "+MediaStatusListCWT)
		return
	}
	res, err := h.s.StatusList(r.Context(), n, f)
	if err != nil {
		var e *as.Error
		if errors.As(err, &e) && errors.Is(err, as.ErrNotFound) {
			writeJSONError(w, http.StatusNotFound, e.Code, e.Description)
			return
		}
		h.internalError(w, r, err)
		return
	}
	maxAge := res.IssuedAt.Add(res.TTL / 2).Sub(h.s.Now())
	if maxAge < 0 {
		maxAge = 0
	}
	w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int64(maxAge/time.Second)))
	w.Header().Add("Vary", "Accept")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if f == token.CWT {
		w.Header().Set("Content-Type", MediaStatusListCWT)
	} else {
		w.Header().Set("Content-Type", MediaStatusListJWT)
	}
	w.Write(res.Token)
}

// parseListNumber accepts canonical decimal numbers only ("0", "17"; not
// "017", "+1", "0x1").
func parseListNumber(s string) (uint64, bool) {
	if s == "" || len(s) > 20 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// negotiateStatusList picks the status list format from an Accept header:
// the type with the higher q-value, JWT on a tie or without a header.
func negotiateStatusList(accept string) (token.Format, bool) {
	if strings.TrimSpace(accept) == "" {
		return token.JWT, true
	}
	var qJWT, qCWT, qWild float64 = -1, -1, -1
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if qs, ok := params["q"]; ok {
			if q, err = strconv.ParseFloat(qs, 64); err != nil || q < 0 || q > 1 {
				continue
			}
		}
		switch mt {
		case MediaStatusListJWT:
			qJWT = max(qJWT, q)
		case MediaStatusListCWT:
			qCWT = max(qCWT, q)
		case "*/*", "application/*":
			qWild = max(qWild, q)
		}
	}
	if qJWT < 0 {
		qJWT = qWild
	}
	if qCWT < 0 {
		qCWT = qWild
	}
	switch {
	case qJWT <= 0 && qCWT <= 0:
		return 0, false
	case qCWT > qJWT:
		return token.CWT, true
	}
	return token.JWT, true
}

func (h *handler) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (h *handler) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := h.s.Ping(ctx); err != nil {
		info(r).cause = err
		h.m.storeErrors.WithLabelValues(info(r).endpoint).Inc()
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "store unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// internalError answers a non-OAuth endpoint's internal failure with a
// generic 500 and keeps the cause for the log.
func (h *handler) internalError(w http.ResponseWriter, r *http.Request, err error) {
	ri := info(r)
	ri.cause, ri.errCode = err, "server_error"
	h.m.storeErrors.WithLabelValues(ri.endpoint).Inc()
	writeJSONError(w, http.StatusInternalServerError, "server_error", "internal error")
}
