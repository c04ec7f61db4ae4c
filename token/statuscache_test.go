package token

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"
	"time"
)

// Security review LOW-3: the StatusCache was keyed by list URI only, so any
// trusted issuer could publish a list under another issuer's URI with a
// later iat and evict that issuer's list (every token of the victim issuer
// then failed closed with ErrStatusListMissing). Lists are now keyed by
// (issuer, URI).

// crossIssuerLists signs and verifies, through the public API, a list of
// issuer A and one of issuer B under the same URI; B's is issued later and
// marks index 1 revoked, A's marks it valid.
func crossIssuerLists(t *testing.T) (a, b *Signer, trust *TrustStore, la, lb *StatusListToken) {
	t.Helper()
	mk := func(iss string) *Signer {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		s, err := NewSigner(iss, "k1", k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b = mk(testIssuer), mk(testIssuer2)
	trust = NewTrustStore()
	for _, s := range []*Signer{a, b} {
		if err := trust.Add(s.Public()); err != nil {
			t.Fatal(err)
		}
	}
	listA, _ := NewStatusList(16, 1)
	listB, _ := NewStatusList(16, 1)
	_ = listB.Set(1, StatusInvalid)
	sl := func(s *Signer, at time.Time, l *StatusList) *StatusListToken {
		raw, err := s.SignStatusList(&StatusListToken{Subject: testListURI, IssuedAt: at, List: l}, CWT)
		if err != nil {
			t.Fatal(err)
		}
		slt, err := VerifyStatusList(raw, CWT, trust, []Algorithm{ES256}, testNow, 0)
		if err != nil {
			t.Fatal(err)
		}
		return slt
	}
	return a, b, trust, sl(a, testNow.Add(-2*time.Minute), listA), sl(b, testNow.Add(-time.Minute), listB)
}

func TestStatusCacheCrossIssuerNoEviction(t *testing.T) {
	_, _, _, la, lb := crossIssuerLists(t)
	ref := StatusRef{URI: testListURI, Index: 1}
	for _, order := range [][]*StatusListToken{{la, lb}, {lb, la}} {
		cache := NewStatusCache(24 * time.Hour)
		for _, l := range order {
			cache.Put(l)
		}
		if v, err := cache.StatusOf(testIssuer, ref, testNow); err != nil || v != StatusValid {
			t.Errorf("issuer A's entry after B published under A's URI: %d, %v", v, err)
		}
		if v, err := cache.StatusOf(testIssuer2, ref, testNow); err != nil || v != StatusInvalid {
			t.Errorf("issuer B's entry: %d, %v", v, err)
		}
		if g := cache.GetOf(testIssuer, testListURI); g != la {
			t.Errorf("GetOf(A) = %v", g)
		}
		if g := cache.GetOf(testIssuer2, testListURI); g != lb {
			t.Errorf("GetOf(B) = %v", g)
		}
		// Without an issuer, two lists under one URI are ambiguous: fail closed.
		_, err := cache.Status(ref, testNow)
		checkErr(t, err, ErrStatusListMissing)
		if g := cache.Get(testListURI); g != nil {
			t.Errorf("Get with two issuers' lists = %v, want nil", g)
		}
		// A third issuer with no list of its own gets nothing.
		_, err = cache.StatusOf("https://as3.example", ref, testNow)
		checkErr(t, err, ErrStatusListMissing)
	}
}

// The single-issuer case of Status and Get is unchanged, and a newer list of
// the same issuer still replaces the older one.
func TestStatusCacheSingleIssuer(t *testing.T) {
	_, _, _, la, _ := crossIssuerLists(t)
	cache := NewStatusCache(0)
	cache.Put(la)
	ref := StatusRef{URI: testListURI, Index: 1}
	if v, err := cache.Status(ref, testNow); err != nil || v != StatusValid {
		t.Errorf("Status = %d, %v", v, err)
	}
	if cache.Get(testListURI) != la {
		t.Error("Get")
	}
	newer, _ := NewStatusList(16, 1)
	_ = newer.Set(1, StatusInvalid)
	cache.Put(&StatusListToken{Issuer: testIssuer, Subject: testListURI, IssuedAt: la.IssuedAt.Add(time.Second), List: newer})
	if v, err := cache.StatusOf(testIssuer, ref, testNow); err != nil || v != StatusInvalid {
		t.Errorf("after a newer list of the same issuer: %d, %v", v, err)
	}
}

// End to end: the Verifier of a UE that trusts both issuers still accepts
// issuer A's valid token after issuer B published a later list under A's
// URI, and judges B's token against B's own list.
func TestStatusCacheCrossIssuerVerifier(t *testing.T) {
	a, b, trust, la, lb := crossIssuerLists(t)
	cache := NewStatusCache(24 * time.Hour)
	cache.Put(la)
	cache.Put(lb)
	ue, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	v := &Verifier{Trust: trust, Algorithms: []Algorithm{ES256}, Audience: testAudience, Status: cache}
	claims := func(iss string) *Claims {
		return &Claims{
			Issuer: iss, Subject: testSubject, Audience: []string{testAudience},
			IssuedAt: testNow.Add(-time.Minute), Expiry: testNow.Add(time.Hour), ID: "AAECAwQFBgcICQoLDA0ODw",
			Scopes: []Scope{{Role: RoleUse, RSC: 0x2a}}, Confirmation: &ue.PublicKey,
			Status: &StatusRef{URI: testListURI, Index: 1},
		}
	}
	rawA, err := a.Sign(claims(testIssuer), CWT)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(rawA, CWT, testNow); err != nil {
		t.Errorf("issuer A's token: %v", err)
	}
	rawB, err := b.Sign(claims(testIssuer2), CWT)
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(rawB, CWT, testNow)
	checkErr(t, err, ErrRevoked)
}
