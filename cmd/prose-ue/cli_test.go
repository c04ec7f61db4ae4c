package main

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUsageAndExitCodes(t *testing.T) {
	cases := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"--help"}, 0, "Examples:"},
		{[]string{"run", "--help"}, 0, "--ping"},
		{nil, 2, "no command"},
		{[]string{"fly"}, 2, "unknown command"},
		{[]string{"run", "--bogus"}, 2, "not defined"},
		{[]string{"run", "--cache-dir", "x", "--l2", "1", "--role", "boss"}, 2, "--role"},
		{[]string{"run", "--cache-dir", "x", "--l2", "1", "--role", "source"}, 2, "--target"},
		{[]string{"run", "--cache-dir", "x", "--l2", "1", "--role", "relay"}, 2, "--listen"},
		{[]string{"provision", "--cache-dir", "x"}, 2, "required"},
		{[]string{"status", "--cache-dir", t.TempDir() + "/c"}, 1, "no credentials cached"},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), c.args, &stdout, &stderr)
		code := exitCode(err, &stderr)
		if code != c.code || !strings.Contains(stdout.String()+stderr.String(), c.out) {
			t.Errorf("%q: exit %d, want %d with %q; stdout:\n%s\nstderr:\n%s", c.args, code, c.code, c.out, stdout.String(), stderr.String())
		}
	}
}

func TestEcho(t *testing.T) {
	src, dst := netip.MustParseAddr("fd50:4300:10::1"), netip.MustParseAddr("fd50:4300:10::21")
	req := echoRequest(src, dst, 7, 3, 56)
	if _, ok := isEchoReply(req); ok {
		t.Fatal("request taken for a reply")
	}
	rep, seq, ok := echoReply(req)
	if !ok || seq != 3 {
		t.Fatalf("echoReply: %v %d", ok, seq)
	}
	if s, ok := isEchoReply(rep); !ok || s != 3 || netip.AddrFrom16([16]byte(rep[24:40])) != src {
		t.Fatalf("reply not recognized: %v %d", ok, s)
	}
	rep[50] ^= 1
	if _, ok := isEchoReply(rep); ok {
		t.Fatal("corrupted reply accepted (checksum)")
	}
}

// TestUnreadableIdentityKeyIsReported: keygen and provision report why an
// existing identity key cannot be read (here its mode) instead of trying
// to generate one and advising to remove the key the AS knows.
func TestUnreadableIdentityKeyIsReported(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"keygen", "--cache-dir", dir}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	first := stdout.String()
	// Keygen again prints the same public key.
	stdout.Reset()
	if err := run(context.Background(), []string{"keygen", "--cache-dir", dir}, &stdout, &stderr); err != nil || stdout.String() != first {
		t.Fatalf("second keygen: %v, same key %v", err, stdout.String() == first)
	}
	if err := os.Chmod(filepath.Join(dir, "identity.pem"), 0o640); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"keygen", "--cache-dir", dir},
		{"provision", "--cache-dir", dir, "--issuer", "http://127.0.0.1:1", "--client-id", "x"},
	} {
		err := run(context.Background(), args, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), "chmod 600") || strings.Contains(err.Error(), "remove it") {
			t.Errorf("%s: %v, want the mode error", args[0], err)
		}
	}
}
