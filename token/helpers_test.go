package token

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

// Fixed test values: the "typical token" of the size target.
const (
	testIssuer   = "https://127.0.0.1:8443"
	testIssuer2  = "https://as2.example:8443"
	testAudience = "prosesec:pc5"
	testSubject  = "ue-source-1"
	testListURI  = "https://127.0.0.1:8443/statuslists/0"
	testKidEC    = "kEC00001"
	testKidEd    = "kEd00001"
)

var testNow = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)

type testEnv struct {
	ecSigner, edSigner *Signer
	ecKey              *ecdsa.PrivateKey
	edKey              ed25519.PrivateKey
	ueEC               *ecdsa.PrivateKey
	ueEd               ed25519.PrivateKey
	trust              *TrustStore
}

func newTestEnv(t testing.TB) *testEnv {
	t.Helper()
	e := &testEnv{}
	var err error
	if e.ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	if _, e.edKey, err = ed25519.GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	if e.ueEC, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	if _, e.ueEd, err = ed25519.GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	if e.ecSigner, err = NewSigner(testIssuer, testKidEC, e.ecKey); err != nil {
		t.Fatal(err)
	}
	if e.edSigner, err = NewSigner(testIssuer, testKidEd, e.edKey); err != nil {
		t.Fatal(err)
	}
	e.trust = NewTrustStore()
	for _, s := range []*Signer{e.ecSigner, e.edSigner} {
		if err := e.trust.Add(s.Public()); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func (e *testEnv) signer(alg Algorithm) *Signer {
	if alg == EdDSA {
		return e.edSigner
	}
	return e.ecSigner
}

// typicalClaims are the claims of the size target: a UE token bound to a
// P-256 identity key, with one scope and a status reference.
func (e *testEnv) typicalClaims() *Claims {
	return &Claims{
		Issuer:       testIssuer,
		Subject:      testSubject,
		Audience:     []string{testAudience},
		ClientID:     testSubject,
		IssuedAt:     testNow,
		NotBefore:    testNow,
		Expiry:       testNow.Add(time.Hour),
		ID:           "AAECAwQFBgcICQoLDA0ODw", // 16 bytes
		Scopes:       []Scope{{Role: RoleUse, RSC: 0x2a}},
		Confirmation: &e.ueEC.PublicKey,
		Status:       &StatusRef{URI: testListURI, Index: 1234},
	}
}

func (e *testEnv) verifier(algs ...Algorithm) *Verifier {
	if len(algs) == 0 {
		algs = []Algorithm{ES256, EdDSA}
	}
	return &Verifier{Trust: e.trust, Algorithms: algs, Audience: testAudience, Leeway: 30 * time.Second, SkipStatus: true}
}

func (e *testEnv) sign(t testing.TB, c *Claims, alg Algorithm, f Format) []byte {
	t.Helper()
	raw, err := e.signer(alg).Sign(c, f)
	if err != nil {
		t.Fatalf("Sign(%s, %s): %v", alg, f, err)
	}
	return raw
}

// signJWTParts signs an arbitrary header and payload (JSON text) as a JWS
// compact serialization with s's key: for building tokens that Sign would
// refuse to make.
func signJWTParts(t testing.TB, s *Signer, header, payload string) []byte {
	t.Helper()
	in := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	sig, err := s.signRaw([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	return []byte(in + "." + b64.EncodeToString(sig))
}

// signCOSEParts signs an arbitrary protected header and payload (CBOR) as
// a tagged COSE_Sign1 with s's key.
func signCOSEParts(t testing.TB, s *Signer, protected, payload []byte) []byte {
	t.Helper()
	sig, err := s.signRaw(sigStructure(protected, payload))
	if err != nil {
		t.Fatal(err)
	}
	return encodeSign1(protected, payload, sig)
}

// protectedHeader returns the protected header Sign would write for s.
func protectedHeader(t testing.TB, s *Signer) []byte {
	t.Helper()
	ph, err := cborEnc.Marshal(coseProtected{Alg: s.Algorithm.coseAlg(), Kid: []byte(s.KeyID)})
	if err != nil {
		t.Fatal(err)
	}
	return ph
}

// sentinels are the package's error values; every verification error
// wraps exactly one.
var sentinels = []error{
	ErrMalformed, ErrTooLarge, ErrAlgorithmNotAllowed, ErrUnknownIssuer, ErrUnknownKey,
	ErrBadSignature, ErrExpired, ErrNotYetValid, ErrWrongAudience, ErrWrongSubject,
	ErrScopeNotGranted, ErrRevoked, ErrStatusListStale, ErrStatusListMissing, ErrVerifierConfig,
}

// checkErr fails unless err wraps want and no other sentinel, and its
// message starts with "token: ".
func checkErr(t testing.TB, err, want error) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", want)
	}
	n := 0
	for _, s := range sentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	if !errors.Is(err, want) || n != 1 {
		t.Fatalf("got %v (wraps %d sentinels), want exactly %v", err, n, want)
	}
	if !strings.HasPrefix(err.Error(), "token: ") {
		t.Fatalf("message %q does not start with \"token: \"", err)
	}
}

func hexDecode(s string) ([]byte, error) { return hex.DecodeString(s) }
