package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prosesec/prosesec/as"
)

// handler holds what every route needs.
type handler struct {
	s         *as.Server
	log       *slog.Logger
	m         *metrics
	gatherer  prometheus.Gatherer
	maxBody   int64
	adminHash *[32]byte // nil: no admin credential
	limit     *limiter  // nil: no rate limit
	proxies   []netip.Prefix
}

func newHandler(o Options) (*handler, error) {
	h := &handler{s: o.Server, log: o.Logger, gatherer: o.Gatherer, maxBody: o.MaxBodyBytes}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.maxBody == 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	h.limit = newLimiter(o.RateLimit, o.Server.Now)
	h.proxies = slices.Clone(o.TrustedProxies)
	if o.AdminToken != nil {
		sum := sha256.Sum256(o.AdminToken)
		h.adminHash = &sum
	}
	reg := o.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	var err error
	if h.m, err = newMetrics(reg); err != nil {
		return nil, err
	}
	return h, nil
}

// metrics are the Prometheus collectors of the HTTP shell.
type metrics struct {
	requests    *prometheus.CounterVec   // endpoint, code
	issueTime   *prometheus.HistogramVec // auth_method, outcome
	issued      *prometheus.CounterVec   // format
	oauthErrors *prometheus.CounterVec   // endpoint, error
	revocations *prometheus.CounterVec   // source
	storeErrors *prometheus.CounterVec   // endpoint
	rateLimited prometheus.Counter
	panics      prometheus.Counter
}

func newMetrics(r prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "prose_as", Name: "http_requests_total",
			Help: "HTTP requests by endpoint and status code.",
		}, []string{"endpoint", "code"}),
		issueTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "prose_as", Name: "token_request_duration_seconds",
			Help:    "Token endpoint latency by client authentication method and outcome.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1},
		}, []string{"auth_method", "outcome"}),
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "prose_as", Name: "tokens_issued_total",
			Help: "Access tokens issued by token format.",
		}, []string{"format"}),
		oauthErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "prose_as", Name: "oauth_errors_total",
			Help: "OAuth error responses by endpoint and RFC 6749 error code.",
		}, []string{"endpoint", "error"}),
		revocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "prose_as", Name: "revocations_total",
			Help: "Revoked tokens by source (oauth, admin_token, admin_ue).",
		}, []string{"source"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "prose_as", Name: "store_errors_total",
			Help: "Requests that failed on a store or internal error, by endpoint.",
		}, []string{"endpoint"}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "prose_as", Name: "token_requests_rate_limited_total",
			Help: "OAuth requests (token, revoke, introspect) refused with 429 by the rate limit.",
		}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "prose_as", Name: "http_panics_total",
			Help: "Handler panics recovered.",
		}),
	}
	var err error
	if m.requests, err = register(r, m.requests); err != nil {
		return nil, err
	}
	if m.issueTime, err = register(r, m.issueTime); err != nil {
		return nil, err
	}
	if m.issued, err = register(r, m.issued); err != nil {
		return nil, err
	}
	if m.oauthErrors, err = register(r, m.oauthErrors); err != nil {
		return nil, err
	}
	if m.revocations, err = register(r, m.revocations); err != nil {
		return nil, err
	}
	if m.storeErrors, err = register(r, m.storeErrors); err != nil {
		return nil, err
	}
	if m.rateLimited, err = register(r, m.rateLimited); err != nil {
		return nil, err
	}
	if m.panics, err = register(r, m.panics); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the identical collector registered
// before (NewPublic and NewAdmin on one registry share collectors).
func register[C prometheus.Collector](r prometheus.Registerer, c C) (C, error) {
	if err := r.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if ex, ok := are.ExistingCollector.(C); ok {
				return ex, nil
			}
		}
		var zero C
		return zero, fmt.Errorf("as/httpapi: registering metrics: %w", err)
	}
	return c, nil
}

// reqInfo is filled in by handlers for the access log.
type reqInfo struct {
	endpoint string
	clientID string
	errCode  string
	cause    error // internal cause of a 5xx, logged
}

type ctxKey struct{}

func info(r *http.Request) *reqInfo {
	if ri, ok := r.Context().Value(ctxKey{}).(*reqInfo); ok {
		return ri
	}
	return &reqInfo{}
}

// statusWriter records the status code and whether headers were sent.
type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.code, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// wrap adds the per-endpoint middleware: request info, panic recovery,
// metrics and the access log line. The endpoint label is the route
// pattern, so that metrics have bounded cardinality.
func (h *handler) wrap(endpoint string, oauth bool, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &reqInfo{endpoint: endpoint}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, ri))
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				h.m.panics.Inc()
				h.log.Error("as/httpapi: handler panic", "endpoint", endpoint, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if !sw.wrote {
					if oauth {
						h.oauthError(sw, r, as.ErrServerError)
					} else {
						writeJSONError(sw, http.StatusInternalServerError, "server_error", "internal error")
					}
				}
			}
			code := sw.code
			if !sw.wrote {
				code = http.StatusOK
			}
			h.m.requests.WithLabelValues(endpoint, strconv.Itoa(code)).Inc()
			attrs := []slog.Attr{
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", code),
				slog.Duration("duration", time.Since(start)),
				slog.String("remote", h.sourceIP(r)),
			}
			if ri.clientID != "" {
				attrs = append(attrs, slog.String("client_id", ri.clientID))
			}
			if ri.errCode != "" {
				attrs = append(attrs, slog.String("error", ri.errCode))
			}
			level := slog.LevelInfo
			if ri.cause != nil {
				attrs = append(attrs, slog.String("cause", ri.cause.Error()))
				if code >= 500 {
					level = slog.LevelError
				}
			}
			h.log.LogAttrs(r.Context(), level, "http request", attrs...)
		}()
		next(sw, r)
	})
}

// oauthError writes an RFC 6749 §5.2 error response for err.
func (h *handler) oauthError(w http.ResponseWriter, r *http.Request, err error) {
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
	h.m.oauthErrors.WithLabelValues(ri.endpoint, e.Code).Inc()
	if status == http.StatusUnauthorized {
		// RFC 6749 §5.2 requires it when Basic was attempted; HTTP requires
		// a challenge on every 401, so it is sent on every 401.
		w.Header().Set("WWW-Authenticate", `Basic realm="prose-as", charset="UTF-8"`)
	}
	body := struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
		URI         string `json:"error_uri,omitempty"`
	}{e.Code, e.Description, e.URI}
	noStore(w)
	writeJSON(w, status, body)
}

func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"server_error","error_description":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// ErrorResponse is the JSON error body of the admin API and of non-OAuth
// public endpoints (same shape as RFC 6749 §5.2).
type ErrorResponse struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
}

func writeJSONError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, ErrorResponse{Error: code, ErrorDescription: desc})
}
