package ue

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/prosesec/prosesec/token"
)

// AuthMethod is the client authentication at the token endpoint.
type AuthMethod string

const (
	// AuthPrivateKeyJWT: an RFC 7523 client assertion signed with the
	// identity key (the default).
	AuthPrivateKeyJWT AuthMethod = "private_key_jwt"
	// AuthClientSecretBasic: HTTP Basic with the client ID and secret,
	// form-encoded first (RFC 6749 §2.3.1).
	AuthClientSecretBasic AuthMethod = "client_secret_basic"
)

// Client defaults.
const (
	DefaultMaxStatusLists = 16
	DefaultRequestTimeout = 15 * time.Second
	// AssertionLifetime is the validity of a client assertion.
	AssertionLifetime = 60 * time.Second
	// maxDocument bounds metadata, JWKS and token responses.
	maxDocument = 1 << 20
)

// Media types and constants of the AS protocol.
const (
	mediaStatusListCWT      = "application/statuslist+cwt"
	clientAssertionTypeJWT  = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	pathMetadata            = "/.well-known/oauth-authorization-server"
	grantClientCredentials  = "client_credentials"
	tokenFormatCWT          = "cwt"
	contentTypeFormEncoding = "application/x-www-form-urlencoded"
)

// ClientConfig configures a Client.
type ClientConfig struct {
	// Issuer is the AS URL (https://host:port, no trailing slash). The
	// metadata's issuer must equal it (RFC 8414 §3.3). http:// is accepted
	// for loopback hosts only.
	Issuer string
	// ClientID is the UE's ID at the AS (its user info). Required.
	ClientID string
	// Key is the UE's identity key. Required: the token must be bound to
	// it, and private_key_jwt signs with it.
	Key crypto.Signer
	// Auth is the client authentication (AuthPrivateKeyJWT if empty).
	Auth AuthMethod
	// ClientSecret is the secret for AuthClientSecretBasic.
	ClientSecret string
	// Scope is the requested scope (empty: everything granted).
	Scope string
	// RootCAs is the TLS trust (LoadCertPool of the AS's CA or self-signed
	// certificate); nil means the system roots. Ignored with HTTPClient.
	RootCAs *x509.CertPool
	// HTTPClient, if set, is used as is (for instance with a proxy: the
	// default client uses none and reads no environment).
	HTTPClient *http.Client
	// Policy gives the algorithms and leeway used to verify what is
	// fetched, and the token audience if the metadata has none.
	Policy Policy
	// StatusLists names the status lists to fetch; nil walks 0, 1, … until
	// the AS answers 404 (see the package documentation).
	StatusLists []uint64
	// MaxStatusLists caps the walk (DefaultMaxStatusLists if 0).
	MaxStatusLists int
	// Clock and Rand default to time.Now and crypto/rand.Reader.
	Clock func() time.Time
	Rand  io.Reader
	// RequestTimeout bounds each HTTP request (DefaultRequestTimeout if 0).
	RequestTimeout time.Duration
}

// Client provisions a UE from its AS.
type Client struct {
	cfg  ClientConfig
	http *http.Client
	alg  token.Algorithm
}

// NewClient checks cfg and returns a Client.
func NewClient(cfg ClientConfig) (*Client, error) {
	u, err := url.Parse(cfg.Issuer)
	switch {
	case cfg.Issuer == "" || err != nil || u.Host == "":
		return nil, fmt.Errorf("ue: issuer %q is not an https URL", cfg.Issuer)
	case u.Scheme == "http" && !loopbackHost(u.Hostname()):
		return nil, fmt.Errorf("ue: issuer %q must use https (http only for loopback hosts)", cfg.Issuer)
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, fmt.Errorf("ue: issuer %q must use https", cfg.Issuer)
	case strings.HasSuffix(cfg.Issuer, "/") || u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("ue: issuer %q must have no trailing slash, query or fragment", cfg.Issuer)
	case cfg.ClientID == "":
		return nil, fmt.Errorf("ue: ClientConfig.ClientID is required")
	case cfg.Key == nil:
		return nil, fmt.Errorf("ue: ClientConfig.Key (the identity key) is required")
	case cfg.MaxStatusLists < 0:
		return nil, fmt.Errorf("ue: negative MaxStatusLists")
	}
	alg, err := KeyAlgorithm(cfg.Key)
	if err != nil {
		return nil, err
	}
	switch cfg.Auth {
	case "":
		cfg.Auth = AuthPrivateKeyJWT
	case AuthPrivateKeyJWT:
	case AuthClientSecretBasic:
		if cfg.ClientSecret == "" {
			return nil, fmt.Errorf("ue: client_secret_basic needs ClientConfig.ClientSecret")
		}
	default:
		return nil, fmt.Errorf("ue: client authentication %q, want %q or %q", cfg.Auth, AuthPrivateKeyJWT, AuthClientSecretBasic)
	}
	if cfg.MaxStatusLists == 0 {
		cfg.MaxStatusLists = DefaultMaxStatusLists
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{
			Transport: &http.Transport{
				TLSClientConfig:     &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12},
				TLSHandshakeTimeout: 10 * time.Second,
				ForceAttemptHTTP2:   true,
			},
			// Never follow a redirect: every URL comes from the metadata.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return &Client{cfg: cfg, http: hc, alg: alg}, nil
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// LoadCertPool reads PEM certificates (a CA bundle, or the AS's
// self-signed certificate) into a pool for ClientConfig.RootCAs.
func LoadCertPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ue: reading TLS trust: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("ue: %s holds no PEM certificate", path)
	}
	return pool, nil
}

// metadata is the part of the RFC 8414 document the UE uses.
type metadata struct {
	Issuer                   string   `json:"issuer"`
	TokenEndpoint            string   `json:"token_endpoint"`
	JWKSURI                  string   `json:"jwks_uri"`
	TokenEndpointAuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	StatusListEndpoint       string   `json:"status_list_endpoint"`          // project-defined
	TokenAudience            string   `json:"prose_token_audience"`          // project-defined
	TokenFormats             []string `json:"prose_token_formats_supported"` // project-defined
}

// tokenResponse is RFC 6749 §5.1 plus the project's token_format.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
	TokenFormat string `json:"token_format"`
}

// oauthError is RFC 6749 §5.2.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// Provision fetches and verifies fresh credentials: metadata, JWKS, a CWT
// token bound to the identity key, and the status lists. It does not touch
// a cache (Refresh does).
func (c *Client) Provision(ctx context.Context) (*Credentials, error) {
	md, err := c.fetchMetadata(ctx)
	if err != nil {
		return nil, err
	}
	jwks, err := c.get(ctx, md.JWKSURI, "application/jwk-set+json, application/json", maxDocument)
	if err != nil {
		return nil, err
	}
	jwksAt := c.cfg.Clock()
	trust := token.NewTrustStore()
	if err := trust.AddJWKS(md.Issuer, jwks); err != nil {
		return nil, errorf(ErrServer, "the JWKS at %s is not usable: %v", md.JWKSURI, err)
	}
	raw, resp, err := c.requestToken(ctx, md)
	if err != nil {
		return nil, err
	}
	tokenAt := c.cfg.Clock()
	pol := c.cfg.Policy
	algs, leeway := pol.algorithms(), pol.leeway()
	aud := md.TokenAudience
	if pol.Audience != "" {
		aud = pol.Audience
	}
	if aud == "" {
		return nil, errorf(ErrServer, "the metadata of %s names no token audience (prose_token_audience) and Policy.Audience is empty", md.Issuer)
	}
	v := &token.Verifier{Trust: trust, Algorithms: algs, Audience: aud, Leeway: leeway, SkipStatus: true}
	claims, err := v.Verify(raw, token.CWT, tokenAt)
	if err != nil {
		return nil, errorf(ErrServer, "the token issued by %s does not verify: %v", md.Issuer, err)
	}
	if err := checkOwnToken(claims, c.cfg.ClientID, c.cfg.Key); err != nil {
		return nil, err
	}

	lists, err := c.fetchStatusLists(ctx, md, trust, claims)
	if err != nil {
		return nil, err
	}
	byURI := map[string]*token.StatusListToken{}
	for _, l := range lists {
		byURI[l.t.Subject] = l.t
	}
	if err := checkOwnStatus(claims, byURI); err != nil {
		return nil, err
	}
	cr := &Credentials{
		Version:            CredentialsVersion,
		ClientID:           c.cfg.ClientID,
		Issuer:             md.Issuer,
		Audience:           aud,
		TokenEndpoint:      md.TokenEndpoint,
		JWKSURI:            md.JWKSURI,
		StatusListEndpoint: md.StatusListEndpoint,
		JWKS:               json.RawMessage(jwks),
		JWKSFetchedAt:      jwksAt.UTC(),
		Token: CachedToken{
			Format: tokenFormatCWT, Raw: raw, ID: claims.ID, Scope: resp.Scope,
			IssuedAt: claims.IssuedAt.UTC(), Expiry: claims.Expiry.UTC(), FetchedAt: tokenAt.UTC(),
		},
		ProvisionedAt: c.cfg.Clock().UTC(),
	}
	for _, l := range lists {
		cr.StatusLists = append(cr.StatusLists, CachedStatusList{
			URI: l.t.Subject, Format: tokenFormatCWT, Raw: l.raw,
			IssuedAt: l.t.IssuedAt.UTC(), Expiry: l.t.Expiry.UTC(), FetchedAt: l.at.UTC(),
		})
	}
	return cr, nil
}

// Refresh provisions and saves the result in cache; it returns the new
// credentials and when to refresh next. On failure the cache is unchanged.
func (c *Client) Refresh(ctx context.Context, cache *Cache) (*Credentials, time.Time, error) {
	cr, err := c.Provision(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	if err := cache.Save(cr); err != nil {
		return nil, time.Time{}, err
	}
	return cr, NextRefresh(c.cfg.Clock(), cr, c.cfg.Policy), nil
}

// RefreshIfDue refreshes the cache when NextRefresh of what it holds has
// come (or it holds nothing usable), and returns the cached credentials and
// when to call again. A driver calls it while the AS is reachable; on
// ErrUnreachable it retries later and keeps using the cache.
func (c *Client) RefreshIfDue(ctx context.Context, cache *Cache) (*Credentials, time.Time, error) {
	now := c.cfg.Clock()
	cr, err := cache.Load()
	if err == nil && cr.ClientID == c.cfg.ClientID && cr.Issuer == c.cfg.Issuer {
		if next := NextRefresh(now, cr, c.cfg.Policy); next.After(now) {
			return cr, next, nil
		}
	}
	return c.Refresh(ctx, cache)
}

func (c *Client) fetchMetadata(ctx context.Context) (*metadata, error) {
	where := c.cfg.Issuer + pathMetadata
	b, err := c.get(ctx, where, "application/json", maxDocument)
	if err != nil {
		return nil, err
	}
	var md metadata
	if err := json.Unmarshal(b, &md); err != nil {
		return nil, errorf(ErrServer, "the metadata at %s is not JSON: %v", where, err)
	}
	if md.Issuer != c.cfg.Issuer {
		return nil, errorf(ErrServer, "the metadata at %s names issuer %q, not %q (RFC 8414 §3.3)", where, md.Issuer, c.cfg.Issuer)
	}
	for _, e := range []struct{ name, v string }{
		{"token_endpoint", md.TokenEndpoint}, {"jwks_uri", md.JWKSURI}, {"status_list_endpoint", md.StatusListEndpoint},
	} {
		if err := c.sameOrigin(e.v); err != nil {
			return nil, errorf(ErrServer, "the metadata at %s: %s: %v", where, e.name, err)
		}
	}
	if len(md.TokenFormats) > 0 && !slices.Contains(md.TokenFormats, tokenFormatCWT) {
		return nil, errorf(ErrServer, "%s does not issue CWTs (prose_token_formats_supported %q)", md.Issuer, md.TokenFormats)
	}
	if len(md.TokenEndpointAuthMethods) > 0 && !slices.Contains(md.TokenEndpointAuthMethods, string(c.cfg.Auth)) {
		return nil, errorf(ErrServer, "%s does not support %s (it supports %q)", md.Issuer, c.cfg.Auth, md.TokenEndpointAuthMethods)
	}
	return &md, nil
}

// sameOrigin requires an endpoint on the issuer's scheme and host: the UE
// sends its credentials there and trusts what comes back.
func (c *Client) sameOrigin(endpoint string) error {
	if endpoint == "" {
		return fmt.Errorf("missing")
	}
	iu, _ := url.Parse(c.cfg.Issuer)
	u, err := url.Parse(endpoint)
	if err != nil {
		return fmt.Errorf("%q is not a URL", endpoint)
	}
	if u.Scheme != iu.Scheme || u.Host != iu.Host {
		return fmt.Errorf("%q is not on the issuer's origin %s://%s", endpoint, iu.Scheme, iu.Host)
	}
	return nil
}

// requestToken asks for a CWT and returns its octets.
func (c *Client) requestToken(ctx context.Context, md *metadata) ([]byte, *tokenResponse, error) {
	form := url.Values{"grant_type": {grantClientCredentials}, "token_format": {tokenFormatCWT}}
	if c.cfg.Scope != "" {
		form.Set("scope", c.cfg.Scope)
	}
	if c.cfg.Auth == AuthPrivateKeyJWT {
		a, err := c.assertion(md.TokenEndpoint)
		if err != nil {
			return nil, nil, err
		}
		form.Set("client_assertion_type", clientAssertionTypeJWT)
		form.Set("client_assertion", a)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, md.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, nil, fmt.Errorf("ue: token request: %v", err)
	}
	req.Header.Set("Content-Type", contentTypeFormEncoding)
	req.Header.Set("Accept", "application/json")
	if c.cfg.Auth == AuthClientSecretBasic {
		req.SetBasicAuth(url.QueryEscape(c.cfg.ClientID), url.QueryEscape(c.cfg.ClientSecret))
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, nil, errorc(ErrUnreachable, err, "cannot reach the token endpoint %s: %v", md.TokenEndpoint, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxDocument+1))
	if err != nil {
		return nil, nil, errorf(ErrUnreachable, "reading the token response: %v", err)
	}
	if len(body) > maxDocument {
		return nil, nil, errorf(ErrServer, "the token response exceeds %d bytes", maxDocument)
	}
	if res.StatusCode != http.StatusOK {
		var oe oauthError
		if json.Unmarshal(body, &oe) == nil && oe.Error != "" {
			cause := &OAuthError{StatusCode: res.StatusCode, Code: oe.Error, Description: oe.Description}
			return nil, nil, errorc(ErrServer, cause, "the token endpoint refused the request (%v)", cause)
		}
		return nil, nil, errorf(ErrServer, "the token endpoint answered %s", res.Status)
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return nil, nil, errorf(ErrServer, "the token response is not JSON: %v", err)
	}
	if tr.TokenFormat != tokenFormatCWT {
		return nil, nil, errorf(ErrServer, "asked for a CWT, got token_format %q", tr.TokenFormat)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(tr.AccessToken)
	if err != nil || len(raw) == 0 {
		return nil, nil, errorf(ErrServer, "the CWT access token is not unpadded base64url")
	}
	return raw, &tr, nil
}

// assertion builds the RFC 7523 client assertion: a JWT signed with the
// identity key, iss = sub = client_id, aud = the token endpoint, iat = now,
// exp = now + AssertionLifetime, a random jti; the kid is the key's RFC
// 7638 thumbprint.
func (c *Client) assertion(audience string) (string, error) {
	kid, err := token.Thumbprint(c.cfg.Key.Public())
	if err != nil {
		return "", err
	}
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid)
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(c.alg), Key: c.cfg.Key}, opts)
	if err != nil {
		return "", fmt.Errorf("ue: client assertion signer: %v", err)
	}
	jti, err := token.NewID(c.cfg.Rand)
	if err != nil {
		return "", err
	}
	now := c.cfg.Clock()
	s, err := jwt.Signed(sig).Claims(jwt.Claims{
		Issuer:   c.cfg.ClientID,
		Subject:  c.cfg.ClientID,
		Audience: jwt.Audience{audience},
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(now.Add(AssertionLifetime)),
		ID:       jti,
	}).Serialize()
	if err != nil {
		return "", fmt.Errorf("ue: signing the client assertion: %v", err)
	}
	return s, nil
}

type fetchedList struct {
	raw []byte
	t   *token.StatusListToken
	at  time.Time
}

// fetchStatusLists fetches and verifies the lists: the configured ones, or
// 0, 1, … until 404; then the token's own list if still missing.
func (c *Client) fetchStatusLists(ctx context.Context, md *metadata, trust *token.TrustStore, own *token.Claims) ([]fetchedList, error) {
	var out []fetchedList
	have := map[string]bool{}
	fetch := func(uri string) (bool, error) {
		raw, err := c.get(ctx, uri, mediaStatusListCWT, token.DefaultMaxStatusListSize)
		var nf *notFound
		if errors.As(err, &nf) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		at := c.cfg.Clock()
		t, err := token.VerifyStatusList(raw, token.CWT, trust, c.cfg.Policy.algorithms(), at, c.cfg.Policy.leeway())
		if err != nil {
			return false, errorf(ErrServer, "the status list at %s does not verify: %v", uri, err)
		}
		if t.Subject != uri {
			return false, errorf(ErrServer, "the status list at %s names itself %s", uri, t.Subject)
		}
		if t.Issuer != md.Issuer {
			return false, errorf(ErrServer, "the status list at %s was issued by %s, not %s", uri, t.Issuer, md.Issuer)
		}
		have[uri] = true
		out = append(out, fetchedList{raw: raw, t: t, at: at})
		return true, nil
	}
	if c.cfg.StatusLists != nil {
		for _, n := range c.cfg.StatusLists {
			uri := md.StatusListEndpoint + strconv.FormatUint(n, 10)
			ok, err := fetch(uri)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, errorf(ErrServer, "status list %s does not exist (404)", uri)
			}
		}
	} else {
		for n := 0; n < c.cfg.MaxStatusLists; n++ {
			uri := md.StatusListEndpoint + strconv.Itoa(n)
			ok, err := fetch(uri)
			if err != nil {
				return nil, err
			}
			if !ok {
				if n == 0 {
					return nil, errorf(ErrServer, "status list %s does not exist (404)", uri)
				}
				break
			}
		}
	}
	if own.Status != nil && !have[own.Status.URI] {
		if err := c.sameOrigin(own.Status.URI); err != nil {
			return nil, errorf(ErrServer, "the token's status list: %v", err)
		}
		ok, err := fetch(own.Status.URI)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errorf(ErrServer, "the token's status list %s does not exist (404)", own.Status.URI)
		}
	}
	return out, nil
}

type notFound struct{ url string }

func (e *notFound) Error() string { return "ue: GET " + e.url + " answered 404 Not Found" }
func (e *notFound) Unwrap() error { return ErrServer }

// get fetches a URL with a GET, capping the body; 404 is *notFound.
func (c *Client) get(ctx context.Context, u, accept string, limit int) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("ue: GET %s: %v", u, err)
	}
	req.Header.Set("Accept", accept)
	res, err := c.http.Do(req)
	if err != nil {
		return nil, errorc(ErrUnreachable, err, "cannot reach %s: %v", u, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, int64(limit)+1))
	if err != nil {
		return nil, errorf(ErrUnreachable, "reading %s: %v", u, err)
	}
	switch {
	case res.StatusCode == http.StatusNotFound:
		return nil, &notFound{url: u}
	case res.StatusCode != http.StatusOK:
		return nil, errorf(ErrServer, "GET %s answered %s", u, res.Status)
	case len(body) > limit:
		return nil, errorf(ErrServer, "GET %s: the answer exceeds %d bytes", u, limit)
	}
	if want, _, _ := strings.Cut(accept, ","); want == mediaStatusListCWT {
		if mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type")); mt != mediaStatusListCWT {
			return nil, errorf(ErrServer, "GET %s: Content-Type %q, want %s", u, mt, mediaStatusListCWT)
		}
	}
	return bytes.Clone(body), nil
}
