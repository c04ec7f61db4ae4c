// Package httpapi owns the HTTP shell of the ProSe Application Server: the
// OAuth 2.0 endpoints (RFC 6749 token endpoint with client_credentials,
// RFC 8414 metadata, JWKS, RFC 7009 revocation, RFC 7662 introspection),
// the status list endpoint, health and readiness probes, the Prometheus
// metrics and the authenticated admin REST API. It parses and limits
// requests, maps *as.Error values to RFC 6749 §5.2 JSON errors, logs one
// line per request and never lets a panic or an internal error detail reach
// a client. The policy lives in package as.
//
// Routes lists every route with its body kind; both handlers are built from
// it. Routes of NewPublic (Go 1.22 method patterns):
//
//	POST /oauth2/token                          client_credentials; token_format=jwt|cwt
//	POST /oauth2/revoke                         RFC 7009 (client-authenticated)
//	POST /oauth2/introspect                     RFC 7662 (client or admin Bearer token)
//	GET  /.well-known/oauth-authorization-server RFC 8414
//	GET  /.well-known/jwks.json
//	GET  /statuslists/{n}                       Accept: application/statuslist+jwt (default) | +cwt
//	GET  /healthz                               process up
//	GET  /readyz                                store reachable
//	GET  /metrics                               when Options.Gatherer is set
//
// Routes of NewAdmin (Authorization: Bearer <admin token>):
//
//	POST   /admin/v1/ues                 register a UE (secret returned once)
//	GET    /admin/v1/ues                 list (?after=&limit=)
//	GET    /admin/v1/ues/{id}
//	PUT    /admin/v1/ues/{id}            partial update
//	DELETE /admin/v1/ues/{id}            remove (revokes its tokens)
//	POST   /admin/v1/ues/{id}/revoke     revoke all its tokens
//	GET    /admin/v1/tokens              list (?sub=&active=true&after=&limit=)
//	POST   /admin/v1/tokens/{jti}/revoke
//	GET    /admin/v1/keys
//	POST   /admin/v1/keys/rotate         {"force": false}
//
// Every error of the OAuth endpoints is an RFC 6749 §5.2 JSON body with
// Cache-Control: no-store and Pragma: no-cache (token responses carry them
// too). Request parsing is strict: Content-Type must be
// application/x-www-form-urlencoded (UTF-8), a repeated parameter and
// invalid UTF-8 are invalid_request (RFC 6749 §3.2), and so is using more
// than one client authentication method (RFC 6749 §2.3). A body larger than
// Options.MaxBodyBytes is answered 413 Request Entity Too Large with an
// invalid_request body ("request body too large"): the status tells
// intermediaries and clients what happened, the body keeps the OAuth shape.
// Other methods on an OAuth endpoint get 405 with an invalid_request body.
// Every 401 carries WWW-Authenticate: Basic (RFC 6749 §5.2 requires it when
// Basic was attempted; HTTP requires a challenge on every 401). A panic is
// recovered, logged and answered 500 server_error; internal causes are
// logged, never sent.
//
// Admin request bodies must be application/json in UTF-8 (RFC 8259 §8.1),
// with no member twice in an object (names compared case-insensitively),
// every member spelled exactly as documented (no unknown member, no case
// variant), nothing but whitespace after the value and at most 32 levels
// of nesting; admin query strings must be well formed, UTF-8, each
// parameter once. Violations are 400 invalid_request.
//
// Options.RateLimit limits the OAuth endpoints (token, revoke, introspect)
// with three tables of token buckets (see ratelimit.go): issued tokens per
// client, checked before authentication and charged per issued token to
// the client the AS authenticated, so that only the holder of a
// credential can spend it; and failed requests per claimed client and
// peer address, and per peer address (IPv6: /64) whatever client it
// claims, charged before authentication and refunded on success, so that
// bad credentials (signature verifications) are bounded without letting
// anyone lock a client out from another address. The claimed client of a
// client assertion is read with the AS's own parser. A refusal is 429
// with Retry-After (whole seconds, rounded up) and the RFC 6749-style
// error slow_down (RFC 8628 §3.5). The tables are LRU-bounded.
//
// Metrics (namespace prose_as): http_requests_total{endpoint,code},
// token_request_duration_seconds{auth_method,outcome},
// tokens_issued_total{format}, oauth_errors_total{endpoint,error},
// revocations_total{source}, store_errors_total{endpoint},
// token_requests_rate_limited_total, http_panics_total. NewPublic serves them at /metrics when
// Options.Gatherer is set; MetricsHandler serves them elsewhere.
package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/prosesec/prosesec/as"
)

// DefaultMaxBodyBytes limits request bodies when Options.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 64 << 10

// MinAdminTokenLen is the minimum length of Options.AdminToken.
const MinAdminTokenLen = 16

// Options configures the handlers.
type Options struct {
	// Server is the AS core. Required.
	Server *as.Server
	// Registry receives the metrics (nil: metrics are collected in a private
	// registry and not exported). Registering the same Registry with
	// NewPublic and NewAdmin is fine: the collectors are shared.
	Registry prometheus.Registerer
	// Gatherer, when set, is served at GET /metrics by NewPublic. Leave it
	// nil and use MetricsHandler to serve metrics on another listener.
	Gatherer prometheus.Gatherer
	// Logger receives one Info line per request (nil: slog.Default()).
	// Tokens, secrets, assertions and Authorization headers are never logged.
	Logger *slog.Logger
	// AdminToken is the admin credential (Authorization: Bearer). nil
	// disables the admin API (NewAdmin fails) and admin introspection;
	// otherwise at least MinAdminTokenLen bytes.
	AdminToken []byte
	// MaxBodyBytes limits request bodies (default 64 KiB). A larger body is
	// answered 413 with an RFC 6749 invalid_request JSON body.
	MaxBodyBytes int64
	// RateLimit limits the tokens of each client and the failed OAuth
	// requests of each source (zero value: no limit); a refused request is
	// answered 429 with Retry-After and an RFC 6749 error body with the
	// code slow_down. Its clock is the AS core's (Server.Now).
	RateLimit RateLimit
	// TrustedProxies are the reverse proxies in front of the server. A
	// request from one of them is charged to the source address its
	// X-Forwarded-For names (the rightmost entry that is not a trusted
	// proxy) instead of the proxy's own; from any other peer,
	// X-Forwarded-For is ignored. Empty: every peer is its own source.
	TrustedProxies []netip.Prefix
}

func (o *Options) check(admin bool) error {
	if o.Server == nil {
		return errors.New("as/httpapi: Options.Server is required")
	}
	if o.MaxBodyBytes < 0 {
		return errors.New("as/httpapi: Options.MaxBodyBytes must not be negative")
	}
	if err := o.RateLimit.check(); err != nil {
		return err
	}
	if err := checkTrustedProxies(o.TrustedProxies); err != nil {
		return err
	}
	if o.AdminToken != nil && len(o.AdminToken) < MinAdminTokenLen {
		return errors.New("as/httpapi: Options.AdminToken must be at least 16 bytes")
	}
	if admin && o.AdminToken == nil {
		return errors.New("as/httpapi: the admin API needs Options.AdminToken")
	}
	return nil
}

// NewPublic returns the handler of the public OAuth, JWKS, status list,
// health and metrics endpoints.
func NewPublic(o Options) (http.Handler, error) {
	if err := o.check(false); err != nil {
		return nil, err
	}
	h, err := newHandler(o)
	if err != nil {
		return nil, err
	}
	return h.publicRoutes(), nil
}

// NewAdmin returns the handler of the admin API, rooted at /admin/v1/; mount
// it on a mux at "/admin/" (or serve it on its own listener).
func NewAdmin(o Options) (http.Handler, error) {
	if err := o.check(true); err != nil {
		return nil, err
	}
	h, err := newHandler(o)
	if err != nil {
		return nil, err
	}
	return h.adminRoutes(), nil
}

// MetricsHandler serves the Prometheus exposition format for g.
func MetricsHandler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}
