package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"strings"
	"time"

	"github.com/prosesec/prosesec/token"
	"github.com/prosesec/prosesec/ue"
)

const provisionHelp = `Usage: prose-ue provision --cache-dir DIR --issuer URL --client-id ID [flags]

In coverage: load the identity key from DIR (or generate one, ES256), fetch
the AS metadata, JWKS, a CWT token bound to the key and the status lists,
verify them and store them in DIR for offline use.

Example:
  prose-ue provision --cache-dir ue1 --issuer https://127.0.0.1:8443 \
      --ca-file as-ca.pem --client-id ue-source-00001

Flags:
`

func cmdProvision(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("provision", provisionHelp, stderr)
	dir := fs.String("cache-dir", "", "credential cache directory (required)")
	issuer := fs.String("issuer", "", "AS URL, https://host:port (http:// for loopback only) (required)")
	caFile := fs.String("ca-file", "", "PEM file with the AS's CA or self-signed certificate (default: system roots)")
	clientID := fs.String("client-id", "", "the UE's client ID / user info at the AS (required)")
	auth := fs.String("auth", string(ue.AuthPrivateKeyJWT), "client authentication: private_key_jwt or client_secret_basic")
	secretFile := fs.String("client-secret-file", "", "file holding the client secret (client_secret_basic)")
	scope := fs.String("scope", "", "requested scope (default: everything granted)")
	timeout := fs.Duration("timeout", 30*time.Second, "overall time limit")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *dir == "" || *issuer == "" || *clientID == "" {
		return usagef("provision: --cache-dir, --issuer and --client-id are required")
	}
	cfg := ue.ClientConfig{Issuer: strings.TrimSuffix(*issuer, "/"), ClientID: *clientID, Auth: ue.AuthMethod(*auth), Scope: *scope}
	switch cfg.Auth {
	case ue.AuthPrivateKeyJWT:
	case ue.AuthClientSecretBasic:
		if *secretFile == "" {
			return usagef("provision: client_secret_basic needs --client-secret-file")
		}
		b, err := os.ReadFile(*secretFile)
		if err != nil {
			return err
		}
		cfg.ClientSecret = strings.TrimSpace(string(b))
	default:
		return usagef("provision: unknown --auth %q", *auth)
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
		fmt.Fprintf(stdout, "generated identity key in %s\n", cache.Dir())
	case err != nil:
		// A key that exists but cannot be read (its mode, a damaged
		// file) is reported as it is: it is the key the AS knows.
		return err
	}
	cfg.Key = key
	if *caFile != "" {
		if cfg.RootCAs, err = ue.LoadCertPool(*caFile); err != nil {
			return err
		}
	}
	c, err := ue.NewClient(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	cr, err := c.Provision(ctx)
	if err != nil {
		return err
	}
	if err := cache.Save(cr); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "provisioned %s: token %s, scope %q, expires %s; %d status list(s)\n",
		cr.ClientID, cr.Token.Format, cr.Token.Scope, cr.Token.Expiry.UTC().Format(time.RFC3339), len(cr.StatusLists))
	return nil
}

func cmdStatus(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("status", "Usage: prose-ue status --cache-dir DIR\n\nShow the cached token, trust anchors and status lists, and whether they\nare usable offline now.\n\nFlags:\n", stderr)
	dir := fs.String("cache-dir", "", "credential cache directory (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return usagef("status: --cache-dir is required")
	}
	cache, err := ue.OpenCache(*dir)
	if err != nil {
		return err
	}
	cr, err := cache.Load()
	if err != nil {
		return err
	}
	now := time.Now()
	fmt.Fprintf(stdout, "client:       %s\nissuer:       %s\naudience:     %s\n", cr.ClientID, cr.Issuer, cr.Audience)
	fmt.Fprintf(stdout, "token:        %s, scope %q, expires %s (%s)\n", cr.Token.Format, cr.Token.Scope,
		cr.Token.Expiry.UTC().Format(time.RFC3339), left(cr.Token.Expiry.Sub(now)))
	fmt.Fprintf(stdout, "trust:        JWKS fetched %s ago\n", now.Sub(cr.JWKSFetchedAt).Round(time.Second))
	b, openErr := cache.Open(ue.Policy{}, now)
	if openErr == nil {
		for _, sl := range b.StatusLists {
			fmt.Fprintf(stdout, "status list:  %s issued %s ago\n", sl.URI, now.Sub(sl.IssuedAt).Round(time.Second))
		}
		fmt.Fprintln(stdout, "offline:      ready")
		return nil
	}
	fmt.Fprintf(stdout, "offline:      NOT ready: %v\n", openErr)
	if ue.NeedsProvisioning(openErr) {
		fmt.Fprintln(stdout, "              run prose-ue provision while in coverage")
	}
	return errors.New("credentials not usable offline")
}

func left(d time.Duration) string {
	if d < 0 {
		return "expired " + (-d).Round(time.Second).String() + " ago"
	}
	return d.Round(time.Second).String() + " left"
}
