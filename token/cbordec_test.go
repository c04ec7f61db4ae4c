package token

import (
	"encoding/hex"
	"reflect"
	"strings"
	"testing"
)

// The hand-written decoders of cbordec.go replace cborDec (fxamacker/cbor
// with the strict options of cose.go) on the CWT verification path. These
// tests keep cborDec as the reference: whatever the new decoders accept,
// the reference accepts with the same result, and both accept every token
// this package signs.

// refCWTClaims and refCOSEHeader decode with the reference decoder.
func refCWTClaims(b []byte) (*cwtClaims, error) {
	var c cwtClaims
	if err := cborDec.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

func refCOSEHeader(b []byte) (*coseHeader, error) {
	var h coseHeader
	if err := cborDec.Unmarshal(b, &h); err != nil {
		return nil, err
	}
	return &h, nil
}

func newCOSEHeader(b []byte) (*coseHeader, error) {
	var h coseHeader
	n, err := decodeCOSEHeader(b, 0, "COSE header", &h)
	if err == nil && n != len(b) {
		err = errorf(ErrMalformed, "trailing bytes")
	}
	if err != nil {
		return nil, err
	}
	return &h, nil
}

// normalize makes the two decoders' results comparable: empty and nil
// byte strings are the same value.
func normalize(v any) any {
	switch v := v.(type) {
	case *cwtClaims:
		c := *v
		if c.Cnf != nil && c.Cnf.Key != nil {
			k := *c.Cnf.Key
			if len(k.X) == 0 && k.X != nil {
				k.X = []byte{}
			}
			c.Cnf = &cwtCnf{Key: &k}
		}
		if c.Cti != nil && len(c.Cti) == 0 {
			c.Cti = []byte{}
		}
		return &c
	case *coseHeader:
		h := *v
		if h.Kid != nil && len(h.Kid) == 0 {
			h.Kid = []byte{}
		}
		return &h
	}
	return v
}

// checkNeverMoreLenient fails t when the new decoder accepts b and the
// reference rejects it or reads something else.
func checkNeverMoreLenient(t *testing.T, b []byte) {
	t.Helper()
	if got, err := decodeCWTClaims(b); err == nil {
		want, rerr := refCWTClaims(b)
		if rerr != nil {
			t.Fatalf("claims %x: accepted, the reference rejects: %v", b, rerr)
		}
		if !reflect.DeepEqual(normalize(got), normalize(want)) {
			t.Fatalf("claims %x:\nnew %+v\nref %+v", b, got, want)
		}
	} else if !strings.HasPrefix(err.Error(), "token: malformed: CWT claims: ") {
		t.Fatalf("claims error %q", err)
	}
	if got, err := newCOSEHeader(b); err == nil {
		want, rerr := refCOSEHeader(b)
		if rerr != nil {
			t.Fatalf("header %x: accepted, the reference rejects: %v", b, rerr)
		}
		if !reflect.DeepEqual(normalize(got), normalize(want)) {
			t.Fatalf("header %x:\nnew %+v\nref %+v", b, got, want)
		}
	}
}

func TestCBORDecoderNeverMoreLenient(t *testing.T) {
	e := newTestEnv(t)
	// Every token the signer writes decodes the same with both.
	for _, alg := range []Algorithm{ES256, EdDSA} {
		for _, uncompressed := range []bool{false, true} {
			for i, mod := range []func(*Claims){
				nil,
				func(c *Claims) { c.Confirmation = nil },
				func(c *Claims) { c.Confirmation = e.ueEd.Public() },
				func(c *Claims) { c.Status = nil },
				func(c *Claims) { c.Audience = []string{"a", "b", "c"}; c.ClientID = "other" },
				func(c *Claims) { c.NotBefore = c.IssuedAt.Add(-60); c.ID = "" },
			} {
				c := e.typicalClaims()
				if mod != nil {
					mod(c)
				}
				s := *e.signer(alg)
				s.UncompressedCnf = uncompressed
				raw, err := s.Sign(c, CWT)
				if err != nil {
					t.Fatal(err)
				}
				m, err := decodeSign1(raw, true, true)
				if err != nil {
					t.Fatalf("case %d: %v", i, err)
				}
				got, err := decodeCWTClaims(m.payload)
				if err != nil {
					t.Fatalf("case %d: %v", i, err)
				}
				want, err := refCWTClaims(m.payload)
				if err != nil || !reflect.DeepEqual(normalize(got), normalize(want)) {
					t.Fatalf("case %d: new %+v, ref %+v %v", i, got, want, err)
				}
				// The protected header too.
				ph := raw[3 : 3+raw[2]&0x1f] // 18([h'..', ...]): d2 84 4x <protected>
				if _, err := newCOSEHeader(ph); err != nil {
					t.Fatalf("protected header %x: %v", ph, err)
				}
				checkNeverMoreLenient(t, ph)
			}
		}
	}
	// Hand-made inputs at the edges of the rules, each checked against the
	// reference, and whether the new decoder must accept it.
	for _, tc := range []struct {
		hex    string
		accept bool
	}{
		{"a0", true}, // empty map
		{"a104190e10", true},
		{"a104fb40ac200000000000", false},              // float exp
		{"a1041bffffffffffffffff", false},              // exp beyond int64
		{"a1043bffffffffffffffff", false},              // exp below int64
		{"a1043b7fffffffffffffff", true},               // exp = MinInt64
		{"a20401040a", false},                          // duplicate known key
		{"a218640118640a", false},                      // duplicate unknown int key
		{"a2617801617802", false},                      // duplicate unknown text key
		{"a2617801187801", true},                       // "x" and 120 are distinct keys
		{"a1f601", false},                              // null key
		{"a1410101", false},                            // byte string key
		{"a10161ff", false},                            // iss not UTF-8
		{"a10141ff", false},                            // iss as a byte string
		{"a101f6", false},                              // iss null (the reference reads it as absent)
		{"a11864818181818101", true},                   // depth 6 in an unknown value
		{"a1186481818181818101", false},                // depth 7
		{"a1186480", true},                             // empty array
		{"a11864d82001", false},                        // tag inside
		{"bf04190e10ff", false},                        // indefinite map
		{"a1186480ff", false},                          // trailing byte
		{"a11864f800", false},                          // simple value 0 in two bytes
		{"a11864f820", true},                           // simple value 32
		{"a11864fc", false},                            // reserved additional information
		{"a103826161626262", true},                     // aud array
		{"a1038261610a", false},                        // aud array with an integer
		{"a1038061", false},                            // truncated
		{"a108a101a301022001215820" + zeros(32), true}, // cnf EC2 without y
		{"a108a102a0", true},                           // unknown cnf method
		{"a108a101a10501", true},                       // unknown COSE_Key parameter
		{"a108a101a2010201f6", false},                  // duplicate kty
		{"a119ffffa16b7374617475735f6c697374a263696478190001637572696161", true},
		{"a119ffffa16b7374617475735f6c697374a26369647820637572696161", false}, // negative idx
		{"a169636c69656e745f69646161", true},                                  // client_id
		{"a16a636c69656e745f69646161", false},                                 // truncated text key
		{"a1186490" + zeros(16), true},                                        // array of 16
		{"a1186491" + zeros(17), false},                                       // array of 17
		{"b0" + zeros(32), false},                                             // 16 pairs, all the same key
		{"b1" + strings.Repeat("00", 34), false},                              // 17 pairs
	} {
		b, err := hex.DecodeString(tc.hex)
		if err != nil {
			t.Fatal(err)
		}
		checkNeverMoreLenient(t, b)
		if _, err := decodeCWTClaims(b); (err == nil) != tc.accept {
			t.Errorf("%s: error %v, want accepted=%v", tc.hex, err, tc.accept)
		}
	}
}

func zeros(n int) string { return strings.Repeat("00", n) }

// FuzzCBORDecoders: on any input, the hand-written decoders accept only
// what the reference decoder accepts, with the same result, and never
// panic. Seeds are the maps of real tokens.
func FuzzCBORDecoders(f *testing.F) {
	e := newTestEnv(f)
	for _, alg := range []Algorithm{ES256, EdDSA} {
		for _, c := range []*Claims{e.typicalClaims(), {Issuer: testIssuer, Expiry: testNow, Audience: []string{"a", "b"}, Confirmation: e.ueEd.Public()}} {
			raw, err := e.signer(alg).Sign(c, CWT)
			if err != nil {
				f.Fatal(err)
			}
			m, err := decodeSign1(raw, true, true)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(m.payload)
			f.Add(raw[3 : 3+raw[2]&0x1f])
		}
	}
	f.Add([]byte{0xa1, 0x18, 0x64, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		checkNeverMoreLenient(t, b)
	})
}

// TestVerifiedClaimsDoNotAliasInput: the claims Verify returns, the cnf
// key above all, stay the same when the caller reuses its token buffer.
func TestVerifiedClaimsDoNotAliasInput(t *testing.T) {
	e := newTestEnv(t)
	for _, key := range []any{e.ueEd.Public(), &e.ueEC.PublicKey} {
		for _, f := range []Format{CWT, JWT} {
			c := e.typicalClaims()
			c.Confirmation = key
			raw := e.sign(t, c, ES256, f)
			got, err := e.verifier().Verify(raw, f, testNow)
			if err != nil {
				t.Fatal(err)
			}
			want := *got
			wantKey, _, err := publicKey(got.Confirmation)
			if err != nil {
				t.Fatal(err)
			}
			wantJWK, _ := jwkOfKey(wantKey)
			for i := range raw {
				raw[i] = 0x41
			}
			gotJWK, _ := jwkOfKey(got.Confirmation)
			if *gotJWK != *wantJWK || !claimsEqual(got, &want) {
				t.Fatalf("%s %T: claims changed with the input buffer", f, key)
			}
		}
	}
}
