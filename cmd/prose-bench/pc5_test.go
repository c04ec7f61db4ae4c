//go:build linux

package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestHandshakeCommand(t *testing.T) {
	for _, tc := range []struct{ suite, format string }{{"p256-ecdsa", "cwt"}, {"x25519-ed25519", "jwt"}, {"x25519-ecdsa", "cwt"}, {"p256-ed25519", "jwt"}} {
		t.Run(tc.suite+"/"+tc.format, func(t *testing.T) {
			code, out, errOut := runCLI(t, "handshake", "--suite", tc.suite, "--format", tc.format, "--concurrency", "2", "--count", "20", "--duration", "20s", "--json")
			if code != exitOK {
				t.Fatalf("exit %d; stderr:\n%s\nstdout:\n%s", code, errOut, out)
			}
			var rep HandshakeReport
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("--json output does not parse: %v\n%s", err, out)
			}
			// --count bounds the run: exactly 20 handshakes, all established.
			if rep.Handshakes != 20 || rep.ErrorCount != 0 || rep.StopReason != stopRequests {
				t.Errorf("handshakes %d, errors %d %v, stopped by %q", rep.Handshakes, rep.ErrorCount, rep.Errors, rep.StopReason)
			}
			if rep.CPUPerHandshakeUs <= 0 || rep.AllocsPerHandshake <= 0 || rep.LatencyMs.Max <= 0 || rep.RequestOctets == 0 || rep.AcceptOctets == 0 {
				t.Errorf("incomplete figures: %+v", rep)
			}
			if rep.Format != tc.format || !strings.Contains(strings.ToLower(rep.Suite), strings.Split(tc.suite, "-")[0]) {
				t.Errorf("suite %q format %q", rep.Suite, rep.Format)
			}
		})
	}
	// Bounded by time: a 300ms run stops by duration.
	code, out, errOut := runCLI(t, "handshake", "--duration", "300ms")
	if code != exitOK || !strings.Contains(out, "| P256+ECDSA-P256-SHA256 | cwt | 1 |") || !strings.Contains(out, "Command: prose-bench handshake") {
		t.Errorf("Markdown run: exit %d, stderr %q\n%s", code, errOut, out)
	}
}

func TestRelayCommand(t *testing.T) {
	for _, m := range []string{"mem", "udp"} {
		t.Run(m, func(t *testing.T) {
			code, out, errOut := runCLI(t, "relay", "--medium", m, "--size", "1000", "--count", "2000", "--duration", "20s", "--json")
			if code != exitOK {
				t.Fatalf("exit %d; stderr:\n%s\nstdout:\n%s", code, errOut, out)
			}
			var rep RelayReport
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("--json output does not parse: %v\n%s", err, out)
			}
			if rep.Sent != 2000 || rep.StopReason != stopRequests || rep.Corrupted != 0 || rep.PacketOctets != 1000 {
				t.Errorf("sent %d, corrupted %d, stopped by %q", rep.Sent, rep.Corrupted, rep.StopReason)
			}
			// The in-memory medium loses nothing; over UDP the kernel may.
			if (m == "mem" && rep.Delivered != 2000) || rep.Delivered == 0 || rep.Relay.Forwarded < uint64(rep.Delivered) {
				t.Errorf("delivered %d of %d, relay %+v", rep.Delivered, rep.Sent, rep.Relay)
			}
			if rep.CPUPerPacketUs <= 0 || rep.Mbps <= 0 {
				t.Errorf("incomplete figures: %+v", rep)
			}
		})
	}
	code, out, errOut := runCLI(t, "relay", "--duration", "300ms", "--size", "100")
	if code != exitOK || !strings.Contains(out, "| mem | 100 |") {
		t.Errorf("Markdown run: exit %d, stderr %q\n%s", code, errOut, out)
	}
}

func TestPC5Bounds(t *testing.T) {
	cases := map[string][]string{
		"handshake suite":           {"handshake", "--suite", "rsa"},
		"handshake format":          {"handshake", "--format", "xml"},
		"handshake concurrency":     {"handshake", "--concurrency", "0"},
		"handshake concurrency big": {"handshake", "--concurrency", "257"},
		"handshake duration":        {"handshake", "--duration", "11m"},
		"handshake count":           {"handshake", "--count", "10000001"},
		"relay medium":              {"relay", "--medium", "tcp"},
		"relay size small":          {"relay", "--size", "47"},
		"relay size big":            {"relay", "--size", "8001"},
		"relay duration":            {"relay", "--duration", "0s"},
		"relay count":               {"relay", "--count", "-1"},
	}
	for name, args := range cases {
		code, _, errOut := runCLI(t, args...)
		if code != exitUsage || !strings.Contains(errOut, "Usage:") {
			t.Errorf("%s: exit %d (want 2), stderr %q", name, code, errOut)
		}
	}
}

// TestPC5CountZeroIsTheMaximum: --count 0 does not leave a run bounded by
// time alone.
func TestPC5CountZeroIsTheMaximum(t *testing.T) {
	for _, in := range []int64{0, 1, maxPC5Count} {
		n := in
		if err := checkPC5Bounds(1, time.Second, &n); err != nil {
			t.Fatalf("count %d: %v", in, err)
		}
		want := in
		if in == 0 {
			want = maxPC5Count
		}
		if n != want {
			t.Errorf("count %d became %d, want %d", in, n, want)
		}
	}
}
