package relay

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/prosesec/prosesec/pc5/link"
	"github.com/prosesec/prosesec/pc5/medium"
	"github.com/prosesec/prosesec/pc5/msg"
	"github.com/prosesec/prosesec/token"
)

// Cause values the relay puts on hop 1 (PROJECT-DEFINED choices among the
// TS 24.554 causes of pc5/msg, PROVISIONAL: no Rel-18 relay cause was found).
const (
	// CauseTargetUnknown: the target's Layer-2 ID is not known (neither
	// discovery nor the static table names it).
	CauseTargetUnknown = msg.CauseDirectCommunicationNotAllowed // #1
	// CauseHop2Failed: hop 2 to the target failed (no answer, rejected by
	// the target, released while hop 1 waited) or took longer than
	// Config.Hop2Timeout.
	CauseHop2Failed = msg.CauseDirectConnectionNotAvailable // #4
	// CauseLinkLimit: the relay has Config.MaxLinks links already.
	CauseLinkLimit = msg.CauseLackOfResources // #5
)

// Defaults.
const (
	DefaultMaxLinks    = 2 * msg.MaxDirectLinks
	DefaultHop2Timeout = 16 * time.Second
	DefaultRequestRate = 1.0 // REQUESTs per second per source Layer-2 ID
	DefaultBurst       = 4
	// MaxPending bounds the links still in their handshake beyond MaxLinks:
	// a REQUEST that would exceed it is dropped unanswered.
	MaxPendingFactor = 2
	maxBuckets       = 4096
)

// ErrConfig: the Config is not usable.
var ErrConfig = errors.New("relay: invalid configuration")

// Config configures a Relay.
type Config struct {
	// Self is the relay's Layer-2 ID.
	Self medium.L2ID
	// Link is the relay's PC5 identity and credentials, used on both hops.
	Link *link.Config
	// RSCs are the relay service codes the relay serves (the u2u:serve
	// scopes of its token). A REQUEST for another RSC is rejected with #1.
	RSCs []token.RSC
	// Lookup returns the Layer-2 ID of the end UE with user info userInfo
	// for rsc (discovery.Relay.Lookup, or a static table). Required.
	Lookup func(rsc token.RSC, userInfo []byte, now time.Time) (medium.L2ID, bool)
	// MaxLinks bounds the simultaneous links of the relay, both hops
	// together (DefaultMaxLinks if 0); beyond it hop 1 is rejected with #5.
	MaxLinks int
	// Hop2Timeout bounds the set-up of hop 2 (DefaultHop2Timeout if 0). It
	// must be shorter than the source's wait for the ACCEPT and than the
	// relay's TimerPause.
	Hop2Timeout time.Duration
	// RequestRate and Burst make the token bucket that limits new REQUESTs
	// per source Layer-2 ID (defaults DefaultRequestRate, DefaultBurst).
	RequestRate float64
	Burst       int
}

// LinkStats are the counters of one link.
type LinkStats struct {
	RxPackets, RxBytes uint64 // data PDUs opened
	TxPackets, TxBytes uint64 // data PDUs sealed towards this peer
	RxDropped          uint64 // data PDUs that failed OpenData
}

// Stats are the relay's counters.
type Stats struct {
	Forwarded    uint64
	NoRoute      uint64 // packets for an unknown destination, dropped
	NotPaired    uint64 // packets between end UEs not paired by a handshake
	Spoofed      uint64 // packets whose source is not the sender's address
	NotIP        uint64 // payloads that are not IPv6 packets
	OpenFailed   uint64 // data PDUs failing integrity/replay, or on no link
	SealFailed   uint64
	RateLimited  uint64 // REQUESTs dropped by the token bucket
	Overloaded   uint64 // REQUESTs dropped beyond the pending bound
	LimitRejects uint64 // hop 1 rejected with CauseLinkLimit
	Hop2Failures uint64 // hop 1 rejected with CauseHop2Failed or CauseTargetUnknown
	Discarded    uint64 // PC5-S PDUs Step discarded
}

// PeerInfo describes one link of the relay.
type PeerInfo struct {
	ID       medium.L2ID
	UserInfo []byte
	Hop2     bool // the relay set it up (towards a target)
	State    link.State
	Addr     netip.Addr
	Stats    LinkStats
}

type peer struct {
	id       medium.L2ID
	l        *link.Link
	hop2     bool
	userInfo []byte
	addr     netip.Addr // assigned when established
	stats    LinkStats
	// hop 1 paused, waiting for hop 2, then served by it:
	rsc     token.RSC
	waitFor *peer
	target  *peer
	// hop 2 in set-up:
	waiters  []*peer
	deadline time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// Relay is the sans-I/O L3 UE-to-UE relay: its link table (one pc5/link
// Link per neighbour Layer-2 ID), its routing table (address → link) and
// the forwarding between the two hops. Feed it received frames with
// HandleFrame, call Tick at NextDeadline, and send what Outbox returns after
// every call. Not safe for concurrent use.
type Relay struct {
	cfg     Config
	prefix  netip.Prefix
	peers   map[medium.L2ID]*peer
	routes  map[netip.Addr]*peer
	buckets map[medium.L2ID]*bucket
	out     []medium.Frame
	fwd     []byte
	fwdUsed bool
	stats   Stats
}

// New returns a relay.
func New(cfg Config) (*Relay, error) {
	if !cfg.Self.Valid() {
		return nil, fmt.Errorf("%w: Layer-2 ID %v", ErrConfig, cfg.Self)
	}
	if cfg.Link == nil || cfg.Lookup == nil || len(cfg.RSCs) == 0 {
		return nil, fmt.Errorf("%w: Link, Lookup and RSCs are required", ErrConfig)
	}
	if err := cfg.Link.Validate(); err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	if cfg.MaxLinks <= 0 {
		cfg.MaxLinks = DefaultMaxLinks
	}
	if cfg.Hop2Timeout <= 0 {
		cfg.Hop2Timeout = DefaultHop2Timeout
	}
	if cfg.RequestRate <= 0 {
		cfg.RequestRate = DefaultRequestRate
	}
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultBurst
	}
	cfg.RSCs = slices.Clone(cfg.RSCs)
	return &Relay{
		cfg:     cfg,
		prefix:  Prefix(cfg.Self),
		peers:   make(map[medium.L2ID]*peer),
		routes:  make(map[netip.Addr]*peer),
		buckets: make(map[medium.L2ID]*bucket),
		fwd:     make([]byte, 0, medium.MaxPayload),
	}, nil
}

// Prefix returns the relay's /64.
func (r *Relay) Prefix() netip.Prefix { return r.prefix }

// Stats returns the relay's counters.
func (r *Relay) Stats() Stats { return r.stats }

// Peers returns the relay's links in Layer-2 ID order.
func (r *Relay) Peers() []PeerInfo {
	out := make([]PeerInfo, 0, len(r.peers))
	for _, p := range r.peers {
		out = append(out, PeerInfo{ID: p.id, UserInfo: p.userInfo, Hop2: p.hop2, State: p.l.State(), Addr: p.addr, Stats: p.stats})
	}
	slices.SortFunc(out, func(a, b PeerInfo) int { return int(a.ID) - int(b.ID) })
	return out
}

// Links returns the number of links (any state).
func (r *Relay) Links() int { return len(r.peers) }

// Outbox returns the frames to send, produced since the last call; they
// (and their payloads) are valid until the next call into the Relay.
func (r *Relay) Outbox() []medium.Frame {
	o := r.out
	r.out = r.out[:0]
	r.fwdUsed = false
	return o
}

func (r *Relay) serves(rsc token.RSC) bool { return slices.Contains(r.cfg.RSCs, rsc) }

// HandleFrame processes one received frame: PC5-S on LCID 0..2, data on
// 3..19. Other LCIDs (discovery) are ignored: the driver routes them.
func (r *Relay) HandleFrame(now time.Time, f medium.Frame) {
	switch {
	case f.LCID <= 2:
		r.handleSignalling(now, f)
	case f.LCID <= 19:
		r.forward(f.Src, f.LCID, f.Payload)
	}
}

func (r *Relay) allow(id medium.L2ID, now time.Time) bool {
	b, ok := r.buckets[id]
	if !ok {
		if len(r.buckets) >= maxBuckets {
			for k, v := range r.buckets { // drop the refilled ones
				if now.Sub(v.last).Seconds()*r.cfg.RequestRate >= float64(r.cfg.Burst) {
					delete(r.buckets, k)
				}
			}
			if len(r.buckets) >= maxBuckets {
				return false
			}
		}
		b = &bucket{tokens: float64(r.cfg.Burst), last: now}
		r.buckets[id] = b
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(float64(r.cfg.Burst), b.tokens+el.Seconds()*r.cfg.RequestRate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (r *Relay) handleSignalling(now time.Time, f medium.Frame) {
	p, ok := r.peers[f.Src]
	if !ok {
		if f.LCID != 0 || !f.Src.Valid() {
			r.stats.Discarded++
			return
		}
		if !r.allow(f.Src, now) {
			r.stats.RateLimited++
			return
		}
		if len(r.peers) >= MaxPendingFactor*r.cfg.MaxLinks {
			r.stats.Overloaded++
			return
		}
		l, err := link.NewResponder(r.cfg.Link, link.Policy{
			PeerRole:          token.RoleUse,
			AcceptRSC:         r.serves,
			AcceptTarget:      func([]byte) bool { return true }, // checked at PeerAuthorized
			PauseBeforeAccept: true,
		})
		if err != nil {
			r.stats.Discarded++
			return
		}
		p = &peer{id: f.Src, l: l}
		r.peers[f.Src] = p
	}
	if err := p.l.Step(now, link.PDU{LCID: f.LCID, Data: f.Payload}); err != nil && errors.Is(err, link.ErrDiscarded) {
		r.stats.Discarded++
	}
	r.drain(now, p)
	if p.l.State() == link.StateWaitRequest && r.peers[p.id] == p {
		delete(r.peers, p.id) // nothing accepted: keep no state for it
	}
}

// committed counts the links that are up or about to be (paused hop 1
// links and hop 2 links in set-up).
func (r *Relay) committed() int {
	n := 0
	for _, p := range r.peers {
		switch s := p.l.State(); {
		case s == link.StateEstablished, s == link.StatePaused && p.waitFor != nil:
			n++
		case p.hop2 && s != link.StateClosed:
			n++
		}
	}
	return n
}

// drain takes p's Ready and acts on it.
func (r *Relay) drain(now time.Time, p *peer) {
	rd := p.l.Ready()
	for _, s := range rd.Send {
		r.out = append(r.out, medium.Frame{Dst: p.id, LCID: s.LCID, Payload: s.Data})
	}
	for _, ev := range rd.Events {
		switch e := ev.(type) {
		case link.PeerAuthorized:
			r.authorized(now, p, e)
		case link.Established:
			p.userInfo = slices.Clone(e.PeerUserInfo)
			p.addr = Addr(r.cfg.Self, p.id)
			r.routes[p.addr] = p
			if p.hop2 {
				ws := p.waiters
				p.waiters = nil
				for _, w := range ws {
					r.accept(now, w, p)
				}
			}
		case link.Rejected, link.Released:
			r.closed(now, p)
		}
	}
	if p.l.State() == link.StateClosed {
		r.closed(now, p)
	}
}

func (r *Relay) authorized(now time.Time, p *peer, e link.PeerAuthorized) {
	p.rsc = e.RSC
	if r.committed()+1 > r.cfg.MaxLinks { // hop 1 itself
		r.stats.LimitRejects++
		r.reject(now, p, CauseLinkLimit)
		return
	}
	tid, ok := r.cfg.Lookup(e.RSC, e.TargetUserInfo, now)
	if !ok || tid == p.id || tid == r.cfg.Self {
		r.stats.Hop2Failures++
		r.reject(now, p, CauseTargetUnknown)
		return
	}
	t, ok := r.peers[tid]
	switch {
	case ok && t.l.State() == link.StateEstablished && string(t.userInfo) == string(e.TargetUserInfo):
		r.accept(now, p, t)
		return
	case ok && t.hop2 && t.l.State() == link.StateRequestSent || ok && t.hop2 && t.l.State() == link.StateCompleteSent:
		p.waitFor = t
		t.waiters = append(t.waiters, p)
		return
	case ok:
		// a link to that Layer-2 ID of another kind (the target itself as a
		// source still in its handshake, or another user info): not served.
		r.stats.Hop2Failures++
		r.reject(now, p, CauseHop2Failed)
		return
	}
	if r.committed()+2 > r.cfg.MaxLinks { // hop 1 and a new hop 2
		r.stats.LimitRejects++
		r.reject(now, p, CauseLinkLimit)
		return
	}
	l, err := link.NewInitiator(r.cfg.Link, link.Policy{
		PeerUserInfo: slices.Clone(e.TargetUserInfo),
		RSC:          e.RSC,
		PeerRole:     token.RoleUse,
	})
	if err != nil {
		r.stats.Hop2Failures++
		r.reject(now, p, CauseHop2Failed)
		return
	}
	t = &peer{id: tid, l: l, hop2: true, userInfo: slices.Clone(e.TargetUserInfo), deadline: now.Add(r.cfg.Hop2Timeout)}
	r.peers[tid] = t
	p.waitFor = t
	t.waiters = append(t.waiters, p)
	if err := l.Start(now); err != nil {
		l.Abort()
	}
	r.drain(now, t)
}

func (r *Relay) accept(now time.Time, p, t *peer) {
	p.waitFor = nil
	if p.l.State() != link.StatePaused {
		return
	}
	if err := p.l.Accept(now, link.AcceptParams{TargetIPAddress: t.addr}); err != nil {
		return
	}
	p.target = t
	r.drain(now, p)
}

func (r *Relay) reject(now time.Time, p *peer, c msg.Cause) {
	p.waitFor = nil
	if p.l.State() != link.StatePaused {
		return
	}
	_ = p.l.Reject(now, c)
	r.drain(now, p)
}

// closed forgets p (once) and fails the hop 1 links waiting for it.
func (r *Relay) closed(now time.Time, p *peer) {
	if r.peers[p.id] != p {
		return
	}
	delete(r.peers, p.id)
	if p.addr.IsValid() && r.routes[p.addr] == p {
		delete(r.routes, p.addr)
	}
	if w := p.waitFor; w != nil {
		w.waiters = slices.DeleteFunc(w.waiters, func(x *peer) bool { return x == p })
		p.waitFor = nil
	}
	ws := p.waiters
	p.waiters = nil
	for _, w := range ws {
		r.stats.Hop2Failures++
		r.reject(now, w, CauseHop2Failed)
	}
	// Hop 1 links set up for this target lose their purpose: release them
	// with #4 (direct connection not available anymore).
	for _, q := range r.peers {
		if q.target == p {
			q.target = nil
			if q.l.State() == link.StateEstablished && q.l.Release(now, CauseHop2Failed) == nil {
				r.drain(now, q)
			}
		}
	}
}

// NextDeadline returns when Tick must be called next.
func (r *Relay) NextDeadline() (time.Time, bool) {
	var next time.Time
	found := false
	for _, p := range r.peers {
		if d, ok := p.l.NextDeadline(); ok && (!found || d.Before(next)) {
			next, found = d, true
		}
		if p.hop2 && !p.deadline.IsZero() && (!found || p.deadline.Before(next)) {
			next, found = p.deadline, true
		}
	}
	return next, found
}

// Tick runs the links' timers and the hop 2 set-up deadlines.
func (r *Relay) Tick(now time.Time) {
	ps := make([]*peer, 0, len(r.peers))
	for _, p := range r.peers {
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b *peer) int { return int(a.id) - int(b.id) })
	for _, p := range ps {
		if r.peers[p.id] != p {
			continue
		}
		if p.hop2 && !p.deadline.IsZero() {
			if p.l.State() == link.StateEstablished {
				p.deadline = time.Time{}
			} else if !now.Before(p.deadline) {
				p.l.Abort()
				r.closed(now, p)
				continue
			}
		}
		if d, ok := p.l.NextDeadline(); ok && !now.Before(d) {
			p.l.Tick(now)
			r.drain(now, p)
		}
	}
}

// forward opens a data PDU from src, routes the IPv6 packet by its
// destination and seals it towards the next hop. It does not allocate.
func (r *Relay) forward(src medium.L2ID, lcid uint8, pdu []byte) {
	in, ok := r.peers[src]
	if !ok || in.l.State() != link.StateEstablished {
		r.stats.OpenFailed++
		return
	}
	pkt, err := in.l.OpenData(pdu[:0], lcid, pdu)
	if err != nil {
		in.stats.RxDropped++
		r.stats.OpenFailed++
		return
	}
	in.stats.RxPackets++
	in.stats.RxBytes += uint64(len(pkt))
	s, d, ok := ipv6Addrs(pkt)
	if !ok {
		r.stats.NotIP++
		return
	}
	if s != in.addr {
		r.stats.Spoofed++
		return
	}
	out, ok := r.routes[d]
	if !ok || out == in {
		r.stats.NoRoute++
		return
	}
	if in.target != out && out.target != in {
		r.stats.NotPaired++
		return
	}
	buf := r.fwd[:0]
	if r.fwdUsed {
		buf = make([]byte, 0, len(pkt)+8)
	}
	sealed, err := out.l.SealData(buf, lcid, pkt)
	if err != nil {
		r.stats.SealFailed++
		return
	}
	r.fwdUsed = true
	out.stats.TxPackets++
	out.stats.TxBytes += uint64(len(pkt))
	r.stats.Forwarded++
	r.out = append(r.out, medium.Frame{Dst: out.id, LCID: lcid, Payload: sealed})
}
