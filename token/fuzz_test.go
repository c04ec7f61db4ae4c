package token

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/json"
	"testing"
	"time"
)

// fuzzEnv uses fixed keys, so that every fuzz worker process trusts the
// keys that signed the seed corpus.
type fuzzEnv struct {
	*testEnv
	v     *Verifier
	seeds []*Claims
}

func newFuzzEnv(f *testing.F) *fuzzEnv {
	ecKey, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), bytes.Repeat([]byte{7}, 32))
	if err != nil {
		f.Fatal(err)
	}
	ueEC, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), bytes.Repeat([]byte{9}, 32))
	if err != nil {
		f.Fatal(err)
	}
	e := &testEnv{
		ecKey: ecKey,
		edKey: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32)),
		ueEC:  ueEC,
		ueEd:  ed25519.NewKeyFromSeed(bytes.Repeat([]byte{10}, 32)),
		trust: NewTrustStore(),
	}
	e.ecSigner, _ = NewSigner(testIssuer, testKidEC, e.ecKey)
	e.edSigner, _ = NewSigner(testIssuer, testKidEd, e.edKey)
	_ = e.trust.Add(e.ecSigner.Public())
	_ = e.trust.Add(e.edSigner.Public())

	l, _ := NewStatusList(4096, 2)
	_ = l.Set(7, StatusInvalid)
	cache := NewStatusCache(0)
	cache.Put(&StatusListToken{Issuer: testIssuer, Subject: testListURI, IssuedAt: testNow.Add(-time.Hour), List: l})
	v := e.verifier()
	v.SkipStatus, v.Status = false, cache

	fe := &fuzzEnv{testEnv: e, v: v}
	for _, mod := range []func(*Claims){
		func(*Claims) {},
		func(c *Claims) { c.Confirmation = e.ueEd.Public() },
		func(c *Claims) { c.Confirmation, c.Status = nil, nil },
		func(c *Claims) {
			c.Audience = []string{"a", testAudience}
			c.ClientID = "x"
			c.NotBefore = testNow.Add(-time.Second)
		},
	} {
		c := e.typicalClaims()
		mod(c)
		c.defaults()
		fe.seeds = append(fe.seeds, c)
	}
	return fe
}

func (fe *fuzzEnv) isSeed(c *Claims) bool {
	for _, s := range fe.seeds {
		if claimsEqual(c, s) {
			return true
		}
	}
	return false
}

func fuzzFormat(f *testing.F, format Format) {
	fe := newFuzzEnv(f)
	for _, c := range fe.seeds {
		for _, alg := range algs {
			raw := fe.sign(f, c, alg, format)
			f.Add(raw)
			if format == JWT {
				p, _ := encodeJWTClaims(c, testIssuer)
				f.Add(p)
			} else {
				p, _ := encodeCWTClaims(c, testIssuer, alg == EdDSA)
				f.Add(p)
				f.Add(raw[1:]) // untagged
			}
		}
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		// 1. The input as a token: whatever it is, it must not verify
		// unless it carries the claims of one of the tokens the test key
		// signed.
		c, err := fe.v.Verify(data, format, testNow)
		if err == nil && !fe.isSeed(c) {
			t.Fatalf("verified claims that were never signed: %+v", c)
		}
		if err != nil && !bytes.HasPrefix([]byte(err.Error()), []byte("token: ")) {
			t.Fatalf("error without prefix: %v", err)
		}
		// 2. The input as a claims set, signed with the test key: the
		// claims decoder sees arbitrary but authentic input. What
		// verifies must re-encode to the same claims.
		var raw []byte
		if format == JWT {
			raw = signJWTParts(t, fe.edSigner, `{"alg":"EdDSA","kid":"`+testKidEd+`","typ":"at+jwt"}`, string(data))
		} else {
			raw = signCOSEParts(t, fe.edSigner, protectedHeader(t, fe.edSigner), data)
		}
		c, err = fe.v.Verify(raw, format, testNow)
		if err != nil {
			return
		}
		if format == JWT {
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatalf("accepted claims that encoding/json rejects: %v", err)
			}
			if m["iss"] != c.Issuer {
				t.Fatalf("iss %q, encoding/json reads %v", c.Issuer, m["iss"])
			}
		}
		again, err := fe.edSigner.Sign(c, format)
		if err != nil {
			return // e.g. an empty second audience: verifiable, not signable
		}
		c2, err := fe.v.Verify(again, format, testNow)
		if err != nil || !claimsEqual(c, c2) {
			t.Fatalf("re-signed claims differ: %v\n%+v\n%+v", err, c, c2)
		}
	})
}

func FuzzVerifyJWT(f *testing.F) { fuzzFormat(f, JWT) }
func FuzzVerifyCWT(f *testing.F) { fuzzFormat(f, CWT) }

func FuzzStatusList(f *testing.F) {
	fe := newFuzzEnv(f)
	l, _ := NewStatusList(1000, 2)
	_ = l.Set(5, 3)
	z, _ := l.Compress()
	tok := &StatusListToken{Subject: testListURI, IssuedAt: testNow, Expiry: testNow.Add(time.Hour), TTL: time.Hour, List: l}
	var signed [][]byte
	for _, s := range []*Signer{fe.ecSigner, fe.edSigner} {
		for _, format := range formats {
			raw, _ := s.SignStatusList(tok, format)
			signed = append(signed, raw)
		}
	}
	f.Add(uint8(2), z)
	f.Add(uint8(1), mustHexF(f, "78dadbb918000217015d"))
	f.Add(uint8(2), mustHexF(f, "78da3be9f2130003df0207"))
	for _, raw := range signed {
		f.Add(uint8(0), raw)
	}
	f.Fuzz(func(t *testing.T, bits uint8, data []byte) {
		if sl, err := ParseStatusList(int(bits), data, 1<<16); err == nil {
			if sl.Len() != len(sl.Bytes())*8/sl.Bits() {
				t.Fatalf("Len %d for %d bytes of %d bits", sl.Len(), len(sl.Bytes()), sl.Bits())
			}
			if _, err := sl.Get(uint64(sl.Len() - 1)); err != nil {
				t.Fatal(err)
			}
			z, err := sl.Compress()
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParseStatusList(int(bits), z, 1<<16)
			if err != nil || !bytes.Equal(back.Bytes(), sl.Bytes()) {
				t.Fatalf("round trip: %v", err)
			}
		}
		for _, format := range formats {
			got, err := VerifyStatusList(data, format, fe.trust, algs, testNow, 0)
			if err != nil {
				continue
			}
			if got.Subject != testListURI || !bytes.Equal(got.List.Bytes(), l.Bytes()) {
				t.Fatalf("verified a status list that was never signed: %+v", got)
			}
		}
	})
}

func mustHexF(f *testing.F, s string) []byte {
	b, err := hexDecode(s)
	if err != nil {
		f.Fatal(err)
	}
	return b
}
