package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// TrustStore holds the verification keys of one or more issuers, each key
// bound to one algorithm. It is safe for concurrent use.
type TrustStore struct {
	mu      sync.RWMutex
	keys    map[trustID]*trustedKey
	issuers map[string]int // number of keys per issuer
}

type trustID struct{ issuer, kid string }

// trustedKey is an IssuerKey with its key already in the form the
// verifiers use, so that verification converts nothing per token.
type trustedKey struct {
	IssuerKey
	ec *ecdsa.PublicKey  // ES256
	ed ed25519.PublicKey // EdDSA
}

// NewTrustStore returns an empty trust store. The zero TrustStore is also
// empty and ready to use.
func NewTrustStore() *TrustStore {
	return &TrustStore{keys: map[trustID]*trustedKey{}, issuers: map[string]int{}}
}

func newTrustedKey(k IssuerKey) (*trustedKey, error) {
	if k.Issuer == "" {
		return nil, fmt.Errorf("token: trusted key %q has no issuer", k.KeyID)
	}
	if k.KeyID == "" {
		return nil, fmt.Errorf("token: trusted key of issuer %q has no kid", k.Issuer)
	}
	pub, err := checkKeyAlg(k.Algorithm, k.Key)
	if err != nil {
		return nil, err
	}
	t := &trustedKey{IssuerKey: IssuerKey{Issuer: k.Issuer, KeyID: k.KeyID, Algorithm: k.Algorithm, Key: pub}}
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		t.ec = p
	case ed25519.PublicKey:
		t.ed = p
	}
	return t, nil
}

// Add trusts k. The key must be a public key of k.Algorithm (ES256: P-256,
// EdDSA: Ed25519) with an issuer and a kid. Adding the same key again is a
// no-op; adding a different key under an (issuer, kid) already in use is an
// error (rotate by publishing a new kid).
func (t *TrustStore) Add(k IssuerKey) error {
	tk, err := newTrustedKey(k)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.addLocked(tk)
}

func (t *TrustStore) addLocked(tk *trustedKey) error {
	if t.keys == nil { // the zero TrustStore is usable too
		t.keys, t.issuers = map[trustID]*trustedKey{}, map[string]int{}
	}
	id := trustID{tk.Issuer, tk.KeyID}
	if old, ok := t.keys[id]; ok {
		if old.Algorithm == tk.Algorithm && keyEqual(old.Key, tk.Key) {
			return nil
		}
		return fmt.Errorf("token: issuer %q already has a different %s key under kid %q", tk.Issuer, old.Algorithm, tk.KeyID)
	}
	t.keys[id] = tk
	t.issuers[tk.Issuer]++
	return nil
}

func keyEqual(a, b crypto.PublicKey) bool {
	type eq interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(eq)
	return ok && e.Equal(b)
}

// AddJWKS trusts every key of a JWK Set for issuer. Every key must have a
// kid and be a public P-256 (ES256) or Ed25519 (EdDSA) signing key; if any
// key is not acceptable, nothing is added.
func (t *TrustStore) AddJWKS(issuer string, jwks []byte) error {
	if issuer == "" {
		return fmt.Errorf("token: JWKS added without an issuer")
	}
	keys, err := parseJWKS(issuer, jwks)
	if err != nil {
		return err
	}
	tks := make([]*trustedKey, 0, len(keys))
	for _, k := range keys {
		tk, err := newTrustedKey(k)
		if err != nil {
			return err
		}
		tks = append(tks, tk)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, tk := range tks {
		if old, ok := t.keys[trustID{tk.Issuer, tk.KeyID}]; ok && !(old.Algorithm == tk.Algorithm && keyEqual(old.Key, tk.Key)) {
			return fmt.Errorf("token: issuer %q already has a different %s key under kid %q", tk.Issuer, old.Algorithm, tk.KeyID)
		}
	}
	for _, tk := range tks {
		if err := t.addLocked(tk); err != nil {
			return err // not reached: checked above, under the same lock
		}
	}
	return nil
}

// Remove stops trusting the key (issuer, kid) and reports whether it was
// trusted.
func (t *TrustStore) Remove(issuer, kid string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	id := trustID{issuer, kid}
	if _, ok := t.keys[id]; !ok {
		return false
	}
	delete(t.keys, id)
	if t.issuers[issuer]--; t.issuers[issuer] == 0 {
		delete(t.issuers, issuer)
	}
	return true
}

// lookup returns the trusted key (issuer, kid), or an error wrapping
// ErrUnknownIssuer (no key of that issuer) or ErrUnknownKey.
func (t *TrustStore) lookup(issuer, kid string) (*trustedKey, error) {
	t.mu.RLock()
	k, ok := t.keys[trustID{issuer, kid}]
	n := t.issuers[issuer]
	t.mu.RUnlock()
	if ok {
		return k, nil
	}
	if n == 0 {
		return nil, errorf(ErrUnknownIssuer, "issuer %q is not trusted", issuer)
	}
	return nil, errorf(ErrUnknownKey, "issuer %q has no key with kid %q (%d other keys)", issuer, kid, n)
}

// Lookup returns the trusted key (issuer, kid), or an error wrapping
// ErrUnknownIssuer or ErrUnknownKey.
func (t *TrustStore) Lookup(issuer, kid string) (IssuerKey, error) {
	k, err := t.lookup(issuer, kid)
	if err != nil {
		return IssuerKey{}, err
	}
	return k.IssuerKey, nil
}

// Keys returns every trusted key, sorted by issuer and kid.
func (t *TrustStore) Keys() []IssuerKey {
	t.mu.RLock()
	out := make([]IssuerKey, 0, len(t.keys))
	for _, k := range t.keys {
		out = append(out, k.IssuerKey)
	}
	t.mu.RUnlock()
	slices.SortFunc(out, func(a, b IssuerKey) int {
		if c := strings.Compare(a.Issuer, b.Issuer); c != 0 {
			return c
		}
		return strings.Compare(a.KeyID, b.KeyID)
	})
	return out
}
