package medium

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Topology says which UDP address each node of a UDP medium uses and which
// nodes are in radio range of each other. PROJECT-DEFINED. Its file form
// is YAML (so JSON works too):
//
//	default_rssi: -60          # optional; the RSSI of links without one
//	nodes:
//	  - id: "000001"           # Layer-2 ID, 1..6 hex digits
//	    addr: 127.0.0.1:40001  # loopback only
//	    neighbours: ["000002"]
//	  - id: "000002"
//	    addr: 127.0.0.1:40002
//	    neighbours: ["000001", "000003"]
//	    rssi: {"000003": -80}  # optional, per neighbour, as received here
//	  - id: "000003"
//	    addr: 127.0.0.1:40003
//
// Range is symmetric: a node listing another makes both neighbours. Every
// address must be a loopback address, and no two nodes may share one. Port
// 0 is allowed for nodes attached in the same process (the bound port is
// then known only there). Unknown keys are errors.
type Topology struct {
	DefaultRSSI int16          `yaml:"default_rssi" json:"default_rssi"`
	Nodes       []TopologyNode `yaml:"nodes" json:"nodes"`

	// built by Validate
	index map[L2ID]int
	adj   map[L2ID]map[L2ID]bool
}

// TopologyNode is one node of a Topology.
type TopologyNode struct {
	ID         L2ID           `yaml:"id" json:"id"`
	Addr       netip.AddrPort `yaml:"addr" json:"addr"`
	Neighbours []L2ID         `yaml:"neighbours" json:"neighbours"`
	// RSSI this node attaches to frames received from a neighbour;
	// Topology.DefaultRSSI (or the package DefaultRSSI if that is 0) for
	// neighbours not listed.
	RSSI map[L2ID]int16 `yaml:"rssi" json:"rssi"`
}

// ParseTopology parses and validates a topology file (YAML or JSON).
func ParseTopology(data []byte) (*Topology, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var t Topology
	if err := dec.Decode(&t); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: empty topology", ErrTopology)
		}
		return nil, fmt.Errorf("%w: %v", ErrTopology, err)
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return &t, nil
}

// LoadTopology reads and parses a topology file.
func LoadTopology(path string) (*Topology, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTopology, err)
	}
	t, err := ParseTopology(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Peer is a neighbour given on a command line: "ID=ADDR".
type Peer struct {
	ID   L2ID
	Addr netip.AddrPort
}

// ParsePeer parses "000002=127.0.0.1:40002".
func ParsePeer(s string) (Peer, error) {
	id, addr, ok := strings.Cut(s, "=")
	if !ok {
		return Peer{}, fmt.Errorf("%w: peer %q: want ID=ADDR, e.g. 000002=127.0.0.1:40002", ErrTopology, s)
	}
	l2, err := ParseL2ID(id)
	if err != nil {
		return Peer{}, fmt.Errorf("%w: peer %q: %v", ErrTopology, s, err)
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return Peer{}, fmt.Errorf("%w: peer %q: %v", ErrTopology, s, err)
	}
	return Peer{ID: l2, Addr: ap}, nil
}

// StarTopology returns the topology seen by one node given by flags: self
// at addr, in range of every peer. Peers' mutual range is unknown and does
// not matter to self.
func StarTopology(self L2ID, addr netip.AddrPort, peers []Peer) (*Topology, error) {
	t := &Topology{Nodes: []TopologyNode{{ID: self, Addr: addr}}}
	for _, p := range peers {
		t.Nodes[0].Neighbours = append(t.Nodes[0].Neighbours, p.ID)
		t.Nodes = append(t.Nodes, TopologyNode{ID: p.ID, Addr: p.Addr})
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return t, nil
}

// Validate checks the topology and builds its index: at least one node,
// unicast IDs, no duplicate ID or address, loopback addresses, neighbours
// and RSSI entries naming other nodes of the topology.
func (t *Topology) Validate() error {
	if len(t.Nodes) == 0 {
		return fmt.Errorf("%w: no nodes", ErrTopology)
	}
	index := make(map[L2ID]int, len(t.Nodes))
	addrs := map[netip.AddrPort]L2ID{}
	for i, n := range t.Nodes {
		if !n.ID.Valid() {
			return fmt.Errorf("%w: node %d: Layer-2 ID %s is not a unicast ID", ErrTopology, i, n.ID)
		}
		if _, dup := index[n.ID]; dup {
			return fmt.Errorf("%w: node %s listed twice", ErrTopology, n.ID)
		}
		index[n.ID] = i
		if !n.Addr.IsValid() {
			return fmt.Errorf("%w: node %s has no address", ErrTopology, n.ID)
		}
		if !n.Addr.Addr().Unmap().IsLoopback() {
			return fmt.Errorf("%w: node %s: address %s is not a loopback address; the UDP medium emulates a radio on one host only", ErrTopology, n.ID, n.Addr)
		}
		if n.Addr.Port() != 0 {
			if other, dup := addrs[n.Addr]; dup {
				return fmt.Errorf("%w: nodes %s and %s share address %s", ErrTopology, other, n.ID, n.Addr)
			}
			addrs[n.Addr] = n.ID
		}
	}
	adj := make(map[L2ID]map[L2ID]bool, len(t.Nodes))
	link := func(a, b L2ID) {
		if adj[a] == nil {
			adj[a] = map[L2ID]bool{}
		}
		adj[a][b] = true
	}
	for _, n := range t.Nodes {
		for _, nb := range n.Neighbours {
			if nb == n.ID {
				return fmt.Errorf("%w: node %s lists itself as a neighbour", ErrTopology, n.ID)
			}
			if _, ok := index[nb]; !ok {
				return fmt.Errorf("%w: node %s lists neighbour %s, which is not a node of the topology", ErrTopology, n.ID, nb)
			}
			link(n.ID, nb)
			link(nb, n.ID)
		}
	}
	for _, n := range t.Nodes {
		for nb := range n.RSSI {
			if !adj[n.ID][nb] {
				return fmt.Errorf("%w: node %s gives an RSSI for %s, which is not its neighbour", ErrTopology, n.ID, nb)
			}
		}
	}
	t.index, t.adj = index, adj
	return nil
}

func (t *Topology) node(id L2ID) (*TopologyNode, bool) {
	i, ok := t.index[id]
	if !ok {
		return nil, false
	}
	return &t.Nodes[i], true
}

// Addr returns the address of node id.
func (t *Topology) Addr(id L2ID) (netip.AddrPort, bool) {
	n, ok := t.node(id)
	if !ok {
		return netip.AddrPort{}, false
	}
	return n.Addr, true
}

// InRange reports whether a and b are neighbours.
func (t *Topology) InRange(a, b L2ID) bool { return t.adj[a][b] }

// Neighbours returns the neighbours of id in increasing ID order.
func (t *Topology) Neighbours(id L2ID) []L2ID {
	out := make([]L2ID, 0, len(t.adj[id]))
	for nb := range t.adj[id] {
		out = append(out, nb)
	}
	slices.Sort(out)
	return out
}

// RSSI returns the RSSI node rx attaches to frames from tx.
func (t *Topology) RSSI(rx, tx L2ID) int16 {
	if n, ok := t.node(rx); ok {
		if v, ok := n.RSSI[tx]; ok {
			return v
		}
	}
	if t.DefaultRSSI != 0 {
		return t.DefaultRSSI
	}
	return DefaultRSSI
}
