package link

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/prosesec/prosesec/pc5/msg"
	"github.com/prosesec/prosesec/token"
)

const (
	docPath       = "../../docs/protocol.md"
	sizesBegin    = "<!-- BEGIN generated link sizes: go test ./pc5/link -run TestBytesOnAir -update -->"
	sizesEnd      = "<!-- END generated link sizes -->"
	maxHandshakeP = 1200 // target: whole P-256 handshake on air, octets
)

// TestBytesOnAir measures what one hop's handshake puts on the air per
// suite, with CWT tokens of the typical shape (iss, sub, aud, iat, exp,
// cti, one scope, compressed cnf, status reference), 15-octet user infos,
// and an ACCEPT with IP address configuration, link-local and target IPv6
// addresses. PDCP PDUs include their 4-octet header (SN, KNRP-sess ID) and
// 4-octet MAC-I. It fails if the P-256 handshake exceeds 1,200 octets or
// the table in docs/protocol.md is stale (-update rewrites it).
func TestBytesOnAir(t *testing.T) {
	type row struct {
		suite msg.Suite
		sizes [4]int // PDU octets: REQUEST, SMC, COMPLETE, ACCEPT
		token int
	}
	var rows []row
	for _, s := range testSuites {
		w := newWorld(t, 300)
		src := w.newParty(nameSource, suiteAlg(s), token.RoleUse, 1)
		rel := w.newParty(nameRelay, suiteAlg(s), token.RoleServe, 2)
		src.cfg.Suites = []msg.Suite{s}
		pp := responderPolicy()
		ipc := msg.IPConfigIPv6Router
		pp.Accept = AcceptParams{IPAddressConfig: &ipc, LinkLocalIPv6: netip.MustParseAddr("fe80::1"), TargetIPAddress: netip.MustParseAddr("fe80::2")}
		pr := newPair(t, src.cfg, rel.cfg, initiatorPolicy(), pp)
		pr.handshake()
		pr.mustEstablish()
		r := row{suite: s, token: len(rel.cfg.Token)}
		for i := range 4 {
			r.sizes[i] = len(pr.log[i].pdu.Data)
		}
		rows = append(rows, r)
	}
	var b strings.Builder
	b.WriteString("| Message (LCID) | framing | ")
	for _, r := range rows {
		fmt.Fprintf(&b, "suite 0x%02x %v | ", uint8(r.suite), r.suite)
	}
	b.WriteString("\n|---|---|")
	b.WriteString(strings.Repeat("---:|", len(rows)))
	b.WriteString("\n")
	names := []string{"ESTABLISHMENT REQUEST (0)", "SECURITY MODE COMMAND (1)", "SECURITY MODE COMPLETE (1)", "ESTABLISHMENT ACCEPT (2)"}
	framing := []string{"bare PC5-S", "PDCP hdr 4 + MAC-I 4", "PDCP hdr 4 + MAC-I 4", "PDCP hdr 4 + MAC-I 4"}
	totals := make([]int, len(rows))
	for i, n := range names {
		fmt.Fprintf(&b, "| %s | %s | ", n, framing[i])
		for j, r := range rows {
			fmt.Fprintf(&b, "%d | ", r.sizes[i])
			totals[j] += r.sizes[i]
		}
		b.WriteString("\n")
	}
	b.WriteString("| **total, one hop** | | ")
	for _, tot := range totals {
		fmt.Fprintf(&b, "**%d** | ", tot)
	}
	b.WriteString("\n| CWT token (each side) | | ")
	for _, r := range rows {
		fmt.Fprintf(&b, "%d | ", r.token)
	}
	b.WriteString("\n")
	table := strings.ReplaceAll(b.String(), " \n", "\n")
	t.Logf("bytes on air, one hop:\n%s", table)
	if totals[0] > maxHandshakeP {
		t.Errorf("P-256 handshake is %d octets on air, target %d", totals[0], maxHandshakeP)
	}
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	i, j := strings.Index(s, sizesBegin), strings.Index(s, sizesEnd)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the generated block markers", docPath)
	}
	want := s[:i+len(sizesBegin)] + "\n" + table + s[j:]
	if *update {
		if err := os.WriteFile(docPath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if want != s {
		t.Errorf("%s: the bytes-on-air table is stale; run go test ./pc5/link -run TestBytesOnAir -update", docPath)
	}
}
