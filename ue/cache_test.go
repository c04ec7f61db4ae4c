package ue

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prosesec/prosesec/token"
)

func TestNextRefresh(t *testing.T) {
	h := time.Hour
	at := func(d time.Duration) time.Time { return testStart.Add(d) }
	creds := func(tokIat, tokExp time.Duration, lists ...[2]time.Duration) *Credentials {
		c := &Credentials{JWKSFetchedAt: at(0), Token: CachedToken{Raw: []byte{1}, IssuedAt: at(tokIat), Expiry: at(tokExp)}}
		for _, l := range lists {
			sl := CachedStatusList{IssuedAt: at(l[0])}
			if l[1] != 0 {
				sl.Expiry = at(l[1])
			}
			c.StatusLists = append(c.StatusLists, sl)
		}
		return c
	}
	for _, c := range []struct {
		name string
		now  time.Duration
		cr   *Credentials
		pol  Policy
		want time.Duration
	}{
		{"token only", 0, creds(0, 3*h), Policy{MaxStatusAge: -1}, 2 * h},
		{"token lifetime 1h", 0, creds(0, h), Policy{MaxStatusAge: -1}, 40 * time.Minute},
		{"list expires first", 0, creds(0, 3*h, [2]time.Duration{0, 30 * time.Minute}), Policy{}, 20 * time.Minute},
		{"earliest list", 0, creds(0, 3*h, [2]time.Duration{0, 2 * h}, [2]time.Duration{-h / 2, h}), Policy{}, h / 2},
		{"list without exp: default max age", 0, creds(0, 48*h, [2]time.Duration{0, 0}), Policy{}, 16 * h},
		{"list max age by policy", 0, creds(0, 3*h, [2]time.Duration{0, 2 * h}), Policy{MaxStatusAge: 30 * time.Minute}, 20 * time.Minute},
		{"trust age", 0, creds(0, 3*h), Policy{MaxStatusAge: -1, MaxTrustAge: 90 * time.Minute}, h},
		{"due already", 2*h + time.Second, creds(0, 3*h), Policy{MaxStatusAge: -1}, 2*h + time.Second},
		{"expired", 5 * h, creds(0, 3*h), Policy{}, 5 * h},
		{"nothing cached", h, nil, Policy{}, h},
		{"no token", h, &Credentials{}, Policy{}, h},
	} {
		got := NextRefresh(at(c.now), c.cr, c.pol)
		if !got.Equal(at(c.want)) {
			t.Errorf("%s: %v, want %v", c.name, got.Sub(testStart), c.want)
		}
	}
}

func TestCacheFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	c, err := OpenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	checkMode(t, dir, 0o700)
	if _, err := c.Load(); !errors.Is(err, ErrNoCredentials) || !strings.Contains(err.Error(), "prose-ue provision") {
		t.Fatalf("empty cache: %v", err)
	}
	if _, err := c.Open(Policy{}, testStart); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("no key: %v", err)
	}
	k, err := c.GenerateIdentityKey(token.EdDSA, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	checkMode(t, filepath.Join(dir, IdentityKeyFile), 0o600)
	k2, err := c.IdentityKey()
	if err != nil || !publicEqual(k.Public(), k2.Public()) {
		t.Fatalf("reloaded key: %v", err)
	}
	// Never overwritten.
	if err := c.SaveIdentityKey(k); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second SaveIdentityKey: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("%d entries: a temporary file was left", len(ents))
	}
	// A key file others can read is refused.
	os.Chmod(filepath.Join(dir, IdentityKeyFile), 0o640)
	if _, err := c.IdentityKey(); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("group-readable key: %v", err)
	}
	// A directory others can enter is refused.
	os.Chmod(dir, 0o755)
	if _, err := OpenCache(dir); err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Fatalf("open directory: %v", err)
	}
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o600)
	if _, err := OpenCache(f); err == nil {
		t.Fatal("a file as cache directory")
	}
}

func TestIdentityKeyPEM(t *testing.T) {
	for _, alg := range []token.Algorithm{token.ES256, token.EdDSA} {
		k, err := GenerateIdentityKey(alg, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		b, err := MarshalIdentityKey(k)
		if err != nil {
			t.Fatal(err)
		}
		k2, err := ParseIdentityKey(b)
		if err != nil || !publicEqual(k.Public(), k2.Public()) {
			t.Fatalf("%s round trip: %v", alg, err)
		}
		if a, _ := KeyAlgorithm(k2); a != alg {
			t.Fatalf("algorithm %s, want %s", a, alg)
		}
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(ec)
	if _, err := ParseIdentityKey(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})); err != nil {
		t.Fatalf("SEC 1: %v", err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(p384)
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"not PEM", []byte("hello")},
		{"public key", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}})},
		{"P-384", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})},
		{"garbage", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2}})},
		{"two blocks", append(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})...)},
	} {
		if _, err := ParseIdentityKey(c.data); err == nil || !strings.HasPrefix(err.Error(), "ue: ") {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if _, err := GenerateIdentityKey("RS256", rand.Reader); err == nil {
		t.Fatal("RS256 key")
	}
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	if a, err := KeyAlgorithm(edPriv); err != nil || a != token.EdDSA {
		t.Fatal(a, err)
	}
}

func TestWriteAtomicReplaces(t *testing.T) {
	dir := t.TempDir()
	for _, s := range []string{"one", "two"} {
		if err := writeAtomic(dir, "f", []byte(s), false); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "f"))
	if string(b) != "two" {
		t.Fatalf("content %q", b)
	}
	checkMode(t, filepath.Join(dir, "f"), 0o600)
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("%d entries", len(ents))
	}
	if err := writeAtomic(filepath.Join(dir, "missing"), "f", nil, false); err == nil || !strings.HasPrefix(err.Error(), "ue: ") {
		t.Fatalf("missing dir: %v", err)
	}
}

// TestReplaceIdentityKey: SaveIdentityKey never replaces a key;
// ReplaceIdentityKey does, 0600, leaving no temporary file.
func TestReplaceIdentityKey(t *testing.T) {
	c := newCache(t)
	k1, _ := GenerateIdentityKey(token.ES256, nil)
	k2, _ := GenerateIdentityKey(token.EdDSA, nil)
	if err := c.SaveIdentityKey(k1); err != nil {
		t.Fatal(err)
	}
	if err := c.SaveIdentityKey(k2); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("SaveIdentityKey over a key: %v, want fs.ErrExist", err)
	}
	if err := c.ReplaceIdentityKey(k2); err != nil {
		t.Fatal(err)
	}
	got, err := c.IdentityKey()
	if err != nil || !publicEqual(got.Public(), k2.Public()) {
		t.Fatalf("identity key after replace: %v, %v", got, err)
	}
	checkMode(t, filepath.Join(c.Dir(), IdentityKeyFile), 0o600)
	if ents, _ := os.ReadDir(c.Dir()); len(ents) != 1 {
		t.Fatalf("cache holds %d entries after the replace (temporary file left?)", len(ents))
	}
}
