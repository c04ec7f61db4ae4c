package sim

// Regression tests for review findings on the scenario engine (adapted
// from the reviewer's scratch tests): the derived offline start of a slow
// clock, discovery with a skewed source or relay, packets: 0, and the
// Layer-2 IDs of many relays and the attackers.

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/prosesec/prosesec/pc5/medium"
)

// runWorldYAML plays a world file with seed 1 and logs every check.
func runWorldYAML(t *testing.T, y string) *Result {
	t.Helper()
	sc, err := ParseScenario([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	opt := Options{Seed: 1}
	sc.Apply(&opt, nil)
	res, err := Run(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Checks {
		t.Logf("%v %s | %s: want %q got %q", c.Pass, c.Phase, c.Name, c.Expected, c.Observed)
	}
	return res
}

func findCheck(t *testing.T, res *Result, prefix string) Check {
	t.Helper()
	for _, c := range res.Checks {
		if strings.HasPrefix(c.Name, prefix) {
			return c
		}
	}
	t.Fatalf("no check named %q...", prefix)
	return Check{}
}

// TestRegressSlowClockOpens: ue.Credentials.Open checks the token at its
// own issue time, so a UE clock an hour before it still opens the cache;
// the derived expectation must say so (it used to say "refused").
func TestRegressSlowClockOpens(t *testing.T) {
	res := runWorldYAML(t, `
offline_after: 10m
ues:
  - {name: a}
  - {name: b}
  - {name: slow, clock_skew: -1h}
  - {name: r, role: relay}
sessions: [{from: a, to: b, via: r}]
`)
	if res.Failed() {
		t.Error("a world with a slow clock fails its own derived expectation")
	}
	if c := findCheck(t, res, "offline start of slow"); c.Expected != "opens" || c.Observed != "opens" {
		t.Errorf("offline start of slow: want %q got %q", c.Expected, c.Observed)
	}
}

// TestRegressDiscoverySkew: discovery is handled at the true virtual time,
// so a source (or a relay) whose clock is off by more than the
// discoverer's MaxAge still finds the relay and the relay still finds the
// target.
func TestRegressDiscoverySkew(t *testing.T) {
	for _, who := range []string{"a", "r"} {
		t.Run(who, func(t *testing.T) {
			skew := map[string]string{"a": "0s", "r": "0s"}
			skew[who] = "1m"
			res := runWorldYAML(t, fmt.Sprintf(`
as: {token_lifetime: 2h, status_list_ttl: 4h}
ues:
  - {name: a, clock_skew: %s}
  - {name: b}
  - {name: r, role: relay, clock_skew: %s}
sessions: [{from: a, to: b}]
`, skew["a"], skew["r"]))
			if res.Failed() {
				t.Errorf("%s 1 min fast: the session through discovery fails", who)
			}
		})
	}
}

// TestRegressPacketsZero: a top-level packets: 0 is refused with a clear
// error (it used to become 5 silently); a session's own packets: 0 is
// honoured; Run refuses negative packets.
func TestRegressPacketsZero(t *testing.T) {
	for _, y := range []string{
		"packets: 0\n",
		"packets: 0\nues: [{name: a}, {name: b}, {name: r, role: relay}]\nsessions: [{from: a, to: b, via: r}]\n",
	} {
		_, err := ParseScenario([]byte(y))
		if err == nil || !strings.Contains(err.Error(), "packets: 0") || !strings.Contains(err.Error(), "at least 1") {
			t.Errorf("%q: err = %v, want packets: 0 refused", y, err)
		}
	}
	sc, err := ParseScenario([]byte("packets: 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	var opt Options
	sc.Apply(&opt, nil)
	if opt.Packets != 3 {
		t.Errorf("packets: 3 applied as %d", opt.Packets)
	}
	if _, err := Run(context.Background(), Options{Packets: -1, Attacks: []string{}}); err == nil || !strings.Contains(err.Error(), "-1 packets") {
		t.Errorf("Run with -1 packets: %v", err)
	}
	res := runWorldYAML(t, "ues: [{name: a}, {name: b}, {name: r, role: relay}]\nsessions: [{from: a, to: b, via: r, packets: 0}]\n")
	if c := findCheck(t, res, "session 1"); !c.Pass || c.Expected != "established, both hops" || strings.Contains(c.Observed, "packets") {
		t.Errorf("session with packets: 0: %+v", c)
	}
	for _, f := range res.Frames {
		if f.LCID == 4 {
			t.Fatalf("an IP packet was sent in a session with packets: 0: %+v", f)
		}
	}
}

// TestRegressL2IDs: with 145 relays, the last relay's Layer-2 ID used to
// be the first attacker's (0x0000a0): attaching the attacker failed.
// Every UE and every attacker now has its own ID.
func TestRegressL2IDs(t *testing.T) {
	var b strings.Builder
	b.WriteString("ues:\n  - {name: a}\n  - {name: b}\n")
	const relays = 145
	for i := range relays {
		fmt.Fprintf(&b, "  - {name: r%d, role: relay}\n", i)
	}
	fmt.Fprintf(&b, "attackers: [{move: forged, via: r%d}]\n", relays-1)
	sc, err := ParseScenario([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	w := sc.World()
	seen := map[medium.L2ID]string{}
	for i := range 0x100 {
		seen[attackerID(i)] = fmt.Sprintf("attacker %d", i)
	}
	for _, u := range w.ues {
		if !u.id.Valid() {
			t.Fatalf("%s: invalid Layer-2 ID %v", u.name, u.id)
		}
		if o, ok := seen[u.id]; ok {
			t.Errorf("%s and %s share the Layer-2 ID %v", u.name, o, u.id)
		}
		seen[u.id] = u.name
	}
	if testing.Short() {
		return
	}
	res := runWorldYAML(t, b.String())
	if res.Failed() {
		t.Error("the attack on the 145th relay fails")
	}
}
