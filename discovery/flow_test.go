package discovery

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prosesec/prosesec/pc5/medium"
	"github.com/prosesec/prosesec/token"
)

// simNet is a deterministic test driver: every node's port hands frames to its
// core from the clock's goroutine (MemPort handlers), and the outputs are
// sent at once.
type simNet struct {
	t   *testing.T
	clk *medium.Clock
	m   *medium.Mem
	log []string
}

func newNet(t *testing.T) *simNet {
	clk := medium.NewClock(t0)
	n := &simNet{t: t, clk: clk}
	m, err := medium.NewMem(medium.MemConfig{Clock: clk, Trace: func(e medium.TraceEvent) {
		if e.Kind != medium.TraceDeliver {
			return
		}
		msg, err := Parse(e.Frame.Payload)
		if err != nil {
			t.Errorf("undecodable frame on the medium: %v", err)
			return
		}
		n.log = append(n.log, e.Frame.Src.String()+"->"+e.To.String()+" "+msg.name())
	}})
	if err != nil {
		t.Fatal(err)
	}
	n.m = m
	return n
}

func (n *simNet) link(a, b medium.L2ID, rssi int16) {
	if err := n.m.SetLink(a, b, medium.Link{InRange: true, Delay: time.Millisecond, RSSI: rssi}); err != nil {
		n.t.Fatal(err)
	}
}

type core interface {
	Handle(Incoming, time.Time) []Outgoing
}

func (n *simNet) send(p *medium.MemPort, out []Outgoing) {
	for _, o := range out {
		f, err := o.Frame()
		if err != nil {
			n.t.Fatal(err)
		}
		if err := p.Send(f); err != nil {
			n.t.Fatal(err)
		}
	}
}

func (n *simNet) node(id medium.L2ID, c core) *medium.MemPort {
	p, err := n.m.AttachPort(id)
	if err != nil {
		n.t.Fatal(err)
	}
	p.SetHandler(func(f medium.Frame) {
		in, err := Decode(f)
		if err != nil {
			n.t.Errorf("node %s: %v", id, err)
			return
		}
		n.send(p, c.Handle(in, n.clk.Now()))
	})
	return p
}

// announceEvery makes a relay announce now and then every period.
func (n *simNet) announceEvery(p *medium.MemPort, r *Relay, period time.Duration) {
	var tick func()
	tick = func() {
		n.send(p, r.Announce(n.clk.Now()))
		n.clk.AfterFunc(period, tick)
	}
	n.clk.AfterFunc(0, tick)
}

func newRelayCore(t *testing.T, ui string, scopes ...token.Scope) *Relay {
	r, err := NewRelay(RelayConfig{UserInfo: []byte(ui), RSCs: ServeRSCs(scopes)})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var serve = token.Scope{Role: token.RoleServe, RSC: rsc}

const (
	idS  medium.L2ID = 0x000001
	idT  medium.L2ID = 0x000002
	idR1 medium.L2ID = 0x000011
	idR2 medium.L2ID = 0x000012
	idR3 medium.L2ID = 0x000013
)

// TestFlowModelA: two relays announce; the one that reaches the target wins
// although the other is louder.
func TestFlowModelA(t *testing.T) {
	n := newNet(t)
	n.link(idS, idR1, -80)
	n.link(idS, idR2, -50)
	n.link(idR1, idT, -60)

	s := newDiscoverer(t, "ue-s", 0)
	n.node(idS, s)
	n.node(idT, newDiscoverer(t, "ue-t", 0))
	r1, r2 := newRelayCore(t, "relay-1", serve), newRelayCore(t, "relay-2", serve)
	if err := r1.SetReachable(ReachableUE{UserInfo: []byte("ue-t"), L2ID: idT}); err != nil {
		t.Fatal(err)
	}
	p1, p2 := n.node(idR1, r1), n.node(idR2, r2)
	n.announceEvery(p1, r1, time.Second)
	n.announceEvery(p2, r2, time.Second)
	n.clk.Advance(10 * time.Millisecond)

	cs := s.Candidates(rsc, []byte("ue-t"), n.clk.Now())
	if len(cs) != 2 || cs[0].Relay != idR1 || !cs[0].TargetReachable || cs[0].RSSI != -80 || cs[1].Relay != idR2 || cs[1].RSSI != -50 {
		t.Fatalf("candidates %+v", cs)
	}
	// Relay 2 goes out of range; after MaxAge only relay 1 remains.
	n.m.SetInRange(idS, idR2, false)
	n.clk.Advance(11 * time.Second)
	if got := relays(s.Candidates(rsc, []byte("ue-t"), n.clk.Now())); len(got) != 1 || got[0] != idR1 {
		t.Fatalf("after relay 2 left: %v", got)
	}
}

// TestFlowModelB: the source solicits; both relays forward; only relay 1
// reaches the target, which answers it; relay 1 answers the source and
// learns the target's Layer-2 ID for its second hop.
func TestFlowModelB(t *testing.T) {
	n := newNet(t)
	n.link(idS, idR1, -70)
	n.link(idS, idR2, -50)
	n.link(idR1, idT, -60)
	n.link(idR1, idR2, -60) // relays hear each other's forwarded solicitations

	s := newDiscoverer(t, "ue-s", 0)
	ps := n.node(idS, s)
	n.node(idT, newDiscoverer(t, "ue-t", 0))
	r1, r2 := newRelayCore(t, "relay-1", serve), newRelayCore(t, "relay-2", serve)
	n.node(idR1, r1)
	n.node(idR2, r2)

	out, err := s.Solicit(rsc, []byte("ue-t"), n.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	n.send(ps, []Outgoing{out})
	n.clk.RunUntilIdle()

	want := []string{
		"000001->000011 SOLICITATION", "000001->000012 SOLICITATION",
		"000011->000001 SOLICITATION", "000011->000002 SOLICITATION", "000011->000012 SOLICITATION",
		"000012->000001 SOLICITATION", "000012->000011 SOLICITATION",
		"000002->000011 RESPONSE",
		"000011->000001 RESPONSE",
	}
	if strings.Join(n.log, "\n") != strings.Join(want, "\n") {
		t.Fatalf("exchange:\n%s\nwant:\n%s", strings.Join(n.log, "\n"), strings.Join(want, "\n"))
	}
	c, ok := s.Select(rsc, []byte("ue-t"), n.clk.Now())
	if !ok || c.Relay != idR1 || !c.TargetReachable || c.Model != ModelB || string(c.RelayUserInfo) != "relay-1" {
		t.Fatalf("selected %+v", c)
	}
	if l2, ok := r1.Lookup(rsc, []byte("ue-t"), n.clk.Now()); !ok || l2 != idT {
		t.Fatalf("relay 1 Lookup: %v %v", l2, ok)
	}
	if _, ok := r2.Lookup(rsc, []byte("ue-t"), n.clk.Now()); ok {
		t.Fatal("relay 2 learned a target it cannot reach")
	}

	// Asked again, relay 1 answers at once without forwarding; relay 2
	// still waits for its first forward and does not repeat it.
	n.log = nil
	n.send(ps, []Outgoing{out})
	n.clk.RunUntilIdle()
	want = []string{
		"000001->000011 SOLICITATION", "000001->000012 SOLICITATION",
		"000011->000001 RESPONSE",
	}
	if strings.Join(n.log, "\n") != strings.Join(want, "\n") {
		t.Fatalf("second exchange:\n%s", strings.Join(n.log, "\n"))
	}
}

// TestFlowUngrantedRelay: a relay whose token has no u2u:serve scope for
// the RSC announces nothing for it; a malicious node announcing it anyway
// is selected until the PC5 handshake (simulated here) fails and the
// driver excludes it.
func TestFlowUngrantedRelay(t *testing.T) {
	n := newNet(t)
	n.link(idS, idR1, -70)
	n.link(idS, idR2, -60)
	n.link(idS, idR3, -40)

	s := newDiscoverer(t, "ue-s", 0)
	n.node(idS, s)
	honest := newRelayCore(t, "relay-1", serve)
	honest.SetReachable(ReachableUE{UserInfo: []byte("ue-t"), L2ID: idT})
	p1 := n.node(idR1, honest)
	// Relay 2 holds only a grant for another RSC.
	other := newRelayCore(t, "relay-2", token.Scope{Role: token.RoleServe, RSC: 0x99}, token.Scope{Role: token.RoleUse, RSC: rsc})
	p2 := n.node(idR2, other)
	n.announceEvery(p1, honest, time.Second)
	n.announceEvery(p2, other, time.Second)
	// Relay 3 is malicious: it claims the RSC and the target.
	p3, err := n.m.AttachPort(idR3)
	if err != nil {
		t.Fatal(err)
	}
	n.send(p3, []Outgoing{{To: medium.Broadcast, Msg: &Announcement{RSC: rsc, RelayUserInfo: []byte("evil"), ReachableUEs: [][]byte{[]byte("ue-t")}}}})
	n.clk.Advance(10 * time.Millisecond)

	if got := relays(s.Candidates(rsc, []byte("ue-t"), n.clk.Now())); len(got) != 2 || got[0] != idR3 || got[1] != idR1 {
		t.Fatalf("candidates %v: relay 2 must not announce %s, relay 3 wins on RSSI", got, rsc)
	}
	if got := relays(s.Candidates(0x99, nil, n.clk.Now())); len(got) != 1 || got[0] != idR2 {
		t.Fatalf("candidates for 0x99: %v", got)
	}
	// The handshake with relay 3 fails (its token has no u2u:serve:00002a).
	s.Exclude(idR3, rsc, n.clk.Now().Add(time.Minute))
	if c, _ := s.Select(rsc, []byte("ue-t"), n.clk.Now()); c.Relay != idR1 {
		t.Fatalf("after exclusion: %+v", c)
	}
}

func TestDecodeFrame(t *testing.T) {
	o := Outgoing{To: 7, Msg: &Solicitation{RSC: 1, DiscovererUserInfo: []byte("a"), TargetUserInfo: []byte("b")}}
	f, err := o.Frame()
	if err != nil || f.LCID != LCIDDiscovery || f.Dst != 7 {
		t.Fatalf("%+v %v", f, err)
	}
	f.Src = 3
	f.RSSI = -42
	in, err := Decode(f)
	if err != nil || in.From != 3 || in.RSSI != -42 || in.Broadcast {
		t.Fatalf("%+v %v", in, err)
	}
	f.LCID = 0
	if _, err := Decode(f); err == nil || !strings.HasPrefix(err.Error(), "discovery: ") {
		t.Fatalf("wrong LCID: %v", err)
	}
	f.LCID = LCIDDiscovery
	f.Payload = f.Payload[:3]
	var e *Error
	if _, err := Decode(f); !errors.As(err, &e) {
		t.Fatalf("truncated: %v", err)
	}
}
