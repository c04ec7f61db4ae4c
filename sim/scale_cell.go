package sim

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/prosesec/prosesec/discovery"
	"github.com/prosesec/prosesec/pc5/link"
	"github.com/prosesec/prosesec/pc5/medium"
	"github.com/prosesec/prosesec/pc5/msg"
	"github.com/prosesec/prosesec/pc5/node"
	"github.com/prosesec/prosesec/relay"
	"github.com/prosesec/prosesec/token"
	"github.com/prosesec/prosesec/ue"
)

// Layer-2 IDs of scale mode: relay k is scaleRelayBase+k, end UE j (in the
// order of scaler.newUEs) is j+1. Unique across cells, so a trace or a
// log line names one node.
const scaleRelayBase = medium.L2ID(0x800000)

// scaleBatch is how many sources of a cell discover and connect together
// before the next ones start (keeps every discovery answer younger than
// the discoverer's MaxAge and the relay's pending solicitations bounded).
const scaleBatch = 16

type point struct{ x, y float64 }

func dist(a, b point) float64 { return math.Hypot(a.x-b.x, a.y-b.y) }

// scaleCell is one relay and its pairs on their own medium.
type scaleCell struct {
	index int
	seed  uint64
	relay *scaleUE
	rid   medium.L2ID
	rpos  point
	pairs []scalePair
}

type scalePair struct {
	src, tgt       *scaleUE
	srcID, tgtID   medium.L2ID
	srcPos, tgtPos point
}

// layout puts relay k at grid point k (CellSpacing apart) and deals the
// pairs round-robin to the cells, each UE uniformly in the disc of
// CellRadius around its relay.
func (s *scaler) layout(ues []*scaleUE) []*scaleCell {
	m := s.opt.Relays
	cols := int(math.Ceil(math.Sqrt(float64(m))))
	rng := rand.New(rand.NewPCG(s.opt.Seed, 0x5ca1e))
	cells := make([]*scaleCell, m)
	for k := range m {
		cells[k] = &scaleCell{
			index: k, seed: s.opt.Seed ^ uint64(k+1)*0x9e3779b97f4a7c15,
			relay: ues[k], rid: scaleRelayBase + medium.L2ID(k),
			rpos: point{float64(k%cols) * CellSpacing, float64(k/cols) * CellSpacing},
		}
	}
	place := func(c *scaleCell) point {
		r := CellRadius * math.Sqrt(rng.Float64())
		a := 2 * math.Pi * rng.Float64()
		return point{c.rpos.x + r*math.Cos(a), c.rpos.y + r*math.Sin(a)}
	}
	for i := range s.opt.UEs / 2 {
		c := cells[i%m]
		j := m + 2*i // index of the source in ues
		c.pairs = append(c.pairs, scalePair{
			src: ues[j], tgt: ues[j+1],
			srcID: medium.L2ID(j - m + 1), tgtID: medium.L2ID(j - m + 2),
			srcPos: place(c), tgtPos: place(c),
		})
	}
	return cells
}

// cellStats are the counts of one cell.
type cellStats struct {
	opened, discovered, hop1, hop2, linked, rejected int
	sent, delivered, echoed                          int
	forwarded                                        uint64
	frames                                           medium.Stats
	firstErr                                         string
}

func (t *cellStats) addUp(c cellStats) {
	t.opened += c.opened
	t.discovered += c.discovered
	t.hop1 += c.hop1
	t.hop2 += c.hop2
	t.linked += c.linked
	t.rejected += c.rejected
	t.sent += c.sent
	t.delivered += c.delivered
	t.echoed += c.echoed
	t.forwarded += c.forwarded
	t.frames.Sent += c.frames.Sent
	t.frames.Delivered += c.frames.Delivered
	for i := range c.frames.Dropped {
		t.frames.Dropped[i] += c.frames.Dropped[i]
	}
	if t.firstErr == "" {
		t.firstErr = c.firstErr
	}
}

// scaleNode is an end UE of a cell.
type scaleNode struct {
	id          medium.L2ID
	name        string
	ep          *node.Endpoint
	drv         *node.MemDriver
	disc        *discovery.Discoverer
	mux         *discCore
	echo        bool
	got         int
	established bool
	rejected    bool
}

// run links the cell offline and reports its counts; progress gets the
// number of pairs handled, a batch at a time. The error is for set-up
// failures.
func (c *scaleCell) run(packets int, progress func(int)) (cellStats, error) {
	var st cellStats
	reported := 0 // pairs reported to progress
	defer func() { progress(len(c.pairs) - reported) }()
	if c.relay == nil {
		return st, errNoRelay
	}
	offline := Start.Add(10 * time.Minute)
	clk := medium.NewClock(offline)
	mem, err := medium.NewMem(medium.MemConfig{Clock: clk, Seed: c.seed}) // zero Default: out of range unless SetLink
	if err != nil {
		return st, err
	}
	open := func(u *scaleUE) (*ue.OfflineBundle, bool) {
		if u.err != nil || u.cred == nil {
			return nil, false
		}
		b, err := u.cred.Open(u.key, ue.Policy{}, offline)
		if err != nil {
			if st.firstErr == "" {
				st.firstErr = fmt.Sprintf(" (first failure: %s: %v)", u.name, err)
			}
			return nil, false
		}
		st.opened++
		return b, true
	}
	cfgOf := func(name string, b *ue.OfflineBundle) *link.Config {
		return &link.Config{
			LocalUserInfo: []byte(name), IdentityKey: b.IdentityKey, Token: b.Token, TokenFormat: msg.TokenCWT,
			Verifier: b.Verifier, Rand: seeded(c.seed, name),
		}
	}

	// The relay.
	rb, ok := open(c.relay)
	var rl *relay.Relay
	if ok {
		dr, err := discovery.NewRelay(discovery.RelayConfig{UserInfo: []byte(c.relay.name), RSCs: discovery.ServeRSCs(rb.Claims.Scopes)})
		if err != nil {
			return st, err
		}
		rl, err = relay.New(relay.Config{
			Self: c.rid, Link: cfgOf(c.relay.name, rb), RSCs: []token.RSC{DefaultRSC},
			Lookup: dr.Lookup, MaxLinks: 2*len(c.pairs) + relay.DefaultMaxLinks,
		})
		if err != nil {
			return st, err
		}
		port, err := mem.AttachPort(c.rid)
		if err != nil {
			return st, err
		}
		mux := &discCore{Core: rl, handle: dr.Handle}
		mux.attach(node.Mem(port, clk, mux))
	}

	// The end UEs and the radio links.
	var nodes []*scaleNode
	var pos []point
	add := func(u *scaleUE, id medium.L2ID, p point, echo bool) (*scaleNode, error) {
		b, ok := open(u)
		if !ok {
			return nil, nil
		}
		n := &scaleNode{id: id, name: u.name, echo: echo}
		ep, err := node.NewEndpoint(node.EndpointConfig{
			Self: id, Link: cfgOf(u.name, b), RSC: DefaultRSC,
			Deliver: func(_ medium.L2ID, lcid uint8, pkt []byte) {
				n.got++
				if n.echo && len(pkt) >= 40 {
					e := bytes.Clone(pkt)
					copy(e[8:24], pkt[24:40])
					copy(e[24:40], pkt[8:24])
					_ = n.ep.Send(lcid, e)
				}
			},
			OnEvent: func(_ medium.L2ID, ev link.Event) {
				switch ev.(type) {
				case link.Established:
					n.established = true
				case link.Rejected:
					n.rejected = true
				}
			},
		})
		if err != nil {
			return nil, err
		}
		n.ep = ep
		if n.disc, err = discovery.NewDiscoverer(discovery.DiscovererConfig{UserInfo: []byte(u.name), UseRSCs: discovery.UseRSCs(b.Claims.Scopes)}); err != nil {
			return nil, err
		}
		port, err := mem.AttachPort(id)
		if err != nil {
			return nil, err
		}
		n.mux = &discCore{Core: ep, handle: n.disc.Handle}
		n.drv = node.Mem(port, clk, n.mux)
		n.mux.attach(n.drv)
		d := dist(p, c.rpos)
		if err := mem.SetLink(c.rid, id, medium.Link{InRange: d <= RadioRange, Delay: time.Millisecond, RSSI: rssiAt(d)}); err != nil {
			return nil, err
		}
		for i, q := range pos {
			if d := dist(p, q); d <= RadioRange {
				if err := mem.SetLink(nodes[i].id, id, medium.Link{InRange: true, Delay: time.Millisecond, RSSI: rssiAt(d)}); err != nil {
					return nil, err
				}
			}
		}
		nodes, pos = append(nodes, n), append(pos, p)
		return n, nil
	}
	srcs := make([]*scaleNode, len(c.pairs))
	tgts := make([]*scaleNode, len(c.pairs))
	for i, p := range c.pairs {
		if tgts[i], err = add(p.tgt, p.tgtID, p.tgtPos, true); err != nil {
			return st, err
		}
		if srcs[i], err = add(p.src, p.srcID, p.srcPos, false); err != nil {
			return st, err
		}
	}

	// Discovery and hop 1 (which makes the relay set up hop 2), in batches.
	for lo := 0; lo < len(c.pairs); lo += scaleBatch {
		hi := min(lo+scaleBatch, len(c.pairs))
		for i := lo; i < hi; i++ {
			if s := srcs[i]; s != nil && tgts[i] != nil {
				target := []byte(c.pairs[i].tgt.name)
				var err error
				s.drv.Do(func(now time.Time) {
					var o discovery.Outgoing
					if o, err = s.disc.Solicit(DefaultRSC, target, now); err == nil {
						s.mux.queue([]discovery.Outgoing{o})
					}
				})
				if err != nil {
					return st, err
				}
			}
			clk.Advance(5 * time.Millisecond)
		}
		clk.Advance(100 * time.Millisecond)
		for i := lo; i < hi; i++ {
			s := srcs[i]
			if s == nil || rl == nil {
				continue
			}
			target := []byte(c.pairs[i].tgt.name)
			cand, ok := s.disc.Select(DefaultRSC, target, clk.Now())
			if !ok || cand.Relay != c.rid || !cand.TargetReachable {
				continue
			}
			st.discovered++
			var err error
			s.drv.Do(func(now time.Time) { err = s.ep.Connect(now, c.rid, cand.RelayUserInfo, target) })
			if err != nil {
				return st, err
			}
			clk.Advance(5 * time.Millisecond)
		}
		progress(hi - lo) // their handshakes have run (the medium's delay is 1 ms)
		reported += hi - lo
	}
	clk.Advance(5 * time.Second)

	// IP packets, each echoed by the target.
	for i, s := range srcs {
		if s == nil || !s.established || tgts[i] == nil {
			continue
		}
		from, to := s.ep.LocalAddr(c.rid), relay.Addr(c.rid, tgts[i].id)
		for k := range packets {
			var err error
			s.drv.Do(func(time.Time) { err = s.ep.Send(4, ipv6(from, to, 200, byte(k))) })
			if err == nil {
				st.sent++
			}
		}
		clk.Advance(10 * time.Millisecond)
	}
	clk.Advance(2 * time.Second)

	for i := range c.pairs {
		s, t := srcs[i], tgts[i]
		if s == nil || t == nil {
			continue
		}
		if s.established {
			st.hop1++
		}
		if t.established {
			st.hop2++
		}
		if s.rejected || t.rejected {
			st.rejected++
		}
		st.delivered += t.got
		st.echoed += s.got
		if s.established && t.established && t.got == packets && s.got == packets {
			st.linked++
		}
	}
	if rl != nil {
		st.forwarded = rl.Stats().Forwarded
	}
	st.frames = mem.Stats()
	return st, nil
}
