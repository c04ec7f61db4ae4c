package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prosesec/prosesec/token"
	"github.com/prosesec/prosesec/ue"
)

var provisionCmd = &command{
	name:     "provision",
	synopsis: "prose-ue provision --cache-dir DIR --issuer URL --client-id ID [--ca-file FILE] [flags]",
	short:    "in coverage: fetch the token, trust anchors and status lists",
	long: "In coverage: with the identity key in DIR (see prose-ue keygen; provision makes none, since " +
		"the AS must know the key), fetch the AS metadata, JWKS, a CWT token bound to the key and the " +
		"status lists, verify them and store them in DIR for offline use. prose-as serve uses HTTPS " +
		"with a self-signed certificate by default, written to its data directory as tls.crt " +
		"(./prose-as-data/tls.crt): pass that file as --ca-file.",
	examples: []string{
		"# from prose-as serve on its default address and data directory\n" +
			"prose-ue provision --cache-dir ue1 --issuer https://127.0.0.1:8443 \\\n" +
			"    --ca-file prose-as-data/tls.crt --client-id ue-1",
		"# from prose-as serve --insecure-http (loopback only)\n" +
			"prose-ue provision --cache-dir ue1 --issuer http://127.0.0.1:8443 --client-id ue-1",
		"# with the client secret of 'prose-as admin ue add --secret --secret-out ue-1.secret'\n" +
			"prose-ue provision --cache-dir ue1 --issuer https://127.0.0.1:8443 \\\n" +
			"    --ca-file prose-as-data/tls.crt --client-id ue-1 \\\n" +
			"    --auth client_secret_basic --client-secret-file ue-1.secret",
	},
}

var statusCmd = &command{
	name:     "status",
	synopsis: "prose-ue status --cache-dir DIR",
	short:    "show the cached credentials and whether they are usable offline",
	long: "Shows the cached token, trust anchors and status lists of DIR, and whether they are " +
		"usable offline now. Exits 1 if they are not (run prose-ue provision while in coverage).",
	examples: []string{
		"prose-ue status --cache-dir ue1",
	},
}

// defaultASCert is where prose-as serve writes its self-signed certificate
// with its default --data-dir.
const defaultASCert = "prose-as-data/tls.crt"

func cmdProvision(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(provisionCmd)
	dir := fs.String("cache-dir", "", "credential cache `DIR`, holding the identity key (required)")
	issuer := fs.String("issuer", "", "AS `URL`, https://host:port (http:// for loopback only), e.g. https://127.0.0.1:8443 (required)")
	caFile := fs.String("ca-file", "", "PEM `FILE` with the AS's CA or self-signed certificate, e.g. "+defaultASCert+" (default: the system roots)")
	clientID := fs.String("client-id", "", "the UE's client `ID` / user info at the AS (required)")
	auth := fs.String("auth", string(ue.AuthPrivateKeyJWT), "client authentication `METHOD`: private_key_jwt or client_secret_basic")
	secretFile := fs.String("client-secret-file", "", "`FILE` holding the client secret (client_secret_basic)")
	scope := fs.String("scope", "", "requested `SCOPE` (default: everything granted)")
	timeout := fs.Duration("timeout", 30*time.Second, "overall time limit (`DURATION`)")
	if err := parse(provisionCmd, fs, args, stdout); err != nil {
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
	// A key made here could not be the one the AS registered for the
	// client ID: the token request would fail, or the token would be
	// bound to another key. So provision makes none.
	key, err := cache.IdentityKey()
	switch {
	case errors.Is(err, iofs.ErrNotExist):
		return fmt.Errorf("provision: no identity key in %s; import the private key registered for %s "+
			"(prose-ue keygen --cache-dir %s --from FILE, FILE as written by prose-as keygen --out FILE), "+
			"or make one (prose-ue keygen --cache-dir %s --pub-out PUB) and register PUB at the AS "+
			"(prose-as admin ue add --id %s --public-key PUB ...)", cache.Dir(), *clientID, cache.Dir(), cache.Dir(), *clientID)
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
		if hint := provisionHint(err, cfg, cache.Dir(), *caFile); hint != "" {
			return fmt.Errorf("%w\n  hint: %s", err, hint)
		}
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
	fs := newFlagSet(statusCmd)
	dir := fs.String("cache-dir", "", "credential cache `DIR` (required)")
	if err := parse(statusCmd, fs, args, stdout); err != nil {
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

// provisionHint says what to check for the failures a fresh setup meets:
// an AS certificate the UE does not trust, and a client authentication the
// AS refuses. The ue package wraps both causes (errors.As).
func provisionHint(err error, cfg ue.ClientConfig, dir, caFile string) string {
	var (
		unknownCA x509.UnknownAuthorityError
		oauth     *ue.OAuthError
	)
	switch {
	case errors.As(err, &unknownCA):
		if caFile == "" {
			return "the AS's TLS certificate is not signed by a CA of the system roots; pass --ca-file with the AS's certificate: " +
				"prose-as serve writes its self-signed one to its data directory, e.g. --ca-file " + defaultASCert
		}
		return "the certificate in --ca-file " + caFile + " does not verify the AS's TLS certificate; pass the AS's own " +
			"(tls.crt in its data directory, e.g. " + defaultASCert + ") or the CA of its --tls-cert"
	case errors.As(err, &oauth) && oauth.StatusCode == http.StatusUnauthorized && oauth.Code == "invalid_client":
		if cfg.Auth == ue.AuthClientSecretBasic {
			return fmt.Sprintf("check that %s is registered at the AS with a client secret and that --client-secret-file holds it", cfg.ClientID)
		}
		tp, _ := token.Thumbprint(cfg.Key.Public())
		return fmt.Sprintf("the identity key in %s (thumbprint %s) may not be the key registered for %s, or %s is not registered; "+
			"compare with the key thumbprint of 'prose-as admin ue show --id %s'. To use the key registered with "+
			"'prose-as keygen --out FILE', import it: prose-ue keygen --cache-dir %s --from FILE --force",
			dir, tp, cfg.ClientID, cfg.ClientID, cfg.ClientID, dir)
	}
	return ""
}
