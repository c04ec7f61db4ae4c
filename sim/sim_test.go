package sim

import (
	"context"
	"strings"
	"testing"

	"github.com/prosesec/prosesec/pc5/medium"
)

func TestAttackSelection(t *testing.T) {
	res, err := Run(context.Background(), Options{Seed: 2, Attacks: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed() {
		t.Fatalf("checks failed: %+v", res.Checks)
	}
	for _, c := range res.Checks {
		if c.Phase == "attack" {
			t.Fatalf("attack %q ran", c.Name)
		}
	}
	res.Checks = append(res.Checks, Check{Name: "x"})
	if !res.Failed() {
		t.Fatal("Failed() false with a failed check")
	}
	if _, err := Run(context.Background(), Options{Attacks: []string{"nope"}}); err == nil || !strings.HasPrefix(err.Error(), "sim: ") {
		t.Fatalf("unknown attack: %v", err)
	}
}

// TestDescribe: frames are named by their LCID and, in the clear, type.
func TestDescribe(t *testing.T) {
	if got, _ := describe(frameOf(4, []byte{1, 2, 3})); got != "IP packet (PDCP)" {
		t.Fatalf("describe = %q", got)
	}
	if got, _ := describe(frameOf(0, []byte{0xff})); got != "undecodable PC5-S" {
		t.Fatalf("describe = %q", got)
	}
}

func frameOf(lcid uint8, p []byte) medium.Frame { return medium.Frame{LCID: lcid, Payload: p} }

// TestWorldRadio: range over positions, base loss/delay and per-pair
// overrides give each pair its medium.Link.
func TestWorldRadio(t *testing.T) {
	sc, err := ParseScenario([]byte(`
radio: {range: 100, loss: 0.1, delay: 3ms, jitter: 1ms, links: [{between: [b, r], loss: 0.5, delay: 9ms}, {between: [a, c], in_range: true}]}
ues:
  - {name: a, position: [0, 0]}
  - {name: b, position: [60, 80]}
  - {name: c, position: [300, 0]}
  - {name: r, role: relay, position: [0, 100.5]}
sessions: [{from: a, to: b}]
`))
	if err != nil {
		t.Fatal(err)
	}
	w := sc.World()
	pos := map[string][]float64{}
	for _, u := range w.ues {
		pos[u.name] = u.pos
	}
	for _, tc := range []struct {
		a, b    string
		in      bool
		loss    float64
		delayMs int
	}{
		{"a", "b", true, 0.1, 3},  // distance 100: at the range
		{"a", "r", false, 0.1, 3}, // 100.5
		{"b", "r", true, 0.5, 9},  // override of loss and delay, distance 60.2
		{"a", "c", true, 0.1, 3},  // override of the range
		{"b", "c", false, 0.1, 3},
		{"a", "mallory", true, 0.1, 3}, // no position: in range of everyone
	} {
		l := w.link(tc.a, tc.b, pos)
		if l.InRange != tc.in || l.Loss != tc.loss || l.Delay.Milliseconds() != int64(tc.delayMs) || l.Jitter.Milliseconds() != 1 {
			t.Errorf("%s-%s: %+v", tc.a, tc.b, l)
		}
	}
	var o Options
	sc.Apply(&o, nil)
	if o.World != w {
		t.Fatal("Apply did not set Options.World")
	}
	def, err := ParseScenario([]byte("seed: 3\nattacks: []\n"))
	if err != nil || def.World() != nil {
		t.Fatalf("a file without ues: %v, world %v", err, def.World())
	}
}

// TestDefaultOffline: the expected offline start follows the lifetimes,
// the status list TTL, the offline time and the skew; a slow clock never
// makes it refused (TestRegressSlowClockOpens plays one).
func TestDefaultOffline(t *testing.T) {
	sc, err := ParseScenario([]byte(`
as: {token_lifetime: 1h, status_list_ttl: 2h}
offline_after: 30m
ues:
  - {name: ok}
  - {name: short, token_lifetime: 20m}
  - {name: fast, clock_skew: 45m}
  - {name: faster, clock_skew: 95m}
  - {name: slow, clock_skew: -31m}
sessions: [{from: ok, to: short}]
`))
	if err != nil {
		t.Fatal(err)
	}
	w := sc.World()
	want := map[string]string{"ok": "opens", "short": "token_expired", "fast": "token_expired", "faster": "status_list_stale",
		"slow": "opens"} // a clock before iat still opens (ue checks the token at its issue time)
	for _, u := range w.ues {
		if got := w.defaultOffline(u); got != want[u.name] {
			t.Errorf("%s: %s, want %s", u.name, got, want[u.name])
		}
	}
}
