package main

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"

	"github.com/prosesec/prosesec/token"
	"github.com/prosesec/prosesec/ue"
)

const keygenHelp = `Usage: prose-ue keygen --cache-dir DIR [--pub-out FILE]

Make the UE's identity key in DIR (ES256) if it has none, and write its public
key (PEM) to FILE or standard output, for registration at the AS:

  prose-ue keygen --cache-dir ue1 --pub-out ue1.pub.pem
  prose-as admin ue add --id ue-source-00001 --public-key ue1.pub.pem --grant use:00002a

Flags:
`

func cmdKeygen(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("keygen", keygenHelp, stderr)
	dir := fs.String("cache-dir", "", "credential cache directory (required)")
	pubOut := fs.String("pub-out", "", "file for the public key (default: standard output)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return usagef("keygen: --cache-dir is required")
	}
	cache, err := ue.OpenCache(*dir)
	if err != nil {
		return err
	}
	key, err := cache.IdentityKey()
	switch {
	case errors.Is(err, iofs.ErrNotExist):
		if key, err = cache.GenerateIdentityKey(token.ES256, rand.Reader); err != nil {
			return fmt.Errorf("identity key: %w", err)
		}
	case err != nil:
		// A key that exists but cannot be read (its mode, a damaged
		// file) is reported as it is: it is the key the AS knows.
		return err
	}
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
