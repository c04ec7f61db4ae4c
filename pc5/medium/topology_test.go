package medium

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const lineYAML = `
default_rssi: -65
nodes:
  - id: "000001"
    addr: 127.0.0.1:40001
    neighbours: ["000002"]
  - id: 000002
    addr: 127.0.0.1:40002
    neighbours: ["000003"]
    rssi: {"000003": -80}
  - id: 0x3
    addr: "[::1]:40003"
`

func TestParseTopology(t *testing.T) {
	top, err := ParseTopology([]byte(lineYAML))
	if err != nil {
		t.Fatal(err)
	}
	if got := top.Neighbours(2); !reflect.DeepEqual(got, []L2ID{1, 3}) {
		t.Fatalf("neighbours of 2: %v", got)
	}
	if !top.InRange(3, 2) || !top.InRange(2, 1) || top.InRange(1, 3) {
		t.Fatal("range is not the symmetric closure")
	}
	if top.RSSI(2, 3) != -80 || top.RSSI(3, 2) != -65 || top.RSSI(1, 2) != -65 {
		t.Fatal("RSSI")
	}
	if a, ok := top.Addr(3); !ok || a != netip.MustParseAddrPort("[::1]:40003") {
		t.Fatalf("addr %v", a)
	}

	const js = `{"nodes": [{"id": "00000a", "addr": "127.0.0.1:1", "neighbours": ["00000b"]},
		{"id": "00000b", "addr": "127.0.0.2:1"}]}`
	dir := t.TempDir()
	p := filepath.Join(dir, "topo.json")
	os.WriteFile(p, []byte(js), 0o600)
	top, err = LoadTopology(p)
	if err != nil {
		t.Fatal(err)
	}
	if !top.InRange(0xb, 0xa) || top.RSSI(0xa, 0xb) != DefaultRSSI {
		t.Fatal("JSON topology")
	}
}

func TestTopologyErrors(t *testing.T) {
	for _, c := range []struct{ name, doc, want string }{
		{"empty", ``, "empty topology"},
		{"no nodes", `nodes: []`, "no nodes"},
		{"unknown key", "nodes:\n  - id: 1\n    addr: 127.0.0.1:1\n    colour: red", "colour"},
		{"not loopback", "nodes:\n  - id: 1\n    addr: 10.0.0.1:1", "not a loopback address"},
		{"wildcard", "nodes:\n  - id: 1\n    addr: 0.0.0.0:1", "not a loopback address"},
		{"no addr", "nodes:\n  - id: 1", "no address"},
		{"dup id", "nodes:\n  - {id: 1, addr: 127.0.0.1:1}\n  - {id: 1, addr: 127.0.0.1:2}", "listed twice"},
		{"dup addr", "nodes:\n  - {id: 1, addr: 127.0.0.1:1}\n  - {id: 2, addr: 127.0.0.1:1}", "share address"},
		{"bad id", "nodes:\n  - {id: 0, addr: 127.0.0.1:1}", "0 is not"},
		{"broadcast id", "nodes:\n  - {id: ffffff, addr: 127.0.0.1:1}", "not a unicast ID"},
		{"self", "nodes:\n  - {id: 1, addr: 127.0.0.1:1, neighbours: [1]}", "itself"},
		{"unknown nb", "nodes:\n  - {id: 1, addr: 127.0.0.1:1, neighbours: [2]}", "not a node"},
		{"rssi not nb", "nodes:\n  - {id: 1, addr: 127.0.0.1:1, rssi: {2: -1}}\n  - {id: 2, addr: 127.0.0.1:2}", "not its neighbour"},
		{"bad addr", "nodes:\n  - {id: 1, addr: localhost:1}", "ParseAddr"},
	} {
		_, err := ParseTopology([]byte(c.doc))
		if !errors.Is(err, ErrTopology) && !errors.Is(err, ErrInvalidL2ID) || err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
	}
}

func TestStarTopologyAndPeers(t *testing.T) {
	p, err := ParsePeer("000002=127.0.0.1:40002")
	if err != nil || p.ID != 2 || p.Addr.Port() != 40002 {
		t.Fatalf("ParsePeer: %+v %v", p, err)
	}
	for _, s := range []string{"2", "x=127.0.0.1:1", "2=127.0.0.1"} {
		if _, err := ParsePeer(s); !errors.Is(err, ErrTopology) {
			t.Errorf("ParsePeer(%q): %v", s, err)
		}
	}
	top, err := StarTopology(1, netip.MustParseAddrPort("127.0.0.1:40001"), []Peer{p, {ID: 3, Addr: netip.MustParseAddrPort("127.0.0.1:40003")}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(top.Neighbours(1), []L2ID{2, 3}) || top.InRange(2, 3) {
		t.Fatal("star")
	}
	if _, err := StarTopology(1, netip.MustParseAddrPort("192.0.2.1:1"), nil); err == nil {
		t.Fatal("non-loopback self accepted")
	}
}
