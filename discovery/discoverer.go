package discovery

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/prosesec/prosesec/pc5/medium"
	"github.com/prosesec/prosesec/token"
)

// Defaults of DiscovererConfig.
const (
	DefaultMaxAge        = 10 * time.Second
	DefaultMaxCandidates = 64
)

// DiscovererConfig configures the end UE side of discovery.
type DiscovererConfig struct {
	// UserInfo is the UE's user info (application layer ID), 1..253
	// octets: the sub of its token.
	UserInfo []byte
	// UseRSCs are the RSCs the UE uses (UseRSCs of its token's scopes). As a
	// target it answers a relay's forwarded solicitation only for these.
	UseRSCs []token.RSC
	// Restricted sets the discovery type of the UE's messages.
	Restricted bool
	// MaxAge: an announcement or response older than this no longer counts
	// (DefaultMaxAge if 0).
	MaxAge time.Duration
	// MaxCandidates bounds the relays remembered, per RSC and relay
	// (DefaultMaxCandidates if 0); the least recently heard is forgotten
	// first.
	MaxCandidates int
}

// Candidate is a relay heard for an RSC, as seen for one target.
type Candidate struct {
	Relay         medium.L2ID
	RelayUserInfo []byte
	RSC           token.RSC
	// TargetReachable: the relay announced the target among its reachable
	// end UEs, or answered a solicitation for it, within MaxAge.
	TargetReachable bool
	RSSI            int16 // of the last message heard from the relay
	Load            uint8 // as the relay advertised it
	Model           Model // of the last message heard
	LastSeen        time.Time
}

type candKey struct {
	relay medium.L2ID
	rsc   token.RSC
}

type candidate struct {
	relayInfo []byte
	reachable map[string]time.Time // user info -> last reported
	rssi      int16
	load      uint8
	model     Model
	lastSeen  time.Time
}

// Discoverer is the sans-I/O end UE side of UE-to-UE relay discovery: it
// makes Model B solicitations, collects relay announcements (Model A) and
// responses (Model B), selects a relay for (RSC, target) by the rule of
// CompareCandidates, and, as a target, answers the solicitations relays
// forward to it. Time comes from the callers; it is not safe for
// concurrent use.
type Discoverer struct {
	cfg      DiscovererConfig
	uses     map[token.RSC]bool
	cands    map[candKey]*candidate
	excluded map[candKey]time.Time
}

// NewDiscoverer returns the end UE side of discovery.
func NewDiscoverer(cfg DiscovererConfig) (*Discoverer, error) {
	if err := checkUserInfo("UE user info", cfg.UserInfo); err != nil {
		return nil, err
	}
	if err := checkRSCs(cfg.UseRSCs); err != nil {
		return nil, err
	}
	if cfg.MaxAge < 0 || cfg.MaxCandidates < 0 {
		return nil, fmt.Errorf("discovery: negative MaxAge or MaxCandidates")
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.MaxCandidates == 0 {
		cfg.MaxCandidates = DefaultMaxCandidates
	}
	cfg.UserInfo = bytes.Clone(cfg.UserInfo)
	d := &Discoverer{cfg: cfg, uses: map[token.RSC]bool{}, cands: map[candKey]*candidate{}, excluded: map[candKey]time.Time{}}
	for _, r := range cfg.UseRSCs {
		d.uses[r] = true
	}
	return d, nil
}

// Solicit returns a Model B solicitation for target through any relay
// serving rsc, to medium.Broadcast.
func (d *Discoverer) Solicit(rsc token.RSC, target []byte, now time.Time) (Outgoing, error) {
	if !rsc.Valid() {
		return Outgoing{}, fmt.Errorf("discovery: RSC %s does not fit in 24 bits", rsc)
	}
	if err := checkUserInfo("target user info", target); err != nil {
		return Outgoing{}, err
	}
	return Outgoing{To: medium.Broadcast, Msg: &Solicitation{
		Restricted:         d.cfg.Restricted,
		RSC:                rsc,
		DiscovererUserInfo: d.cfg.UserInfo,
		TargetUserInfo:     bytes.Clone(target),
		UTCCounterLSB:      UTCCounterLSB(now),
	}}, nil
}

// Handle processes one received message and returns what to send:
//
//   - a relay's announcement or its response to this UE (no source user
//     info) records the relay as a candidate for the RSC; an announcement
//     replaces the relay's list of reachable end UEs, a response adds to it;
//   - a solicitation forwarded by a relay (source user info set) naming
//     this UE as target, for an RSC the UE uses, is answered with a
//     response to the relay (DiscovereeUserInfo = this UE, SourceUserInfo =
//     the source end UE);
//   - anything else: nothing.
func (d *Discoverer) Handle(in Incoming, now time.Time) []Outgoing {
	if !in.From.Valid() {
		return nil
	}
	switch m := in.Msg.(type) {
	case *Announcement:
		c := d.record(in, m.RSC, m.RelayUserInfo, m.Load, ModelA, now)
		clear(c.reachable)
		for _, ui := range m.ReachableUEs {
			c.reachable[string(ui)] = now
		}
	case *Response:
		if len(m.SourceUserInfo) != 0 {
			return nil // a target's response, meant for a relay
		}
		c := d.record(in, m.RSC, m.DiscovereeUserInfo, m.Load, ModelB, now)
		for _, ui := range m.ReachableUEs {
			c.reachable[string(ui)] = now
		}
	case *Solicitation:
		if len(m.SourceUserInfo) == 0 || !bytes.Equal(m.TargetUserInfo, d.cfg.UserInfo) || !d.uses[m.RSC] {
			return nil
		}
		return []Outgoing{{To: in.From, Msg: &Response{
			Restricted:         d.cfg.Restricted,
			RSC:                m.RSC,
			DiscovereeUserInfo: d.cfg.UserInfo,
			SourceUserInfo:     bytes.Clone(m.SourceUserInfo),
			UTCCounterLSB:      UTCCounterLSB(now),
		}}}
	}
	return nil
}

func (d *Discoverer) record(in Incoming, rsc token.RSC, relayInfo []byte, load uint8, model Model, now time.Time) *candidate {
	k := candKey{in.From, rsc}
	c := d.cands[k]
	if c == nil {
		if len(d.cands) >= d.cfg.MaxCandidates {
			d.evictOldest()
		}
		c = &candidate{reachable: map[string]time.Time{}}
		d.cands[k] = c
	}
	c.relayInfo = bytes.Clone(relayInfo)
	c.rssi, c.load, c.model, c.lastSeen = in.RSSI, load, model, now
	for ui, t := range c.reachable {
		if now.Sub(t) > d.cfg.MaxAge {
			delete(c.reachable, ui)
		}
	}
	return c
}

func (d *Discoverer) evictOldest() {
	var oldest candKey
	var t time.Time
	first := true
	for k, c := range d.cands {
		if first || c.lastSeen.Before(t) || c.lastSeen.Equal(t) && (k.relay < oldest.relay || k.relay == oldest.relay && k.rsc < oldest.rsc) {
			oldest, t, first = k, c.lastSeen, false
		}
	}
	delete(d.cands, oldest)
}

// Exclude keeps relay out of the candidates for rsc until the given time:
// what a driver does when the PC5 handshake with the selected relay failed
// (for instance its token has no u2u:serve scope for rsc), so that the next
// Select picks another relay.
func (d *Discoverer) Exclude(relay medium.L2ID, rsc token.RSC, until time.Time) {
	d.excluded[candKey{relay, rsc}] = until
}

// Forget drops everything heard from relay.
func (d *Discoverer) Forget(relay medium.L2ID) {
	for k := range d.cands {
		if k.relay == relay {
			delete(d.cands, k)
		}
	}
}

// Candidates returns the relays usable for (rsc, target) at now, best
// first by CompareCandidates: heard for rsc within MaxAge and not
// excluded.
func (d *Discoverer) Candidates(rsc token.RSC, target []byte, now time.Time) []Candidate {
	var out []Candidate
	for k, c := range d.cands {
		if k.rsc != rsc || now.Sub(c.lastSeen) > d.cfg.MaxAge {
			continue
		}
		if until, ok := d.excluded[k]; ok {
			if now.Before(until) {
				continue
			}
			delete(d.excluded, k)
		}
		seen, ok := c.reachable[string(target)]
		out = append(out, Candidate{
			Relay:           k.relay,
			RelayUserInfo:   bytes.Clone(c.relayInfo),
			RSC:             rsc,
			TargetReachable: ok && now.Sub(seen) <= d.cfg.MaxAge,
			RSSI:            c.rssi,
			Load:            c.load,
			Model:           c.model,
			LastSeen:        c.lastSeen,
		})
	}
	slices.SortFunc(out, CompareCandidates)
	return out
}

// Select returns the best relay for (rsc, target) at now, if any. The
// best relay may not have reported the target (TargetReachable false) when
// none did; a driver that needs a known path solicits first (Model B) and
// checks TargetReachable.
func (d *Discoverer) Select(rsc token.RSC, target []byte, now time.Time) (Candidate, bool) {
	cs := d.Candidates(rsc, target, now)
	if len(cs) == 0 {
		return Candidate{}, false
	}
	return cs[0], true
}

// CompareCandidates is the relay selection rule (PROJECT-DEFINED; TS 23.304
// leaves relay selection to the UE implementation). a sorts before b
// (negative result) when, in order:
//
//  1. a reported the target reachable and b did not;
//  2. a has the higher RSSI (better PC5 link quality as the medium reports
//     it);
//  3. a advertised the lower load (fewer active links);
//  4. a has the lower Layer-2 ID, so that the choice is deterministic.
//
// Only candidates heard within MaxAge and not excluded take part (see
// Candidates).
func CompareCandidates(a, b Candidate) int {
	if a.TargetReachable != b.TargetReachable {
		if a.TargetReachable {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(b.RSSI, a.RSSI); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Load, b.Load); c != 0 {
		return c
	}
	return cmp.Compare(a.Relay, b.Relay)
}
