package token

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejson "github.com/go-jose/go-jose/v4/json"
	"github.com/go-jose/go-jose/v4/jwt"
)

var b64s = base64.RawURLEncoding.EncodeToString

// signAssertionRaw signs header and payload (JSON text) with k: ES256 for
// an *ecdsa.PrivateKey, EdDSA for an ed25519.PrivateKey.
func signAssertionRaw(t testing.TB, k crypto.Signer, header, payload string) string {
	t.Helper()
	tbs := b64s([]byte(header)) + "." + b64s([]byte(payload))
	var sig []byte
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		h := sha256.Sum256([]byte(tbs))
		r, s, err := ecdsa.Sign(rand.Reader, k, h[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, []byte(tbs))
	}
	return tbs + "." + b64s(sig)
}

func TestParseClientAssertion(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	raw := signAssertionRaw(t, ec, `{"alg":"ES256","kid":"k1","typ":"JWT"}`,
		`{"iss":"ue-1","sub":"ue-2","aud":["a","b"],"jti":"j","exp":1800000000.9,"nbf":-1.5,"iat":1700000000,"other":{"x":[1]}}`)
	a, err := ParseClientAssertion(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := ClientAssertion{Alg: ES256, KeyID: "k1", Issuer: "ue-1", Subject: "ue-2", Audience: []string{"a", "b"}, ID: "j",
		Expiry: time.Unix(1800000000, 0).UTC(), NotBefore: time.Unix(-1, 0).UTC(), IssuedAt: time.Unix(1700000000, 0).UTC()}
	if a.Alg != want.Alg || a.KeyID != want.KeyID || a.Issuer != want.Issuer || a.Subject != want.Subject ||
		strings.Join(a.Audience, " ") != "a b" || a.ID != want.ID || !a.Expiry.Equal(want.Expiry) ||
		!a.NotBefore.Equal(want.NotBefore) || !a.IssuedAt.Equal(want.IssuedAt) {
		t.Fatalf("decoded %+v, want %+v", *a, want)
	}
	if err := a.VerifySignature(ec.Public()); err != nil {
		t.Fatalf("good ES256 signature: %v", err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err := a.VerifySignature(other.Public()); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("other key: %v", err)
	}
	if err := a.VerifySignature(ed.Public()); !errors.Is(err, ErrAlgorithmNotAllowed) {
		t.Fatalf("Ed25519 key for an ES256 assertion: %v", err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err := a.VerifySignature(p384.Public()); !errors.Is(err, ErrAlgorithmNotAllowed) {
		t.Fatalf("P-384 key: %v", err)
	}
	if err := a.VerifySignature(nil); !errors.Is(err, ErrAlgorithmNotAllowed) {
		t.Fatalf("nil key: %v", err)
	}
	// Absent times stay zero; EdDSA verifies with an Ed25519 key only.
	raw = signAssertionRaw(t, ed, `{"alg":"EdDSA"}`, `{"iss":"ue-1","aud":"x"}`)
	if a, err = ParseClientAssertion(raw); err != nil || !a.Expiry.IsZero() || !a.NotBefore.IsZero() || !a.IssuedAt.IsZero() || len(a.Audience) != 1 {
		t.Fatalf("EdDSA: %+v %v", a, err)
	}
	if err := a.VerifySignature(ed.Public()); err != nil {
		t.Fatalf("good EdDSA signature: %v", err)
	}
	if err := a.VerifySignature(ec.Public()); !errors.Is(err, ErrAlgorithmNotAllowed) {
		t.Fatalf("P-256 key for an EdDSA assertion: %v", err)
	}
	// "none" and HS256 decode (the caller checks alg) but never verify.
	for _, alg := range []string{"none", "HS256", "ES384"} {
		raw := b64s([]byte(`{"alg":"`+alg+`"}`)) + "." + b64s([]byte(`{"iss":"ue-1"}`)) + "."
		a, err := ParseClientAssertion(raw)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if err := a.VerifySignature(ec.Public()); !errors.Is(err, ErrAlgorithmNotAllowed) {
			t.Fatalf("%s verified: %v", alg, err)
		}
	}

	hdr := b64s([]byte(`{"alg":"ES256"}`))
	for name, in := range map[string]string{
		"empty":            "",
		"two parts":        hdr + ".e30",
		"four parts":       hdr + ".e30.c2ln.c2ln",
		"padding":          hdr + ".e30=.c2ln",
		"header not JSON":  b64s([]byte(`{alg:1}`)) + ".e30.c2ln",
		"crit":             b64s([]byte(`{"alg":"ES256","crit":[]}`)) + ".e30.c2ln",
		"no alg":           b64s([]byte(`{"kid":"x"}`)) + ".e30.c2ln",
		"claims not JSON":  hdr + "." + b64s([]byte(`nope`)) + ".c2ln",
		"claims array":     hdr + "." + b64s([]byte(`[]`)) + ".c2ln",
		"duplicate jti":    hdr + "." + b64s([]byte(`{"jti":"a","jti":"b"}`)) + ".c2ln",
		"iat string":       hdr + "." + b64s([]byte(`{"iat":"1"}`)) + ".c2ln",
		"exp null":         hdr + "." + b64s([]byte(`{"exp":null}`)) + ".c2ln",
		"exp beyond 2^53":  hdr + "." + b64s([]byte(`{"exp":9007199254740993}`)) + ".c2ln",
		"exp float 1e300":  hdr + "." + b64s([]byte(`{"exp":1e300}`)) + ".c2ln",
		"exp leading zero": hdr + "." + b64s([]byte(`{"exp":012}`)) + ".c2ln",
		"aud mixed":        hdr + "." + b64s([]byte(`{"aud":["a",1]}`)) + ".c2ln",
		"bad UTF-8":        hdr + "." + b64s([]byte("{\"iss\":\"\xff\"}")) + ".c2ln",
		"trailing":         hdr + "." + b64s([]byte(`{} {}`)) + ".c2ln",
	} {
		if _, err := ParseClientAssertion(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	big := hdr + "." + strings.Repeat("A", MaxClientAssertionSize) + ".c2ln"
	if _, err := ParseClientAssertion(big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversize: %v, want ErrTooLarge", err)
	}
}

// FuzzClientAssertion: the AS decodes every client assertion a peer sends
// before it knows the key; decoding never panics, and what decodes never
// verifies under a key that did not sign it.
func FuzzClientAssertion(f *testing.F) {
	ec, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), bytes.Repeat([]byte{7}, 32))
	if err != nil {
		f.Fatal(err)
	}
	ed := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32))
	f.Add(signAssertionRaw(f, ec, `{"alg":"ES256"}`, `{"iss":"ue-1","sub":"ue-1","aud":"https://as/oauth2/token","jti":"j","exp":1800000000}`))
	f.Add(signAssertionRaw(f, ed, `{"alg":"EdDSA","kid":"k"}`, `{"iss":"ue-1","aud":["a"],"exp":1.5e9,"nbf":0}`))
	f.Add("e30.e30.e30")
	other, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), bytes.Repeat([]byte{11}, 32))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		a, err := ParseClientAssertion(raw)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error %v wraps neither ErrMalformed nor ErrTooLarge", err)
			}
			return
		}
		if len(a.Issuer) > len(raw) || len(a.ID) > len(raw) {
			t.Fatal("decoded a claim longer than the input")
		}
		if a.VerifySignature(other.Public()) == nil {
			t.Fatal("verified under a key that signed nothing")
		}
		_ = a.VerifySignature(ec.Public())
		_ = a.VerifySignature(ed.Public())
	})
}

// BenchmarkClientAssertion: what the AS spends on an assertion besides
// its store and HTTP work: decoding alone, and decoding plus the
// signature check.
func BenchmarkClientAssertion(b *testing.B) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	payload := `{"iss":"ue-000001","sub":"ue-000001","aud":"https://127.0.0.1:8443/oauth2/token","jti":"Zm9vYmFyYmF6cXV4MTIzNDU2","iat":1796292000,"exp":1796292060}`
	for _, tc := range []struct {
		name string
		key  crypto.Signer
		hdr  string
	}{{"ES256", ec, `{"alg":"ES256","typ":"JWT"}`}, {"EdDSA", ed, `{"alg":"EdDSA","typ":"JWT"}`}} {
		raw := signAssertionRaw(b, tc.key, tc.hdr, payload)
		b.Run(tc.name+"/parse", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseClientAssertion(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
		// The go-jose decoding the AS used before, for comparison.
		b.Run(tc.name+"/go-jose-parse", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA})
				if err != nil {
					b.Fatal(err)
				}
				var c jwt.Claims
				if err := josejson.Unmarshal(jws.UnsafePayloadWithoutVerification(), &c); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/parse+verify", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				a, err := ParseClientAssertion(raw)
				if err != nil {
					b.Fatal(err)
				}
				if err := a.VerifySignature(tc.key.Public()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
