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

func (h *handler) publicRoutes() http.Handler {
	mux := http.NewServeMux()
	oauth := func(path string, fn http.HandlerFunc) {
		mux.Handle("POST "+path, h.wrap(path, true, fn))
		mux.Handle(path, h.wrap(path, true, h.methodNotAllowed("POST")))
	}
	oauth(as.PathToken, h.token)
	oauth(as.PathRevoke, h.revoke)
	oauth(as.PathIntrospect, h.introspect)
	get := func(path, label string, fn http.HandlerFunc) {
		mux.Handle("GET "+path, h.wrap(label, false, fn))
	}
	get(as.PathMetadata, as.PathMetadata, h.metadata)
	get(as.PathJWKS, as.PathJWKS, h.jwks)
	get(as.PathStatusList+"{n}", as.PathStatusList+"{n}", h.statusList)
	get("/healthz", "/healthz", h.healthz)
	get("/readyz", "/readyz", h.readyz)
	if h.gatherer != nil {
		mux.Handle("GET /metrics", MetricsHandler(h.gatherer))
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
