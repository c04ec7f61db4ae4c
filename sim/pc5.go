package sim

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/prosesec/prosesec/discovery"
	"github.com/prosesec/prosesec/pc5/link"
	"github.com/prosesec/prosesec/pc5/medium"
	"github.com/prosesec/prosesec/pc5/msg"
	"github.com/prosesec/prosesec/pc5/node"
	"github.com/prosesec/prosesec/pc5/sec"
	"github.com/prosesec/prosesec/relay"
	"github.com/prosesec/prosesec/token"
)

// Layer-2 IDs of the simulated UEs.
const (
	relayID  = medium.L2ID(0x000010)
	sourceID = medium.L2ID(0x000001)
	targetID = medium.L2ID(0x000021)
)

// Frame is one entry of trace.jsonl: a PC5 frame sent (or dropped) on the
// medium, or one half of an HTTPS exchange with the AS (Proto). It never
// holds payload octets, only their size and the decoded fields (see
// decode.go), unless Options.DebugKeys asks for the octets in hex.
type Frame struct {
	Run   string  `json:"run"`
	T     float64 `json:"t"` // virtual seconds since the run started
	Proto string  `json:"proto"`
	From  string  `json:"from"`
	To    string  `json:"to"`
	// LCID is the sidelink logical channel of a PC5 frame (not written
	// for HTTPS).
	LCID     uint8             `json:"lcid"`
	Message  string            `json:"message"`
	Size     int               `json:"size"`
	Fields   map[string]string `json:"fields,omitempty"`
	Dropped  string            `json:"dropped,omitempty"`
	Rejected bool              `json:"reject,omitempty"`
	// Octets is the frame's payload in hex, only with Options.DebugKeys.
	Octets string `json:"octets,omitempty"`
}

// The values of Frame.Proto.
const (
	ProtoPC5   = "pc5"   // a frame on the emulated PC5 medium
	ProtoHTTPS = "https" // a request to or a response from the AS
)

// MarshalJSON leaves the LCID out of HTTPS entries.
func (f Frame) MarshalJSON() ([]byte, error) {
	type plain Frame // without the method
	if f.Proto == ProtoHTTPS {
		return json.Marshal(struct {
			plain
			LCID *uint8 `json:"lcid,omitempty"`
		}{plain: plain(f)})
	}
	return json.Marshal(plain(f))
}

// KeyRecord is one security context's keys as keys.jsonl holds them (only
// with Options.DebugKeys): enough to unprotect every PDU of that context
// in trace.jsonl's octets.
type KeyRecord struct {
	Run        string  `json:"run"`
	T          float64 `json:"t"`
	UE         string  `json:"ue"`
	KNRPSessID string  `json:"knrp_sess_id"`
	Initiator  bool    `json:"initiator"`
	NEA        string  `json:"nea"`
	NIA        string  `json:"nia"`
	NRPEK      string  `json:"nrpek"`
	NRPIK      string  `json:"nrpik"`
}

// party is one end UE or relay in a PC5 run.
type party struct {
	name string
	cfg  *link.Config
	rscs []token.RSC // use RSCs (end UE) or serve RSCs (relay) of its token
}

// pc5Run is one isolated offline run: a fresh in-memory medium on its own
// virtual clock with a relay, a target and a source.
type pc5Run struct {
	name   string
	start  time.Time
	clock  *medium.Clock
	mem    *medium.Mem
	names  map[medium.L2ID]string
	frames []Frame
	relay  *relay.Relay // the first relay added
	relays map[medium.L2ID]*relay.Relay
	log    io.Writer // narrates the signalling frames
	// radio, if set, gives the link between two named nodes (scenario
	// worlds); applyRadio sets it on every pair attached so far.
	radio func(a, b string) medium.Link
	// capture, if set, sees every frame sent (the replay-captured move).
	capture func(f medium.Frame)
	// maxLinks overrides the relay's MaxLinks (0: default); read when the
	// relay is added.
	maxLinks int
	// pdus holds what the parties' links protected, to decode protected
	// frames; debug adds the octets to the frames and logs keys in keys.
	pdus  *pduLog
	debug bool
	keys  []KeyRecord
}

// hook makes the links of p report their protected PDUs (and, with debug,
// their keys) to this run. Called as p joins the run, before any of its
// links exists: a link copies its Config when it is made.
func (r *pc5Run) hook(p party) {
	if r.pdus == nil {
		return
	}
	p.cfg.TracePDU = r.pdus.record
	p.cfg.KeyLog = nil
	if r.debug {
		name := p.name
		p.cfg.KeyLog = func(e link.KeyLogEntry) {
			r.keys = append(r.keys, KeyRecord{
				Run: r.name, T: r.clock.Now().Sub(r.start).Seconds(), UE: name,
				KNRPSessID: fmt.Sprintf("%04x", uint16(e.KNRPSessID)), Initiator: e.Initiator,
				NEA: e.CipherAlg.String(), NIA: e.IntegrityAlg.String(),
				NRPEK: hex.EncodeToString(e.NRPEK[:]), NRPIK: hex.EncodeToString(e.NRPIK[:]),
			})
			e.NRPEK.Wipe()
			e.NRPIK.Wipe()
		}
	}
}

type endUE struct {
	id     medium.L2ID
	rsc    token.RSC
	skew   time.Duration // added to the virtual time this UE sees
	name   string
	ep     *node.Endpoint
	drv    *node.MemDriver
	events []link.Event
	// discards are the reasons of the signalling PDUs its endpoint
	// dropped, in order (node.EndpointConfig.OnDiscard).
	discards []error
	got      int
	echo     bool
	disc     *discovery.Discoverer
	dcore    *discCore
}

// tamper, if set, rewrites frames before the relay sees them (an attacker
// on the air between source and relay).
type tamper func(f medium.Frame) medium.Frame

type tamperCore struct {
	node.Core
	fn tamper
	// seen records what the relay received instead of what was sent.
	seen func(now time.Time, sent, got medium.Frame)
}

func (c tamperCore) HandleFrame(now time.Time, f medium.Frame) {
	g := c.fn(f)
	if c.seen != nil && !bytes.Equal(g.Payload, f.Payload) {
		c.seen(now, f, g)
	}
	c.Core.HandleFrame(now, g)
}

// attackerOnAir is the sender of the trace entries that show a frame an
// attacker rewrote in flight.
const attackerOnAir = "attacker (on the air)"

// rewritten adds to the trace the frame the relay received in place of the
// one sent: the medium saw the original, so without it the attack would
// not show in trace.jsonl and the chart.
func (r *pc5Run) rewritten(relay string) func(now time.Time, sent, got medium.Frame) {
	return func(now time.Time, sent, got medium.Frame) {
		f := Frame{Run: r.name, T: now.Sub(r.start).Seconds(), Proto: ProtoPC5, From: attackerOnAir, To: relay,
			LCID: got.LCID, Size: len(got.Payload)}
		f.Message, f.Fields, f.Rejected = describeWith(r.pdus, got)
		f.Message += " (rewritten in flight)"
		if f.Fields == nil {
			f.Fields = map[string]string{}
		}
		f.Fields["rewritten_from"] = r.names[sent.Src]
		if r.debug {
			f.Octets = hex.EncodeToString(got.Payload)
		}
		r.frames = append(r.frames, f)
		if r.log != nil {
			fmt.Fprintf(r.log, "      t=%7.3fs  %-18s -> %-18s %s (LCID %d, %d octets)\n", f.T, f.From, f.To, f.Message, f.LCID, f.Size)
		}
	}
}

// discCore multiplexes discovery (on discovery.LCIDDiscovery) with a PC5
// core on one port: discovery frames go to handle, and what it answers is
// sent with the core's own frames.
type discCore struct {
	node.Core
	handle  func(discovery.Incoming, time.Time) []discovery.Outgoing
	pending []medium.Frame
	buf     []medium.Frame
}

func (c *discCore) HandleFrame(now time.Time, f medium.Frame) {
	if f.LCID != discovery.LCIDDiscovery {
		c.Core.HandleFrame(now, f)
		return
	}
	if in, err := discovery.Decode(f); err == nil {
		c.queue(c.handle(in, now))
	}
}

// attach routes the driver's frames beyond the PC5 LCIDs (which
// node.MemDriver hands to Other) into c.
func (c *discCore) attach(drv *node.MemDriver) {
	drv.Other = func(f medium.Frame) { drv.Do(func(now time.Time) { c.HandleFrame(now, f) }) }
}

func (c *discCore) queue(outs []discovery.Outgoing) {
	for _, o := range outs {
		if f, err := o.Frame(); err == nil {
			c.pending = append(c.pending, f)
		}
	}
}

func (c *discCore) Outbox() []medium.Frame {
	c.buf = append(c.buf[:0], c.Core.Outbox()...)
	c.buf = append(c.buf, c.pending...)
	c.pending = c.pending[:0]
	return c.buf
}

func seeded(seed uint64, salt string) *rand.ChaCha8 {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	copy(s[8:], salt)
	return rand.NewChaCha8(s)
}

func newRun(name string, start time.Time, seed uint64) (*pc5Run, error) {
	r := &pc5Run{name: name, start: start, clock: medium.NewClock(start), names: map[medium.L2ID]string{}, relays: map[medium.L2ID]*relay.Relay{}}
	var err error
	r.mem, err = medium.NewMem(medium.MemConfig{Clock: r.clock, Seed: seed, Default: medium.DefaultLink(), Trace: r.trace})
	return r, err
}

func (r *pc5Run) trace(ev medium.TraceEvent) {
	if ev.Kind != medium.TraceSend && ev.Kind != medium.TraceDrop {
		return
	}
	if r.capture != nil && ev.Kind == medium.TraceSend {
		r.capture(ev.Frame)
	}
	f := Frame{
		Run: r.name, T: ev.Time.Sub(r.start).Seconds(), Proto: ProtoPC5,
		From: r.names[ev.Frame.Src], To: r.names[ev.To], LCID: ev.Frame.LCID,
		Size: len(ev.Frame.Payload),
	}
	if r.debug {
		f.Octets = hex.EncodeToString(ev.Frame.Payload)
	}
	if ev.To == medium.Broadcast {
		f.To = "broadcast"
	} else if f.To == "" {
		f.To = fmt.Sprintf("%06x", uint32(ev.To))
	}
	narrate := r.log != nil && (f.LCID < 4 || f.LCID == discovery.LCIDDiscovery)
	if ev.Kind == medium.TraceDrop {
		reason := fmt.Sprint(ev.Reason)
		// The medium decides a unicast frame's fate as it is sent: its
		// drop follows its send at once and marks that entry, so a lost
		// frame is one entry. A broadcast frame's lost copies are entries
		// of their own, one per receiver that missed it.
		if n := len(r.frames); ev.Frame.Dst != medium.Broadcast && n > 0 {
			if last := &r.frames[n-1]; last.Dropped == "" && last.From == f.From && last.To == f.To &&
				last.T == f.T && last.LCID == f.LCID && last.Size == f.Size {
				last.Dropped = reason
				if narrate {
					fmt.Fprintf(r.log, "      %9s  (lost on the air: %s)\n", "", reason)
				}
				return
			}
		}
		f.Dropped = reason
	}
	f.Message, f.Fields, f.Rejected = describeWith(r.pdus, ev.Frame)
	r.frames = append(r.frames, f)
	if narrate {
		note := ""
		if f.Dropped != "" {
			note = " copy lost (" + f.Dropped + ")"
		}
		fmt.Fprintf(r.log, "      t=%7.3fs  %-18s -> %-18s %s (LCID %d, %d octets)%s\n", f.T, f.From, f.To, f.Message, f.LCID, f.Size, note)
	}
}

// describe names a frame's message: the PC5-S message type on SL-SRB0
// (sent in the clear), otherwise the kind of protected PDU.
func describe(f medium.Frame) (string, bool) {
	m, _, rej := describeWith(nil, f)
	return m, rej
}

// describeWith names and decodes a frame: clear messages from their
// octets, protected PDUs from what their sender's link reported to pdus
// (if it did; else by kind, with the PDCP header).
func describeWith(pdus *pduLog, f medium.Frame) (string, map[string]string, bool) {
	switch {
	case f.LCID == discovery.LCIDDiscovery:
		m, err := discovery.Parse(f.Payload)
		if err != nil {
			return "undecodable discovery message", nil, false
		}
		fields := discoveryFields(m)
		switch m.(type) {
		case *discovery.Solicitation:
			return "DISCOVERY SOLICITATION (Model B)", fields, false
		case *discovery.Response:
			return "DISCOVERY RESPONSE (Model B)", fields, false
		case *discovery.Announcement:
			return "DISCOVERY ANNOUNCEMENT (Model A)", fields, false
		}
		return "undecodable discovery message", nil, false
	case f.LCID == 0:
		m, err := msg.Parse(f.Payload)
		if err != nil {
			return "undecodable PC5-S", nil, false
		}
		return m.MessageType().String(), messageFields(m), isReject(m)
	case len(f.Payload) > 0 && f.Payload[0]&sec.PDCPDataPDUBit == 0 && f.LCID <= 3:
		// A SECURITY MODE REJECT travels unprotected on SL-SRB1.
		if m, err := msg.Parse(f.Payload); err == nil {
			return m.MessageType().String(), messageFields(m), isReject(m)
		}
		return "undecodable PC5-S", nil, false
	}
	d, ok := pdus.lookup(f.Payload)
	if !ok {
		d = decoded{fields: map[string]string{}}
		if f.LCID <= 3 {
			d.message = fmt.Sprintf("protected PC5-S (SL-SRB%d)", f.LCID)
		} else {
			d.message = "IP packet (PDCP)"
		}
	} else {
		d.fields = maps.Clone(d.fields)
	}
	pdcpFields(d.fields, f.Payload)
	if len(d.fields) == 0 {
		d.fields = nil
	}
	return d.message, d.fields, d.rejected
}

// addRelay attaches the relay of the default scenario (relayID, serving
// DefaultRSC). With disc, it runs discovery (Model B) and finds hop-2
// targets through it; without, it looks them up by name.
func (r *pc5Run) addRelay(p party, tm tamper, disc bool) error {
	return r.addRelayAt(p, relayID, []token.RSC{DefaultRSC}, 0, tm, disc)
}

// addRelayAt attaches a relay with Layer-2 ID id that accepts REQUESTs for
// rscs (its token still decides what it may serve) and sees the virtual
// time shifted by skew.
func (r *pc5Run) addRelayAt(p party, id medium.L2ID, rscs []token.RSC, skew time.Duration, tm tamper, disc bool) error {
	r.hook(p)
	var dr *discovery.Relay
	if disc {
		var err error
		dr, err = discovery.NewRelay(discovery.RelayConfig{UserInfo: p.cfg.LocalUserInfo, RSCs: p.rscs})
		if err != nil {
			return err
		}
	}
	cfg := relay.Config{
		Self: id, Link: p.cfg, RSCs: rscs,
		Lookup: func(_ token.RSC, ui []byte, _ time.Time) (medium.L2ID, bool) {
			for l2, n := range r.names {
				if n == string(ui) && l2 != id {
					return l2, true
				}
			}
			return 0, false
		},
	}
	if dr != nil {
		// The relay core sees its own clock (true time + skew), discovery
		// records at the true time: look targets up at the true time.
		cfg.Lookup = func(rsc token.RSC, ui []byte, now time.Time) (medium.L2ID, bool) {
			return dr.Lookup(rsc, ui, now.Add(-skew))
		}
	}
	cfg.MaxLinks = r.maxLinks
	rl, err := relay.New(cfg)
	if err != nil {
		return err
	}
	port, err := r.mem.AttachPort(id)
	if err != nil {
		return err
	}
	r.names[id] = p.name
	if r.relay == nil {
		r.relay = rl
	}
	r.relays[id] = rl
	var core node.Core = rl
	var dc *discCore
	if dr != nil {
		dc = &discCore{Core: rl, handle: dr.Handle}
		core = dc
	}
	if tm != nil {
		core = tamperCore{Core: core, fn: tm, seen: r.rewritten(p.name)}
	}
	if skew != 0 {
		core = skewCore{Core: core, skew: skew}
	}
	drv := node.Mem(port, r.clock, core)
	if dc != nil {
		dc.attach(drv)
	}
	return nil
}

// addUE attaches an end UE of the default scenario (DefaultRSC, no clock
// skew), with a discoverer if disc.
func (r *pc5Run) addUE(p party, id medium.L2ID, echo, disc bool) (*endUE, error) {
	return r.addUEAt(p, id, DefaultRSC, 0, echo, disc)
}

// addUEAt attaches an end UE asking for rsc whose clock is off by skew.
func (r *pc5Run) addUEAt(p party, id medium.L2ID, rsc token.RSC, skew time.Duration, echo, disc bool) (*endUE, error) {
	r.hook(p)
	u := &endUE{id: id, name: p.name, echo: echo, rsc: rsc, skew: skew}
	ep, err := node.NewEndpoint(node.EndpointConfig{
		Self: id, Link: p.cfg, RSC: rsc,
		Deliver: func(_ medium.L2ID, lcid uint8, pkt []byte) {
			u.got++
			if u.echo && len(pkt) >= 40 {
				e := bytes.Clone(pkt)
				copy(e[8:24], pkt[24:40])
				copy(e[24:40], pkt[8:24])
				_ = u.ep.Send(lcid, e)
			}
		},
		OnEvent:   func(_ medium.L2ID, ev link.Event) { u.events = append(u.events, ev) },
		OnDiscard: func(_ medium.L2ID, _ uint8, err error) { u.discards = append(u.discards, err) },
	})
	if err != nil {
		return nil, err
	}
	port, err := r.mem.AttachPort(id)
	if err != nil {
		return nil, err
	}
	r.names[id] = p.name
	u.ep = ep
	var core node.Core = ep
	if disc {
		if u.disc, err = discovery.NewDiscoverer(discovery.DiscovererConfig{UserInfo: p.cfg.LocalUserInfo, UseRSCs: p.rscs}); err != nil {
			return nil, err
		}
		u.dcore = &discCore{Core: ep, handle: u.disc.Handle}
		core = u.dcore
	}
	if skew != 0 {
		core = skewCore{Core: core, skew: skew}
	}
	u.drv = node.Mem(port, r.clock, core)
	if u.dcore != nil {
		u.dcore.attach(u.drv)
	}
	return u, nil
}

func (u *endUE) connect(relayName, target string) error {
	return u.connectVia(relayID, relayName, target)
}

// connectVia asks the relay with Layer-2 ID rid for target.
func (u *endUE) connectVia(rid medium.L2ID, relayName, target string) error {
	var err error
	u.drv.Do(func(now time.Time) { err = u.ep.Connect(now.Add(u.skew), rid, []byte(relayName), []byte(target)) })
	return err
}

// solicit broadcasts a Model B solicitation for target, stamped (UTC
// counter) at the true virtual time: discovery ignores clock skew.
func (u *endUE) solicit(target string) error {
	var err error
	u.drv.Do(func(now time.Time) {
		var o discovery.Outgoing
		if o, err = u.disc.Solicit(u.rsc, []byte(target), now); err == nil { // discovery: true time
			u.dcore.queue([]discovery.Outgoing{o})
		}
	})
	return err
}

func (u *endUE) send(pkt []byte) error {
	var err error
	u.drv.Do(func(time.Time) { err = u.ep.Send(4, pkt) })
	return err
}

func (u *endUE) established() (link.Established, bool) {
	for _, ev := range u.events {
		if e, ok := ev.(link.Established); ok {
			return e, true
		}
	}
	return link.Established{}, false
}

func (u *endUE) rejected() (link.Rejected, bool) {
	for _, ev := range u.events {
		if e, ok := ev.(link.Rejected); ok {
			return e, true
		}
	}
	return link.Rejected{}, false
}

// skewCore shows a core the virtual time shifted by skew: a UE whose
// clock is off (its verifier judges peer tokens at its own time).
type skewCore struct {
	node.Core
	skew time.Duration
}

func (c skewCore) HandleFrame(now time.Time, f medium.Frame) { c.Core.HandleFrame(now.Add(c.skew), f) }
func (c skewCore) Tick(now time.Time)                        { c.Core.Tick(now.Add(c.skew)) }
func (c skewCore) NextDeadline() (time.Time, bool) {
	t, ok := c.Core.NextDeadline()
	return t.Add(-c.skew), ok
}

// applyRadio sets the link of every pair of attached nodes from r.radio.
func (r *pc5Run) applyRadio() error {
	if r.radio == nil {
		return nil
	}
	ids := make([]medium.L2ID, 0, len(r.names))
	for id := range r.names {
		ids = append(ids, id)
	}
	for i, a := range ids {
		for _, b := range ids[i+1:] {
			if err := r.mem.SetLink(a, b, r.radio(r.names[a], r.names[b])); err != nil {
				return err
			}
		}
	}
	return nil
}

// ipv6 builds an IPv6 packet (next header 59) with n octets of payload.
func ipv6(src, dst netip.Addr, n int, fill byte) []byte {
	p := make([]byte, 40+n)
	p[0] = 0x60
	binary.BigEndian.PutUint16(p[4:], uint16(n))
	p[6], p[7] = 59, 64
	s, d := src.As16(), dst.As16()
	copy(p[8:], s[:])
	copy(p[24:], d[:])
	for i := 40; i < len(p); i++ {
		p[i] = fill + byte(i)
	}
	return p
}
