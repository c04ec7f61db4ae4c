package token

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

var (
	algs    = []Algorithm{ES256, EdDSA}
	formats = []Format{JWT, CWT}
)

// TestVerifyFailures runs every failure kind through both formats and both
// algorithms.
func TestVerifyFailures(t *testing.T) {
	e := newTestEnv(t)
	otherEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, otherEd, _ := ed25519.GenerateKey(rand.Reader)
	exp := testNow.Add(time.Hour)

	type tc struct {
		name   string
		claims func(c *Claims)
		signer func(alg Algorithm) *Signer
		v      func(v *Verifier)
		now    time.Time
		want   error // nil: valid
	}
	at := func(d time.Duration) time.Time { return exp.Add(d) }
	cases := []tc{
		{name: "valid", now: testNow},
		{name: "expired", now: at(time.Hour), want: ErrExpired},
		{name: "at exp, no leeway", now: exp, v: func(v *Verifier) { v.Leeway = 0 }, want: ErrExpired},
		{name: "1s before exp, no leeway", now: at(-time.Second), v: func(v *Verifier) { v.Leeway = 0 }},
		{name: "leeway: just inside", now: at(29 * time.Second)},
		{name: "leeway: just inside (ns)", now: at(30*time.Second - 1)},
		{name: "leeway: at the boundary", now: at(30 * time.Second), want: ErrExpired},
		{name: "leeway: just outside", now: at(31 * time.Second), want: ErrExpired},
		{name: "nbf in the future", now: testNow, claims: func(c *Claims) { c.NotBefore = testNow.Add(31 * time.Second) }, want: ErrNotYetValid},
		{name: "nbf at leeway", now: testNow, claims: func(c *Claims) { c.NotBefore = testNow.Add(30 * time.Second) }},
		{name: "iat in the future", now: testNow, claims: func(c *Claims) {
			c.IssuedAt = testNow.Add(2 * time.Minute)
			c.NotBefore = testNow.Add(-time.Minute)
		}, want: ErrNotYetValid},
		{name: "iat and nbf in the future", now: testNow.Add(-time.Minute), want: ErrNotYetValid},
		{name: "unknown issuer", now: testNow, claims: func(c *Claims) { c.Issuer = "" }, signer: func(alg Algorithm) *Signer {
			s := *e.signer(alg)
			s.Issuer = "https://evil.example"
			return &s
		}, want: ErrUnknownIssuer},
		{name: "unknown kid", now: testNow, signer: func(alg Algorithm) *Signer {
			s := *e.signer(alg)
			s.KeyID = "unknown"
			return &s
		}, want: ErrUnknownKey},
		{name: "trusted kid, untrusted key", now: testNow, signer: func(alg Algorithm) *Signer {
			s := *e.signer(alg)
			if alg == ES256 {
				s.Key = otherEC
			} else {
				s.Key = otherEd
			}
			return &s
		}, want: ErrBadSignature},
		{name: "alg does not match the key's", now: testNow, signer: func(alg Algorithm) *Signer {
			s := *e.signer(alg)
			if alg == ES256 {
				s.Key, s.Algorithm = otherEd, EdDSA
			} else {
				s.Key, s.Algorithm = otherEC, ES256
			}
			return &s
		}, want: ErrAlgorithmNotAllowed},
		{name: "alg not in allow-list", now: testNow, v: func(v *Verifier) { v.Algorithms = []Algorithm{ES256} }, signer: func(Algorithm) *Signer { return e.edSigner }, want: ErrAlgorithmNotAllowed},
		{name: "wrong audience", now: testNow, claims: func(c *Claims) { c.Audience = []string{"prosesec:other"} }, want: ErrWrongAudience},
		{name: "no audience", now: testNow, claims: func(c *Claims) { c.Audience = nil }, want: ErrWrongAudience},
		{name: "too large", now: testNow, v: func(v *Verifier) { v.MaxSize = 100 }, want: ErrTooLarge},
		{name: "status: no checker", now: testNow, v: func(v *Verifier) { v.SkipStatus = false }, want: ErrStatusListMissing},
		{name: "status: skipped", now: testNow, v: func(v *Verifier) { v.SkipStatus = true; v.Status = NewStatusCache(0) }},
		{name: "status: list missing", now: testNow, v: func(v *Verifier) { v.SkipStatus = false; v.Status = NewStatusCache(0) }, want: ErrStatusListMissing},
	}
	for _, c := range cases {
		for _, alg := range algs {
			for _, f := range formats {
				name := fmt.Sprintf("%s/%s/%s", c.name, alg, f)
				claims := e.typicalClaims()
				if c.claims != nil {
					c.claims(claims)
				}
				s := e.signer(alg)
				if c.signer != nil {
					s = c.signer(alg)
				}
				raw, err := s.Sign(claims, f)
				if err != nil {
					t.Fatalf("%s: Sign: %v", name, err)
				}
				v := e.verifier()
				if c.v != nil {
					c.v(v)
				}
				got, err := v.Verify(raw, f, c.now)
				if c.want == nil {
					if err != nil || got == nil {
						t.Errorf("%s: %v", name, err)
					}
					continue
				}
				if got != nil {
					t.Errorf("%s: claims returned with error", name)
				}
				checkErr(t, err, c.want)
				t.Logf("%s: %v", name, err)
			}
		}
	}
}

func TestVerifyStatus(t *testing.T) {
	e := newTestEnv(t)
	list, _ := NewStatusList(4096, 2)
	_ = list.Set(1234, StatusInvalid)
	_ = list.Set(1235, StatusSuspended)
	slt := &StatusListToken{Issuer: testIssuer, Subject: testListURI, IssuedAt: testNow.Add(-time.Hour), Expiry: testNow.Add(time.Hour), List: list}
	cache := NewStatusCache(2 * time.Hour)
	cache.Put(slt)
	v := e.verifier()
	v.SkipStatus, v.Status = false, cache
	for _, tc := range []struct {
		name  string
		idx   uint64
		uri   string
		cache *StatusCache
		now   time.Time
		want  error
	}{
		{"valid entry", 1, testListURI, cache, testNow, nil},
		{"revoked", 1234, testListURI, cache, testNow, ErrRevoked},
		{"suspended", 1235, testListURI, cache, testNow, ErrRevoked},
		{"index beyond the list", 4096, testListURI, cache, testNow, ErrMalformed},
		{"other list", 1, testListURI + "x", cache, testNow, ErrStatusListMissing},
		{"list too old", 1, testListURI, NewStatusCacheWith(time.Minute, slt), testNow, ErrStatusListStale},
		{"list expired", 1, testListURI, NewStatusCacheWith(0, slt), testNow.Add(50 * time.Minute), nil},
		{"list expired at exp", 1, testListURI, NewStatusCacheWith(0, slt), testNow.Add(time.Hour), ErrStatusListStale},
		{"list of another issuer", 1, testListURI, NewStatusCacheWith(0, &StatusListToken{Issuer: testIssuer2, Subject: testListURI, IssuedAt: testNow, List: list}), testNow, ErrStatusListMissing},
	} {
		for _, alg := range algs {
			for _, f := range formats {
				c := e.typicalClaims()
				c.Expiry = testNow.Add(2 * time.Hour)
				c.Status = &StatusRef{URI: tc.uri, Index: tc.idx}
				raw := e.sign(t, c, alg, f)
				vv := *v
				vv.Status = tc.cache
				_, err := vv.Verify(raw, f, tc.now)
				if tc.want == nil {
					if err != nil {
						t.Errorf("%s/%s/%s: %v", tc.name, alg, f, err)
					}
					continue
				}
				checkErr(t, err, tc.want)
			}
		}
	}
	// A StatusChecker without issuer checking, returning a foreign error.
	vv := *v
	vv.Status = checkerFunc(func(StatusRef, time.Time) (uint8, error) { return 0, fmt.Errorf("disk on fire") })
	_, err := vv.Verify(e.sign(t, e.typicalClaims(), ES256, CWT), CWT, testNow)
	checkErr(t, err, ErrStatusListMissing)
	vv.Status = checkerFunc(func(StatusRef, time.Time) (uint8, error) { return 0, nil })
	if _, err := vv.Verify(e.sign(t, e.typicalClaims(), ES256, CWT), CWT, testNow); err != nil {
		t.Error(err)
	}
}

type checkerFunc func(StatusRef, time.Time) (uint8, error)

func (f checkerFunc) Status(r StatusRef, now time.Time) (uint8, error) { return f(r, now) }

func NewStatusCacheWith(maxAge time.Duration, t *StatusListToken) *StatusCache {
	c := NewStatusCache(maxAge)
	c.Put(t)
	return c
}

// TestAlgNoneAndHMAC: "alg": "none" and HS256 tokens whose HMAC secret is
// the issuer's public key (PEM and JWK forms), the classic algorithm
// confusion attacks, fail as ErrAlgorithmNotAllowed.
func TestAlgNoneAndHMAC(t *testing.T) {
	e := newTestEnv(t)
	payload, err := encodeJWTClaims(e.typicalClaims(), testIssuer)
	if err != nil {
		t.Fatal(err)
	}
	p64 := b64.EncodeToString(payload)
	for _, hdr := range []string{
		`{"alg":"none","typ":"at+jwt","kid":"` + testKidEC + `"}`,
		`{"alg":"none"}`,
		`{"alg":"None","typ":"at+jwt","kid":"` + testKidEC + `"}`,
	} {
		raw := b64.EncodeToString([]byte(hdr)) + "." + p64 + "."
		_, err := e.verifier().Verify([]byte(raw), JWT, testNow)
		checkErr(t, err, ErrAlgorithmNotAllowed)
	}
	der, _ := x509.MarshalPKIXPublicKey(&e.ecKey.PublicKey)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	jwksJSON, _ := MarshalJWKS([]IssuerKey{e.ecSigner.Public()})
	var set struct{ Keys []json.RawMessage }
	_ = json.Unmarshal(jwksJSON, &set)
	for name, secret := range map[string][]byte{"PEM": pemKey, "JWK": set.Keys[0], "DER": der} {
		js, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secret},
			(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", testKidEC))
		if err != nil {
			t.Fatal(err)
		}
		obj, err := js.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := obj.CompactSerialize()
		_, err = e.verifier().Verify([]byte(raw), JWT, testNow)
		checkErr(t, err, ErrAlgorithmNotAllowed)
		t.Logf("HS256 with %s secret: %v", name, err)
	}
	// The COSE equivalents: HMAC 256/256 (alg 5) and ES384 (-35).
	cp, _ := encodeCWTClaims(e.typicalClaims(), testIssuer, false)
	for _, alg := range []int64{5, -35, 0, -257} {
		ph, _ := cborEnc.Marshal(coseProtected{Alg: alg, Kid: []byte(testKidEC)})
		raw := encodeSign1(ph, cp, make([]byte, 32))
		_, err := e.verifier().Verify(raw, CWT, testNow)
		checkErr(t, err, ErrAlgorithmNotAllowed)
	}
}

// TestVerifyMalformed covers encoding-level failures of both formats.
func TestVerifyMalformed(t *testing.T) {
	e := newTestEnv(t)
	v := e.verifier()
	good := e.typicalClaims()
	cwtPayload, _ := encodeCWTClaims(good, testIssuer, false)
	jwtPayload, _ := encodeJWTClaims(good, testIssuer)
	ph := protectedHeader(t, e.ecSigner)
	jh := `{"alg":"ES256","kid":"` + testKidEC + `","typ":"at+jwt"}`

	jwtCases := map[string][]byte{
		"empty":              nil,
		"garbage":            []byte("garbage"),
		"two parts":          []byte("eyJhbGciOiJFUzI1NiJ9.e30"),
		"four parts":         append(e.sign(t, good, ES256, JWT), []byte(".x")...),
		"padding":            []byte(strings.Replace(string(e.sign(t, good, ES256, JWT)), ".", "=.", 1)),
		"json serialization": []byte(`{"payload":"e30","signatures":[]}`),
		"typ JWT":            signJWTParts(t, e.ecSigner, `{"alg":"ES256","kid":"`+testKidEC+`","typ":"JWT"}`, string(jwtPayload)),
		"no typ":             signJWTParts(t, e.ecSigner, `{"alg":"ES256","kid":"`+testKidEC+`"}`, string(jwtPayload)),
		"typ statuslist":     signJWTParts(t, e.ecSigner, `{"alg":"ES256","kid":"`+testKidEC+`","typ":"statuslist+jwt"}`, string(jwtPayload)),
		"no kid":             signJWTParts(t, e.ecSigner, `{"alg":"ES256","typ":"at+jwt"}`, string(jwtPayload)),
		"crit":               signJWTParts(t, e.ecSigner, `{"alg":"ES256","kid":"`+testKidEC+`","typ":"at+jwt","crit":["exp"]}`, string(jwtPayload)),
		"dup header member":  signJWTParts(t, e.ecSigner, `{"alg":"ES256","alg":"ES256","kid":"`+testKidEC+`","typ":"at+jwt"}`, string(jwtPayload)),
		"dup escaped member": signJWTParts(t, e.ecSigner, `{"alg":"ES256","\u0061lg":"ES256","kid":"`+testKidEC+`","typ":"at+jwt"}`, string(jwtPayload)),
		"dup claim":          signJWTParts(t, e.ecSigner, jh, `{"iss":"`+testIssuer+`","exp":1,"exp":9999999999,"aud":"`+testAudience+`"}`),
		"no exp":             signJWTParts(t, e.ecSigner, jh, `{"iss":"`+testIssuer+`","aud":"`+testAudience+`"}`),
		"exp float":          signJWTParts(t, e.ecSigner, jh, `{"iss":"`+testIssuer+`","aud":"`+testAudience+`","exp":9999999999.5}`),
		"exp string":         signJWTParts(t, e.ecSigner, jh, `{"iss":"`+testIssuer+`","aud":"`+testAudience+`","exp":"9999999999"}`),
		"exp null":           signJWTParts(t, e.ecSigner, jh, `{"iss":"`+testIssuer+`","aud":"`+testAudience+`","exp":null}`),
		"aud number":         signJWTParts(t, e.ecSigner, jh, `{"iss":"`+testIssuer+`","aud":7,"exp":9999999999}`),
		"bad scope":          signJWTParts(t, e.ecSigner, jh, `{"iss":"`+testIssuer+`","aud":"`+testAudience+`","exp":9999999999,"scope":"u2u:use:2a"}`),
		"trailing data":      signJWTParts(t, e.ecSigner, jh, `{"iss":"`+testIssuer+`","aud":"`+testAudience+`","exp":9999999999} x`),
		"claims array":       signJWTParts(t, e.ecSigner, jh, `[]`),
		"bad utf8":           signJWTParts(t, e.ecSigner, jh, "{\"iss\":\""+testIssuer+"\",\"aud\":\""+testAudience+"\",\"exp\":9999999999,\"sub\":\"\xff\"}"),
		"lone surrogate":     signJWTParts(t, e.ecSigner, jh, `{"iss":"`+testIssuer+`","aud":"`+testAudience+`","exp":9999999999,"sub":"\ud800"}`),
		"cnf no jwk":         signJWTParts(t, e.ecSigner, jh, `{"iss":"`+testIssuer+`","aud":"`+testAudience+`","exp":9999999999,"cnf":{"jkt":"abc"}}`),
		"cnf private":        signJWTParts(t, e.ecSigner, jh, `{"iss":"`+testIssuer+`","aud":"`+testAudience+`","exp":9999999999,"cnf":{"jwk":{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}}}`),
		"status no idx":      signJWTParts(t, e.ecSigner, jh, `{"iss":"`+testIssuer+`","aud":"`+testAudience+`","exp":9999999999,"status":{"status_list":{"uri":"x"}}}`),
		"status other":       signJWTParts(t, e.ecSigner, jh, `{"iss":"`+testIssuer+`","aud":"`+testAudience+`","exp":9999999999,"status":{"other":{}}}`),
		"deep nesting":       signJWTParts(t, e.ecSigner, jh, `{"iss":"`+testIssuer+`","aud":"`+testAudience+`","exp":9999999999,"x":`+strings.Repeat("[", 100)+strings.Repeat("]", 100)+`}`),
		"signature short":    []byte(string(e.sign(t, good, ES256, JWT)[:len(e.sign(t, good, ES256, JWT))-4])),
	}
	for name, raw := range jwtCases {
		_, err := v.Verify(raw, JWT, testNow)
		if err == nil {
			t.Errorf("jwt %s: accepted", name)
			continue
		}
		if !errors_Is(err, ErrMalformed) && !errors_Is(err, ErrBadSignature) {
			t.Errorf("jwt %s: %v, want ErrMalformed or ErrBadSignature", name, err)
		}
	}

	dupClaims := []byte{0xa3, 0x01}
	dupClaims = append(dupClaims, mustCBOR(testIssuer)...)
	dupClaims = append(dupClaims, 0x04, 0x1a, 0xff, 0xff, 0xff, 0xff, 0x04, 0x01) // exp twice
	indefMap := append([]byte{0xbf}, cwtPayload[1:]...)
	indefMap = append(indefMap, 0xff)
	indefStr := []byte{0xa3, 0x01, 0x7f, 0x61, 'h', 0xff, 0x03}
	indefStr = append(indefStr, mustCBOR(testAudience)...)
	indefStr = append(indefStr, 0x04, 0x1a, 0xff, 0xff, 0xff, 0xff)
	dupPH := []byte{0xa3, 0x01, 0x26, 0x01, 0x26, 0x04, 0x48}
	dupPH = append(dupPH, testKidEC...)
	signed := e.sign(t, good, ES256, CWT)
	untagged := signed[1:]
	cwtCases := map[string][]byte{
		"empty":            nil,
		"garbage":          []byte("garbage"),
		"wrong tag 17":     append([]byte{0xd1}, untagged...),
		"wrong tag 98":     append([]byte{0xd8, 0x62}, untagged...),
		"tag 61 untagged":  append([]byte{0xd8, 0x3d}, untagged...),
		"tag 18 twice":     append([]byte{0xd2}, signed...),
		"nested tag":       signCOSEParts(t, e.ecSigner, ph, append([]byte{0xc1}, cwtPayload...)),
		"trailing byte":    append(append([]byte{}, signed...), 0x00),
		"dup claim key":    signCOSEParts(t, e.ecSigner, ph, dupClaims),
		"dup header key":   signCOSEParts(t, e.ecSigner, dupPH, cwtPayload),
		"indefinite map":   signCOSEParts(t, e.ecSigner, ph, indefMap),
		"indefinite text":  signCOSEParts(t, e.ecSigner, ph, indefStr),
		"no exp":           signCOSEParts(t, e.ecSigner, ph, append([]byte{0xa2, 0x01}, append(mustCBOR(testIssuer), append([]byte{0x03}, mustCBOR(testAudience)...)...)...)),
		"exp float":        signCOSEParts(t, e.ecSigner, ph, append([]byte{0xa3, 0x01}, append(mustCBOR(testIssuer), append(append([]byte{0x03}, mustCBOR(testAudience)...), 0x04, 0xfb, 0x41, 0xe0, 0, 0, 0, 0, 0, 0)...)...)),
		"claims not a map": signCOSEParts(t, e.ecSigner, ph, []byte{0x80}),
		"typ present":      signCOSEParts(t, e.ecSigner, mustCBOR(map[int]any{1: -7, 4: []byte(testKidEC), 16: "application/cwt"}), cwtPayload),
		"crit present":     signCOSEParts(t, e.ecSigner, mustCBOR(map[int]any{1: -7, 2: []int{4}, 4: []byte(testKidEC)}), cwtPayload),
		"no alg":           signCOSEParts(t, e.ecSigner, mustCBOR(map[int]any{4: []byte(testKidEC)}), cwtPayload),
		"alg text":         signCOSEParts(t, e.ecSigner, mustCBOR(map[int]any{1: "ES256", 4: []byte(testKidEC)}), cwtPayload),
		"no kid":           signCOSEParts(t, e.ecSigner, mustCBOR(map[int]any{1: -7}), cwtPayload),
		"array of 3":       {0xd2, 0x83, 0x40, 0xa0, 0x40},
		"array of 5":       {0xd2, 0x85, 0x40, 0xa0, 0x40, 0x40, 0x40},
		"nil payload":      {0xd2, 0x84, 0x43, 0xa1, 0x01, 0x26, 0xa0, 0xf6, 0x40},
		"bad utf8 sub":     signCOSEParts(t, e.ecSigner, ph, append([]byte{0xa4, 0x01}, append(mustCBOR(testIssuer), append(append([]byte{0x03}, mustCBOR(testAudience)...), 0x04, 0x1a, 0xff, 0xff, 0xff, 0xff, 0x02, 0x61, 0xff)...)...)),
		"cti empty":        signCOSEParts(t, e.ecSigner, ph, append([]byte{0xa4, 0x01}, append(mustCBOR(testIssuer), append(append([]byte{0x03}, mustCBOR(testAudience)...), 0x04, 0x1a, 0xff, 0xff, 0xff, 0xff, 0x07, 0x40)...)...)),
		"scope bytes":      signCOSEParts(t, e.ecSigner, ph, append([]byte{0xa4, 0x01}, append(mustCBOR(testIssuer), append(append([]byte{0x03}, mustCBOR(testAudience)...), 0x04, 0x1a, 0xff, 0xff, 0xff, 0xff, 0x09, 0x41, 'x')...)...)),
		"deep nesting":     signCOSEParts(t, e.ecSigner, ph, append(append([]byte{0xa1, 0x19, 0x01, 0x00}, bytesOf(0x81, 20)...), 0x00)),
	}
	for name, raw := range cwtCases {
		_, err := v.Verify(raw, CWT, testNow)
		if err == nil {
			t.Errorf("cwt %s: accepted", name)
			continue
		}
		if !errors_Is(err, ErrMalformed) && !errors_Is(err, ErrBadSignature) {
			t.Errorf("cwt %s: %v, want ErrMalformed or ErrBadSignature", name, err)
		}
		t.Logf("cwt %s: %v", name, err)
	}

	// Accepted variations: untagged, CWT tag 61 around tag 18, kid in the
	// unprotected header, typ in any case or with "application/".
	for name, raw := range map[string][]byte{
		"untagged":         untagged,
		"cwt tag":          append([]byte{0xd8, 0x3d}, signed...),
		"kid unprotected":  withUnprotectedKid(t, e),
		"typ AT+JWT":       signJWTParts(t, e.ecSigner, `{"alg":"ES256","kid":"`+testKidEC+`","typ":"AT+JWT"}`, string(jwtPayload)),
		"typ application/": signJWTParts(t, e.ecSigner, `{"alg":"ES256","kid":"`+testKidEC+`","typ":"application/at+jwt"}`, string(jwtPayload)),
		"unknown members":  signJWTParts(t, e.ecSigner, `{"alg":"ES256","kid":"`+testKidEC+`","typ":"at+jwt","x5t":[1,{"a":null}]}`, strings.Replace(string(jwtPayload), `{`, `{"foo":[true,false,null,-1.5e3,"\u00e9\ud83d\ude00"],`, 1)),
	} {
		f := CWT
		if strings.HasPrefix(name, "typ") || name == "unknown members" {
			f = JWT
		}
		if _, err := v.Verify(raw, f, testNow); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func withUnprotectedKid(t *testing.T, e *testEnv) []byte {
	payload, _ := encodeCWTClaims(e.typicalClaims(), testIssuer, false)
	ph := mustCBOR(map[int]any{1: -7})
	sig, err := e.ecSigner.signRaw(sigStructure(ph, payload))
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte{0xd2}, mustCBOR(cborTag18{Protected: ph, Unprotected: map[int]any{4: []byte(testKidEC)}, Payload: payload, Signature: sig})...)
}

type cborTag18 struct {
	_           struct{} `cbor:",toarray"`
	Protected   []byte
	Unprotected map[int]any
	Payload     []byte
	Signature   []byte
}

func mustCBOR(v any) []byte {
	b, err := cborEnc.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func errors_Is(err, target error) bool {
	for _, s := range sentinels {
		if s == target {
			return strings.HasPrefix(err.Error(), target.Error())
		}
	}
	return false
}

// TestTruncated: no prefix of a valid token verifies, and none panics.
func TestTruncated(t *testing.T) {
	e := newTestEnv(t)
	for _, alg := range algs {
		for _, f := range formats {
			raw := e.sign(t, e.typicalClaims(), alg, f)
			for i := 0; i < len(raw); i++ {
				_, err := e.verifier().Verify(raw[:i], f, testNow)
				if err == nil {
					t.Fatalf("%s %s: prefix of %d bytes verified", alg, f, i)
				}
				if !errors_Is(err, ErrMalformed) && !errors_Is(err, ErrBadSignature) {
					t.Fatalf("%s %s: prefix %d: %v", alg, f, i, err)
				}
			}
			// Every single-byte change is caught too.
			for i := 0; i < len(raw); i++ {
				mod := append([]byte{}, raw...)
				mod[i] ^= 0x01
				if _, err := e.verifier().Verify(mod, f, testNow); err == nil {
					// Only bytes outside the signed data may change
					// harmlessly: none exist in our encodings except
					// base64 trailing bits, which Strict rejects.
					t.Errorf("%s %s: flipping byte %d still verifies", alg, f, i)
				}
			}
		}
	}
}

func TestVerifierConfig(t *testing.T) {
	e := newTestEnv(t)
	raw := e.sign(t, e.typicalClaims(), ES256, JWT)
	for name, v := range map[string]*Verifier{
		"nil":             nil,
		"no trust":        {Algorithms: []Algorithm{ES256}, Audience: testAudience},
		"no algorithms":   {Trust: e.trust, Audience: testAudience},
		"HS256 allowed":   {Trust: e.trust, Algorithms: []Algorithm{ES256, "HS256"}, Audience: testAudience},
		"none allowed":    {Trust: e.trust, Algorithms: []Algorithm{"none"}, Audience: testAudience},
		"no audience":     {Trust: e.trust, Algorithms: []Algorithm{ES256}},
		"negative leeway": {Trust: e.trust, Algorithms: []Algorithm{ES256}, Audience: testAudience, Leeway: -1},
		"negative size":   {Trust: e.trust, Algorithms: []Algorithm{ES256}, Audience: testAudience, MaxSize: -1},
	} {
		_, err := v.Verify(raw, JWT, testNow)
		checkErr(t, err, ErrVerifierConfig)
		t.Logf("%s: %v", name, err)
	}
	_, err := e.verifier().Verify(raw, Format(0), testNow)
	checkErr(t, err, ErrVerifierConfig)
	// The default size cap.
	big := make([]byte, DefaultMaxSize+1)
	_, err = e.verifier().Verify(big, CWT, testNow)
	checkErr(t, err, ErrTooLarge)
}

func TestErrorMessages(t *testing.T) {
	e := newTestEnv(t)
	c := e.typicalClaims()
	c.Expiry = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	c.IssuedAt, c.NotBefore = c.Expiry.Add(-time.Hour), c.Expiry.Add(-time.Hour)
	_, err := e.verifier().Verify(e.sign(t, c, ES256, CWT), CWT, c.Expiry.Add(5*time.Minute))
	want := "token: expired: exp 2026-12-03T10:00:00Z is not after now 2026-12-03T10:05:00Z minus leeway 30s"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

func TestVerifyConcurrent(t *testing.T) {
	e := newTestEnv(t)
	v := e.verifier()
	raws := [][]byte{e.sign(t, e.typicalClaims(), ES256, CWT), e.sign(t, e.typicalClaims(), EdDSA, JWT)}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				if _, err := v.Verify(raws[(i+j)%2], Format(1+(i+j)%2), testNow); err != nil {
					// JWT is format 1, CWT 2: raws[0] is CWT.
					if (i+j)%2 == 0 {
						continue
					}
				}
				_ = e.trust.Add(IssuerKey{Issuer: testIssuer2, KeyID: fmt.Sprint(i), Algorithm: EdDSA, Key: e.ueEd.Public()})
				_ = e.trust.Keys()
			}
		}(i)
	}
	wg.Wait()
	for _, f := range formats {
		raw := raws[0]
		if f == JWT {
			raw = raws[1]
		}
		if _, err := v.Verify(raw, f, testNow); err != nil {
			t.Error(err)
		}
	}
}
func TestAudCBOR(t *testing.T) {
	e := newTestEnv(t)
	ph := protectedHeader(t, e.ecSigner)
	base := func(aud []byte) []byte {
		b := append([]byte{0xa3, 0x01}, mustCBOR(testIssuer)...)
		b = append(b, 0x03)
		b = append(b, aud...)
		return append(b, 0x04, 0x1a, 0xff, 0xff, 0xff, 0xff)
	}
	for name, tc := range map[string]struct {
		aud []byte
		ok  bool
	}{
		"text":         {mustCBOR(testAudience), true},
		"array":        {mustCBOR([]string{"x", testAudience}), true},
		"bad utf8":     {[]byte{0x61, 0xff}, false},
		"int":          {[]byte{0x01}, false},
		"array of int": {[]byte{0x81, 0x01}, false},
		"bytes":        {[]byte{0x41, 'a'}, false},
	} {
		_, err := e.verifier().Verify(signCOSEParts(t, e.ecSigner, ph, base(tc.aud)), CWT, testNow)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestNumericDateRange: a signed token whose NumericDate lies outside
// 1970-01-01 to 9999-12-31 is malformed. Near 2^63, time.Unix wraps, and
// without the bound a token with such an nbf or iat read as issued in the
// distant past and verified.
func TestNumericDateRange(t *testing.T) {
	e := newTestEnv(t)
	v := e.verifier()
	ph := protectedHeader(t, e.ecSigner)
	jh := `{"alg":"ES256","kid":"` + testKidEC + `","typ":"at+jwt"}`
	const exp = 4102444800 // 2100-01-01
	for _, tc := range []struct {
		name     string
		claim    string // iat, nbf or exp
		cwtKey   int
		value    int64
		accepted bool
	}{
		{"nbf max int64", "nbf", cwtKeyNbf, math.MaxInt64, false},
		{"iat max int64", "iat", cwtKeyIat, math.MaxInt64, false},
		{"iat negative", "iat", cwtKeyIat, -1, false},
		{"exp after 9999", "exp", cwtKeyExp, 253402300800, false},
		{"exp 9999-12-31T23:59:59", "exp", cwtKeyExp, 253402300799, true},
		{"nbf epoch", "nbf", cwtKeyNbf, 0, true},
	} {
		jc := map[string]any{"iss": testIssuer, "aud": testAudience, "exp": exp}
		cc := map[int]any{1: testIssuer, 3: testAudience, cwtKeyExp: exp}
		jc[tc.claim], cc[tc.cwtKey] = tc.value, tc.value
		payload, err := json.Marshal(jc)
		if err != nil {
			t.Fatal(err)
		}
		for f, raw := range map[Format][]byte{
			JWT: signJWTParts(t, e.ecSigner, jh, string(payload)),
			CWT: signCOSEParts(t, e.ecSigner, ph, mustCBOR(cc)),
		} {
			_, err := v.Verify(raw, f, testNow)
			switch {
			case tc.accepted && err != nil:
				t.Errorf("%s %s: %v", f, tc.name, err)
			case !tc.accepted:
				checkErr(t, err, ErrMalformed)
			}
		}
	}
}
