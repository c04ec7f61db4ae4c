package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prosesec/prosesec/token"
	"github.com/prosesec/prosesec/ue"
)

// writeKey writes a new identity key as prose-as keygen does (PKCS #8 PEM,
// 0600) and returns its public key as PEM, as prose-ue keygen prints it.
func writeKey(t *testing.T, path string, alg token.Algorithm) []byte {
	t.Helper()
	k, err := ue.GenerateIdentityKey(alg, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ue.MarshalIdentityKey(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func runCLI(args ...string) (stdout, stderr string, code int) {
	var o, e bytes.Buffer
	err := run(context.Background(), args, &o, &e)
	code = exitCode(err, &e)
	return o.String(), e.String(), code
}

// TestKeygenImport: keygen --from stores the private key made by prose-as
// keygen as the cache's identity key (0600), prints its public key, and
// refuses public keys, non-keys and a different existing key (unless
// --force).
func TestKeygenImport(t *testing.T) {
	work := t.TempDir()
	keyA, keyB := filepath.Join(work, "ue-1.pem"), filepath.Join(work, "ue-2.pem")
	pubA, pubB := writeKey(t, keyA, token.ES256), writeKey(t, keyB, token.EdDSA)
	dir := filepath.Join(work, "c")
	identity := filepath.Join(dir, ue.IdentityKeyFile)

	out, errOut, code := runCLI("keygen", "--cache-dir", dir, "--from", keyA)
	if code != 0 || out != string(pubA) || !strings.Contains(errOut, "imported "+keyA) {
		t.Fatalf("import: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if fi, err := os.Stat(identity); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("identity key: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	// The cache now holds the key: keygen prints it, importing it again
	// is fine.
	if out, _, code := runCLI("keygen", "--cache-dir", dir); code != 0 || out != string(pubA) {
		t.Fatalf("keygen after import: exit %d, %s", code, out)
	}
	if out, errOut, code := runCLI("keygen", "--cache-dir", dir, "--from", keyA); code != 0 || out != string(pubA) || !strings.Contains(errOut, "already holds") {
		t.Fatalf("import again: exit %d\n%s%s", code, out, errOut)
	}

	// A different key is not replaced without --force.
	_, errOut, code = runCLI("keygen", "--cache-dir", dir, "--from", keyB)
	if code != 1 || !strings.Contains(errOut, "holds another identity key") || !strings.Contains(errOut, "--force") {
		t.Fatalf("import of another key: exit %d\n%s", code, errOut)
	}
	if out, _, _ := runCLI("keygen", "--cache-dir", dir); out != string(pubA) {
		t.Fatal("the refused import changed the identity key")
	}
	out, errOut, code = runCLI("keygen", "--cache-dir", dir, "--from", keyB, "--force", "--pub-out", filepath.Join(work, "b.pub.pem"))
	if code != 0 || !strings.Contains(out, "replaced the identity key") {
		t.Fatalf("import --force: exit %d\n%s%s", code, out, errOut)
	}
	if b, err := os.ReadFile(filepath.Join(work, "b.pub.pem")); err != nil || !bytes.Equal(b, pubB) {
		t.Fatalf("--pub-out after --force: %v\n%s", err, b)
	}
	if fi, err := os.Stat(identity); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("replaced identity key: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	if _, _, code := runCLI("keygen", "--cache-dir", dir, "--force"); code != 2 {
		t.Errorf("--force without --from: exit %d, want 2", code)
	}

	// Public keys and other files are refused, and leave no key behind.
	jwk := filepath.Join(work, "ue-1.pem.pub.jwk")
	os.WriteFile(jwk, []byte(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`+"\n"), 0o644)
	pubPEM := filepath.Join(work, "ue-1.pub.pem")
	os.WriteFile(pubPEM, pubA, 0o644)
	junk := filepath.Join(work, "junk")
	os.WriteFile(junk, []byte("not a key\n"), 0o600)
	for _, c := range []struct{ file, want string }{
		{jwk, "is a JWK, a public key"},
		{pubPEM, `holds a public key (PEM "PUBLIC KEY")`},
		{junk, "is not PEM"},
		{filepath.Join(work, "absent.pem"), "no such file"},
	} {
		fresh := filepath.Join(t.TempDir(), "c")
		_, errOut, code := runCLI("keygen", "--cache-dir", fresh, "--from", c.file)
		if code != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("--from %s: exit %d, want 1 with %q:\n%s", filepath.Base(c.file), code, c.want, errOut)
		}
		if _, err := os.Stat(filepath.Join(fresh, ue.IdentityKeyFile)); err == nil {
			t.Errorf("--from %s left an identity key", filepath.Base(c.file))
		}
	}
}

// TestProvisionMakesNoKey: provision without an identity key fails, says
// how to import or make one, and makes none (the AS could not know it).
func TestProvisionMakesNoKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	_, errOut, code := runCLI("provision", "--cache-dir", dir, "--issuer", "http://127.0.0.1:1", "--client-id", "ue-1")
	if code != 1 || !strings.Contains(errOut, "no identity key") || !strings.Contains(errOut, "prose-ue keygen --cache-dir "+dir+" --from FILE") {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, ue.IdentityKeyFile)); err == nil {
		t.Fatal("provision made an identity key")
	}
}

// TestHelpStyle: every command prints a usage line, --flag VALUE flags
// and examples, like prose-as and prose-bench, to stdout with exit 0.
func TestHelpStyle(t *testing.T) {
	for _, c := range commands {
		for _, args := range [][]string{{c.name, "--help"}, {c.name, "-h"}, {"help", c.name}} {
			out, errOut, code := runCLI(args...)
			if code != 0 || errOut != "" {
				t.Errorf("%q: exit %d, stderr %q", args, code, errOut)
			}
			for _, want := range []string{"Usage:\n  prose-ue " + c.name + " ", "\nFlags:\n  --", "  --cache-dir DIR\n", "\nExamples:\n", "\n  prose-ue " + c.name + " --cache-dir "} {
				if !strings.Contains(out, want) {
					t.Errorf("%q lacks %q:\n%s", args, want, out)
				}
			}
			if strings.Contains(out, "\n  -cache-dir") || strings.Contains(out, " string\n") {
				t.Errorf("%q prints Go's default flag list:\n%s", args, out)
			}
			if strings.Contains(out, "as-ca.pem") {
				t.Errorf("%q names as-ca.pem, a file nothing makes", args)
			}
		}
	}
	out, _, _ := runCLI("--help")
	for _, want := range []string{"Usage:\n  prose-ue COMMAND [flags]", "Commands:\n  keygen ", "--ca-file prose-as-data/tls.crt", "--from ue-1.pem"} {
		if !strings.Contains(out, want) {
			t.Errorf("prose-ue --help lacks %q:\n%s", want, out)
		}
	}
	// A usage error names the command whose help to read.
	if _, errOut, code := runCLI("status", "--bogus"); code != 2 || !strings.Contains(errOut, "(see prose-ue status --help)") {
		t.Errorf("status --bogus: exit %d\n%s", code, errOut)
	}
}
