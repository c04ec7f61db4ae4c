package as_test

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/prosesec/prosesec/as"
)

// rawAssertion signs header and payload, given as JSON text, with an ES256
// key, so that a test can send what no JOSE library writes: fractional
// times, duplicate members, a crit header.
func rawAssertion(t *testing.T, key *ecdsa.PrivateKey, header, payload string) string {
	t.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	tbs := b64([]byte(header)) + "." + b64([]byte(payload))
	h := sha256.Sum256([]byte(tbs))
	r, s, err := ecdsa.Sign(nil, key, h[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return tbs + "." + b64(sig)
}

// swapSignature returns a's header and payload with b's signature.
func swapSignature(a, b string) string {
	return a[:strings.LastIndexByte(a, '.')] + b[strings.LastIndexByte(b, '.'):]
}

// TestAssertionDecoding: the AS decodes client assertions with the token
// package's strict reader. RFC 7519 NumericDates with fractions are
// accepted (truncated); duplicate claims, wrongly typed claims and crit
// headers are refused as invalid_client; an assertion is decoded once, by
// the rate limiter's ClaimedClient, and that result is what is verified.
func TestAssertionDecoding(t *testing.T) {
	e := newEnv(t, nil)
	u := e.register("ue-1", "u2u:use:000001", false)
	key := u.priv.(*ecdsa.PrivateKey)
	now := e.clk.Now().Unix()
	aud := testIssuer + as.PathToken
	auth := func(a string) as.ClientAuth {
		return as.ClientAuth{Method: as.AuthPrivateKeyJWT, AssertionType: as.ClientAssertionTypeJWTBearer, Assertion: a}
	}
	tok := func(a as.ClientAuth) error {
		_, err := e.srv.Token(ctx, as.TokenRequest{GrantType: "client_credentials", Auth: a})
		return err
	}
	hdr := `{"alg":"ES256","typ":"JWT"}`
	claims := func(jti, extra string) string {
		return fmt.Sprintf(`{"iss":"ue-1","sub":"ue-1","aud":%q,"jti":%q,"iat":%d,"exp":%d%s}`, aud, jti, now, now+60, extra)
	}

	if err := tok(auth(rawAssertion(t, key, hdr, claims("plain", "")))); err != nil {
		t.Fatalf("hand-signed assertion: %v", err)
	}
	frac := fmt.Sprintf(`{"iss":"ue-1","sub":"ue-1","aud":[%q,"x"],"jti":"frac","iat":%d.75,"nbf":%d.5,"exp":%d.999}`, aud, now, now, now+60)
	if err := tok(auth(rawAssertion(t, key, hdr, frac))); err != nil {
		t.Fatalf("fractional NumericDates: %v", err)
	}
	expired := fmt.Sprintf(`{"iss":"ue-1","sub":"ue-1","aud":%q,"jti":"old","exp":%d.9}`, aud, now-60)
	for name, tc := range map[string]struct {
		a    string
		want string
	}{
		"duplicate iss":     {rawAssertion(t, key, hdr, `{"iss":"ue-1","iss":"ue-1",`+claims("d1", "")[1:]), "does not parse"},
		"duplicate exp":     {rawAssertion(t, key, hdr, claims("d2", fmt.Sprintf(`,"exp":%d`, now+30))), "does not parse"},
		"exp as string":     {rawAssertion(t, key, hdr, fmt.Sprintf(`{"iss":"ue-1","sub":"ue-1","aud":%q,"jti":"s","exp":"%d"}`, aud, now+60)), "does not parse"},
		"exp huge":          {rawAssertion(t, key, hdr, claims("h", `,"nbf":1e300`)), "does not parse"},
		"aud number":        {rawAssertion(t, key, hdr, `{"aud":1,`+claims("n", "")[1:]), "does not parse"},
		"crit header":       {rawAssertion(t, key, `{"alg":"ES256","crit":["exp"],"exp":1}`, claims("c", "")), "does not parse"},
		"no alg":            {rawAssertion(t, key, `{"typ":"JWT"}`, claims("a", "")), "does not parse"},
		"ES384 alg":         {rawAssertion(t, key, `{"alg":"ES384"}`, claims("e", "")), "not a JWS signed with ES256 or EdDSA"},
		"trailing data":     {rawAssertion(t, key, hdr, claims("t", "")+"x"), "does not parse"},
		"expired fraction":  {rawAssertion(t, key, hdr, expired), "expired"},
		"padded base64":     {rawAssertion(t, key, hdr, claims("p", "")) + "=", "does not parse"},
		"tampered claims":   {swapSignature(rawAssertion(t, key, hdr, claims("x", "")), rawAssertion(t, key, hdr, claims("y", ""))), "client authentication failed"},
		"case variant ISS":  {rawAssertion(t, key, hdr, `{"ISS":"ue-1","sub":"ue-1","aud":"`+aud+`","jti":"i","exp":1}`), "no iss"},
		"replayed fraction": {rawAssertion(t, key, hdr, frac), "used before"},
	} {
		err := tok(auth(tc.a))
		var ae *as.Error
		if !errors.As(err, &ae) || ae.Code != "invalid_client" || !strings.Contains(ae.Description, tc.want) {
			t.Errorf("%s: %v, want invalid_client containing %q", name, err, tc.want)
		}
	}

	// ClaimedClient decodes once, and authentication uses that result:
	// changing the assertion afterwards makes it decode again.
	a := auth(rawAssertion(t, key, hdr, claims("once", "")))
	if got := a.ClaimedClient(); got != "ue-1" {
		t.Fatalf("ClaimedClient = %q", got)
	}
	a.Assertion = "a.b.c"
	if got := a.ClaimedClient(); got != "" {
		t.Fatalf("ClaimedClient after change = %q", got)
	}
	if err := tok(a); err == nil || !strings.Contains(err.Error(), "does not parse") {
		t.Fatalf("changed assertion: %v", err)
	}
	a.Assertion = rawAssertion(t, key, hdr, claims("twice", ""))
	if got := a.ClaimedClient(); got != "ue-1" {
		t.Fatalf("ClaimedClient = %q", got)
	}
	if err := tok(a); err != nil {
		t.Fatalf("assertion after ClaimedClient: %v", err)
	}
	// A client ID, when given, is what the request claims.
	b := auth("a.b.c")
	b.ClientID = "ue-9"
	if got := b.ClaimedClient(); got != "ue-9" {
		t.Fatalf("ClaimedClient with client_id = %q", got)
	}
}
