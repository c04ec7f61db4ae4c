package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	jose "github.com/go-jose/go-jose/v4"
)

func claimsEqual(a, b *Claims) bool {
	ka, kb := a.Confirmation, b.Confirmation
	ac, bc := *a, *b
	ac.Confirmation, bc.Confirmation = nil, nil
	if !reflect.DeepEqual(ac, bc) {
		return false
	}
	if ka == nil || kb == nil {
		return ka == nil && kb == nil
	}
	return keyEqual(ka, kb)
}

func TestRoundTrip(t *testing.T) {
	e := newTestEnv(t)
	variants := map[string]func(c *Claims){
		"typical":     func(*Claims) {},
		"ed25519 cnf": func(c *Claims) { c.Confirmation = e.ueEd.Public() },
		"no cnf":      func(c *Claims) { c.Confirmation = nil },
		"no status":   func(c *Claims) { c.Status = nil },
		"minimal": func(c *Claims) {
			*c = Claims{Issuer: testIssuer, Audience: []string{testAudience}, Expiry: testNow.Add(time.Minute)}
		},
		"two audiences":  func(c *Claims) { c.Audience = []string{"other", testAudience} },
		"client differs": func(c *Claims) { c.ClientID = "client-x" },
		"nbf differs":    func(c *Claims) { c.NotBefore = testNow.Add(-time.Minute) },
		"many scopes": func(c *Claims) {
			c.Scopes = []Scope{{RoleServe, 0xffffff}, {RoleUse, 0}, {RoleUse, 0x123456}}
		},
		"status idx big": func(c *Claims) { c.Status.Index = 1<<64 - 1 },
		"empty issuer":   func(c *Claims) { c.Issuer = "" }, // filled from the signer
	}
	for name, mod := range variants {
		for _, alg := range []Algorithm{ES256, EdDSA} {
			for _, f := range []Format{JWT, CWT} {
				for _, uncompressed := range []bool{false, true} {
					if uncompressed && f == JWT {
						continue
					}
					c := e.typicalClaims()
					mod(c)
					s := *e.signer(alg)
					s.UncompressedCnf = uncompressed
					raw, err := s.Sign(c, f)
					if err != nil {
						t.Fatalf("%s %s %s: Sign: %v", name, alg, f, err)
					}
					got, err := e.verifier().Verify(raw, f, testNow)
					if err != nil {
						t.Fatalf("%s %s %s: Verify: %v", name, alg, f, err)
					}
					want := *c
					want.Issuer = testIssuer
					want.defaults()
					if !claimsEqual(got, &want) {
						t.Errorf("%s %s %s (uncompressed=%v): round trip\n got %+v\nwant %+v", name, alg, f, uncompressed, got, &want)
					}
				}
			}
		}
	}
}

// TestCrossCheckGoJose verifies our JWTs with go-jose alone, using the JWKS
// that MarshalJWKS produces, and checks the header and claims layout.
func TestCrossCheckGoJose(t *testing.T) {
	e := newTestEnv(t)
	jwks, err := MarshalJWKS([]IssuerKey{e.ecSigner.Public(), e.edSigner.Public()})
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatal(err)
	}
	for _, alg := range []Algorithm{ES256, EdDSA} {
		raw := e.sign(t, e.typicalClaims(), alg, JWT)
		obj, err := jose.ParseSigned(string(raw), []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA})
		if err != nil {
			t.Fatal(err)
		}
		h := obj.Signatures[0].Protected
		if h.Algorithm != string(alg) || h.KeyID != e.signer(alg).KeyID || h.ExtraHeaders["typ"] != "at+jwt" {
			t.Errorf("%s header %+v", alg, h)
		}
		keys := set.Key(h.KeyID)
		if len(keys) != 1 || keys[0].Algorithm != string(alg) || keys[0].Use != "sig" {
			t.Fatalf("JWKS key for %q: %+v", h.KeyID, keys)
		}
		payload, err := obj.Verify(keys[0])
		if err != nil {
			t.Fatalf("%s: go-jose Verify: %v", alg, err)
		}
		var m map[string]any
		if err := json.Unmarshal(payload, &m); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{
			"iss": testIssuer, "sub": testSubject, "aud": testAudience, "client_id": testSubject,
			"iat": float64(testNow.Unix()), "nbf": float64(testNow.Unix()), "exp": float64(testNow.Add(time.Hour).Unix()),
			"jti": "AAECAwQFBgcICQoLDA0ODw", "scope": "u2u:use:00002a",
			"status": map[string]any{"status_list": map[string]any{"idx": float64(1234), "uri": testListURI}},
		}
		cnf := m["cnf"].(map[string]any)
		delete(m, "cnf")
		if !reflect.DeepEqual(m, want) {
			t.Errorf("%s claims\n got %v\nwant %v", alg, m, want)
		}
		// The cnf JWK parses with go-jose as the UE's key.
		jb, _ := json.Marshal(cnf["jwk"])
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(jb); err != nil {
			t.Fatal(err)
		}
		if !keyEqual(jwk.Key.(crypto.PublicKey), &e.ueEC.PublicKey) || !jwk.IsPublic() {
			t.Errorf("cnf jwk %s is not the UE key", jb)
		}
		// A token signed by the other key does not verify with this one.
		other := e.sign(t, e.typicalClaims(), map[Algorithm]Algorithm{ES256: EdDSA, EdDSA: ES256}[alg], JWT)
		obj2, err := jose.ParseSigned(string(other), []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := obj2.Verify(keys[0]); err == nil {
			t.Errorf("%s: go-jose verified a token of the other key", alg)
		}
	}
}

// TestCWTLayout decodes a CWT generically and checks every number of the
// documented layout (docs/token-format.md).
func TestCWTLayout(t *testing.T) {
	e := newTestEnv(t)
	for _, alg := range []Algorithm{ES256, EdDSA} {
		raw := e.sign(t, e.typicalClaims(), alg, CWT)
		var tag cbor.Tag
		if err := cbor.Unmarshal(raw, &tag); err != nil {
			t.Fatal(err)
		}
		if tag.Number != 18 {
			t.Fatalf("tag %d, want 18", tag.Number)
		}
		arr := tag.Content.([]any)
		var ph map[any]any
		if err := cbor.Unmarshal(arr[0].([]byte), &ph); err != nil {
			t.Fatal(err)
		}
		wantAlg := map[Algorithm]int64{ES256: -7, EdDSA: -8}[alg]
		if !reflect.DeepEqual(ph, map[any]any{uint64(1): wantAlg, uint64(4): []byte(e.signer(alg).KeyID)}) {
			t.Errorf("protected header %v", ph)
		}
		if u := arr[1].(map[any]any); len(u) != 0 {
			t.Errorf("unprotected header %v", u)
		}
		if sig := arr[3].([]byte); len(sig) != 64 {
			t.Errorf("signature is %d bytes, want 64 (raw r||s or Ed25519)", len(sig))
		}
		var cl map[any]any
		if err := cbor.Unmarshal(arr[2].([]byte), &cl); err != nil {
			t.Fatal(err)
		}
		x := e.ueEC.PublicKey.X.FillBytes(make([]byte, 32))
		want := map[any]any{
			uint64(1): testIssuer,
			uint64(2): testSubject,
			uint64(3): testAudience,
			uint64(4): uint64(testNow.Add(time.Hour).Unix()),
			uint64(6): uint64(testNow.Unix()),
			uint64(7): []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
			uint64(8): map[any]any{uint64(1): map[any]any{
				uint64(1): uint64(2), int64(-1): uint64(1), int64(-2): x, int64(-3): e.ueEC.PublicKey.Y.Bit(0) == 1,
			}},
			uint64(9):     "u2u:use:00002a",
			uint64(65535): map[any]any{"status_list": map[any]any{"idx": uint64(1234), "uri": testListURI}},
		}
		if !reflect.DeepEqual(cl, want) {
			t.Errorf("%s claims\n got %v\nwant %v", alg, cl, want)
		}
		// Deterministic encoding: re-encoding the generic value gives the
		// same bytes.
		again, err := cborEnc.Marshal(cl)
		if err != nil || string(again) != string(arr[2].([]byte)) {
			t.Errorf("claims are not in core deterministic encoding")
		}
	}
}

func TestCnfForms(t *testing.T) {
	e := newTestEnv(t)
	// Both EC2 forms (sign bit and y) decode to the same key, for many keys
	// so that both sign bits occur.
	for i := 0; i < 16; i++ {
		k := newTestEnv(t).ueEC
		for _, unc := range []bool{false, true} {
			ck, err := coseKeyOf(&k.PublicKey, unc)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := cborEnc.Marshal(ck)
			var d coseKey
			if err := cborDec.Unmarshal(b, &d); err != nil {
				t.Fatal(err)
			}
			pub, err := d.publicKey()
			if err != nil || !keyEqual(pub, &k.PublicKey) {
				t.Fatalf("uncompressed=%v: %v", unc, err)
			}
		}
	}
	_ = e
	bad := []struct {
		name string
		key  map[int]any
	}{
		{"private d", map[int]any{1: 1, -1: 6, -2: make([]byte, 32), -4: make([]byte, 32)}},
		{"x not on curve", map[int]any{1: 2, -1: 1, -2: bytesOf(0xff, 32), -3: true}},
		{"y wrong", map[int]any{1: 2, -1: 1, -2: bytesOf(1, 32), -3: bytesOf(2, 32)}},
		{"short x", map[int]any{1: 2, -1: 1, -2: bytesOf(1, 31), -3: true}},
		{"P-384", map[int]any{1: 2, -1: 2, -2: bytesOf(1, 48), -3: true}},
		{"X25519", map[int]any{1: 1, -1: 4, -2: bytesOf(1, 32)}},
		{"symmetric", map[int]any{1: 4, -1: bytesOf(1, 32)}},
		{"y int", map[int]any{1: 2, -1: 1, -2: bytesOf(1, 32), -3: 1}},
	}
	for _, tc := range bad {
		b, err := cborEnc.Marshal(tc.key)
		if err != nil {
			t.Fatal(err)
		}
		var d coseKey
		if err := cborDec.Unmarshal(b, &d); err != nil {
			continue // rejected by the decoder: fine
		}
		if _, err := d.publicKey(); err == nil {
			t.Errorf("%s: accepted", tc.name)
		} else {
			checkErr(t, err, ErrMalformed)
		}
	}
	// JWK forms.
	for _, j := range []*jwkJSON{
		{Kty: "EC", Crv: "P-256", X: b64.EncodeToString(bytesOf(1, 32)), Y: b64.EncodeToString(bytesOf(2, 32))},
		{Kty: "EC", Crv: "P-384", X: "AA", Y: "AA"},
		{Kty: "OKP", Crv: "X25519", X: b64.EncodeToString(bytesOf(1, 32))},
		{Kty: "OKP", Crv: "Ed25519", X: b64.EncodeToString(bytesOf(1, 31))},
		{Kty: "OKP", Crv: "Ed25519", X: b64.EncodeToString(bytesOf(1, 32)), D: true},
		{Kty: "oct"},
	} {
		if _, err := j.publicKey(); err == nil {
			t.Errorf("jwk %+v accepted", j)
		}
	}
	if _, err := (&jwkJSON{Kty: "OKP", Crv: "Ed25519", X: b64.EncodeToString(e.ueEd.Public().(ed25519.PublicKey))}).publicKey(); err != nil {
		t.Error(err)
	}
	var _ *ecdsa.PublicKey
}

func bytesOf(v byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = v
	}
	return b
}

func TestSignRejects(t *testing.T) {
	e := newTestEnv(t)
	c := e.typicalClaims()
	for name, mod := range map[string]func(c *Claims){
		"no exp":          func(c *Claims) { c.Expiry = time.Time{} },
		"other issuer":    func(c *Claims) { c.Issuer = "https://other" },
		"bad scope":       func(c *Claims) { c.Scopes = []Scope{{Role: "relay", RSC: 1}} },
		"rsc too big":     func(c *Claims) { c.Scopes = []Scope{{Role: RoleUse, RSC: 1 << 24}} },
		"empty aud":       func(c *Claims) { c.Audience = []string{""} },
		"status no uri":   func(c *Claims) { c.Status = &StatusRef{} },
		"private cnf":     func(c *Claims) { c.Confirmation = e.ueEC },
		"bad cnf type":    func(c *Claims) { c.Confirmation = "key" },
		"jti not b64 cwt": func(c *Claims) { c.ID = "not base64url!" },
	} {
		cc := *c
		mod(&cc)
		_, err1 := e.ecSigner.Sign(&cc, CWT)
		_, err2 := e.ecSigner.Sign(&cc, JWT)
		if err1 == nil || (err2 == nil && name != "jti not b64 cwt") {
			t.Errorf("%s: Sign accepted (cwt %v, jwt %v)", name, err1, err2)
		}
	}
	if _, err := e.ecSigner.Sign(c, Format(3)); err == nil {
		t.Error("unknown format accepted")
	}
	// A literal Signer whose algorithm does not match its key.
	s := &Signer{Issuer: testIssuer, KeyID: "k", Algorithm: EdDSA, Key: e.ecKey}
	if _, err := s.Sign(c, JWT); err == nil {
		t.Error("mismatched signer accepted")
	}
	if _, err := (&Signer{Issuer: testIssuer, KeyID: "k", Algorithm: ES256}).Sign(c, JWT); err == nil {
		t.Error("signer without key accepted")
	}
}
