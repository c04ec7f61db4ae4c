package discovery

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/prosesec/prosesec/pc5/medium"
	"github.com/prosesec/prosesec/token"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

const rsc token.RSC = 0x00002a

func TestCompareCandidates(t *testing.T) {
	c := func(l2 medium.L2ID, reach bool, rssi int16, load uint8) Candidate {
		return Candidate{Relay: l2, TargetReachable: reach, RSSI: rssi, Load: load}
	}
	for _, tc := range []struct {
		name string
		a, b Candidate
		want int
	}{
		{"reachable beats RSSI", c(9, true, -90, 200), c(1, false, -40, 0), -1},
		{"unreachable loses", c(1, false, -40, 0), c(9, true, -90, 200), 1},
		{"RSSI beats load", c(9, true, -50, 200), c(1, true, -51, 0), -1},
		{"load beats ID", c(9, true, -50, 1), c(1, true, -50, 2), -1},
		{"ID last", c(1, false, -50, 1), c(2, false, -50, 1), -1},
		{"equal", c(1, false, -50, 1), c(1, false, -50, 1), 0},
	} {
		if got := CompareCandidates(tc.a, tc.b); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

func announce(relay medium.L2ID, rssi int16, load uint8, reach ...string) Incoming {
	a := &Announcement{RSC: rsc, RelayUserInfo: []byte("relay-" + relay.String()), Load: load}
	for _, r := range reach {
		a.ReachableUEs = append(a.ReachableUEs, []byte(r))
	}
	return Incoming{From: relay, RSSI: rssi, Broadcast: true, Msg: a}
}

func relays(cs []Candidate) []medium.L2ID {
	var out []medium.L2ID
	for _, c := range cs {
		out = append(out, c.Relay)
	}
	return out
}

func newDiscoverer(t *testing.T, ui string, maxCands int) *Discoverer {
	t.Helper()
	d, err := NewDiscoverer(DiscovererConfig{UserInfo: []byte(ui), UseRSCs: []token.RSC{rsc}, MaxAge: 10 * time.Second, MaxCandidates: maxCands})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDiscovererSelection(t *testing.T) {
	d := newDiscoverer(t, "ue-1", 0)
	target := []byte("ue-2")
	if _, ok := d.Select(rsc, target, t0); ok {
		t.Fatal("selected a relay out of nothing")
	}
	d.Handle(announce(5, -80, 0), t0)         // does not reach the target
	d.Handle(announce(4, -70, 3, "ue-2"), t0) // reaches it
	d.Handle(announce(3, -70, 1, "ue-2"), t0) // reaches it, less loaded
	d.Handle(announce(2, -60, 9, "ue-9"), t0) // loud, but not for the target
	d.Handle(Incoming{From: 7, Msg: &Announcement{RSC: 0x99, RelayUserInfo: []byte("x")}}, t0)

	cs := d.Candidates(rsc, target, t0)
	if got, want := relays(cs), []medium.L2ID{3, 4, 2, 5}; !reflect.DeepEqual(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	best := cs[0]
	if !best.TargetReachable || best.RSSI != -70 || best.Load != 1 || string(best.RelayUserInfo) != "relay-000003" || best.Model != ModelA || !best.LastSeen.Equal(t0) {
		t.Fatalf("best %+v", best)
	}
	// For another target, RSSI decides.
	if got := relays(d.Candidates(rsc, []byte("ue-7"), t0)); !reflect.DeepEqual(got, []medium.L2ID{2, 3, 4, 5}) {
		t.Fatalf("order for ue-7: %v", got)
	}

	// The handshake with relay 3 failed: exclude it for a minute.
	d.Exclude(3, rsc, t0.Add(time.Minute))
	if c, _ := d.Select(rsc, target, t0.Add(time.Second)); c.Relay != 4 {
		t.Fatalf("after exclusion: %v", c.Relay)
	}
	// A new announcement replaces relay 4's list: it no longer reaches the target.
	d.Handle(announce(4, -70, 3), t0.Add(2*time.Second))
	if c, _ := d.Select(rsc, target, t0.Add(2*time.Second)); c.Relay != 2 || c.TargetReachable {
		t.Fatalf("after relay 4 lost the target: %+v", c)
	}
	// Everything ages out after MaxAge except what was heard again.
	if got := relays(d.Candidates(rsc, target, t0.Add(11*time.Second))); !reflect.DeepEqual(got, []medium.L2ID{4}) {
		t.Fatalf("after MaxAge: %v", got)
	}
	// The exclusion ends.
	d.Handle(announce(3, -70, 1, "ue-2"), t0.Add(61*time.Second))
	if c, _ := d.Select(rsc, target, t0.Add(61*time.Second)); c.Relay != 3 {
		t.Fatalf("after the exclusion: %+v", c)
	}
	d.Forget(3)
	if c, ok := d.Select(rsc, target, t0.Add(61*time.Second)); ok {
		t.Fatalf("forgotten relay selected: %+v", c)
	}
}

func TestDiscovererBounds(t *testing.T) {
	d := newDiscoverer(t, "ue-1", 4)
	for i := range 6 {
		d.Handle(announce(medium.L2ID(10+i), -50, 0), t0.Add(time.Duration(i)*time.Millisecond))
	}
	if got := relays(d.Candidates(rsc, nil, t0)); !reflect.DeepEqual(got, []medium.L2ID{12, 13, 14, 15}) {
		t.Fatalf("kept %v, want the 4 most recent", got)
	}
}

func TestDiscovererAsTarget(t *testing.T) {
	d := newDiscoverer(t, "ue-2", 0)
	fwd := &Solicitation{RSC: rsc, DiscovererUserInfo: []byte("relay-1"), TargetUserInfo: []byte("ue-2"), SourceUserInfo: []byte("ue-1")}
	out := d.Handle(Incoming{From: 7, Broadcast: true, Msg: fwd}, t0)
	want := []Outgoing{{To: 7, Msg: &Response{RSC: rsc, DiscovereeUserInfo: []byte("ue-2"), SourceUserInfo: []byte("ue-1"), UTCCounterLSB: UTCCounterLSB(t0)}}}
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("answer %#v", out)
	}
	// Not for us, an RSC we do not use, or a source's own solicitation: no answer.
	for _, s := range []*Solicitation{
		{RSC: rsc, DiscovererUserInfo: []byte("relay-1"), TargetUserInfo: []byte("ue-3"), SourceUserInfo: []byte("ue-1")},
		{RSC: 0x99, DiscovererUserInfo: []byte("relay-1"), TargetUserInfo: []byte("ue-2"), SourceUserInfo: []byte("ue-1")},
		{RSC: rsc, DiscovererUserInfo: []byte("ue-1"), TargetUserInfo: []byte("ue-2")},
	} {
		if out := d.Handle(Incoming{From: 7, Msg: s}, t0); out != nil {
			t.Fatalf("answered %#v", s)
		}
	}
	// A target's response (meant for a relay) is not a candidate.
	d.Handle(Incoming{From: 8, Msg: &Response{RSC: rsc, DiscovereeUserInfo: []byte("ue-3"), SourceUserInfo: []byte("ue-2")}}, t0)
	if cs := d.Candidates(rsc, nil, t0); len(cs) != 0 {
		t.Fatalf("candidates %v", cs)
	}
}

func TestRelayCore(t *testing.T) {
	r, err := NewRelay(RelayConfig{UserInfo: []byte("relay-1"), RSCs: []token.RSC{0x99, rsc, rsc}, ForwardTimeout: time.Second, ReachableTTL: 30 * time.Second, MaxPending: 2})
	if err != nil {
		t.Fatal(err)
	}
	r.SetLoad(300)
	if err := r.SetReachable(ReachableUE{UserInfo: []byte("ue-5"), L2ID: 5}); err != nil {
		t.Fatal(err)
	}
	r.SetReachable(ReachableUE{UserInfo: []byte("ue-6"), L2ID: 6, RSCs: []token.RSC{0x99}})
	r.SetReachable(ReachableUE{UserInfo: []byte("ue-0"), L2ID: 9, Expires: t0})

	ann := r.Announce(t0)
	if len(ann) != 2 || ann[0].To != medium.Broadcast {
		t.Fatalf("announcements %#v", ann)
	}
	a0, a1 := ann[0].Msg.(*Announcement), ann[1].Msg.(*Announcement)
	if a0.RSC != rsc || a1.RSC != 0x99 || a0.Load != 255 {
		t.Fatalf("announcements %+v %+v", a0, a1)
	}
	if got := a0.ReachableUEs; !reflect.DeepEqual(got, [][]byte{[]byte("ue-5")}) {
		t.Fatalf("reachable for %s: %q", rsc, got)
	}
	if got := a1.ReachableUEs; !reflect.DeepEqual(got, [][]byte{[]byte("ue-5"), []byte("ue-6")}) {
		t.Fatalf("reachable for 0x99: %q", got)
	}

	// Known target: answered at once.
	sol := func(target, src string) Incoming {
		return Incoming{From: 1, Msg: &Solicitation{RSC: rsc, DiscovererUserInfo: []byte(src), TargetUserInfo: []byte(target)}}
	}
	out := r.Handle(sol("ue-5", "ue-1"), t0)
	if len(out) != 1 || out[0].To != 1 {
		t.Fatalf("%#v", out)
	}
	if resp := out[0].Msg.(*Response); string(resp.DiscovereeUserInfo) != "relay-1" || !reflect.DeepEqual(resp.ReachableUEs, [][]byte{[]byte("ue-5")}) || len(resp.SourceUserInfo) != 0 {
		t.Fatalf("%+v", resp)
	}
	// Unknown target: forwarded once, as the relay, with the source.
	out = r.Handle(sol("ue-2", "ue-1"), t0)
	if len(out) != 1 || out[0].To != medium.Broadcast {
		t.Fatalf("%#v", out)
	}
	if f := out[0].Msg.(*Solicitation); string(f.DiscovererUserInfo) != "relay-1" || string(f.SourceUserInfo) != "ue-1" || string(f.TargetUserInfo) != "ue-2" {
		t.Fatalf("%+v", f)
	}
	if out := r.Handle(sol("ue-2", "ue-1"), t0); out != nil {
		t.Fatalf("forwarded twice: %#v", out)
	}
	// Not served, forwarded by another relay, or our own: ignored.
	for _, in := range []Incoming{
		{From: 1, Msg: &Solicitation{RSC: 0x77, DiscovererUserInfo: []byte("ue-1"), TargetUserInfo: []byte("ue-2")}},
		{From: 1, Msg: &Solicitation{RSC: rsc, DiscovererUserInfo: []byte("relay-2"), TargetUserInfo: []byte("ue-2"), SourceUserInfo: []byte("ue-1")}},
		{From: 1, Msg: &Solicitation{RSC: rsc, DiscovererUserInfo: []byte("relay-1"), TargetUserInfo: []byte("ue-2")}},
		{From: 1, Msg: &Announcement{RSC: rsc, RelayUserInfo: []byte("relay-2")}},
	} {
		if out := r.Handle(in, t0); out != nil {
			t.Fatalf("answered %#v", in.Msg)
		}
	}
	// The target answers: the relay learns it and answers the source.
	if _, ok := r.Lookup(rsc, []byte("ue-2"), t0); ok {
		t.Fatal("target known too early")
	}
	tr := Incoming{From: 2, Msg: &Response{RSC: rsc, DiscovereeUserInfo: []byte("ue-2"), SourceUserInfo: []byte("ue-1")}}
	out = r.Handle(tr, t0.Add(500*time.Millisecond))
	if len(out) != 1 || out[0].To != 1 {
		t.Fatalf("%#v", out)
	}
	if l2, ok := r.Lookup(rsc, []byte("ue-2"), t0.Add(time.Second)); !ok || l2 != 2 {
		t.Fatalf("Lookup: %v %v", l2, ok)
	}
	if _, ok := r.Lookup(0x99, []byte("ue-2"), t0.Add(time.Second)); ok {
		t.Fatal("learned target counts for another RSC")
	}
	if _, ok := r.Lookup(rsc, []byte("ue-2"), t0.Add(31*time.Second)); ok {
		t.Fatal("learned target did not expire")
	}
	// A response nobody waits for (again, or after the timeout) is ignored.
	if out := r.Handle(tr, t0.Add(600*time.Millisecond)); out != nil {
		t.Fatalf("answered twice: %#v", out)
	}
	r.Handle(sol("ue-3", "ue-1"), t0)
	if out := r.Handle(Incoming{From: 3, Msg: &Response{RSC: rsc, DiscovereeUserInfo: []byte("ue-3"), SourceUserInfo: []byte("ue-1")}}, t0.Add(time.Second)); out != nil {
		t.Fatalf("answered after the forward timeout: %#v", out)
	}
	// MaxPending: the oldest waiting solicitation is dropped.
	for _, tg := range []string{"a", "b", "c"} {
		r.Handle(sol(tg, "ue-1"), t0.Add(2*time.Second))
	}
	if out := r.Handle(Incoming{From: 3, Msg: &Response{RSC: rsc, DiscovereeUserInfo: []byte("a"), SourceUserInfo: []byte("ue-1")}}, t0.Add(2*time.Second)); out != nil {
		t.Fatal("the oldest pending solicitation was kept")
	}
	if out := r.Handle(Incoming{From: 3, Msg: &Response{RSC: rsc, DiscovereeUserInfo: []byte("c"), SourceUserInfo: []byte("ue-1")}}, t0.Add(2*time.Second)); out == nil {
		t.Fatal("a recent pending solicitation was dropped")
	}
	if !r.RemoveReachable([]byte("ue-5")) || r.RemoveReachable([]byte("ue-5")) {
		t.Fatal("RemoveReachable")
	}
}

func TestScopesToRSCs(t *testing.T) {
	sc := []token.Scope{{Role: token.RoleServe, RSC: 3}, {Role: token.RoleUse, RSC: 2}, {Role: token.RoleServe, RSC: 1}, {Role: token.RoleServe, RSC: 3}}
	if got := ServeRSCs(sc); !slices.Equal(got, []token.RSC{1, 3}) {
		t.Fatal(got)
	}
	if got := UseRSCs(sc); !slices.Equal(got, []token.RSC{2}) {
		t.Fatal(got)
	}
}

func TestConfigErrors(t *testing.T) {
	if _, err := NewRelay(RelayConfig{}); err == nil {
		t.Fatal("relay without user info")
	}
	if _, err := NewRelay(RelayConfig{UserInfo: []byte("r"), RSCs: []token.RSC{1 << 24}}); err == nil {
		t.Fatal("25-bit RSC")
	}
	if _, err := NewDiscoverer(DiscovererConfig{UserInfo: []byte("u"), MaxAge: -1}); err == nil {
		t.Fatal("negative MaxAge")
	}
	d := newDiscoverer(t, "u", 0)
	if _, err := d.Solicit(rsc, nil, t0); err == nil {
		t.Fatal("solicitation without target")
	}
	r, _ := NewRelay(RelayConfig{UserInfo: []byte("r")})
	if err := r.SetReachable(ReachableUE{UserInfo: []byte("x"), L2ID: medium.Broadcast}); err == nil {
		t.Fatal("reachable UE at the broadcast ID")
	}
}
