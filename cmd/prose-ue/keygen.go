package main

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/prosesec/prosesec/token"
	"github.com/prosesec/prosesec/ue"
)

var keygenCmd = &command{
	name:     "keygen",
	synopsis: "prose-ue keygen --cache-dir DIR [--from FILE [--force]] [--pub-out FILE]",
	short:    "make the identity key, or import one made by prose-as keygen",
	long: "Makes the UE's identity key (ES256) in DIR/" + ue.IdentityKeyFile + " (mode 0600) if DIR " +
		"has none, or, with --from, imports an existing PEM private key: the FILE written by " +
		"'prose-as keygen --out FILE' (not FILE.pub.jwk, its public key). Then writes the public key " +
		"(PEM) to --pub-out or standard output, for 'prose-as admin ue add --public-key', and prints " +
		"its RFC 7638 thumbprint, the one 'prose-as admin ue show' lists as key thumbprint. An " +
		"existing key is kept: keygen again just prints it. --from never replaces a different key " +
		"without --force, since the AS knows the UE by the key it registered.",
	examples: []string{
		"# the key was made and registered on the AS side (the README's walkthrough)\n" +
			"prose-as keygen --out ue-1.pem\n" +
			"prose-as admin ue add --id ue-1 --public-key ue-1.pem.pub.jwk --grant use:00002a\n" +
			"prose-ue keygen --cache-dir ue1 --from ue-1.pem",
		"# the key is made here and its public key registered at the AS\n" +
			"prose-ue keygen --cache-dir ue1 --pub-out ue1.pub.pem\n" +
			"prose-as admin ue add --id ue-1 --public-key ue1.pub.pem --grant use:00002a",
		"# which key does the cache hold? compare with 'prose-as admin ue show --id ue-1'\n" +
			"prose-ue keygen --cache-dir ue1 >/dev/null",
	},
}

// maxKeyFile bounds what --from reads.
const maxKeyFile = 64 << 10

func cmdKeygen(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(keygenCmd)
	dir := fs.String("cache-dir", "", "credential cache `DIR` (required)")
	from := fs.String("from", "", "import the PEM private key in `FILE` (as written by prose-as keygen --out FILE) instead of making one")
	force := fs.Bool("force", false, "with --from: replace an identity key that DIR already holds")
	pubOut := fs.String("pub-out", "", "`FILE` for the public key (PEM) (default: standard output)")
	if err := parse(keygenCmd, fs, args, stdout); err != nil {
		return err
	}
	if *dir == "" {
		return usagef("keygen: --cache-dir is required")
	}
	if *force && *from == "" {
		return usagef("keygen: --force only goes with --from")
	}
	// The public key goes to stdout unless --pub-out is given; the
	// messages go where the key does not.
	msgOut := stderr
	if *pubOut != "" {
		msgOut = stdout
	}
	cache, err := ue.OpenCache(*dir)
	if err != nil {
		return err
	}
	var key crypto.Signer
	if *from != "" {
		if key, err = importIdentityKey(cache, *from, *force, msgOut); err != nil {
			return err
		}
	} else {
		key, err = cache.IdentityKey()
		switch {
		case errors.Is(err, iofs.ErrNotExist):
			if key, err = cache.GenerateIdentityKey(token.ES256, rand.Reader); err != nil {
				return fmt.Errorf("identity key: %w", err)
			}
			fmt.Fprintf(msgOut, "made a new identity key %s; register its public key at the AS\n", filepath.Join(cache.Dir(), ue.IdentityKeyFile))
		case err != nil:
			// A key that exists but cannot be read (its mode, a damaged
			// file) is reported as it is: it is the key the AS knows.
			return err
		}
	}
	tp, err := token.Thumbprint(key.Public())
	if err != nil {
		return err
	}
	fmt.Fprintf(msgOut, "identity key %s, thumbprint %s\n", filepath.Join(cache.Dir(), ue.IdentityKeyFile), tp)
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return err
	}
	p := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	if *pubOut == "" {
		_, err = stdout.Write(p)
		return err
	}
	return os.WriteFile(*pubOut, p, 0o644)
}

// importIdentityKey stores the private key in file as the cache's identity
// key. The same key already there is fine; a different one is replaced
// only with force.
func importIdentityKey(cache *ue.Cache, file string, force bool, msgOut io.Writer) (crypto.Signer, error) {
	key, err := readPrivateKeyFile(file)
	if err != nil {
		return nil, err
	}
	dst := filepath.Join(cache.Dir(), ue.IdentityKeyFile)
	old, err := cache.IdentityKey()
	switch {
	case errors.Is(err, iofs.ErrNotExist):
		if err := cache.SaveIdentityKey(key); err != nil {
			return nil, err
		}
		fmt.Fprintf(msgOut, "imported %s as %s\n", file, dst)
		return key, nil
	case err == nil && sameKey(old, key):
		fmt.Fprintf(msgOut, "%s already holds the key in %s\n", dst, file)
		return key, nil
	case !force && err == nil:
		oldTP, _ := token.Thumbprint(old.Public())
		newTP, _ := token.Thumbprint(key.Public())
		return nil, fmt.Errorf("keygen: %s holds another identity key (thumbprint %s) than %s (thumbprint %s); "+
			"'prose-as admin ue show --id ID' lists the key thumbprint the AS has registered; pass --force to replace the key in %s",
			dst, oldTP, file, newTP, cache.Dir())
	case !force:
		return nil, fmt.Errorf("%w; pass --force to replace it with %s", err, file)
	}
	if err := cache.ReplaceIdentityKey(key); err != nil {
		return nil, err
	}
	fmt.Fprintf(msgOut, "replaced the identity key %s with %s\n", dst, file)
	if _, err := cache.Load(); err == nil {
		fmt.Fprintf(msgOut, "the cached credentials were bound to the old key: run prose-ue provision\n")
	}
	return key, nil
}

// readPrivateKeyFile reads a PEM identity key for --from, telling a public
// key (the .pub.jwk or .pub.pem file) apart from a bad file.
func readPrivateKeyFile(file string) (crypto.Signer, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("keygen: --from: %v", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("keygen: --from: %v", err)
	}
	if len(b) > maxKeyFile {
		return nil, fmt.Errorf("keygen: --from %s: larger than %d bytes, not a key file", file, maxKeyFile)
	}
	const want = "--from takes the PEM private key (the FILE of 'prose-as keygen --out FILE', not FILE.pub.jwk)"
	if strings.HasPrefix(strings.TrimSpace(string(b)), "{") {
		return nil, fmt.Errorf("keygen: %s is a JWK, a public key; %s", file, want)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("keygen: %s is not PEM; %s", file, want)
	}
	switch block.Type {
	case "PUBLIC KEY", "CERTIFICATE":
		return nil, fmt.Errorf("keygen: %s holds a public key (PEM %q); %s", file, block.Type, want)
	}
	key, err := ue.ParseIdentityKey(b)
	if err != nil {
		return nil, fmt.Errorf("keygen: %s: %v", file, err)
	}
	return key, nil
}

func sameKey(a, b crypto.Signer) bool {
	e, ok := a.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b.Public())
}
