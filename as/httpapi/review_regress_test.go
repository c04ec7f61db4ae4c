package httpapi_test

// Regression tests of review findings on the rate limiter and the admin
// JSON parser (adapted from the reviewer's scratch tests).

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/prosesec/prosesec/as"
	"github.com/prosesec/prosesec/as/httpapi"
)

// TestRateLimitAssertionCaseVariant: an assertion whose payload has an
// extra "SUB" member (matched case-insensitively by encoding/json, ignored
// by go-jose's case-sensitive decoder) must still be charged to the client
// the AS authenticates, not to a fresh bucket per request.
func TestRateLimitAssertionCaseVariant(t *testing.T) {
	a := newTestASWith(t, func(o *httpapi.Options) { o.RateLimit = httpapi.RateLimit{Rate: 0.5, Burst: 3} })
	u := a.registerUE("ue-3", []string{"u2u:use:000001"}, false)
	tokenURL := a.issuer + "/oauth2/token"
	here := clientFrom(t, "127.0.0.1")
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: u.alg, Key: u.priv}, nil)
	if err != nil {
		t.Fatal(err)
	}
	issued := 0
	for i := 0; i < 20; i++ {
		now := a.clk.Now().Unix()
		for k, extra := range []string{`"SUB":"rnd-%d"`, `"ISS":"rnd-%d"`} {
			payload := fmt.Sprintf(`{"iss":"ue-3","sub":"ue-3","aud":%q,"iat":%d,"exp":%d,"jti":"j%d-%d",`+extra+`}`,
				tokenURL, now, now+60, i, k, i)
			jws, err := sig.Sign([]byte(payload))
			if err != nil {
				t.Fatal(err)
			}
			s, _ := jws.CompactSerialize()
			form := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {as.ClientAssertionTypeJWTBearer}, "client_assertion": {s}}.Encode()
			resp, b := postWith(t, here, tokenURL, form, nil)
			switch resp.StatusCode {
			case http.StatusOK:
				issued++
			case http.StatusTooManyRequests:
			default:
				t.Fatalf("request %d: %d %s", i+1, resp.StatusCode, b)
			}
		}
	}
	if issued != 3 {
		t.Errorf("%d tokens issued to ue-3 with burst 3 (rate limit bypassed)", issued)
	}
}

// TestRateLimitRevokeIntrospect: revoke and introspect authenticate clients
// too, so bad credentials there are limited like at the token endpoint,
// while the real client, from its own address, is not locked out.
func TestRateLimitRevokeIntrospect(t *testing.T) {
	a := newTestASWith(t, func(o *httpapi.Options) { o.RateLimit = httpapi.RateLimit{Rate: 0.5, Burst: 3} })
	u := a.registerUE("ue-2", []string{"u2u:use:000001"}, false)
	there := clientFrom(t, "127.0.0.2")
	here := clientFrom(t, "127.0.0.1")
	for _, p := range []string{"/oauth2/revoke", "/oauth2/introspect"} {
		a.clk.Advance(60e9) // refill
		codes := map[int]int{}
		for i := 0; i < 20; i++ {
			resp, _ := postWith(t, there, a.issuer+p, "token=x", basicHdr(u.id, "wrong"))
			codes[resp.StatusCode]++
		}
		if codes[http.StatusUnauthorized] != 3 || codes[http.StatusTooManyRequests] != 17 {
			t.Errorf("%s: 20 bad-credential requests, burst 3: %v, want 3×401 and 17×429", p, codes)
		}
		for i := 0; i < 5; i++ {
			if resp, b := postWith(t, here, a.issuer+p, "token=x", basicHdr(u.id, u.secret)); resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: the real client, request %d: %d %s", p, i+1, resp.StatusCode, b)
			}
		}
	}
	// Successful revoke/introspect calls do not spend the client's
	// issuance budget.
	for i := 0; i < 3; i++ {
		if resp, b := postWith(t, here, a.issuer+"/oauth2/token", "grant_type=client_credentials", basicHdr(u.id, u.secret)); resp.StatusCode != http.StatusOK {
			t.Fatalf("token %d: %d %s", i+1, resp.StatusCode, b)
		}
	}
}

// TestRateLimitPerAddress: one address rotating claimed client IDs (each an
// unknown client, each costing a dummy signature verification) is limited
// as a whole, to AddressFactor (default 10) times the burst; another
// address is not affected.
func TestRateLimitPerAddress(t *testing.T) {
	a := newTestASWith(t, func(o *httpapi.Options) { o.RateLimit = httpapi.RateLimit{Rate: 0.5, Burst: 3} })
	u := a.registerUE("ue-1", []string{"u2u:use:000001"}, false)
	tokenURL := a.issuer + "/oauth2/token"
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	attacker := clientFrom(t, "127.0.0.3")
	codes := map[int]int{}
	for i := 0; i < 50; i++ {
		id := fmt.Sprintf("rnd-%d", i)
		if i%3 == 2 {
			id = strings.Repeat("x", 129+i) // longer than any UE ID
		}
		s := signAssertion(t, key, jose.ES256, id, tokenURL, a.clk.Now(), nil)
		form := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {as.ClientAssertionTypeJWTBearer}, "client_assertion": {s}}.Encode()
		resp, _ := postWith(t, attacker, tokenURL, form, nil)
		codes[resp.StatusCode]++
	}
	// Secrets under rotating client IDs too.
	for i := 0; i < 10; i++ {
		resp, _ := postWith(t, attacker, tokenURL, "grant_type=client_credentials", basicHdr(fmt.Sprintf("ue-%d", 100+i), "wrong"))
		codes[resp.StatusCode]++
	}
	if codes[http.StatusUnauthorized] != 30 || codes[http.StatusTooManyRequests] != 30 {
		t.Errorf("60 bad requests under rotating client IDs from one address, burst 3 (address: 30): %v, want 30×401 and 30×429", codes)
	}
	here := clientFrom(t, "127.0.0.1")
	if resp, b := postWith(t, here, tokenURL, "grant_type=client_credentials", basicHdr(u.id, u.secret)); resp.StatusCode != http.StatusOK {
		t.Fatalf("client at another address: %d %s", resp.StatusCode, b)
	}
}

// TestAdminJSONStrictness: trailing closing brackets, member names that
// differ only in case (encoding/json matches names case-insensitively and
// keeps the last) and case variants of the documented names are rejected.
func TestAdminJSONStrictness(t *testing.T) {
	a := newTestASWith(t, nil)
	jwk := func() string {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		b, _ := jose.JSONWebKey{Key: k.Public()}.MarshalJSON()
		return string(b)
	}
	for _, body := range []string{
		`{"id":"ue-t1","public_key":` + jwk() + `,"grants":["u2u:use:000001"],"with_secret":true}]`,
		`{"id":"ue-t2","public_key":` + jwk() + `,"grants":["u2u:use:000001"],"with_secret":true}}`,
		`{"id":"ue-t3","public_key":` + jwk() + `,"grants":["u2u:use:000001"],"with_secret":true} {}`,
		`{"id":"ue-t4","public_key":` + jwk() + `,"grants":["u2u:use:000001"],"with_secret":true,"ID":"ue-x"}`,
		`{"id":"ue-t5","public_key":` + jwk() + `,"grants":["u2u:use:000001"],"GRANTS":["u2u:serve:000001"]}`,
		`{"id":"ue-t6","public_key":` + jwk() + `,"Grants":["u2u:use:000001"]}`,
		`{"Id":"ue-t7","public_key":` + jwk() + `,"grants":["u2u:use:000001"]}`,
		`{"id":"ue-t8","public_key":` + jwk() + `,"grants":["u2u:use:000001"],"ſecret":1}`, // U+017F folds to s: not "secret" here, just unknown
	} {
		var e map[string]any
		code := a.adminDo("POST", "/admin/v1/ues", []byte(body), &e)
		if code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", body, code)
		} else if d, _ := e["error_description"].(string); !strings.Contains(d, "invalid JSON body") {
			t.Errorf("%s: error %v", body, e)
		}
	}
	// The same body without the defect is accepted.
	if code := a.adminDo("POST", "/admin/v1/ues", []byte(`{"id":"ue-ok","public_key":`+jwk()+`,"grants":["u2u:use:000001"]}`+" \n"), nil); code != http.StatusCreated {
		t.Fatalf("valid body: %d", code)
	}
	// Case variants are duplicates in PUT bodies too.
	var e map[string]any
	for _, body := range []string{`{"secret":"rotate","Secret":"remove"}`, `{"ſecret":"rotate"}`, `{"SECRET":"rotate"}`} {
		if code := a.adminDo("PUT", "/admin/v1/ues/ue-ok", []byte(body), &e); code != http.StatusBadRequest {
			t.Errorf("PUT %s: %d %v", body, code, e)
		}
	}
	var got httpapi.UEResponse
	if code := a.adminDo("GET", "/admin/v1/ues/ue-ok", nil, &got); code != http.StatusOK || got.UE.HasSecret {
		t.Errorf("ue-ok after the refused updates: %d, has secret %v", code, got.UE != nil && got.UE.HasSecret)
	}
}
