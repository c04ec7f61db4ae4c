package medium

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// UDPConfig configures a UDP medium.
type UDPConfig struct {
	// Topology gives every node's address and the radio range. Required;
	// it is validated and must not be modified afterwards.
	Topology *Topology
	// QueueLen is each port's receive queue (DefaultQueueLen if 0).
	QueueLen int
}

// UDP is the medium over UDP on loopback: each attached node binds its
// topology address, a unicast frame is one datagram to the destination's
// address if it is a neighbour, a broadcast frame one datagram to each
// neighbour. A receiver accepts a datagram only if it decodes
// (DecodeFrame), comes from the topology address of its source ID, from a
// neighbour, and is addressed to the receiver or Broadcast; anything else
// is dropped and counted. Several nodes may attach to one UDP (tests); in
// production each prose-ue process attaches one.
type UDP struct {
	topo *Topology
	qlen int

	mu     sync.Mutex
	addrs  map[L2ID]netip.AddrPort // topology addresses, with ports bound for port 0
	byAddr map[netip.AddrPort]L2ID
	ports  map[L2ID]*UDPPort

	sent, delivered atomic.Uint64
	dropped         [NumDropReasons]atomic.Uint64
}

func canon(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// NewUDP returns a UDP medium over cfg.Topology.
func NewUDP(cfg UDPConfig) (*UDP, error) {
	if cfg.Topology == nil {
		return nil, fmt.Errorf("%w: UDPConfig.Topology is required", ErrTopology)
	}
	if err := cfg.Topology.Validate(); err != nil {
		return nil, err
	}
	if cfg.QueueLen < 0 {
		return nil, fmt.Errorf("%w: negative QueueLen %d", ErrTopology, cfg.QueueLen)
	}
	u := &UDP{
		topo:   cfg.Topology,
		qlen:   cfg.QueueLen,
		addrs:  map[L2ID]netip.AddrPort{},
		byAddr: map[netip.AddrPort]L2ID{},
		ports:  map[L2ID]*UDPPort{},
	}
	if u.qlen == 0 {
		u.qlen = DefaultQueueLen
	}
	for _, n := range cfg.Topology.Nodes {
		a := canon(n.Addr)
		u.addrs[n.ID] = a
		if a.Port() != 0 {
			u.byAddr[a] = n.ID
		}
	}
	return u, nil
}

// Topology returns the medium's topology.
func (u *UDP) Topology() *Topology { return u.topo }

// Stats returns the counters of every port of this medium: Sent and the
// out-of-range drops on the sending side, the rest on the receiving side.
func (u *UDP) Stats() Stats {
	s := Stats{Sent: u.sent.Load(), Delivered: u.delivered.Load()}
	for i := range s.Dropped {
		s.Dropped[i] = u.dropped[i].Load()
	}
	return s
}

func (u *UDP) drop(r DropReason) { u.dropped[r].Add(1) }

// Attach implements Medium: it binds the topology address of id.
func (u *UDP) Attach(id L2ID) (Port, error) { return u.AttachPort(id) }

// AttachPort is Attach returning the concrete port.
func (u *UDP) AttachPort(id L2ID) (*UDPPort, error) {
	if !id.Valid() {
		return nil, fmt.Errorf("%w: cannot attach %s", ErrInvalidL2ID, id)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.ports[id]; ok {
		return nil, fmt.Errorf("%w: %s", ErrInUse, id)
	}
	addr, ok := u.addrs[id]
	if !ok {
		return nil, fmt.Errorf("%w: node %s is not in the topology", ErrTopology, id)
	}
	if !addr.Addr().IsLoopback() { // Validate checked; defence in depth
		return nil, fmt.Errorf("%w: refusing non-loopback address %s", ErrTopology, addr)
	}
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return nil, fmt.Errorf("pc5/medium: node %s: %w", id, err)
	}
	local := canon(conn.LocalAddr().(*net.UDPAddr).AddrPort())
	if addr.Port() == 0 {
		u.addrs[id] = local
		u.byAddr[local] = id
	}
	p := &UDPPort{
		u: u, id: id, conn: conn, local: local,
		in:     make(chan Frame, u.qlen),
		done:   make(chan struct{}),
		reader: make(chan struct{}),
		zeroed: addr.Port() == 0,
	}
	u.ports[id] = p
	go p.read()
	return p, nil
}

func (u *UDP) addrOf(id L2ID) (netip.AddrPort, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	a, ok := u.addrs[id]
	return a, ok && a.Port() != 0
}

func (u *UDP) idOf(a netip.AddrPort) (L2ID, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	id, ok := u.byAddr[canon(a)]
	return id, ok
}

// UDPPort is a node attached to a UDP medium.
type UDPPort struct {
	u      *UDP
	id     L2ID
	conn   *net.UDPConn
	local  netip.AddrPort
	zeroed bool // bound from port 0

	in     chan Frame
	done   chan struct{}
	reader chan struct{} // closed when the reader goroutine exits
	once   sync.Once
	closed atomic.Bool
}

// ID implements Port.
func (p *UDPPort) ID() L2ID { return p.id }

// LocalAddr returns the bound address.
func (p *UDPPort) LocalAddr() netip.AddrPort { return p.local }

// Send implements Port.
func (p *UDPPort) Send(f Frame) error {
	if p.closed.Load() {
		return fmt.Errorf("%w: %s", ErrClosed, p.id)
	}
	f.Src = p.id
	b, err := AppendFrame(make([]byte, 0, FrameHeaderLen+len(f.Payload)), f)
	if err != nil {
		return err
	}
	p.u.sent.Add(1)
	var dsts []L2ID
	if f.IsBroadcast() {
		dsts = p.u.topo.Neighbours(p.id)
	} else if p.u.topo.InRange(p.id, f.Dst) {
		dsts = []L2ID{f.Dst}
	} else {
		p.u.drop(DropOutOfRange)
		return nil
	}
	var errs []error
	for _, d := range dsts {
		a, ok := p.u.addrOf(d)
		if !ok { // port 0 in the topology and not attached here
			p.u.drop(DropOutOfRange)
			continue
		}
		if _, err := p.conn.WriteToUDPAddrPort(b, a); err != nil {
			if p.closed.Load() {
				return fmt.Errorf("%w: %s", ErrClosed, p.id)
			}
			errs = append(errs, fmt.Errorf("pc5/medium: sending to %s at %s: %w", d, a, err))
		}
	}
	return errors.Join(errs...)
}

func (p *UDPPort) read() {
	defer close(p.reader)
	buf := make([]byte, MaxFrameLen+1)
	for {
		n, from, err := p.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if p.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		p.receive(buf[:n], from)
	}
}

// receive applies the acceptance rules to one datagram.
func (p *UDPPort) receive(b []byte, from netip.AddrPort) {
	if len(b) > MaxFrameLen {
		p.u.drop(DropMalformed)
		return
	}
	f, err := DecodeFrame(b)
	if err != nil {
		p.u.drop(DropMalformed)
		return
	}
	if src, ok := p.u.idOf(from); !ok || src != f.Src {
		p.u.drop(DropUnknownSource)
		return
	}
	if !p.u.topo.InRange(p.id, f.Src) {
		p.u.drop(DropNotNeighbour)
		return
	}
	if f.Dst != p.id && f.Dst != Broadcast {
		p.u.drop(DropNotForMe)
		return
	}
	f.RSSI = p.u.topo.RSSI(p.id, f.Src)
	select {
	case p.in <- f:
		p.u.delivered.Add(1)
	default:
		p.u.drop(DropQueueFull)
	}
}

// Recv implements Port.
func (p *UDPPort) Recv(ctx context.Context) (Frame, error) {
	select {
	case <-p.done:
		return Frame{}, fmt.Errorf("%w: %s", ErrClosed, p.id)
	default:
	}
	select {
	case f := <-p.in:
		return f, nil
	case <-p.done:
		return Frame{}, fmt.Errorf("%w: %s", ErrClosed, p.id)
	case <-ctx.Done():
		return Frame{}, ctx.Err()
	}
}

// Close implements Port: it closes the socket and waits for the reader.
func (p *UDPPort) Close() error {
	var err error
	p.once.Do(func() {
		p.closed.Store(true)
		close(p.done)
		err = p.conn.Close()
		<-p.reader
		p.u.mu.Lock()
		delete(p.u.ports, p.id)
		if p.zeroed {
			delete(p.u.byAddr, p.local)
			p.u.addrs[p.id] = netip.AddrPortFrom(p.local.Addr(), 0)
		}
		p.u.mu.Unlock()
		if err != nil {
			err = fmt.Errorf("pc5/medium: closing %s: %w", p.id, err)
		}
	})
	return err
}
