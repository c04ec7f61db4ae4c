package ue

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/prosesec/prosesec/token"
)

// CredentialsVersion is the version of the credentials.json layout.
const CredentialsVersion = 1

// Credentials is everything one UE got from its AS, as cached in
// credentials.json. The signed objects (JWKS aside) are kept as received
// and verified again whenever they are used; the time fields next to them
// are copies for scheduling and messages, never trusted for security
// decisions (Open uses the signed values).
type Credentials struct {
	Version  int    `json:"version"`
	ClientID string `json:"client_id"` // = the token's sub (user info)
	// Issuer is the AS URL: the metadata issuer, the tokens' iss and the
	// issuer the JWKS is trusted for.
	Issuer string `json:"issuer"`
	// Audience is the PC5 token audience (metadata prose_token_audience).
	Audience           string `json:"audience"`
	TokenEndpoint      string `json:"token_endpoint"`
	JWKSURI            string `json:"jwks_uri"`
	StatusListEndpoint string `json:"status_list_endpoint"`
	// JWKS is the AS's JWK Set as served: the trust anchors.
	JWKS          json.RawMessage `json:"jwks"`
	JWKSFetchedAt time.Time       `json:"jwks_fetched_at"`
	Token         CachedToken     `json:"token"`
	// StatusLists are the issuer's status lists, by URI.
	StatusLists   []CachedStatusList `json:"status_lists"`
	ProvisionedAt time.Time          `json:"provisioned_at"`
}

// CachedToken is the UE's own access token.
type CachedToken struct {
	Format    string    `json:"format"` // "cwt" or "jwt"
	Raw       []byte    `json:"raw"`    // the token octets (COSE_Sign1 or JWS compact)
	ID        string    `json:"jti"`
	Scope     string    `json:"scope"`
	IssuedAt  time.Time `json:"issued_at"`
	Expiry    time.Time `json:"expiry"`
	FetchedAt time.Time `json:"fetched_at"`
}

// CachedStatusList is one Status List Token (CWT form).
type CachedStatusList struct {
	URI       string    `json:"uri"`
	Format    string    `json:"format"` // "cwt" or "jwt"
	Raw       []byte    `json:"raw"`
	IssuedAt  time.Time `json:"issued_at"`
	Expiry    time.Time `json:"expiry,omitzero"`
	FetchedAt time.Time `json:"fetched_at"`
}

func formatOf(s string) (token.Format, error) {
	switch s {
	case "cwt":
		return token.CWT, nil
	case "jwt":
		return token.JWT, nil
	}
	return 0, fmt.Errorf("format %q, want \"cwt\" or \"jwt\"", s)
}

func formatName(f token.Format) string {
	if f == token.JWT {
		return "jwt"
	}
	return "cwt"
}

// marshal encodes c for credentials.json.
func (c *Credentials) marshal() ([]byte, error) {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("ue: encoding credentials: %v", err)
	}
	return append(b, '\n'), nil
}

// parseCredentials decodes credentials.json strictly: unknown fields,
// trailing data and another version are ErrCacheCorrupt.
func parseCredentials(data []byte, where string) (*Credentials, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Credentials
	if err := dec.Decode(&c); err != nil {
		return nil, errorf(ErrCacheCorrupt, "%s does not parse (%v); the cache is damaged; %s", where, err, reconnect)
	}
	if dec.More() {
		return nil, errorf(ErrCacheCorrupt, "%s has data after the credentials; the cache is damaged; %s", where, reconnect)
	}
	if c.Version != CredentialsVersion {
		return nil, errorf(ErrCacheCorrupt, "%s has version %d, this program reads version %d; %s", where, c.Version, CredentialsVersion, reconnect)
	}
	if c.ClientID == "" || c.Issuer == "" || len(c.Token.Raw) == 0 || len(c.JWKS) == 0 {
		return nil, errorf(ErrCacheCorrupt, "%s lacks the client ID, issuer, token or JWKS; %s", where, reconnect)
	}
	return &c, nil
}
