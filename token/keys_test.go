package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

func pemOf(t *testing.T, typ string, der []byte) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestParsePublicKey(t *testing.T) {
	e := newTestEnv(t)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	ecDER, _ := x509.MarshalPKIXPublicKey(&e.ueEC.PublicKey)
	edDER, _ := x509.MarshalPKIXPublicKey(e.ueEd.Public())
	p384DER, _ := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	rsaDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	ecPriv, _ := x509.MarshalPKCS8PrivateKey(e.ueEC)
	ecSEC1, _ := x509.MarshalECPrivateKey(e.ueEC)
	ecJWK, _ := jose.JSONWebKey{Key: &e.ueEC.PublicKey}.MarshalJSON()
	edJWK, _ := jose.JSONWebKey{Key: e.ueEd.Public(), KeyID: "x", Algorithm: "EdDSA"}.MarshalJSON()
	ecPrivJWK, _ := jose.JSONWebKey{Key: e.ueEC}.MarshalJSON()
	p384JWK, _ := jose.JSONWebKey{Key: &p384.PublicKey}.MarshalJSON()
	octJWK, _ := jose.JSONWebKey{Key: []byte("secret")}.MarshalJSON()

	for name, tc := range map[string]struct {
		in   []byte
		want crypto.PublicKey
	}{
		"P-256 PEM":       {pemOf(t, "PUBLIC KEY", ecDER), &e.ueEC.PublicKey},
		"Ed25519 PEM":     {pemOf(t, "PUBLIC KEY", edDER), e.ueEd.Public()},
		"P-256 JWK":       {ecJWK, &e.ueEC.PublicKey},
		"Ed25519 JWK":     {append([]byte("\n  "), edJWK...), e.ueEd.Public()},
		"P-384 PEM":       {pemOf(t, "PUBLIC KEY", p384DER), nil},
		"RSA PEM":         {pemOf(t, "PUBLIC KEY", rsaDER), nil},
		"PKCS8 private":   {pemOf(t, "PRIVATE KEY", ecPriv), nil},
		"SEC1 private":    {pemOf(t, "EC PRIVATE KEY", ecSEC1), nil},
		"private JWK":     {ecPrivJWK, nil},
		"P-384 JWK":       {p384JWK, nil},
		"symmetric JWK":   {octJWK, nil},
		"two PEM blocks":  {append(pemOf(t, "PUBLIC KEY", ecDER), pemOf(t, "PUBLIC KEY", edDER)...), nil},
		"garbage":         {[]byte("hello"), nil},
		"empty":           {nil, nil},
		"bad PEM":         {[]byte("-----BEGIN PUBLIC KEY-----\nxx"), nil},
		"PEM bad DER":     {pemOf(t, "PUBLIC KEY", []byte{1, 2, 3}), nil},
		"JWK bad":         {[]byte(`{"kty":"EC"}`), nil},
		"raw DER":         {ecDER, nil},
		"cert-like block": {pemOf(t, "CERTIFICATE", ecDER), nil},
	} {
		got, err := ParsePublicKey(tc.in)
		if tc.want == nil {
			if err == nil {
				t.Errorf("%s: accepted %T", name, got)
			} else if !strings.HasPrefix(err.Error(), "token: ") {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if err != nil || !keyEqual(got, tc.want) {
			t.Errorf("%s: %v, %v", name, got, err)
		}
	}
}

func TestThumbprint(t *testing.T) {
	// RFC 8037 Appendix A.3: the thumbprint of the Ed25519 key of A.2.
	x, _ := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	tp, err := Thumbprint(ed25519.PublicKey(x))
	if err != nil || tp != "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" {
		t.Errorf("RFC 8037 A.3 thumbprint = %q, %v", tp, err)
	}
	e := newTestEnv(t)
	tp, err = Thumbprint(&e.ueEC.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := (&jose.JSONWebKey{Key: &e.ueEC.PublicKey}).Thumbprint(crypto.SHA256)
	if tp != base64.RawURLEncoding.EncodeToString(want) {
		t.Errorf("P-256 thumbprint %q differs from go-jose", tp)
	}
	if _, err := Thumbprint(e.ueEC); err == nil {
		t.Error("thumbprint of a private key")
	}
	kid, err := ShortKeyID(&e.ueEC.PublicKey)
	if err != nil || len(kid) != ShortKeyIDLen || !strings.HasPrefix(tp, kid) {
		t.Errorf("ShortKeyID = %q, %v", kid, err)
	}
}

func TestJWKS(t *testing.T) {
	e := newTestEnv(t)
	keys := []IssuerKey{e.ecSigner.Public(), e.edSigner.Public()}
	jwks, err := MarshalJWKS(keys)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &doc); err != nil || len(doc.Keys) != 2 {
		t.Fatalf("%s: %v", jwks, err)
	}
	for i, k := range doc.Keys {
		if k["use"] != "sig" || k["kid"] != keys[i].KeyID || k["alg"] != string(keys[i].Algorithm) || k["d"] != nil {
			t.Errorf("key %d: %v", i, k)
		}
	}
	if doc.Keys[0]["kty"] != "EC" || doc.Keys[0]["crv"] != "P-256" || doc.Keys[0]["x"] == nil || doc.Keys[0]["y"] == nil {
		t.Errorf("EC key: %v", doc.Keys[0])
	}
	if doc.Keys[1]["kty"] != "OKP" || doc.Keys[1]["crv"] != "Ed25519" {
		t.Errorf("OKP key: %v", doc.Keys[1])
	}
	ts := NewTrustStore()
	if err := ts.AddJWKS(testIssuer, jwks); err != nil {
		t.Fatal(err)
	}
	got := ts.Keys()
	if len(got) != 2 {
		t.Fatalf("Keys() = %v", got)
	}
	for _, k := range keys {
		g, err := ts.Lookup(testIssuer, k.KeyID)
		if err != nil || g.Algorithm != k.Algorithm || !keyEqual(g.Key, k.Key) {
			t.Errorf("Lookup(%q) = %+v, %v", k.KeyID, g, err)
		}
	}
	// Tokens verify with the JWKS-built store.
	v := e.verifier()
	v.Trust = ts
	for _, alg := range algs {
		for _, f := range formats {
			if _, err := v.Verify(e.sign(t, e.typicalClaims(), alg, f), f, testNow); err != nil {
				t.Error(err)
			}
		}
	}

	// Rejected sets; nothing of a rejected set is added.
	ecJWK := func(extra string) string {
		b, _ := jose.JSONWebKey{Key: &e.ueEC.PublicKey}.MarshalJSON()
		return strings.TrimSuffix(string(b), "}") + extra + "}"
	}
	good := ecJWK(`,"kid":"good","alg":"ES256"`)
	for name, set := range map[string]string{
		"no kid":        `{"keys":[` + good + `,` + ecJWK(`,"alg":"ES256"`) + `]}`,
		"RS256 alg":     `{"keys":[` + good + `,` + ecJWK(`,"kid":"r","alg":"RS256"`) + `]}`,
		"HS256 alg":     `{"keys":[` + good + `,` + ecJWK(`,"kid":"h","alg":"HS256"`) + `]}`,
		"alg mismatch":  `{"keys":[` + good + `,` + ecJWK(`,"kid":"m","alg":"EdDSA"`) + `]}`,
		"use enc":       `{"keys":[` + good + `,` + ecJWK(`,"kid":"u","use":"enc"`) + `]}`,
		"private":       `{"keys":[` + good + `,` + privJWK(t, e) + `]}`,
		"not json":      `{"keys":`,
		"unknown kty":   `{"keys":[` + good + `,{"kty":"XYZ","kid":"z"}]}`,
		"conflict kid":  `{"keys":[` + ecJWK(`,"kid":"`+testKidEC+`","alg":"ES256"`) + `]}`,
		"symmetric key": `{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"s","alg":"HS256"}]}`,
	} {
		ts2 := NewTrustStore()
		_ = ts2.Add(e.ecSigner.Public())
		err := ts2.AddJWKS(testIssuer, []byte(set))
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.HasPrefix(err.Error(), "token: ") {
			t.Errorf("%s: %v", name, err)
		}
		if n := len(ts2.Keys()); n != 1 {
			t.Errorf("%s: %d keys after a rejected set", name, n)
		}
	}
	// alg may be absent: it follows from the key type.
	ts3 := NewTrustStore()
	if err := ts3.AddJWKS(testIssuer, []byte(`{"keys":[`+ecJWK(`,"kid":"noalg"`)+`]}`)); err != nil {
		t.Error(err)
	} else if k, _ := ts3.Lookup(testIssuer, "noalg"); k.Algorithm != ES256 {
		t.Errorf("implied alg %q", k.Algorithm)
	}
	if err := ts3.AddJWKS("", jwks); err == nil {
		t.Error("JWKS without issuer accepted")
	}
	if _, err := MarshalJWKS([]IssuerKey{{Issuer: testIssuer, KeyID: "k", Algorithm: ES256, Key: e.ueEd.Public()}}); err == nil {
		t.Error("MarshalJWKS accepted a mismatched key")
	}
}

func privJWK(t *testing.T, e *testEnv) string {
	b, err := jose.JSONWebKey{Key: e.ueEC, KeyID: "p", Algorithm: "ES256"}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTrustStore(t *testing.T) {
	e := newTestEnv(t)
	ts := NewTrustStore()
	if err := ts.Add(e.ecSigner.Public()); err != nil {
		t.Fatal(err)
	}
	if err := ts.Add(e.ecSigner.Public()); err != nil {
		t.Errorf("re-adding the same key: %v", err)
	}
	clash := e.edSigner.Public()
	clash.KeyID = testKidEC
	if err := ts.Add(clash); err == nil {
		t.Error("a different key under a used kid was accepted")
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for name, k := range map[string]IssuerKey{
		"no issuer":     {KeyID: "k", Algorithm: ES256, Key: &e.ueEC.PublicKey},
		"no kid":        {Issuer: testIssuer, Algorithm: ES256, Key: &e.ueEC.PublicKey},
		"no alg":        {Issuer: testIssuer, KeyID: "k", Key: &e.ueEC.PublicKey},
		"HS256":         {Issuer: testIssuer, KeyID: "k", Algorithm: "HS256", Key: &e.ueEC.PublicKey},
		"alg mismatch":  {Issuer: testIssuer, KeyID: "k", Algorithm: EdDSA, Key: &e.ueEC.PublicKey},
		"private key":   {Issuer: testIssuer, KeyID: "k", Algorithm: ES256, Key: e.ueEC},
		"ed private":    {Issuer: testIssuer, KeyID: "k", Algorithm: EdDSA, Key: e.ueEd},
		"P-384":         {Issuer: testIssuer, KeyID: "k", Algorithm: ES256, Key: &p384.PublicKey},
		"bytes":         {Issuer: testIssuer, KeyID: "k", Algorithm: EdDSA, Key: []byte(e.ueEd.Public().(ed25519.PublicKey))},
		"short ed":      {Issuer: testIssuer, KeyID: "k", Algorithm: EdDSA, Key: ed25519.PublicKey{1, 2}},
		"nil key":       {Issuer: testIssuer, KeyID: "k", Algorithm: ES256},
		"off curve":     {Issuer: testIssuer, KeyID: "k", Algorithm: ES256, Key: &ecdsa.PublicKey{Curve: elliptic.P256(), X: e.ueEC.X, Y: e.ueEC.X}},
		"nil ecdsa ptr": {Issuer: testIssuer, KeyID: "k", Algorithm: ES256, Key: (*ecdsa.PublicKey)(nil)},
	} {
		if err := ts.Add(k); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	_, err := ts.Lookup(testIssuer2, testKidEC)
	checkErr(t, err, ErrUnknownIssuer)
	_, err = ts.Lookup(testIssuer, "nope")
	checkErr(t, err, ErrUnknownKey)
	if !ts.Remove(testIssuer, testKidEC) || ts.Remove(testIssuer, testKidEC) {
		t.Error("Remove")
	}
	_, err = ts.Lookup(testIssuer, testKidEC)
	checkErr(t, err, ErrUnknownIssuer)

	// Several issuers, sorted listing, concurrent use.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			iss := fmt.Sprintf("https://as%d.example", i%2)
			k := e.ecSigner.Public()
			k.Issuer, k.KeyID = iss, fmt.Sprintf("k%d", i)
			if err := ts.Add(k); err != nil {
				t.Error(err)
			}
			_, _ = ts.Lookup(iss, k.KeyID)
			_ = ts.Keys()
		}(i)
	}
	wg.Wait()
	ks := ts.Keys()
	if len(ks) != 8 || ks[0].Issuer != "https://as0.example" || ks[0].KeyID != "k0" || ks[7].Issuer != "https://as1.example" {
		t.Errorf("Keys() = %v", ks)
	}
	// A store never aliases the caller's Ed25519 key bytes.
	pub := append(ed25519.PublicKey{}, e.ueEd.Public().(ed25519.PublicKey)...)
	_ = ts.Add(IssuerKey{Issuer: testIssuer2, KeyID: "ed", Algorithm: EdDSA, Key: pub})
	pub[0] ^= 1
	if k, _ := ts.Lookup(testIssuer2, "ed"); keyEqual(k.Key, pub) {
		t.Error("trust store aliases the key")
	}
}

func TestNewSigner(t *testing.T) {
	e := newTestEnv(t)
	if e.ecSigner.Algorithm != ES256 || e.edSigner.Algorithm != EdDSA {
		t.Error("algorithm not derived from the key")
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	for name, k := range map[string]crypto.Signer{"P-384": p384, "RSA": rsaKey} {
		if _, err := NewSigner(testIssuer, "k", k); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if _, err := NewSigner("", "k", e.ecKey); err == nil {
		t.Error("empty issuer accepted")
	}
	if _, err := NewSigner(testIssuer, "", e.ecKey); err == nil {
		t.Error("empty kid accepted")
	}
	pk := e.ecSigner.Public()
	if pk.Issuer != testIssuer || pk.KeyID != testKidEC || pk.Algorithm != ES256 || !keyEqual(pk.Key, &e.ecKey.PublicKey) {
		t.Errorf("Public() = %+v", pk)
	}
	// A crypto.Signer that is not one of the concrete key types (an HSM,
	// say) signs through go-jose's opaque signer and our raw path.
	s := &Signer{Issuer: testIssuer, KeyID: testKidEC, Algorithm: ES256, Key: opaque{e.ecKey}}
	for _, f := range formats {
		raw, err := s.Sign(e.typicalClaims(), f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.verifier().Verify(raw, f, testNow); err != nil {
			t.Error(err)
		}
	}
}

// opaque hides the concrete type of a signer.
type opaque struct{ crypto.Signer }

func TestZeroValues(t *testing.T) {
	e := newTestEnv(t)
	var ts TrustStore
	if _, err := ts.Lookup(testIssuer, testKidEC); err == nil {
		t.Error("lookup in an empty store")
	}
	if err := ts.Add(e.ecSigner.Public()); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Lookup(testIssuer, testKidEC); err != nil {
		t.Error(err)
	}
	var c StatusCache
	l, _ := NewStatusList(8, 1)
	c.Put(&StatusListToken{Issuer: testIssuer, Subject: testListURI, IssuedAt: testNow, List: l})
	if _, err := c.Status(StatusRef{URI: testListURI}, testNow.Add(1000*time.Hour)); err != nil {
		t.Error(err)
	}
	if _, err := NewSigner(testIssuer, "k", ed25519.PrivateKey{1, 2, 3}); err == nil {
		t.Error("short Ed25519 key accepted")
	}
}
