package token

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

type slVector struct {
	name string
	kv   map[string]string
}

// readStatusListVectors parses testdata/statuslist-vectors.txt.
func readStatusListVectors(t *testing.T) map[string]*slVector {
	t.Helper()
	f, err := os.Open("testdata/statuslist-vectors.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]*slVector{}
	var cur *slVector
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "vector: "):
			cur = &slVector{name: strings.TrimPrefix(line, "vector: "), kv: map[string]string{}}
		case line == "end":
			out[cur.name] = cur
			cur = nil
		default:
			k, v, ok := strings.Cut(line, ": ")
			if !ok || cur == nil {
				t.Fatalf("bad line %q", line)
			}
			cur.kv[k] += v
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestStatusListVectors(t *testing.T) {
	vs := readStatusListVectors(t)
	if len(vs) != 6 {
		t.Fatalf("%d vectors", len(vs))
	}
	for name, v := range vs {
		if v.kv["bits"] == "" {
			continue
		}
		bits, _ := strconv.Atoi(v.kv["bits"])
		size, _ := strconv.Atoi(v.kv["size"])
		want, err := NewStatusList(size, bits)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range strings.Fields(v.kv["set"]) {
			i, val, _ := strings.Cut(p, "=")
			idx, _ := strconv.ParseUint(i, 10, 64)
			n, _ := strconv.ParseUint(val, 10, 8)
			if err := want.Set(idx, uint8(n)); err != nil {
				t.Fatal(err)
			}
		}
		if b := v.kv["bytes"]; b != "" && hex.EncodeToString(want.Bytes()) != b {
			t.Errorf("%s: byte array %x, want %s", name, want.Bytes(), b)
		}
		check := func(what string, l *StatusList) {
			t.Helper()
			if l.Bits() != bits || !bytes.Equal(l.Bytes(), want.Bytes()) || l.Len() < size {
				t.Errorf("%s %s: decoded list differs (bits %d, len %d)", name, what, l.Bits(), l.Len())
			}
			for _, p := range strings.Fields(v.kv["set"]) {
				i, val, _ := strings.Cut(p, "=")
				idx, _ := strconv.ParseUint(i, 10, 64)
				if got, err := l.Get(idx); err != nil || strconv.Itoa(int(got)) != val {
					t.Errorf("%s %s: status[%d] = %d, %v; want %s", name, what, idx, got, err, val)
				}
			}
		}
		var lst []byte
		if z := v.kv["zlib"]; z != "" {
			lst = mustHex(t, z)
			l, err := ParseStatusList(bits, lst, 0)
			if err != nil {
				t.Fatalf("%s zlib: %v", name, err)
			}
			check("zlib", l)
		}
		if j := v.kv["json-lst"]; j != "" {
			b, err := b64.DecodeString(j)
			if err != nil {
				t.Fatalf("%s json-lst: %v", name, err)
			}
			if lst != nil && !bytes.Equal(b, lst) {
				t.Errorf("%s: json-lst and zlib differ", name)
			}
			lst = b
			l, err := ParseStatusList(bits, b, 0)
			if err != nil {
				t.Fatalf("%s json-lst: %v", name, err)
			}
			check("json-lst", l)
		}
		if c := v.kv["cbor"]; c != "" {
			var sl cwtStatusList
			if err := cborDec.Unmarshal(mustHex(t, c), &sl); err != nil {
				t.Fatalf("%s cbor: %v", name, err)
			}
			if sl.Bits != bits || !bytes.Equal(sl.Lst, lst) {
				t.Errorf("%s: CBOR StatusList {bits %d, lst %x} differs", name, sl.Bits, sl.Lst)
			}
			// Our core deterministic encoding sorts "lst" before "bits"
			// (shorter key first, RFC 8949 §4.2.1); the draft writes bits
			// first. Both decode to the same map.
			enc := mustCBOR(cwtStatusList{Bits: bits, Lst: lst})
			var back cwtStatusList
			if err := cborDec.Unmarshal(enc, &back); err != nil || back.Bits != bits || !bytes.Equal(back.Lst, lst) {
				t.Errorf("%s: CBOR re-encoding does not round trip", name)
			}
		}
		// Our compression round trips (the compressed bytes of another
		// DEFLATE encoder may differ; the small §4.1 examples match).
		z, err := want.Compress()
		if err != nil {
			t.Fatal(err)
		}
		l, err := ParseStatusList(bits, z, 0)
		if err != nil {
			t.Fatal(err)
		}
		check("round trip", l)
		if zv := v.kv["zlib"]; zv != "" && hex.EncodeToString(z) != zv {
			t.Logf("%s: compress/zlib output %x differs from the draft's %s", name, z, zv)
		}
	}
}

// TestDraftCWTExamples parses the draft's CWT examples (structure only:
// their signing keys are not published).
func TestDraftCWTExamples(t *testing.T) {
	vs := readStatusListVectors(t)
	raw := mustHex(t, vs["s5.2-statuslist-cwt"].kv["cwt"])
	p, err := parseStatusListCWT(raw, []Algorithm{ES256})
	if err != nil {
		t.Fatal(err)
	}
	if p.alg != ES256 || p.kid != "12" || p.iss != "" || p.sub != "https://example.com/statuslists/1" ||
		*p.iat != 1686920170 || *p.exp != 2291720170 || *p.ttl != 43200 || p.bits != 1 ||
		hex.EncodeToString(p.lst) != "78dadbb918000217015d" {
		t.Errorf("status list CWT: %+v", p)
	}
	// Without a trusted issuer it cannot verify.
	_, err = VerifyStatusList(raw, CWT, NewTrustStore(), []Algorithm{ES256}, time.Unix(1686920170, 0), 0)
	checkErr(t, err, ErrUnknownIssuer)

	raw = mustHex(t, vs["s6.3.1-referenced-cwt"].kv["cwt"])
	q, err := parseCWT(raw, []Algorithm{ES256})
	if err != nil {
		t.Fatal(err)
	}
	c := q.c
	if q.alg != ES256 || q.kid != "12" || c.Issuer != "https://example.com" || c.Subject != "12345" ||
		c.IssuedAt.Unix() != 1686920170 || c.Expiry.Unix() != 2291720170 || c.NotBefore != c.IssuedAt ||
		c.Status == nil || *c.Status != (StatusRef{URI: "https://example.com/statuslists/1", Index: 0}) {
		t.Errorf("referenced CWT: %+v", c)
	}
	// Tokens of the one type are not accepted as the other.
	if _, err := parseCWT(mustHex(t, vs["s5.2-statuslist-cwt"].kv["cwt"]), []Algorithm{ES256}); err == nil {
		t.Error("status list CWT parsed as an access token")
	}
	if _, err := parseStatusListCWT(raw, []Algorithm{ES256}); err == nil {
		t.Error("access token parsed as a status list CWT")
	}
}

func TestStatusListBits(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, bits := range []int{1, 2, 4, 8} {
		for _, size := range []int{1, 7, 8, 9, 1000, 4097} {
			l, err := NewStatusList(size, bits)
			if err != nil {
				t.Fatal(err)
			}
			if l.Len() != size || l.Bits() != bits || len(l.Bytes()) != (size*bits+7)/8 {
				t.Fatalf("bits %d size %d: Len %d Bits %d bytes %d", bits, size, l.Len(), l.Bits(), len(l.Bytes()))
			}
			want := make([]uint8, size)
			for i := range want {
				want[i] = uint8(r.UintN(1 << bits))
				if err := l.Set(uint64(i), want[i]); err != nil {
					t.Fatal(err)
				}
			}
			// Overwrite some entries to check that Set clears old bits.
			for i := 0; i < size; i += 3 {
				want[i] = uint8(r.UintN(1 << bits))
				_ = l.Set(uint64(i), want[i])
			}
			z, err := l.Compress()
			if err != nil {
				t.Fatal(err)
			}
			d, err := ParseStatusList(bits, z, 0)
			if err != nil {
				t.Fatal(err)
			}
			if d.Len() < size || d.Len()-size >= 8/bits+1 {
				t.Errorf("decoded Len %d for size %d", d.Len(), size)
			}
			for i, w := range want {
				for _, x := range []*StatusList{l, d} {
					if g, err := x.Get(uint64(i)); err != nil || g != w {
						t.Fatalf("bits %d size %d: status[%d] = %d, %v; want %d", bits, size, i, g, err, w)
					}
				}
			}
			if _, err := l.Get(uint64(size)); err == nil {
				t.Errorf("Get(%d) beyond the list succeeded", size)
			}
			if err := l.Set(uint64(size), 0); err == nil {
				t.Errorf("Set(%d) beyond the list succeeded", size)
			}
			if bits < 8 {
				if err := l.Set(0, 1<<bits); err == nil {
					t.Errorf("bits %d: Set(%d) succeeded", bits, 1<<bits)
				}
			}
		}
	}
	for _, bad := range [][2]int{{0, 1}, {-1, 1}, {8, 3}, {8, 16}, {8, 0}, {DefaultMaxStatusListBytes*8 + 1, 1}} {
		if _, err := NewStatusList(bad[0], bad[1]); err == nil {
			t.Errorf("NewStatusList(%d, %d) succeeded", bad[0], bad[1])
		}
	}
}

func TestParseStatusListRejects(t *testing.T) {
	l, _ := NewStatusList(64, 1)
	z, _ := l.Compress()
	bad := map[string]struct {
		bits int
		lst  []byte
		max  int
	}{
		"bits 3":         {3, z, 0},
		"not zlib":       {1, []byte("hello"), 0},
		"empty":          {1, nil, 0},
		"truncated":      {1, z[:len(z)-1], 0},
		"bad checksum":   {1, append(append([]byte{}, z[:len(z)-1]...), z[len(z)-1]^1), 0},
		"trailing data":  {1, append(append([]byte{}, z...), 0), 0},
		"over the limit": {1, z, 7},
		"empty list":     {1, zlibOf(t, nil), 0},
		"raw deflate":    {1, z[2 : len(z)-4], 0},
	}
	for name, tc := range bad {
		_, err := ParseStatusList(tc.bits, tc.lst, tc.max)
		checkErr(t, err, ErrMalformed)
		t.Logf("%s: %v", name, err)
	}
	if _, err := ParseStatusList(1, z, 8); err != nil {
		t.Errorf("list at the limit: %v", err)
	}
}

func zlibOf(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

func TestStatusListToken(t *testing.T) {
	e := newTestEnv(t)
	l, _ := NewStatusList(10000, 2)
	_ = l.Set(1234, StatusInvalid)
	_ = l.Set(9999, StatusSuspended)
	tok := &StatusListToken{Subject: testListURI, IssuedAt: testNow, Expiry: testNow.Add(24 * time.Hour), TTL: 12 * time.Hour, List: l}
	for _, alg := range algs {
		for _, f := range formats {
			raw, err := e.signer(alg).SignStatusList(tok, f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := VerifyStatusList(raw, f, e.trust, algs, testNow, time.Minute)
			if err != nil {
				t.Fatalf("%s %s: %v", alg, f, err)
			}
			if got.Issuer != testIssuer || got.Subject != testListURI || !got.IssuedAt.Equal(testNow) ||
				!got.Expiry.Equal(tok.Expiry) || got.TTL != tok.TTL || !bytes.Equal(got.List.Bytes(), l.Bytes()) {
				t.Errorf("%s %s: %+v", alg, f, got)
			}
			if v, _ := got.List.Get(9999); v != StatusSuspended {
				t.Errorf("status[9999] = %d", v)
			}
			// Not an access token, whatever the verifier.
			_, err = e.verifier().Verify(raw, f, testNow)
			checkErr(t, err, ErrMalformed)

			for name, c := range map[string]struct {
				raw  []byte
				now  time.Time
				algs []Algorithm
				ts   *TrustStore
				want error
			}{
				"expired":          {raw, testNow.Add(24*time.Hour + time.Minute), algs, e.trust, ErrExpired},
				"expiry in leeway": {raw, testNow.Add(24*time.Hour + time.Minute - time.Second), algs, e.trust, nil},
				"issued in future": {raw, testNow.Add(-2 * time.Minute), algs, e.trust, ErrNotYetValid},
				"alg not allowed":  {raw, testNow, []Algorithm{otherAlg(alg)}, e.trust, ErrAlgorithmNotAllowed},
				"untrusted issuer": {raw, testNow, algs, NewTrustStore(), ErrUnknownIssuer},
				"tampered":         {tamper(raw, f), testNow, algs, e.trust, ErrBadSignature},
				"truncated":        {raw[:len(raw)-10], testNow, algs, e.trust, nil},
				"access token typ": {accessTokenTyped(t, e, alg, f), testNow, algs, e.trust, ErrMalformed},
				"untagged cwt":     {untag(raw, f), testNow, algs, e.trust, ErrMalformed},
				"too large":        {make([]byte, DefaultMaxStatusListSize+1), testNow, algs, e.trust, ErrTooLarge},
			} {
				_, err := VerifyStatusList(c.raw, f, c.ts, c.algs, c.now, time.Minute)
				switch {
				case name == "truncated":
					if err == nil || (!errors_Is(err, ErrMalformed) && !errors_Is(err, ErrBadSignature)) {
						t.Errorf("%s %s %s: %v", alg, f, name, err)
					}
				case name == "untagged cwt" && f == JWT:
				case c.want == nil:
					if err != nil {
						t.Errorf("%s %s %s: %v", alg, f, name, err)
					}
				default:
					checkErr(t, err, c.want)
				}
			}
		}
	}
	// Signing rejects incomplete tokens.
	for name, bad := range map[string]*StatusListToken{
		"no list":      {Subject: testListURI, IssuedAt: testNow},
		"no subject":   {IssuedAt: testNow, List: l},
		"no iat":       {Subject: testListURI, List: l},
		"short ttl":    {Subject: testListURI, IssuedAt: testNow, TTL: time.Millisecond, List: l},
		"other issuer": {Issuer: testIssuer2, Subject: testListURI, IssuedAt: testNow, List: l},
	} {
		if _, err := e.ecSigner.SignStatusList(bad, CWT); err == nil {
			t.Errorf("%s: signed", name)
		}
	}
	// Verifier configuration errors.
	_, err := VerifyStatusList(nil, CWT, nil, algs, testNow, 0)
	checkErr(t, err, ErrVerifierConfig)
	_, err = VerifyStatusList(nil, CWT, e.trust, nil, testNow, 0)
	checkErr(t, err, ErrVerifierConfig)
}

func otherAlg(a Algorithm) Algorithm {
	if a == ES256 {
		return EdDSA
	}
	return ES256
}

// tamper changes the list claim and keeps the signature.
func tamper(raw []byte, f Format) []byte {
	out := append([]byte{}, raw...)
	if f == JWT {
		parts := bytes.Split(out, []byte("."))
		payload, _ := b64.DecodeString(string(parts[1]))
		i := bytes.Index(payload, []byte(`"lst":"`)) + len(`"lst":"`) + 3
		if payload[i] == 'A' {
			payload[i] = 'B'
		} else {
			payload[i] = 'A'
		}
		parts[1] = []byte(b64.EncodeToString(payload))
		return bytes.Join(parts, []byte("."))
	}
	out[len(out)-70] ^= 0x01 // in the payload, just before the signature
	return out
}

func untag(raw []byte, f Format) []byte {
	if f == JWT {
		return raw
	}
	return raw[1:]
}

// accessTokenTyped signs a status list claims set with an access token's
// header (typ at+jwt, or no COSE typ).
func accessTokenTyped(t *testing.T, e *testEnv, alg Algorithm, f Format) []byte {
	s := e.signer(alg)
	if f == JWT {
		return signJWTParts(t, s, `{"alg":"`+string(alg)+`","kid":"`+s.KeyID+`","typ":"at+jwt"}`,
			`{"iss":"`+testIssuer+`","sub":"`+testListURI+`","iat":1,"status_list":{"bits":1,"lst":"eNrbuRgAAhcBXQ"}}`)
	}
	payload := mustCBOR(cwtStatusListClaims{Iss: testIssuer, Sub: testListURI, Iat: new(int64), StatusList: &cwtStatusList{Bits: 1, Lst: mustHex(t, "78dadbb918000217015d")}})
	return signCOSEParts(t, s, protectedHeader(t, s), payload)
}

// TestStatusListBomb: a small signed token whose list inflates beyond the
// limit is rejected after the signature check, without inflating it all.
func TestStatusListBomb(t *testing.T) {
	e := newTestEnv(t)
	zeros := make([]byte, DefaultMaxStatusListBytes+1)
	var buf bytes.Buffer
	w, _ := zlib.NewWriterLevel(&buf, zlib.BestCompression)
	_, _ = w.Write(zeros)
	_ = w.Close()
	lst := buf.Bytes()
	t.Logf("bomb: %d compressed bytes inflate to %d", len(lst), len(zeros))
	for _, f := range formats {
		var raw []byte
		if f == JWT {
			raw = signJWTParts(t, e.ecSigner, `{"alg":"ES256","kid":"`+testKidEC+`","typ":"statuslist+jwt"}`,
				`{"iss":"`+testIssuer+`","sub":"`+testListURI+`","iat":`+strconv.FormatInt(testNow.Unix(), 10)+`,"status_list":{"bits":1,"lst":"`+b64.EncodeToString(lst)+`"}}`)
		} else {
			ph := mustCBOR(coseProtected{Alg: -7, Kid: []byte(testKidEC), Typ: typStatusListCWT})
			iat := testNow.Unix()
			raw = signCOSEParts(t, e.ecSigner, ph, mustCBOR(cwtStatusListClaims{Iss: testIssuer, Sub: testListURI, Iat: &iat, StatusList: &cwtStatusList{Bits: 1, Lst: lst}}))
		}
		_, err := VerifyStatusList(raw, f, e.trust, algs, testNow, 0)
		checkErr(t, err, ErrMalformed)
		v := StatusListVerifier{Trust: e.trust, Algorithms: algs, MaxListBytes: 1 << 10}
		_, err = v.Verify(raw, f, testNow)
		checkErr(t, err, ErrMalformed)
		t.Logf("%s: %v", f, err)
	}
}

func TestStatusCache(t *testing.T) {
	l1, _ := NewStatusList(16, 1)
	l2, _ := NewStatusList(16, 1)
	_ = l2.Set(3, 1)
	c := NewStatusCache(time.Hour)
	ref := StatusRef{URI: testListURI, Index: 3}
	_, err := c.Status(ref, testNow)
	checkErr(t, err, ErrStatusListMissing)
	c.Put(&StatusListToken{Issuer: testIssuer, Subject: testListURI, IssuedAt: testNow, List: l1})
	c.Put(&StatusListToken{Issuer: testIssuer, Subject: testListURI, IssuedAt: testNow.Add(-time.Minute), List: l2}) // older: ignored
	if v, err := c.Status(ref, testNow); err != nil || v != 0 {
		t.Errorf("Status = %d, %v", v, err)
	}
	c.Put(&StatusListToken{Issuer: testIssuer, Subject: testListURI, IssuedAt: testNow.Add(time.Minute), List: l2}) // newer: kept
	if v, err := c.Status(ref, testNow.Add(time.Minute)); err != nil || v != 1 {
		t.Errorf("Status = %d, %v", v, err)
	}
	if g := c.Get(testListURI); g == nil || g.List != l2 {
		t.Error("Get")
	}
	_, err = c.Status(ref, testNow.Add(time.Hour+time.Minute+time.Second))
	checkErr(t, err, ErrStatusListStale)
	if _, err := c.Status(ref, testNow.Add(time.Hour+time.Minute)); err != nil {
		t.Errorf("at maxAge: %v", err)
	}
	_, err = c.Status(StatusRef{URI: testListURI, Index: 16}, testNow)
	checkErr(t, err, ErrMalformed)
	_, err = c.StatusOf(testIssuer2, ref, testNow)
	checkErr(t, err, ErrStatusListMissing)
	c.Put(nil)
	c.Put(&StatusListToken{Subject: "x"})

	// maxAge 0: no age limit, but an expired list is stale from exp on.
	c0 := NewStatusCache(0)
	c0.Put(&StatusListToken{Issuer: testIssuer, Subject: testListURI, IssuedAt: testNow, Expiry: testNow.Add(time.Hour), List: l1})
	if _, err := c0.Status(ref, testNow.Add(time.Hour-time.Nanosecond)); err != nil {
		t.Error(err)
	}
	_, err = c0.Status(ref, testNow.Add(time.Hour))
	checkErr(t, err, ErrStatusListStale)

	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				c.Put(&StatusListToken{Issuer: testIssuer, Subject: testListURI, IssuedAt: testNow.Add(time.Duration(i*50+j) * time.Second), List: l1})
				_, _ = c.Status(ref, testNow)
			}
		}(i)
	}
	wg.Wait()
}
