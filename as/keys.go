package as

import (
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/prosesec/prosesec/store"
	"github.com/prosesec/prosesec/token"
)

// KeyInfo describes one signing key without private material.
type KeyInfo struct {
	KID          string          `json:"kid"`
	Algorithm    token.Algorithm `json:"alg"`
	State        store.KeyState  `json:"state"`
	CreatedAt    time.Time       `json:"created_at"`
	ActivatedAt  *time.Time      `json:"activated_at,omitempty"`
	RetiredAt    *time.Time      `json:"retired_at,omitempty"`
	PublishUntil *time.Time      `json:"publish_until,omitempty"`
	// SignsFrom is, for the next key, the earliest time RotateKeys (without
	// force) or Maintain will make it active.
	SignsFrom *time.Time `json:"signs_from,omitempty"`
	// Published reports whether the key is in the JWKS now.
	Published bool `json:"published"`
}

// keySet is an immutable snapshot of the signing keys, swapped atomically.
type keySet struct {
	version int64
	keys    []*store.SigningKey // as loaded, oldest first
	active  *store.SigningKey
	next    *store.SigningKey
	signer  *token.Signer // active key
	public  []token.IssuerKey
	trust   *token.TrustStore
	verify  *token.Verifier // the AS's own tokens (introspection, revocation)

	// JWKS cache: the published keys at build time and when it goes stale.
	jwks      []byte
	jwksUntil time.Time // zero: no retired key expires
}

// sealedV1 is the version byte of the sealed private-key format.
const sealedV1 = 1

func newAEAD(kek [32]byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(kek[:])
	if err != nil {
		return nil, fmt.Errorf("as: KEK: %w", err)
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		return nil, fmt.Errorf("as: KEK: %w", err)
	}
	return a, nil
}

// seal encrypts a PKCS #8 private key: 0x01 || nonce || AES-256-GCM(kek,
// nonce, pkcs8, aad = kid).
func (s *Server) seal(kid string, pkcs8 []byte) ([]byte, error) {
	out := make([]byte, 1+s.aead.NonceSize(), 1+s.aead.NonceSize()+len(pkcs8)+s.aead.Overhead())
	out[0] = sealedV1
	if _, err := io.ReadFull(s.cfg.Rand, out[1:]); err != nil {
		return nil, fmt.Errorf("as: reading Rand: %w", err)
	}
	return s.aead.Seal(out, out[1:], pkcs8, []byte(kid)), nil
}

func (s *Server) open(k *store.SigningKey) (crypto.Signer, error) {
	ns := s.aead.NonceSize()
	if len(k.EncryptedPriv) < 1+ns+s.aead.Overhead() || k.EncryptedPriv[0] != sealedV1 {
		return nil, fmt.Errorf("as: signing key %q: encrypted private key has an unknown format", k.KID)
	}
	pkcs8, err := s.aead.Open(nil, k.EncryptedPriv[1:1+ns], k.EncryptedPriv[1+ns:], []byte(k.KID))
	if err != nil {
		return nil, fmt.Errorf("as: signing key %q cannot be decrypted: the KEK does not match the one it was encrypted with", k.KID)
	}
	priv, err := x509.ParsePKCS8PrivateKey(pkcs8)
	clear(pkcs8)
	if err != nil {
		return nil, fmt.Errorf("as: signing key %q: decrypted private key does not parse: %v", k.KID, err)
	}
	sig, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("as: signing key %q: unsupported private key type %T", k.KID, priv)
	}
	if err := checkKeyAlg(token.Algorithm(k.Algorithm), sig.Public()); err != nil {
		return nil, fmt.Errorf("as: signing key %q: %v", k.KID, err)
	}
	return sig, nil
}

// checkKeyAlg checks that pub is a key of algorithm alg.
func checkKeyAlg(alg token.Algorithm, pub crypto.PublicKey) error {
	switch alg {
	case token.ES256:
		if k, ok := pub.(*ecdsa.PublicKey); ok && k.Curve == elliptic.P256() {
			return nil
		}
	case token.EdDSA:
		if _, ok := pub.(ed25519.PublicKey); ok {
			return nil
		}
	default:
		return fmt.Errorf("algorithm %q is not supported", alg)
	}
	return fmt.Errorf("key type %T does not match algorithm %s", pub, alg)
}

// algForKey returns the JOSE algorithm of a P-256 or Ed25519 public key.
func algForKey(pub crypto.PublicKey) (token.Algorithm, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return token.ES256, nil
		}
		return "", fmt.Errorf("ECDSA curve %s is not supported (want P-256)", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return token.EdDSA, nil
	}
	return "", fmt.Errorf("key type %T is not supported (want an ECDSA P-256 or Ed25519 public key)", pub)
}

// newDummyKeys returns throw-away public keys per assertion algorithm.
func newDummyKeys(r io.Reader) (map[string]crypto.PublicKey, error) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), r)
	if err != nil {
		return nil, fmt.Errorf("as: generating dummy key: %w", err)
	}
	ed, _, err := ed25519.GenerateKey(r)
	if err != nil {
		return nil, fmt.Errorf("as: generating dummy key: %w", err)
	}
	return map[string]crypto.PublicKey{string(token.ES256): ec.Public(), string(token.EdDSA): ed}, nil
}

// newKey generates a key of the configured algorithm in state st.
func (s *Server) newKey(st store.KeyState, now time.Time) (*store.SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch s.cfg.SigningAlgorithm {
	case token.EdDSA:
		_, priv, err = ed25519.GenerateKey(s.cfg.Rand)
	default:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), s.cfg.Rand)
	}
	if err != nil {
		return nil, fmt.Errorf("as: generating signing key: %w", err)
	}
	// A short kid: every kid byte is carried in every CWT over PC5.
	kid, err := token.ShortKeyID(priv.Public())
	if err != nil {
		return nil, fmt.Errorf("as: key thumbprint: %w", err)
	}
	jwk, err := jose.JSONWebKey{Key: priv.Public(), KeyID: kid, Algorithm: string(s.cfg.SigningAlgorithm), Use: "sig"}.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("as: marshalling public key: %w", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("as: marshalling private key: %w", err)
	}
	sealed, err := s.seal(kid, pkcs8)
	clear(pkcs8)
	if err != nil {
		return nil, err
	}
	k := &store.SigningKey{
		KID:           kid,
		Algorithm:     string(s.cfg.SigningAlgorithm),
		State:         st,
		PublicJWK:     jwk,
		EncryptedPriv: sealed,
		CreatedAt:     now,
	}
	if st == store.KeyActive {
		t := now
		k.ActivatedAt = &t
	}
	return k, nil
}

// initKeys loads the keys and makes sure an active and a next key exist
// (creating them on first start). Two instances starting at once on an
// empty database create one pair: each insert is guarded by the version.
func (s *Server) initKeys(ctx context.Context) error {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	for attempt := 0; ; attempt++ {
		if attempt == 8 {
			return errors.New("as: signing keys keep changing concurrently; giving up")
		}
		ver, keys, err := s.loadKeys(ctx)
		if err != nil {
			return err
		}
		var active, next *store.SigningKey
		for _, k := range keys {
			switch k.State {
			case store.KeyActive:
				active = k
			case store.KeyNext:
				next = k
			}
		}
		// Prove the KEK before writing anything: a key added under a wrong
		// KEK would stop every later start with the right one.
		for _, k := range []*store.SigningKey{active, next} {
			if k != nil {
				if _, err := s.open(k); err != nil {
					return err
				}
			}
		}
		now := s.now()
		var add *store.SigningKey
		switch {
		case active == nil:
			add, err = s.newKey(store.KeyActive, now)
		case next == nil:
			add, err = s.newKey(store.KeyNext, now)
		default:
			return s.install(ver, keys)
		}
		if err != nil {
			return err
		}
		if err := s.st.Rotate(ctx, ver, nil, add); err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("as: storing new signing key: %w", err)
		}
	}
}

func (s *Server) loadKeys(ctx context.Context) (int64, []*store.SigningKey, error) {
	ver, err := s.st.KeysVersion(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("as: reading keys version: %w", err)
	}
	keys, err := s.st.ListKeys(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("as: listing signing keys: %w", err)
	}
	return ver, keys, nil
}

// install decrypts the active and next keys and swaps in a new keySet.
func (s *Server) install(ver int64, keys []*store.SigningKey) error {
	ks := &keySet{version: ver, keys: keys, trust: token.NewTrustStore()}
	for _, k := range keys {
		pub, err := token.ParsePublicKey(k.PublicJWK)
		if err != nil {
			return fmt.Errorf("as: signing key %q: stored public key does not parse: %w", k.KID, err)
		}
		alg := token.Algorithm(k.Algorithm)
		if err := checkKeyAlg(alg, pub); err != nil {
			return fmt.Errorf("as: signing key %q: %v", k.KID, err)
		}
		switch k.State {
		case store.KeyActive:
			if ks.active != nil {
				return fmt.Errorf("as: store has two active signing keys (%q and %q)", ks.active.KID, k.KID)
			}
			priv, err := s.open(k)
			if err != nil {
				return err
			}
			if !publicEqual(priv.Public(), pub) {
				return fmt.Errorf("as: signing key %q: private key does not match the stored public key", k.KID)
			}
			ks.active = k
			if ks.signer, err = token.NewSigner(s.cfg.Issuer, k.KID, priv); err != nil {
				return fmt.Errorf("as: signing key %q: %w", k.KID, err)
			}
		case store.KeyNext:
			// Decrypted only to prove the KEK matches before it is needed.
			if _, err := s.open(k); err != nil {
				return err
			}
			ks.next = k
		case store.KeyRetired:
		default:
			return fmt.Errorf("as: signing key %q has unknown state %q", k.KID, k.State)
		}
		ik := token.IssuerKey{Issuer: s.cfg.Issuer, KeyID: k.KID, Algorithm: alg, Key: pub}
		ks.public = append(ks.public, ik)
		if err := ks.trust.Add(ik); err != nil {
			return fmt.Errorf("as: signing key %q: %w", k.KID, err)
		}
	}
	if ks.active == nil {
		return errors.New("as: store has no active signing key")
	}
	ks.verify = &token.Verifier{
		Trust:      ks.trust,
		Algorithms: []token.Algorithm{token.ES256, token.EdDSA},
		Audience:   s.cfg.Audience,
		Leeway:     s.cfg.Leeway,
		SkipStatus: true,
	}
	s.keys.Store(ks)
	return nil
}

func publicEqual(a, b crypto.PublicKey) bool {
	type eq interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(eq)
	return ok && e.Equal(b)
}

// reloadKeys reloads the key set if the store's KeysVersion changed.
// Caller holds keyMu.
func (s *Server) reloadKeysLocked(ctx context.Context) (bool, error) {
	ver, err := s.st.KeysVersion(ctx)
	if err != nil {
		return false, fmt.Errorf("as: reading keys version: %w", err)
	}
	if cur := s.keys.Load(); cur != nil && cur.version == ver {
		return false, nil
	}
	ver, keys, err := s.loadKeys(ctx)
	if err != nil {
		return false, err
	}
	return true, s.install(ver, keys)
}

// nextSignsFrom is the earliest time the next key k may become active.
func (s *Server) nextSignsFrom(k *store.SigningKey) time.Time {
	return k.CreatedAt.Add(s.cfg.MaxTokenLifetime + s.cfg.OfflineHorizon)
}

// RotateKeys makes the next key active, retires the active key (published
// until every token it signed has expired: now + MaxTokenLifetime + Leeway)
// and creates a new next key. Unless force is set it refuses while the next
// key has been published for less than MaxTokenLifetime + OfflineHorizon,
// so that UEs out of coverage already hold it. Force is for emergencies
// (e.g. a suspected compromise of the active key); note that the retired
// key stays published, so tokens it signed stay valid until they expire —
// revoke them (RevokeUE / RevokeToken) if they must not be.
//
// Several instances on one database rotate once: the change is guarded by
// the store's KeysVersion; when another instance rotated first, RotateKeys
// returns the resulting keys without rotating again.
func (s *Server) RotateKeys(ctx context.Context, force bool) ([]KeyInfo, error) {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	if _, err := s.reloadKeysLocked(ctx); err != nil {
		return nil, storeError("reloading keys", err)
	}
	want := s.keys.Load().active.KID
	for attempt := 0; attempt < 8; attempt++ {
		ks := s.keys.Load()
		if ks.active.KID != want {
			// Another instance rotated meanwhile: that is the rotation asked for.
			return s.keyInfos(ks), nil
		}
		now := s.now()
		if ks.next == nil {
			return nil, ErrServerError.WithCause(errors.New("as: no next key to rotate to"))
		}
		if from := s.nextSignsFrom(ks.next); !force && now.Before(from) {
			return nil, ErrConflict.WithDescriptionf(
				"the next key %s has been published since %s; it may sign only from %s (MaxTokenLifetime + OfflineHorizon later) so that UEs out of coverage know it; wait or force the rotation",
				ks.next.KID, ks.next.CreatedAt.UTC().Format(time.RFC3339), from.UTC().Format(time.RFC3339))
		}
		err := s.rotateLocked(ctx, ks, now)
		if err == nil {
			return s.keyInfos(s.keys.Load()), nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return nil, storeError("rotating keys", err)
		}
		if _, err := s.reloadKeysLocked(ctx); err != nil {
			return nil, storeError("reloading keys", err)
		}
	}
	return nil, ErrTemporarilyUnavailable.WithDescription("signing keys are changing concurrently; retry")
}

// rotateLocked applies one rotation step on top of ks and reloads.
func (s *Server) rotateLocked(ctx context.Context, ks *keySet, now time.Time) error {
	nk, err := s.newKey(store.KeyNext, now)
	if err != nil {
		return err
	}
	retired := *ks.active
	rt, pu := now, now.Add(s.cfg.MaxTokenLifetime+s.cfg.Leeway)
	retired.State, retired.RetiredAt, retired.PublishUntil = store.KeyRetired, &rt, &pu
	activated := *ks.next
	at := now
	activated.State, activated.ActivatedAt = store.KeyActive, &at
	if err := s.st.Rotate(ctx, ks.version, []*store.SigningKey{&retired, &activated}, nk); err != nil {
		return err
	}
	_, err = s.reloadKeysLocked(ctx)
	return err
}

// Keys lists the signing keys (never private material).
func (s *Server) Keys(ctx context.Context) ([]KeyInfo, error) {
	s.keyMu.Lock()
	_, err := s.reloadKeysLocked(ctx)
	s.keyMu.Unlock()
	if err != nil {
		return nil, storeError("reloading keys", err)
	}
	return s.keyInfos(s.keys.Load()), nil
}

func (s *Server) keyInfos(ks *keySet) []KeyInfo {
	now := s.now()
	out := make([]KeyInfo, 0, len(ks.keys))
	for _, k := range ks.keys {
		ki := KeyInfo{
			KID: k.KID, Algorithm: token.Algorithm(k.Algorithm), State: k.State,
			CreatedAt: k.CreatedAt, ActivatedAt: k.ActivatedAt, RetiredAt: k.RetiredAt, PublishUntil: k.PublishUntil,
			Published: published(k, now),
		}
		if k.State == store.KeyNext {
			t := s.nextSignsFrom(k)
			ki.SignsFrom = &t
		}
		out = append(out, ki)
	}
	return out
}

func published(k *store.SigningKey, now time.Time) bool {
	return k.State != store.KeyRetired || (k.PublishUntil != nil && now.Before(*k.PublishUntil))
}

// JWKS returns the JSON Web Key Set to publish: the active and next keys
// and the retired keys whose PublishUntil has not passed. The document is
// cached per key-set version and rebuilt when a retired key drops out.
func (s *Server) JWKS(ctx context.Context) ([]byte, error) {
	ks := s.keys.Load()
	now := s.now()
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	if ks.jwks != nil && (ks.jwksUntil.IsZero() || now.Before(ks.jwksUntil)) {
		return ks.jwks, nil
	}
	var pub []token.IssuerKey
	var until time.Time
	for i, k := range ks.keys {
		if !published(k, now) {
			continue
		}
		if k.State == store.KeyRetired && (until.IsZero() || k.PublishUntil.Before(until)) {
			until = *k.PublishUntil
		}
		pub = append(pub, ks.public[i])
	}
	b, err := token.MarshalJWKS(pub)
	if err != nil {
		return nil, ErrServerError.WithCause(fmt.Errorf("as: marshalling JWKS: %w", err))
	}
	// ks is shared read-only by concurrent readers of the other fields;
	// the jwks fields are guarded by keyMu.
	ks.jwks, ks.jwksUntil = b, until
	return b, nil
}
