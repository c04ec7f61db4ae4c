package token

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// The signing path writes JSON and JWS without encoding/json and go-jose.
// These tests pin its output to what those libraries write, byte for byte
// (except the randomized ECDSA signature itself).

func TestJSONStringMatchesEncodingJSON(t *testing.T) {
	cases := []string{
		"", "plain", `quote " and \ backslash`, "<script>&amp;</script>", "\x00\x01\x1f\x7f",
		"\b\f\n\r\t", "é ü 日本 😀", "\u2028\u2029", "bad \xff utf8 \xc3", "\xed\xa0\x80 surrogate",
		"https://as.example/statuslists/0", "u2u:use:00002a",
	}
	r := mrand.New(mrand.NewPCG(1, 2))
	for range 5000 {
		b := make([]byte, r.IntN(24))
		for i := range b {
			switch r.IntN(3) {
			case 0:
				b[i] = byte(r.IntN(0x80))
			case 1:
				b[i] = byte(0x80 + r.IntN(0x80))
			default:
				b[i] = "<>&\"\\\n\x00aé"[r.IntN(10)]
			}
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("appendJSONString(%q) = %s, encoding/json writes %s", s, got, want)
		}
	}
}

// encodeJWTClaimsReflect is the encoding/json encoder the hand-written one
// replaced.
func encodeJWTClaimsReflect(c *Claims, issuer string) ([]byte, error) {
	out := struct {
		Iss      string     `json:"iss"`
		Sub      string     `json:"sub,omitempty"`
		Aud      any        `json:"aud,omitempty"`
		ClientID string     `json:"client_id,omitempty"`
		Iat      *int64     `json:"iat,omitempty"`
		Nbf      *int64     `json:"nbf,omitempty"`
		Exp      *int64     `json:"exp"`
		Jti      string     `json:"jti,omitempty"`
		Scope    string     `json:"scope,omitempty"`
		Cnf      *jwtCnf    `json:"cnf,omitempty"`
		Status   *jwtStatus `json:"status,omitempty"`
	}{
		Iss: issuer, Sub: c.Subject, ClientID: c.ClientID,
		Iat: numericDate(c.IssuedAt), Nbf: numericDate(c.NotBefore), Exp: numericDate(c.Expiry),
		Jti: c.ID, Scope: FormatScopes(c.Scopes),
	}
	switch len(c.Audience) {
	case 0:
	case 1:
		out.Aud = c.Audience[0]
	default:
		out.Aud = c.Audience
	}
	if c.Confirmation != nil {
		jwk, err := jwkOfKey(c.Confirmation)
		if err != nil {
			return nil, err
		}
		out.Cnf = &jwtCnf{JWK: jwk}
	}
	if c.Status != nil {
		idx := c.Status.Index
		out.Status = &jwtStatus{StatusList: &jwtStatusRef{Idx: &idx, URI: c.Status.URI}}
	}
	return json.Marshal(out)
}

func TestEncodeJWTClaimsMatchesEncodingJSON(t *testing.T) {
	e := newTestEnv(t)
	variants := map[string]func(c *Claims){
		"typical":      func(c *Claims) {},
		"ed25519 cnf":  func(c *Claims) { c.Confirmation = e.ueEd.Public() },
		"no cnf":       func(c *Claims) { c.Confirmation = nil },
		"no status":    func(c *Claims) { c.Status = nil },
		"bare":         func(c *Claims) { *c = Claims{Expiry: c.Expiry} },
		"two aud":      func(c *Claims) { c.Audience = []string{"a<b", "c&d"} },
		"no aud":       func(c *Claims) { c.Audience = nil },
		"odd strings":  func(c *Claims) { c.Subject, c.ClientID, c.ID = "ue \"1\"\n", "é\u2028", "id<>" },
		"no times":     func(c *Claims) { c.IssuedAt, c.NotBefore = time.Time{}, time.Time{} },
		"two scopes":   func(c *Claims) { c.Scopes = []Scope{{RoleUse, 0x2a}, {RoleServe, 0xabcdef}} },
		"big index":    func(c *Claims) { c.Status.Index = 1<<64 - 1 },
		"pre-1970 iat": func(c *Claims) { c.IssuedAt = time.Unix(-5, 0) },
	}
	for name, mod := range variants {
		c := e.typicalClaims()
		mod(c)
		want, err := encodeJWTClaimsReflect(c, "https://as.example")
		if err != nil {
			t.Fatal(err)
		}
		got, err := encodeJWTClaims(c, "https://as.example")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
}

// TestSignJWSMatchesGoJose checks the header and payload segments against
// go-jose's for the same input, and that go-jose verifies the signature.
func TestSignJWSMatchesGoJose(t *testing.T) {
	e := newTestEnv(t)
	for _, alg := range []Algorithm{ES256, EdDSA} {
		s := e.signer(alg)
		for _, kid := range []string{s.KeyID, "k<&>\"1"} {
			s2 := *s
			s2.KeyID = kid
			payload := []byte(`{"iss":"https://as.example","exp":1}`)
			got, err := s2.signJWS(payload, typAccessTokenJWT)
			if err != nil {
				t.Fatal(err)
			}
			js, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: s.Key},
				(&jose.SignerOptions{}).WithType(typAccessTokenJWT).WithHeader("kid", kid))
			if err != nil {
				t.Fatal(err)
			}
			obj, err := js.Sign(payload)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := obj.CompactSerialize()
			if err != nil {
				t.Fatal(err)
			}
			gp, rp := strings.Split(string(got), "."), strings.Split(ref, ".")
			if len(gp) != 3 || gp[0] != rp[0] || gp[1] != rp[1] {
				t.Errorf("%s kid %q: got %s.%s, go-jose writes %s.%s", alg, kid, gp[0], gp[1], rp[0], rp[1])
			}
			parsed, err := jose.ParseSigned(string(got), []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := parsed.Verify(s.Key.Public()); err != nil {
				t.Errorf("%s: go-jose does not verify the signature: %v", alg, err)
			}
		}
	}
}

func TestDERToRaw(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		h := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		der, err := ecdsa.SignASN1(rand.Reader, key, h[:])
		if err != nil {
			t.Fatal(err)
		}
		out := make([]byte, 64)
		if !derToRaw(out, der) {
			t.Fatalf("derToRaw rejects %x", der)
		}
		var buf [72]byte
		if back := rawToDER(buf[:0], out); !bytes.Equal(back, der) {
			t.Fatalf("round trip: %x -> %x -> %x", der, out, back)
		}
	}
	n32 := bytes.Repeat([]byte{0x11}, 32)
	seq := func(parts ...[]byte) []byte {
		body := bytes.Join(parts, nil)
		return append([]byte{0x30, byte(len(body))}, body...)
	}
	integer := func(v []byte) []byte { return append([]byte{0x02, byte(len(v))}, v...) }
	if out := make([]byte, 64); !derToRaw(out, seq(integer([]byte{1}), integer(append([]byte{0}, 0x80)))) ||
		out[31] != 1 || out[63] != 0x80 {
		t.Errorf("small integers: got %x", out)
	}
	bad := map[string][]byte{
		"empty":          nil,
		"not a sequence": append([]byte{0x31}, seq(integer(n32), integer(n32))[1:]...),
		"trailing data":  append(seq(integer(n32), integer(n32)), 0),
		"extra integer":  seq(integer(n32), integer(n32), integer([]byte{1})),
		"one integer":    seq(integer(n32)),
		"zero r":         seq(integer([]byte{0}), integer(n32)),
		"negative s":     seq(integer(n32), integer([]byte{0x80})),
		"33-byte r":      seq(integer(append([]byte{1}, n32...)), integer(n32)),
		"empty s":        seq(integer(n32), integer(nil)),
		"length past end": func() []byte {
			b := seq(integer(n32), integer(n32))
			b[len(b)-33] = 40
			return b
		}(),
	}
	for name, der := range bad {
		if derToRaw(make([]byte, 64), der) {
			t.Errorf("%s: derToRaw accepted %x", name, der)
		}
	}
}
