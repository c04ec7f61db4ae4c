package node

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/prosesec/prosesec/pc5/link"
	"github.com/prosesec/prosesec/pc5/medium"
	"github.com/prosesec/prosesec/relay"
	"github.com/prosesec/prosesec/token"
)

// Errors.
var (
	ErrConfig  = errors.New("pc5/node: invalid configuration")
	ErrNoRoute = errors.New("pc5/node: no route to the destination")
	ErrNotIP   = errors.New("pc5/node: not an IPv6 packet")
	// ErrUnexpected: a protected signalling PDU from a peer without a
	// link (OnDiscard).
	ErrUnexpected = errors.New("pc5/node: signalling PDU from a peer without a link")
)

// EndpointConfig configures an end UE.
type EndpointConfig struct {
	Self medium.L2ID
	Link *link.Config
	// RSC is the relay service code the UE uses (its u2u:use scope).
	RSC token.RSC
	// Deliver receives every IP packet opened on a link; pkt is valid
	// during the call only.
	Deliver func(from medium.L2ID, lcid uint8, pkt []byte)
	// OnEvent, if set, sees every link event with the peer's Layer-2 ID.
	OnEvent func(peer medium.L2ID, ev link.Event)
	// OnDiscard, if set, sees every signalling PDU (LCID 0–2) dropped
	// without a change of state, with the reason: err wraps
	// link.ErrDiscarded (and, for a PDU that failed its checks before
	// it was authenticated, link.ErrIntegrity or the like), or
	// ErrUnexpected for a PDU from an unknown peer on LCID 1 or 2.
	OnDiscard func(peer medium.L2ID, lcid uint8, err error)
}

// EndpointStats are an end UE's counters.
type EndpointStats struct {
	Sent, Received, OpenFailed, Discarded uint64
}

type epeer struct {
	id     medium.L2ID
	l      *link.Link
	prefix netip.Prefix // the relay's /64, routed to this link once up
}

// Endpoint is the sans-I/O end UE (Core): as a source it sets up hop 1 to a
// relay (Connect) and learns the target's address from the ACCEPT; as a
// target it answers a relay's REQUEST (the relay's token must grant
// u2u:serve:<RSC>) and learns sources' addresses from their packets.
type Endpoint struct {
	cfg    EndpointConfig
	peers  map[medium.L2ID]*epeer
	routes map[netip.Addr]*epeer
	out    []medium.Frame
	stats  EndpointStats
}

// NewEndpoint returns an end UE.
func NewEndpoint(cfg EndpointConfig) (*Endpoint, error) {
	if !cfg.Self.Valid() || cfg.Link == nil || !cfg.RSC.Valid() {
		return nil, fmt.Errorf("%w: Self, Link and RSC are required", ErrConfig)
	}
	if err := cfg.Link.Validate(); err != nil {
		return nil, fmt.Errorf("pc5/node: %w", err)
	}
	return &Endpoint{cfg: cfg, peers: make(map[medium.L2ID]*epeer), routes: make(map[netip.Addr]*epeer)}, nil
}

// Connect starts hop 1 towards relay (user info relayUser) for target.
func (e *Endpoint) Connect(now time.Time, relayID medium.L2ID, relayUser, target []byte) error {
	if _, ok := e.peers[relayID]; ok {
		return fmt.Errorf("pc5/node: a link to %v exists", relayID)
	}
	l, err := link.NewInitiator(e.cfg.Link, link.Policy{
		PeerUserInfo:   slices.Clone(relayUser),
		TargetUserInfo: slices.Clone(target),
		RSC:            e.cfg.RSC,
		PeerRole:       token.RoleServe,
	})
	if err != nil {
		return fmt.Errorf("pc5/node: %w", err)
	}
	p := &epeer{id: relayID, l: l}
	e.peers[relayID] = p
	if err := l.Start(now); err != nil {
		delete(e.peers, relayID)
		return fmt.Errorf("pc5/node: %w", err)
	}
	e.drain(p)
	return nil
}

// LocalAddr returns this UE's address behind relayID.
func (e *Endpoint) LocalAddr(relayID medium.L2ID) netip.Addr { return relay.Addr(relayID, e.cfg.Self) }

// Stats returns the counters.
func (e *Endpoint) Stats() EndpointStats { return e.stats }

// Send protects the IPv6 packet pkt on the link its destination is routed
// to, on LCID lcid (3..19).
func (e *Endpoint) Send(lcid uint8, pkt []byte) error {
	if len(pkt) < 40 || pkt[0]>>4 != 6 {
		return ErrNotIP
	}
	dst := netip.AddrFrom16([16]byte(pkt[24:40]))
	p, ok := e.routes[dst]
	if !ok {
		p, ok = e.byPrefix(dst)
	}
	if !ok {
		return fmt.Errorf("%w: %v", ErrNoRoute, dst)
	}
	b, err := p.l.SealData(make([]byte, 0, len(pkt)+8), lcid, pkt)
	if err != nil {
		return fmt.Errorf("pc5/node: %w", err)
	}
	e.stats.Sent++
	e.out = append(e.out, medium.Frame{Dst: p.id, LCID: lcid, Payload: b})
	return nil
}

// HandleFrame implements Core.
func (e *Endpoint) HandleFrame(now time.Time, f medium.Frame) {
	p, ok := e.peers[f.Src]
	switch {
	case f.LCID <= 2:
		if !ok {
			if f.LCID != 0 {
				e.discard(f, ErrUnexpected)
				return
			}
			l, err := link.NewResponder(e.cfg.Link, link.Policy{RSC: e.cfg.RSC, PeerRole: token.RoleServe})
			if err != nil {
				e.discard(f, err)
				return
			}
			p = &epeer{id: f.Src, l: l}
			e.peers[f.Src] = p
		}
		if err := p.l.Step(now, link.PDU{LCID: f.LCID, Data: f.Payload}); errors.Is(err, link.ErrDiscarded) {
			e.discard(f, err)
		}
		e.drain(p)
	case f.LCID <= 19:
		if !ok || p.l.State() != link.StateEstablished {
			e.stats.OpenFailed++
			return
		}
		pkt, err := p.l.OpenData(f.Payload[:0], f.LCID, f.Payload)
		if err != nil {
			e.stats.OpenFailed++
			return
		}
		e.stats.Received++
		if len(pkt) >= 40 && pkt[0]>>4 == 6 {
			src := netip.AddrFrom16([16]byte(pkt[8:24]))
			if _, known := e.routes[src]; !known {
				e.routes[src] = p
			}
		}
		if e.cfg.Deliver != nil {
			e.cfg.Deliver(f.Src, f.LCID, pkt)
		}
	}
}

// discard counts a dropped signalling PDU and reports it.
func (e *Endpoint) discard(f medium.Frame, err error) {
	e.stats.Discarded++
	if e.cfg.OnDiscard != nil {
		e.cfg.OnDiscard(f.Src, f.LCID, err)
	}
}

func (e *Endpoint) drain(p *epeer) {
	rd := p.l.Ready()
	for _, s := range rd.Send {
		e.out = append(e.out, medium.Frame{Dst: p.id, LCID: s.LCID, Payload: s.Data})
	}
	for _, ev := range rd.Events {
		if est, ok := ev.(link.Established); ok {
			p.prefix = relay.Prefix(p.id)
			if est.Accept.TargetIPAddress.IsValid() {
				e.routes[est.Accept.TargetIPAddress] = p
			}
		}
		if e.cfg.OnEvent != nil {
			e.cfg.OnEvent(p.id, ev)
		}
	}
	if p.l.State() == link.StateClosed && e.peers[p.id] == p {
		delete(e.peers, p.id)
		for a, q := range e.routes {
			if q == p {
				delete(e.routes, a)
			}
		}
	}
}

// byPrefix finds the established link whose relay prefix holds dst: packets
// for any address behind a relay go to that relay (the relay drops unknown
// ones). Bounded by the number of links.
func (e *Endpoint) byPrefix(dst netip.Addr) (*epeer, bool) {
	var best *epeer
	for _, p := range e.peers {
		if p.prefix.IsValid() && p.prefix.Contains(dst) && p.l.State() == link.StateEstablished && (best == nil || p.id < best.id) {
			best = p
		}
	}
	return best, best != nil
}

// NextDeadline implements Core.
func (e *Endpoint) NextDeadline() (time.Time, bool) {
	var next time.Time
	found := false
	for _, p := range e.peers {
		if d, ok := p.l.NextDeadline(); ok && (!found || d.Before(next)) {
			next, found = d, true
		}
	}
	return next, found
}

// Tick implements Core.
func (e *Endpoint) Tick(now time.Time) {
	ids := make([]medium.L2ID, 0, len(e.peers))
	for id := range e.peers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		p := e.peers[id]
		if d, ok := p.l.NextDeadline(); ok && !now.Before(d) {
			p.l.Tick(now)
			e.drain(p)
		}
	}
}

// Outbox implements Core.
func (e *Endpoint) Outbox() []medium.Frame {
	o := e.out
	e.out = nil
	return o
}
