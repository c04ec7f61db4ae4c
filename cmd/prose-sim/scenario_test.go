package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prosesec/prosesec/sim"
)

// TestExamples runs every example scenario; each must pass.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if rc := run([]string{"--scenario", f}, &stdout, &stderr); rc != 0 {
				t.Fatalf("rc %d, stderr %s\n%s", rc, stderr.String(), stdout.String())
			}
			if !strings.Contains(stdout.String(), "Scenario "+f) {
				t.Errorf("description not printed")
			}
		})
	}
}

func TestScenarioFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var stdout, stderr bytes.Buffer
	if rc := run([]string{"--scenario", write("bad.yaml", "seed: 1\nfoo: 2\n")}, &stdout, &stderr); rc != 2 || !strings.Contains(stderr.String(), "foo") {
		t.Fatalf("unknown field: rc %d, %s", rc, stderr.String())
	}
	stderr.Reset()
	if rc := run([]string{"--scenario", write("unk.yaml", "attacks: [nope]\n")}, &stdout, &stderr); rc != 2 || !strings.Contains(stderr.String(), "nope") {
		t.Fatalf("unknown attack: rc %d, %s", rc, stderr.String())
	}
	sc, err := sim.LoadScenario(write("ok.yaml", "seed: 9\npackets: 2\nattacks: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	o := sim.Options{Seed: 1, Packets: 5}
	sc.Apply(&o, map[string]bool{"seed": true})
	if o.Seed != 1 || o.Packets != 2 || o.Attacks == nil || len(o.Attacks) != 0 {
		t.Fatalf("options %+v", o)
	}
}

// runExample plays an example file through the package API.
func runExample(t *testing.T, path string, edit func(string) string) *sim.Result {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	body := string(b)
	if edit != nil {
		if body = edit(body); body == string(b) {
			t.Fatalf("%s: the edit changed nothing", path)
		}
	}
	sc, err := sim.ParseScenario([]byte(body))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if sc.World() == nil {
		t.Fatalf("%s: no world", path)
	}
	opt := sim.Options{Seed: 1, Packets: 5}
	sc.Apply(&opt, nil)
	res, err := sim.Run(context.Background(), opt)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return res
}

// checkNamed returns the check whose name contains name (not a session's
// discovery check).
func checkNamed(t *testing.T, res *sim.Result, name string) sim.Check {
	t.Helper()
	for _, c := range res.Checks {
		if strings.Contains(c.Name, name) && !strings.HasSuffix(c.Name, ": discovery") {
			return c
		}
	}
	t.Fatalf("no check named %q in %+v", name, res.Checks)
	return sim.Check{}
}

func allPass(t *testing.T, res *sim.Result) {
	t.Helper()
	for _, c := range res.Checks {
		if !c.Pass {
			t.Errorf("check %q failed: expected %s, observed %s", c.Name, c.Expected, c.Observed)
		}
	}
}

// TestWorldExamples: each world example meets its expectations for the
// reason it claims, and changing the one setting it is about changes the
// outcome (so the setting really acts on the run).
func TestWorldExamples(t *testing.T) {
	t.Run("lossy-radio", func(t *testing.T) {
		res := runExample(t, "examples/lossy-radio.yaml", nil)
		allPass(t, res)
		lost := 0
		for _, f := range res.Frames {
			if f.Dropped == "loss" {
				lost++
			}
		}
		if lost == 0 {
			t.Fatal("no frame lost on a lossy radio")
		}
		// The example's seed loses a handshake frame that a retransmission
		// makes up for (its comment says which).
		resent := false
		for i, f := range res.Frames {
			if f.Dropped == "loss" && f.Message == "PROSE DIRECT LINK ESTABLISHMENT ACCEPT" {
				for _, g := range res.Frames[i+1:] {
					if g.Run == f.Run && g.Message == f.Message && g.From == f.From && g.To == f.To && g.Dropped == "" {
						resent = true
					}
				}
			}
		}
		if !resent {
			t.Fatal("no lost ESTABLISHMENT ACCEPT sent again: the example no longer shows what its comment says")
		}
		// Without loss every packet arrives.
		res = runExample(t, "examples/lossy-radio.yaml", func(s string) string {
			return strings.Replace(strings.Replace(s, "loss: 0.15", "loss: 0", 1), "dropped_frames: {min: 1}", "dropped_frames: {max: 0}", 1)
		})
		allPass(t, res)
		if c := checkNamed(t, res, "session 1"); !strings.Contains(c.Observed, "20 of 20 packets to the target, 20 echoed back") {
			t.Fatalf("lossless: %s", c.Observed)
		}
	})
	t.Run("clock-skew", func(t *testing.T) {
		res := runExample(t, "examples/clock-skew.yaml", nil)
		allPass(t, res)
		if c := checkNamed(t, res, "beyond leeway"); !strings.Contains(c.Observed, "target rejected the relay: #6 authentication failure (token: expired)") {
			t.Fatalf("beyond leeway: %s", c.Observed)
		}
		// bob's clock right: his session is established, against the file's expectation.
		res = runExample(t, "examples/clock-skew.yaml", func(s string) string { return strings.Replace(s, "clock_skew: 55m", "clock_skew: 0s", 1) })
		if c := checkNamed(t, res, "beyond leeway"); c.Pass || !strings.Contains(c.Observed, "established") {
			t.Fatalf("without the skew: %+v", c)
		}
		// carol's clock 30 s further (beyond the leeway): rejected.
		res = runExample(t, "examples/clock-skew.yaml", func(s string) string { return strings.Replace(s, "clock_skew: 50m10s", "clock_skew: 50m40s", 1) })
		if c := checkNamed(t, res, "within leeway"); c.Pass {
			t.Fatalf("carol beyond the leeway: %+v", c)
		}
	})
	t.Run("key-rotation", func(t *testing.T) {
		res := runExample(t, "examples/key-rotation.yaml", nil)
		allPass(t, res)
		if c := checkNamed(t, res, "unknown to alice"); !strings.Contains(c.Observed, "source rejected: #6") {
			t.Fatalf("%s", c.Observed)
		}
		// One rotation only: alice knows relay-2's key.
		res = runExample(t, "examples/key-rotation.yaml", func(s string) string { return strings.Replace(s, "  - after: bob\n", "", 1) })
		if c := checkNamed(t, res, "unknown to alice"); c.Pass || !strings.Contains(c.Observed, "established") {
			t.Fatalf("one rotation: %+v", c)
		}
	})
	t.Run("expiry-and-revocation", func(t *testing.T) {
		res := runExample(t, "examples/expiry-and-revocation.yaml", nil)
		allPass(t, res)
		if c := checkNamed(t, res, "gone-presents-anyway"); !strings.Contains(c.Observed, "token: revoked") {
			t.Fatalf("%s", c.Observed)
		}
		// Revoked first instead of last: late is rejected offline.
		res = runExample(t, "examples/expiry-and-revocation.yaml", func(s string) string { return strings.Replace(s, "{ue: late, when: last}", "late", 1) })
		if c := checkNamed(t, res, "late (revoked"); c.Pass || !strings.Contains(c.Observed, "#6") {
			t.Fatalf("late revoked first: %+v", c)
		}
		// A longer lifetime: old starts offline.
		res = runExample(t, "examples/expiry-and-revocation.yaml", func(s string) string { return strings.Replace(s, "token_lifetime: 20m", "token_lifetime: 40m", 1) })
		if c := checkNamed(t, res, "offline start of old"); c.Pass || c.Observed != "opens" {
			t.Fatalf("old with 40m: %+v", c)
		}
	})
	t.Run("out-of-range", func(t *testing.T) {
		res := runExample(t, "examples/out-of-range.yaml", nil)
		allPass(t, res)
		if c := checkNamed(t, res, "alice -> carol"); c.Observed != "no relay found with the target reachable" {
			t.Fatalf("%s", c.Observed)
		}
		// carol next to relay-1: found.
		res = runExample(t, "examples/out-of-range.yaml", func(s string) string { return strings.Replace(s, "position: [400, 0]", "position: [150, 5]", 1) })
		if c := checkNamed(t, res, "alice -> carol"); c.Pass || !strings.Contains(c.Observed, "relay-1 selected") {
			t.Fatalf("carol in range: %+v", c)
		}
		// Without the link override dave is reached through relay-1.
		res = runExample(t, "examples/out-of-range.yaml", func(s string) string {
			return strings.Replace(s, "{between: [relay-1, dave], in_range: false}", "{between: [relay-1, dave], in_range: true}", 1)
		})
		if c := checkNamed(t, res, "alice -> dave"); c.Pass {
			t.Fatalf("dave in range: %+v", c)
		}
	})
}

// TestWorldOut: a world run writes the same files as the default run, and
// a failed expectation makes the exit status 1.
func TestWorldOut(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if rc := run([]string{"--quiet", "--out", dir, "--scenario", "examples/out-of-range.yaml"}, &stdout, &stderr); rc != 0 {
		t.Fatalf("rc %d: %s\n%s", rc, stderr.String(), stdout.String())
	}
	for _, f := range []string{"summary.json", "trace.jsonl", "sequence.html"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
			t.Fatalf("%s: %v", f, err)
		}
	}
	page, _ := os.ReadFile(filepath.Join(dir, "sequence.html"))
	if !strings.Contains(string(page), "only relay-2 hears carol") || !strings.Contains(string(page), "out of range") {
		t.Error("sequence.html lacks the session or the out-of-range drops")
	}
	b, err := os.ReadFile("examples/out-of-range.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "wrong.yaml")
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), "to: carol, expect: no_relay", "to: carol", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	if rc := run([]string{"--quiet", "--scenario", p}, &stdout, &stderr); rc != 1 || !strings.Contains(stdout.String(), "FAIL") {
		t.Fatalf("rc %d for a failed expectation:\n%s", rc, stdout.String())
	}
}

// TestScenarioErrors: every parser error names the field and what was
// expected.
func TestScenarioErrors(t *testing.T) {
	const world = "ues: [{name: a}, {name: b}, {name: r, role: relay}]\n"
	const sess = "sessions: [{from: a, to: b}]\n"
	for _, tc := range []struct{ name, body, want string }{
		{"unknown top-level field", "seed: 1\nfoo: 2\n", `unknown field "foo" in the top level (known: description, seed`},
		{"unknown field in a UE", "ues: [{name: a, colour: red}]\n" + sess, `unknown field "colour" in a ues entry (known: name, role, grants`},
		{"unknown field in radio", world + sess + "radio: {lose: 0.1}\n", `unknown field "lose" in radio`},
		{"unknown field in expect", world + "sessions: [{from: a, to: b, expect: {cuase: 6}}]\n", `sessions[0].expect: line 2: unknown field "cuase" (known: outcome, cause, by, delivered)`},
		{"unknown field in a revocation", world + sess + "revocations: [{ue: a, at: 1}]\n", `revocations[0]: line 3: unknown field "at" (known: ue, when)`},
		{"unknown UE in a session", world + "sessions: [{from: a, to: zed}]\n", `sessions[0].to: "zed" is not a UE of this world (ues: a, b, r)`},
		{"relay as an end", world + "sessions: [{from: a, to: r}]\n", `sessions[0].to: "r" is a relay (want a UE with role end)`},
		{"unknown via", world + "sessions: [{from: a, to: b, via: q}]\n", `sessions[0].via: "q" is not a UE of this world`},
		{"bad RSC", "rsc: 2a\n" + world + sess, `rsc: "2a" is not a relay service code (want 6 hex digits, e.g. 00002a)`},
		{"bad session RSC", world + "sessions: [{from: a, to: b, rsc: zzzzzz}]\n", `sessions[0].rsc: "zzzzzz" is not a relay service code`},
		{"bad grant", "ues: [{name: a, grants: [use:2a]}, {name: b}]\n" + sess, `ues[0] (a).grants[0]: "use:2a" is not a grant (want use:<RSC> or serve:<RSC>`},
		{"bad role", "ues: [{name: a, role: boss}, {name: b}]\n" + sess, `ues[0] (a).role: "boss" is unknown (want end or relay)`},
		{"bad duration", "ues: [{name: a, token_lifetime: 1 hour}, {name: b}]\n" + sess, `ues[0] (a).token_lifetime: "1 hour" is not a duration (want a Go duration such as 500ms, 90s, 10m or 2h)`},
		{"bad offline_after", world + sess + "offline_after: soon\n", `offline_after: "soon" is not a duration`},
		{"negative delay", world + sess + "radio: {delay: -1ms}\n", `radio.delay: -1ms is negative (want 0 or more)`},
		{"loss out of range", world + sess + "radio: {loss: 1.5}\n", `radio.loss: 1.5 is out of range (want a probability from 0 to 1)`},
		{"link loss out of range", world + sess + "radio: {links: [{between: [a, r], loss: -0.1}]}\n", `radio.links[0].loss: -0.1 is out of range`},
		{"link to itself", world + sess + "radio: {links: [{between: [a, a]}]}\n", `radio.links[0].between: want two different UE names`},
		{"lifetime too long", "as: {token_lifetime: 48h}\n" + world + sess, `as.token_lifetime: 48h0m0s is out of range (want 1s to 24h0m0s)`},
		{"position without range", "ues: [{name: a, position: [0, 0]}, {name: b}]\n" + sess, `ues (a).position: given, but radio.range is not set`},
		{"range without position", "radio: {range: 10}\nues: [{name: a, position: [0, 0]}, {name: b}]\n" + sess, `ues (b).position: missing; radio.range is set`},
		{"bad position", "radio: {range: 10}\nues: [{name: a, position: [0]}, {name: b, position: [1, 1]}]\n" + sess, `ues[0] (a).position: 1 numbers (want [x, y])`},
		{"unknown move", world + "attackers: [{move: teleport}]\n", `attackers[0].move: "teleport" is unknown (want one of forged, expired`},
		{"unknown cause", world + "sessions: [{from: a, to: b, expect: {cause: grumpy}}]\n", `sessions[0].expect.cause: "grumpy" is not a PC5 cause (want a number or one of: direct_communication`},
		{"unknown outcome", world + "sessions: [{from: a, to: b, expect: fine}]\n", `sessions[0].expect: outcome "fine" is unknown (want one of established, rejected`},
		{"no_relay with via", world + "sessions: [{from: a, to: b, via: r, expect: no_relay}]\n", `sessions[0].expect: outcome "no_relay" needs discovery`},
		{"duplicate UE", "ues: [{name: a}, {name: a}]\n" + sess, `ues[1] (a).name: "a" is listed twice`},
		{"world field without ues", "sessions: [{from: a, to: b}]\n", "sessions: a world field needs ues"},
		{"attacks in a world", world + sess + "attacks: [forged]\n", "attacks: applies to the default scenario only"},
		{"nothing to do", world, "sessions: a world needs at least one session or attacker"},
		{"bad revocation when", world + sess + "revocations: [{ue: a, when: never}]\n", `revocations[0].when: "never" is unknown (want first`},
		{"rotation after unknown", world + sess + "key_rotations: [{after: zed}]\n", `key_rotations[0].after: "zed" is not a UE of this world`},
		{"via is an end", world + "sessions: [{from: a, to: b, via: a}]\n", `sessions[0].via: "a" is also an end of the session`},
		{"attacker via is from", world + "attackers: [{move: wrong-role, from: a, via: a, target: b}]\n", `attackers[0]: from (a), via (a) and target (b) must be three different UEs`},
		{"replay-captured timeout", world + "attackers: [{move: replay-captured, expect: timeout}]\n", `attackers[0].expect: move replay-captured ends in no_link, established or not_started, not "timeout"`},
		{"attacker named as a UE", world + "attackers: [{name: a, move: forged}]\n", `attackers[0].name: "a" is a UE of the world`},
		{"delivered above packets", world + "sessions: [{from: a, to: b, packets: 3, expect: {delivered: 4}}]\n", `sessions[0].expect.delivered: 4 is more than the session's 3 packets`},
		{"packets 0 in a tuning", "packets: 0\n", "packets: 0: want at least 1 (IP packets each way; a session's own packets: 0 sets up its link without any)"},
		{"packets 0 in a world", "packets: 0\n" + world + sess, "packets: 0: want at least 1"},
		{"negative packets", "packets: -2\n" + world + sess, "packets: -2: want at least 1"},
		{"bad offline outcome", world + sess + "expect: {offline_start: {a: happy}}\n", `expect.offline_start.a: "happy" is unknown (want one of opens, token_expired`},
		{"fractional seed", "seed: 1.5\n", `line 1: seed: want an integer, found !!float "1.5"`},
		{"quoted seed", "seed: \"7\"\n", `line 1: seed: want an integer, found !!str "7"`},
		{"fractional packets", "packets: 2.5\n", `packets: want an integer`},
		{"ues not a list", "ues: 5\n", `line 1: ues: want a list, found !!int "5"`},
		{"position not a number", "radio: {range: 10}\nues: [{name: a, position: [0, x]}, {name: b, position: [1, 1]}]\n" + sess, `ues[0].position[1]: want a number, found !!str "x"`},
		{"fractional delivered", world + "sessions: [{from: a, to: b, expect: {delivered: 1.5}}]\n", `sessions[0].expect.delivered: want an integer`},
		{"unknown cause number", world + "sessions: [{from: a, to: b, expect: {outcome: rejected, cause: \"#99\"}}]\n", `sessions[0].expect.cause: 99 is not a PC5 cause of pc5/msg`},
		{"empty file", "", "empty scenario: give at least one field"},
		{"only a comment", "# nothing\n", "empty scenario"},
		{"two documents", "seed: 3\n---\nseed: 4\n", "a second YAML document: a scenario is one document"},
		{"not a mapping", "- 1\n", "the top level: want a mapping"},
		{"unknown attack", "attacks: [forged, teleport]\n", `attacks[1]: "teleport" is unknown (want one of forged, expired`},
		{"too many pairs", "pairs: 65\n", "pairs: 65: want 1 to 64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sim.ParseScenario([]byte(tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant it to contain %s", err, tc.want)
			}
		})
	}
	// LoadScenario names the file; the command exits 2.
	p := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(p, []byte(world+"sessions: [{from: a, to: zed}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if rc := run([]string{"--scenario", p}, &stdout, &stderr); rc != 2 || !strings.Contains(stderr.String(), "bad.yaml: sessions[0].to") {
		t.Fatalf("rc %d: %s", rc, stderr.String())
	}
}
