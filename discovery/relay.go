package discovery

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"github.com/prosesec/prosesec/pc5/medium"
	"github.com/prosesec/prosesec/token"
)

// Defaults of RelayConfig.
const (
	DefaultForwardTimeout = 2 * time.Second
	DefaultReachableTTL   = 30 * time.Second
	DefaultMaxPending     = 64
)

// RelayConfig configures the relay side of discovery.
type RelayConfig struct {
	// UserInfo is the relay's user info (application layer ID), 1..253
	// octets: the sub of its token.
	UserInfo []byte
	// RSCs are the relay service codes the relay may serve: ServeRSCs of
	// its own token's scopes. It announces and answers only these.
	RSCs []token.RSC
	// Restricted sets the discovery type of the relay's messages.
	Restricted bool
	// ForwardTimeout is how long a forwarded solicitation waits for the
	// target's response (DefaultForwardTimeout if 0).
	ForwardTimeout time.Duration
	// ReachableTTL is how long an end UE learned from a target's response
	// stays reachable (DefaultReachableTTL if 0).
	ReachableTTL time.Duration
	// MaxPending bounds the forwarded solicitations waiting for a target
	// (DefaultMaxPending if 0); the oldest is dropped to make room.
	MaxPending int
}

// ReachableUE is an end UE reachable through the relay: the entries of the
// UE-to-UE relay UE info the relay announces.
type ReachableUE struct {
	UserInfo []byte
	L2ID     medium.L2ID
	// RSCs limits the entry to some RSCs; nil means every RSC the relay
	// serves.
	RSCs []token.RSC
	// Expires is when the entry stops counting; zero means never (until
	// RemoveReachable).
	Expires time.Time
}

func (e *ReachableUE) live(rsc token.RSC, now time.Time) bool {
	return (e.Expires.IsZero() || now.Before(e.Expires)) && (e.RSCs == nil || slices.Contains(e.RSCs, rsc))
}

// Relay is the sans-I/O relay side of UE-to-UE relay discovery: it makes
// Model A announcements, answers Model B solicitations for targets it can
// reach, forwards the others to its neighbours and relays the targets'
// responses. Time comes from the callers; it is not safe for concurrent
// use.
type Relay struct {
	cfg     RelayConfig
	serves  map[token.RSC]bool
	load    uint8
	reach   map[string]*ReachableUE
	pending []pendingSolicitation
}

type pendingSolicitation struct {
	rsc      token.RSC
	target   string
	source   string
	sourceL2 medium.L2ID
	expires  time.Time
}

// NewRelay returns the relay side of discovery.
func NewRelay(cfg RelayConfig) (*Relay, error) {
	if err := checkUserInfo("relay user info", cfg.UserInfo); err != nil {
		return nil, err
	}
	if err := checkRSCs(cfg.RSCs); err != nil {
		return nil, err
	}
	if cfg.ForwardTimeout < 0 || cfg.ReachableTTL < 0 || cfg.MaxPending < 0 {
		return nil, fmt.Errorf("discovery: negative ForwardTimeout, ReachableTTL or MaxPending")
	}
	if cfg.ForwardTimeout == 0 {
		cfg.ForwardTimeout = DefaultForwardTimeout
	}
	if cfg.ReachableTTL == 0 {
		cfg.ReachableTTL = DefaultReachableTTL
	}
	if cfg.MaxPending == 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	cfg.UserInfo = bytes.Clone(cfg.UserInfo)
	cfg.RSCs = slices.Clone(cfg.RSCs)
	slices.Sort(cfg.RSCs)
	cfg.RSCs = slices.Compact(cfg.RSCs)
	r := &Relay{cfg: cfg, serves: map[token.RSC]bool{}, reach: map[string]*ReachableUE{}}
	for _, rsc := range cfg.RSCs {
		r.serves[rsc] = true
	}
	return r, nil
}

// Serves reports whether the relay serves rsc.
func (r *Relay) Serves(rsc token.RSC) bool { return r.serves[rsc] }

// SetLoad sets the load the relay advertises: its number of active PC5
// links, capped at 255.
func (r *Relay) SetLoad(links int) { r.load = uint8(min(max(links, 0), 255)) }

// SetReachable adds or replaces an end UE reachable through the relay (for
// instance one with an established link).
func (r *Relay) SetReachable(e ReachableUE) error {
	if err := checkUserInfo("reachable UE user info", e.UserInfo); err != nil {
		return err
	}
	if !e.L2ID.Valid() {
		return fmt.Errorf("discovery: reachable UE %q has Layer-2 ID %s", e.UserInfo, e.L2ID)
	}
	if err := checkRSCs(e.RSCs); err != nil {
		return err
	}
	e.UserInfo = bytes.Clone(e.UserInfo)
	e.RSCs = slices.Clone(e.RSCs)
	r.reach[string(e.UserInfo)] = &e
	return nil
}

// RemoveReachable forgets an end UE and reports whether it was known.
func (r *Relay) RemoveReachable(userInfo []byte) bool {
	_, ok := r.reach[string(userInfo)]
	delete(r.reach, string(userInfo))
	return ok
}

// Lookup returns the Layer-2 ID of an end UE reachable for rsc: where the
// relay sets up its second hop.
func (r *Relay) Lookup(rsc token.RSC, userInfo []byte, now time.Time) (medium.L2ID, bool) {
	if !r.serves[rsc] {
		return 0, false
	}
	e := r.reach[string(userInfo)]
	if e == nil || !e.live(rsc, now) {
		return 0, false
	}
	return e.L2ID, true
}

// ReachableUEs returns the user infos reachable for rsc at now, sorted,
// at most MaxReachableUEs (the first ones in byte order).
func (r *Relay) ReachableUEs(rsc token.RSC, now time.Time) [][]byte {
	if !r.serves[rsc] {
		return nil
	}
	var out [][]byte
	for _, e := range r.reach {
		if e.live(rsc, now) {
			out = append(out, e.UserInfo)
		}
	}
	slices.SortFunc(out, bytes.Compare)
	if len(out) > MaxReachableUEs {
		out = out[:MaxReachableUEs]
	}
	return out
}

// Announce returns one Model A announcement per served RSC, in RSC order,
// each to medium.Broadcast. The driver calls it periodically.
func (r *Relay) Announce(now time.Time) []Outgoing {
	out := make([]Outgoing, 0, len(r.cfg.RSCs))
	for _, rsc := range r.cfg.RSCs {
		out = append(out, Outgoing{To: medium.Broadcast, Msg: &Announcement{
			Restricted:    r.cfg.Restricted,
			RSC:           rsc,
			RelayUserInfo: r.cfg.UserInfo,
			ReachableUEs:  r.ReachableUEs(rsc, now),
			Load:          r.load,
			UTCCounterLSB: UTCCounterLSB(now),
		}})
	}
	return out
}

func (r *Relay) response(rsc token.RSC, target []byte, now time.Time) *Response {
	return &Response{
		Restricted:         r.cfg.Restricted,
		RSC:                rsc,
		DiscovereeUserInfo: r.cfg.UserInfo,
		ReachableUEs:       [][]byte{bytes.Clone(target)},
		Load:               r.load,
		UTCCounterLSB:      UTCCounterLSB(now),
	}
}

// Handle processes one received message and returns what to send:
//
//   - a solicitation from an end UE (no source user info) for a served RSC:
//     if the target is reachable, a response naming it, to the end UE;
//     otherwise the solicitation forwarded to medium.Broadcast with the
//     relay as discoverer and the end UE as source (once per source,
//     target and RSC while the first waits);
//   - a target's response to a forwarded solicitation (source user info
//     set, matching a waiting one): the target becomes reachable at the
//     response's Layer-2 ID for ReachableTTL, and the source end UE gets a
//     response naming it;
//   - anything else (announcements, other relays' forwarded solicitations,
//     responses nobody waits for, RSCs not served): nothing.
func (r *Relay) Handle(in Incoming, now time.Time) []Outgoing {
	r.expire(now)
	switch m := in.Msg.(type) {
	case *Solicitation:
		if !r.serves[m.RSC] || len(m.SourceUserInfo) != 0 || bytes.Equal(m.DiscovererUserInfo, r.cfg.UserInfo) || !in.From.Valid() {
			return nil
		}
		if _, ok := r.Lookup(m.RSC, m.TargetUserInfo, now); ok {
			return []Outgoing{{To: in.From, Msg: r.response(m.RSC, m.TargetUserInfo, now)}}
		}
		for i := range r.pending {
			p := &r.pending[i]
			if p.rsc == m.RSC && p.target == string(m.TargetUserInfo) && p.source == string(m.DiscovererUserInfo) {
				p.sourceL2 = in.From // a repeated solicitation: answer where it came from last
				return nil
			}
		}
		if len(r.pending) >= r.cfg.MaxPending {
			r.pending = slices.Delete(r.pending, 0, 1)
		}
		r.pending = append(r.pending, pendingSolicitation{
			rsc: m.RSC, target: string(m.TargetUserInfo), source: string(m.DiscovererUserInfo),
			sourceL2: in.From, expires: now.Add(r.cfg.ForwardTimeout),
		})
		return []Outgoing{{To: medium.Broadcast, Msg: &Solicitation{
			Restricted:         r.cfg.Restricted,
			RSC:                m.RSC,
			DiscovererUserInfo: r.cfg.UserInfo,
			TargetUserInfo:     bytes.Clone(m.TargetUserInfo),
			SourceUserInfo:     bytes.Clone(m.DiscovererUserInfo),
			UTCCounterLSB:      UTCCounterLSB(now),
		}}}
	case *Response:
		if len(m.SourceUserInfo) == 0 || !in.From.Valid() {
			return nil
		}
		for i, p := range r.pending {
			if p.rsc != m.RSC || p.target != string(m.DiscovereeUserInfo) || p.source != string(m.SourceUserInfo) {
				continue
			}
			r.pending = slices.Delete(r.pending, i, i+1)
			switch old := r.reach[p.target]; {
			case old != nil && old.Expires.IsZero():
				// configured by the driver: never shortened or moved
			case old != nil && old.L2ID == in.From && old.RSCs != nil:
				if !slices.Contains(old.RSCs, m.RSC) {
					old.RSCs = append(old.RSCs, m.RSC)
				}
				old.Expires = now.Add(r.cfg.ReachableTTL)
			default:
				r.reach[p.target] = &ReachableUE{
					UserInfo: []byte(p.target), L2ID: in.From,
					RSCs: []token.RSC{m.RSC}, Expires: now.Add(r.cfg.ReachableTTL),
				}
			}
			return []Outgoing{{To: p.sourceL2, Msg: r.response(m.RSC, m.DiscovereeUserInfo, now)}}
		}
	}
	return nil
}

func (r *Relay) expire(now time.Time) {
	r.pending = slices.DeleteFunc(r.pending, func(p pendingSolicitation) bool { return !now.Before(p.expires) })
	for k, e := range r.reach {
		if !e.Expires.IsZero() && !now.Before(e.Expires) {
			delete(r.reach, k)
		}
	}
}
