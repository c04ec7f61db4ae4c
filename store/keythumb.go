package store

import (
	"fmt"

	"github.com/prosesec/prosesec/token"
)

// KeyThumbprint returns the RFC 7638 thumbprint (SHA-256, base64url) of a
// UE's identity public key given as a JWK or PEM: what package as stores in
// UE.KeyThumbprint, and what the backends' schema migrations compute for
// UEs recorded before the field existed. Two encodings of one key have one
// thumbprint, so the uniqueness of UE.KeyThumbprint is the uniqueness of
// the key.
func KeyThumbprint(publicKey []byte) (string, error) {
	pub, err := token.ParsePublicKey(publicKey)
	if err != nil {
		return "", fmt.Errorf("store: identity key: %w", err)
	}
	tp, err := token.Thumbprint(pub)
	if err != nil {
		return "", fmt.Errorf("store: identity key: %w", err)
	}
	return tp, nil
}

// DuplicateKeysError is returned by a backend's Open when the schema
// migration that makes identity keys unique finds UEs that share one: the
// database is left as it was, and the UEs must be given their own keys (or
// removed) with the previous version before this one can open it.
type DuplicateKeysError struct {
	Thumbprint string
	UEs        []string // at least two UE IDs
}

func (e *DuplicateKeysError) Error() string {
	return fmt.Sprintf("store: UEs %q share the identity key with thumbprint %s; identity keys must be unique since schema version 2: with the previous prose-as, give each UE its own key (admin ue update --public-key) or remove one, then upgrade", e.UEs, e.Thumbprint)
}
