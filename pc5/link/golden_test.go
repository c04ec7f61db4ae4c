package link

import (
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/cryptotest"

	"github.com/prosesec/prosesec/pc5/msg"
	"github.com/prosesec/prosesec/pc5/sec"
)

var update = flag.Bool("update", false, "rewrite testdata/handshake-*.golden and the generated block of docs/protocol.md")

// TestGoldenHandshake records the octets of a full handshake (then a
// rekeying with re-authentication, one without, and a release) with seeded
// randomness and a fixed clock, and compares them with
// testdata/handshake-<suite>.golden. The issuer's ES256 token signatures
// are made deterministic with testing/cryptotest.SetGlobalRandom; the
// transcript signatures are deterministic by construction (RFC 6979 ECDSA,
// Ed25519). Regenerate with -update and review the diff.
func TestGoldenHandshake(t *testing.T) {
	for _, s := range []msg.Suite{msg.SuiteP256ECDSAP256, msg.SuiteX25519Ed25519} {
		t.Run(s.String(), func(t *testing.T) {
			cryptotest.SetGlobalRandom(t, 2026)
			w := newWorld(t, 500)
			pr, _, _ := stdPair(t, w, s)
			var b strings.Builder
			fmt.Fprintf(&b, "# prosesec PC5 link golden transcript, suite %v (0x%02x)\n", s, uint8(s))
			fmt.Fprintf(&b, "# seeded randomness, clock %s; regenerate: go test ./pc5/link -run TestGoldenHandshake -update\n", testNow.Format("2006-01-02T15:04:05Z"))
			fmt.Fprintf(&b, "# n direction LCID octets message\n")
			n := 0
			section := func(title string) {
				fmt.Fprintf(&b, "\n## %s\n", title)
				for _, x := range pr.log[n:] {
					n++
					dir := "P->I"
					if x.fromI {
						dir = "I->P"
					}
					fmt.Fprintf(&b, "%d %s %d %d %s\n", n, dir, x.pdu.LCID, len(x.pdu.Data), goldenName(x.pdu))
					h := hex.EncodeToString(x.pdu.Data)
					for len(h) > 64 {
						fmt.Fprintf(&b, "  %s\n", h[:64])
						h = h[64:]
					}
					fmt.Fprintf(&b, "  %s\n", h)
				}
			}
			pr.handshake()
			pr.mustEstablish()
			section("establishment")
			if err := pr.i.Rekey(pr.now, true); err != nil {
				t.Fatal(err)
			}
			pr.pump()
			section("rekeying with re-authentication (initiator)")
			if err := pr.p.Rekey(pr.now, false); err != nil {
				t.Fatal(err)
			}
			pr.pump()
			section("rekeying without re-authentication (responder)")
			if err := pr.i.Release(pr.now, msg.CauseDirectCommunicationNotNeeded); err != nil {
				t.Fatal(err)
			}
			pr.pump()
			section("release")
			if countEvents[Rekeyed](pr.ev[0]) != 2 || countEvents[Released](pr.ev[1]) != 1 {
				t.Fatalf("events %v / %v", pr.ev[0], pr.ev[1])
			}
			name := filepath.Join("testdata", "handshake-"+goldenFile(s)+".golden")
			got := b.String()
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(name, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(name)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
				for i := 0; i < len(gl) && i < len(wl); i++ {
					if gl[i] != wl[i] {
						t.Fatalf("%s differs at line %d:\n got  %s\n want %s\n(review, then -update)", name, i+1, gl[i], wl[i])
					}
				}
				t.Fatalf("%s differs in length: %d vs %d lines", name, len(gl), len(wl))
			}
		})
	}
}

func goldenFile(s msg.Suite) string {
	switch s {
	case msg.SuiteP256ECDSAP256:
		return "p256-ecdsa"
	case msg.SuiteX25519Ed25519:
		return "x25519-ed25519"
	}
	return fmt.Sprintf("suite%02x", uint8(s))
}

// goldenName names a PDU: bare PC5-S by its type, the SMC (never ciphered)
// by the type octet after the PDCP header, other PDCP PDUs as ciphered.
func goldenName(p PDU) string {
	d := p.Data
	if len(d) == 0 {
		return "empty"
	}
	if d[0]&sec.PDCPDataPDUBit == 0 {
		return msg.MessageType(d[0]).String()
	}
	hdr, body, err := sec.ParsePDU(d, snSize, true)
	if err != nil {
		return "malformed PDCP PDU"
	}
	prefix := fmt.Sprintf("PDCP[KNRP-sess ID %v]", hdr.SessID)
	if p.LCID == lcidSRB1 && len(body) > 0 && msg.MessageType(body[0]) == msg.MsgSecurityModeCommand {
		return prefix + " " + msg.MsgSecurityModeCommand.String() + " (integrity only)"
	}
	return prefix + " ciphered"
}
