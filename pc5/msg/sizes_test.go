package msg

import (
	"bytes"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated message size table in docs/protocol.md")

const (
	sizesDoc   = "../../docs/protocol.md"
	sizesBegin = "<!-- BEGIN generated sizes: go test ./pc5/msg -run TestMessageSizes -update -->"
	sizesEnd   = "<!-- END generated sizes -->"
	sizeToken  = 250 // CWT octets in the size table
	sizeUInfo  = 16  // source / target user info octets in the size table
)

// handshake returns the four handshake messages of one hop, as a
// representative link would send them, for suite s: 16-octet user infos,
// one ProSe identifier, an RSC, Nonce_1/MSB in the REQUEST, a 250-octet CWT
// and a 64-octet signature on each side, MSBs/LSBs of KNRP ID, an IPv6
// link-local address and an IPv6 target address in the ACCEPT.
func handshake(s Suite) (req, smc, complete, accept Message, init, resp, fin payload) {
	key := func(start byte) []byte {
		k := seq(start, s.KeyShareLen())
		if s.KeyExchange() == KeyExchangeP256 {
			k[0] = 0x04
		}
		return k
	}
	ki := &KeyEstInit{Suite: s, EphemeralPublicKey: key(1)}
	kr := &KeyEstResponse{Suite: s, EphemeralPublicKey: key(2), TokenFormat: TokenCWT,
		Token: seq(3, sizeToken), Signature: seq(4, SignatureLen)}
	kf := &KeyEstFinish{Suite: s, TokenFormat: TokenCWT, Token: seq(5, sizeToken), Signature: seq(6, SignatureLen)}
	mustMarshal := func(p payload) []byte {
		b, err := p.Marshal()
		if err != nil {
			panic(err)
		}
		return b
	}
	caps := UESecurityCapabilities{EA: SecCapEA0 | SecCapEA2, IA: SecCapIA2}
	policy := NewUnicastSecurityPolicy(PolicyRequired, PolicyRequired)
	req = &DirectLinkEstablishmentRequest{
		Seq: 1, ProSeIdentifiers: []uint32{1}, SourceUserInfo: seq('a', sizeUInfo),
		UESecurityCapabilities: caps, SignallingSecurityPolicy: policy,
		TargetUserInfo: seq('A', sizeUInfo), KeyEstInfo: mustMarshal(ki),
		Nonce1: nonce(0x10), KNRPSessIDMSB: ptr[uint8](0x12), RelayServiceCode: ptr[uint32](0x00a0b1),
	}
	smc = &DirectLinkSecurityModeCommand{
		Seq: 1, UESecurityCapabilities: caps, Nonce2: *nonce(0x20), SelectedAlgorithms: NewSelectedAlgorithms(2, 2),
		SignallingSecurityPolicy: policy, KNRPSessIDLSB: 0x34, KeyEstInfo: mustMarshal(kr), KNRPIDMSBs: ptr[uint16](0x5678),
	}
	complete = &DirectLinkSecurityModeComplete{
		Seq: 2, UPSecurityPolicy: ptr(policy), KNRPIDLSBs: ptr[uint16](0x9abc), KeyEstInfo: mustMarshal(kf),
	}
	accept = &DirectLinkEstablishmentAccept{
		Seq: 2, SourceUserInfo: seq('A', sizeUInfo), UPProtectionConfig: UPProtectionConfig(UPProtectionCiphering | UPProtectionIntegrity),
		IPAddressConfig: ptr(IPConfigIPv6Router), LinkLocalIPv6: netip.MustParseAddr("fe80::2"),
		TargetIPAddress: netip.MustParseAddr("fd00::1:2"),
	}
	return req, smc, complete, accept, ki, kr, kf
}

type sizeMessage struct {
	msg     Message
	payload string
}

func sizeMessages() []sizeMessage {
	var out []sizeMessage
	for _, s := range []Suite{SuiteP256ECDSAP256, SuiteX25519Ed25519} {
		req, smc, complete, accept, _, _, _ := handshake(s)
		out = append(out,
			sizeMessage{req, "KeyEstInit"}, sizeMessage{smc, "KeyEstResponse"},
			sizeMessage{complete, "KeyEstFinish"}, sizeMessage{accept, "—"})
	}
	return out
}

func sizePayloads() []payload {
	_, _, _, _, i, r, f := handshake(SuiteP256ECDSAP256)
	return []payload{i, r, f}
}

func sizeTable(t *testing.T) string {
	var rows [2][4]int
	var names [4]string
	var kinds [4]string
	for si, s := range []Suite{SuiteP256ECDSAP256, SuiteX25519Ed25519} {
		req, smc, complete, accept, ki, kr, kf := handshake(s)
		for i, m := range []Message{req, smc, complete, accept} {
			b, err := m.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			rows[si][i] = len(b)
			names[i] = m.MessageType().short()
		}
		if si == 0 {
			kinds = [4]string{
				fmt.Sprintf("KeyEstInit (%d)", ki.MarshalLen()),
				fmt.Sprintf("KeyEstResponse (%d)", kr.MarshalLen()),
				fmt.Sprintf("KeyEstFinish (%d)", kf.MarshalLen()),
				"—",
			}
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "| Message | KEIC payload, suite 0x01 (octets) | PC5-S octets, suite 0x01 P-256 + ECDSA | PC5-S octets, suite 0x02 X25519 + Ed25519 |\n")
	fmt.Fprintf(&sb, "|---|---|---:|---:|\n")
	var tot [2]int
	for i := range names {
		fmt.Fprintf(&sb, "| %s | %s | %d | %d |\n", names[i], kinds[i], rows[0][i], rows[1][i])
		tot[0] += rows[0][i]
		tot[1] += rows[1][i]
	}
	fmt.Fprintf(&sb, "| **total, one hop** | | **%d** | **%d** |\n", tot[0], tot[1])
	return sb.String()
}

// TestMessageSizes computes the on-air PC5-S sizes of the handshake and
// checks them against the table in docs/protocol.md (-update rewrites it).
func TestMessageSizes(t *testing.T) {
	table := sizeTable(t)
	t.Logf("message sizes (%d-octet CWT, %d-octet signatures):\n%s", sizeToken, SignatureLen, table)

	// Fixed anchors for the P-256 suite, so that a change is noticed even
	// with -update: KEIC payloads 69 / 388 / 321 octets.
	_, _, _, _, ki, kr, kf := handshake(SuiteP256ECDSAP256)
	if ki.MarshalLen() != 2+2+65 || kr.MarshalLen() != 2+2+65+1+2+sizeToken+2+64 || kf.MarshalLen() != 2+1+2+sizeToken+2+64 {
		t.Fatalf("payload sizes %d/%d/%d", ki.MarshalLen(), kr.MarshalLen(), kf.MarshalLen())
	}

	doc, err := os.ReadFile(sizesDoc)
	if err != nil {
		t.Fatalf("reading %s: %v", sizesDoc, err)
	}
	i := bytes.Index(doc, []byte(sizesBegin))
	j := bytes.Index(doc, []byte(sizesEnd))
	if i < 0 || j < i {
		t.Fatalf("%s lacks the generated-sizes markers", sizesDoc)
	}
	start := i + len(sizesBegin) + 1
	if *update {
		out := append(append(append([]byte{}, doc[:start]...), table...), doc[j:]...)
		if err := os.WriteFile(sizesDoc, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got := string(doc[start:j]); got != table {
		t.Fatalf("size table in %s is stale; run go test ./pc5/msg -run TestMessageSizes -update\n got:\n%s\nwant:\n%s", sizesDoc, got, table)
	}
}
