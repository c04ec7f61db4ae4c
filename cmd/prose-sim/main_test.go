package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"html"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prosesec/prosesec/sim"
)

func TestDefaultScenario(t *testing.T) {
	var log bytes.Buffer
	res, err := sim.Run(context.Background(), sim.Options{Seed: 1, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Checks) < 20 {
		t.Fatalf("only %d checks", len(res.Checks))
	}
	attacks := 0
	for _, c := range res.Checks {
		if !c.Pass {
			t.Errorf("check %q failed: expected %s, observed %s", c.Name, c.Expected, c.Observed)
		}
		if c.Phase == "attack" {
			attacks++
		}
	}
	if attacks != 8 {
		t.Errorf("%d attack checks, want 8", attacks)
	}
	for _, want := range []string{"Phase 1", "Phase 2", "Phase 3", "Phase 4", "PROSE DIRECT LINK ESTABLISHMENT REQUEST"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("narrative lacks %q", want)
		}
	}
	// No key material in the narrative: no PEM, no token octets.
	if strings.Contains(log.String(), "PRIVATE KEY") {
		t.Error("narrative shows a private key")
	}
}

func TestOut(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if rc := run([]string{"--seed", "3", "--quiet", "--out", dir}, &stdout, &stderr); rc != 0 {
		t.Fatalf("rc %d, stderr %s\n%s", rc, stderr.String(), stdout.String())
	}
	if !strings.Contains(stdout.String(), "checks passed") {
		t.Fatalf("no summary table:\n%s", stdout.String())
	}
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sum struct {
		Seed   uint64      `json:"seed"`
		Passed bool        `json:"passed"`
		Checks []sim.Check `json:"checks"`
		Runs   []string    `json:"runs"`
		Frames int         `json:"frames"`
	}
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	if !sum.Passed || sum.Seed != 3 || len(sum.Checks) == 0 || sum.Frames == 0 {
		t.Fatalf("summary %+v", sum)
	}
	for _, c := range sum.Checks {
		if !c.Pass || c.Expected == "" || c.Observed == "" {
			t.Errorf("check %+v", c)
		}
	}
	f, err := os.Open(filepath.Join(dir, "trace.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var frames []sim.Frame
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var fr sim.Frame
		if err := json.Unmarshal(sc.Bytes(), &fr); err != nil {
			t.Fatalf("trace line %q: %v", sc.Text(), err)
		}
		if fr.From == "" || fr.To == "" || fr.Message == "" || (fr.Size == 0 && !strings.HasPrefix(fr.Message, "GET ")) {
			t.Errorf("incomplete frame %+v", fr)
		}
		if fr.Proto != sim.ProtoPC5 && fr.Proto != sim.ProtoHTTPS {
			t.Errorf("frame with proto %q", fr.Proto)
		}
		frames = append(frames, fr)
	}
	if len(frames) != sum.Frames {
		t.Fatalf("trace has %d frames, summary says %d", len(frames), sum.Frames)
	}
	h, err := os.ReadFile(filepath.Join(dir, "sequence.html"))
	if err != nil {
		t.Fatal(err)
	}
	page := string(h)
	for _, fetch := range []string{"src=", "href=", "<script", "@import", "url(", "<link"} {
		if strings.Contains(page, fetch) {
			t.Errorf("sequence.html may fetch something: %q", fetch)
		}
	}
	for _, run := range sum.Runs {
		if !strings.Contains(page, "<h2>"+html.EscapeString(run)+"</h2>") {
			t.Errorf("sequence.html lacks run %q", run)
		}
	}
	checkChart(t, page, frames)
}

// chartG is a <g> of a chart in sequence.html: a lane (data-lane) or a
// message (data-seq, its line in trace.jsonl).
type chartG struct {
	Class string   `xml:"class,attr"`
	Lane  string   `xml:"data-lane,attr"`
	Seq   int      `xml:"data-seq,attr"`
	From  string   `xml:"data-from,attr"`
	To    string   `xml:"data-to,attr"`
	Msg   string   `xml:"data-msg,attr"`
	Title string   `xml:"title"`
	Texts []string `xml:"text"`
	Line  struct {
		X1 int `xml:"x1,attr"`
		X2 int `xml:"x2,attr"`
	} `xml:"line"`
}

var chartSVG = regexp.MustCompile(`(?s)<svg [^>]*data-run=.*?</svg>`)

// checkChart checks that page draws every entry of the trace once, in
// the chart of its run, as an arrow from its sender's lane towards its
// receiver's, labelled and titled with its message, sender and receiver;
// that exactly the entries marked "reject" are drawn as rejects, the
// frames an attacker rewrote as attacks and the discarded ones as
// discarded.
func checkChart(t *testing.T, page string, frames []sim.Frame) {
	t.Helper()
	type drawn struct {
		run   string
		g     chartG
		lanes map[string]int // lane name -> x
	}
	bySeq := map[int]drawn{}
	classed := map[string]int{}
	for _, raw := range chartSVG.FindAllString(page, -1) {
		var svg struct {
			Run string   `xml:"data-run,attr"`
			G   []chartG `xml:"g"`
		}
		if err := xml.Unmarshal([]byte(raw), &svg); err != nil {
			t.Fatalf("chart is not well-formed SVG: %v\n%.300s", err, raw)
		}
		lanes := map[string]int{}
		for _, g := range svg.G {
			if g.Lane != "" {
				if len(g.Texts) != 1 || g.Texts[0] != g.Lane {
					t.Errorf("run %q: lane %q headed %q", svg.Run, g.Lane, g.Texts)
				}
				lanes[g.Lane] = g.Line.X1
			}
		}
		for _, g := range svg.G {
			if g.Lane != "" {
				continue
			}
			if _, dup := bySeq[g.Seq]; dup || g.Seq < 1 || g.Seq > len(frames) {
				t.Errorf("run %q: message with data-seq %d (duplicate or not a trace line)", svg.Run, g.Seq)
				continue
			}
			bySeq[g.Seq] = drawn{svg.Run, g, lanes}
			for _, c := range strings.Fields(g.Class) {
				classed[c]++
			}
		}
	}
	if len(bySeq) != len(frames) {
		t.Errorf("sequence.html draws %d messages, the trace has %d", len(bySeq), len(frames))
	}
	has := func(g chartG, c string) bool { return slices.Contains(strings.Fields(g.Class), c) }
	want := map[string]int{}
	for i, fr := range frames {
		d, ok := bySeq[i+1]
		if !ok {
			t.Errorf("trace line %d (%s: %s -> %s) not drawn", i+1, fr.Message, fr.From, fr.To)
			continue
		}
		g := d.g
		if d.run != fr.Run || g.From != fr.From || g.To != fr.To || g.Msg != fr.Message {
			t.Errorf("trace line %d (%s: %s, %s -> %s) drawn as %s: %s, %s -> %s", i+1, fr.Run, fr.Message, fr.From, fr.To, d.run, g.Msg, g.From, g.To)
			continue
		}
		if !strings.HasPrefix(g.Title, fr.Message+": "+fr.From+" -> "+fr.To) {
			t.Errorf("trace line %d: tooltip %q", i+1, g.Title)
		}
		if len(g.Texts) != 2 || !strings.Contains(g.Texts[1], strings.TrimPrefix(fr.Message, "PROSE DIRECT LINK ")) {
			t.Errorf("trace line %d: label %q lacks %q", i+1, g.Texts, fr.Message)
		}
		xf, okf := d.lanes[fr.From]
		xt, okt := d.lanes[fr.To]
		if !okf || !okt {
			t.Errorf("trace line %d: no lane for %q or %q in %v", i+1, fr.From, fr.To, d.lanes)
		} else if g.Line.X1 != xf || (xt > xf) != (g.Line.X2 > xf) || abs(g.Line.X2-xt) > 24 {
			t.Errorf("trace line %d: arrow from x=%d to x=%d, lanes %s at %d and %s at %d", i+1, g.Line.X1, g.Line.X2, fr.From, xf, fr.To, xt)
		}
		for c, on := range map[string]bool{
			"rej":  fr.Rejected,
			"atk":  fr.Fields["rewritten_from"] != "",
			"disc": fr.Fields["discarded"] != "",
			"drop": fr.Dropped != "",
		} {
			if on {
				want[c]++
			}
			if has(g, c) != on {
				t.Errorf("trace line %d (%s: %s -> %s): class %q, want %q %v", i+1, fr.Message, fr.From, fr.To, g.Class, c, on)
			}
		}
		if d := fr.Fields["discarded"]; d != "" && !strings.Contains(g.Title, "discarded: "+d) {
			t.Errorf("trace line %d: tooltip %q does not say why it was discarded", i+1, g.Title)
		}
	}
	for _, c := range []string{"rej", "atk", "disc", "drop"} {
		if classed[c] != want[c] {
			t.Errorf("sequence.html marks %d messages %q, the trace %d", classed[c], c, want[c])
		}
	}
	// The default scenario rejects, and its downgrade shows the attacker's
	// rewritten REQUESTs and the source discarding the SMCs.
	for _, c := range []string{"rej", "atk", "disc"} {
		if want[c] == 0 {
			t.Errorf("no trace entry marked %q", c)
		}
	}
}

func abs(n int) int { return max(n, -n) }

func TestHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if rc := run([]string{"--help"}, &stdout, &stderr); rc != 0 {
		t.Fatalf("rc %d", rc)
	}
	if !strings.Contains(stderr.String(), "Examples:") || !strings.Contains(stderr.String(), "\n  --seed SEED\n") || !strings.Contains(stderr.String(), strings.Join(sim.AttackNames, ", ")) {
		t.Fatalf("help:\n%s", stderr.String())
	}
	// The examples are named where they are, from the module root (the
	// flag's text is wrapped: compare with single spaces).
	if flat := strings.Join(strings.Fields(stderr.String()), " "); !strings.Contains(flat, "examples in cmd/prose-sim/examples/") || strings.Contains(flat, "see examples/") {
		t.Errorf("--scenario help does not say where the examples are:\n%s", stderr.String())
	}
	examples, err := filepath.Glob(filepath.Join("examples", "*.yaml"))
	if err != nil || len(examples) == 0 {
		t.Fatalf("examples: %v %v", examples, err)
	}
	for _, e := range examples {
		if !strings.Contains(stderr.String(), filepath.Base(e)) {
			t.Errorf("--help does not name the shipped example %s", filepath.Base(e))
		}
	}
	if rc := run([]string{"extra"}, &stdout, &stderr); rc != 2 {
		t.Fatalf("rc %d for a stray argument", rc)
	}
	// Usage errors are short and fail before anything runs.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--bogus"}, "run 'prose-sim --help'"},
		{[]string{"--pairs", "0"}, "--pairs 0: want 1 to"},
		{[]string{"--pairs", "65"}, "--pairs 65: want 1 to"},
		{[]string{"--quiet", "--out", file}, "--out: mkdir"},
		{[]string{"--scenario", filepath.Join("examples", "lossy-radio.yaml"), "--pairs", "3"}, "--pairs does not apply to"},
		{[]string{"--debug-keys"}, "--debug-keys needs --out"},
		{[]string{"--ues", "4", "--debug-keys", "--out", t.TempDir()}, "--debug-keys does not apply to scale mode"},
	} {
		stdout.Reset()
		stderr.Reset()
		if rc := run(tc.args, &stdout, &stderr); rc != 2 || !strings.Contains(stderr.String(), tc.want) || strings.Contains(stderr.String(), "Examples:") {
			t.Errorf("%v: rc %d, stderr %q; want 2 and %q", tc.args, rc, stderr.String(), tc.want)
		}
		if stdout.Len() != 0 {
			t.Errorf("%v: ran before failing:\n%s", tc.args, stdout.String())
		}
	}
	stderr.Reset()
	for _, n := range []string{"-1", "0"} {
		stderr.Reset()
		if rc := run([]string{"--quiet", "--packets", n}, &stdout, &stderr); rc != 2 || !strings.Contains(stderr.String(), "--packets "+n+": want at least 1") {
			t.Fatalf("rc %d for --packets %s: %s", rc, n, stderr.String())
		}
		stderr.Reset()
		if rc := run([]string{"--quiet", "--ues", "4", "--packets", n}, &stdout, &stderr); rc != 2 || !strings.Contains(stderr.String(), "--packets "+n+": want at least 1") {
			t.Fatalf("rc %d for --ues 4 --packets %s: %s", rc, n, stderr.String())
		}
	}
}

// TestSeedDeterministic: the PC5 part of a run depends on the seed only
// (the AS keys are random, but every size and time is the same).
func TestSeedDeterministic(t *testing.T) {
	a, err := sim.Run(context.Background(), sim.Options{Seed: 42})
	if err != nil {
		t.Fatal(err)
	}
	b, err := sim.Run(context.Background(), sim.Options{Seed: 42})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Frames) != len(b.Frames) {
		t.Fatalf("%d frames, then %d", len(a.Frames), len(b.Frames))
	}
	for i := range a.Frames {
		fa, fb := portless(a.Frames[i]), portless(b.Frames[i])
		if !reflect.DeepEqual(fa, fb) {
			t.Fatalf("frame %d: %+v, then %+v", i, fa, fb)
		}
	}
}

// loopbackPort matches the AS's issuer URL, whose port changes per run.
var loopbackPort = regexp.MustCompile(`127\.0\.0\.1:[0-9]+`)

// portless is f with the AS's port replaced in its fields.
func portless(f sim.Frame) sim.Frame {
	if f.Fields != nil {
		m := make(map[string]string, len(f.Fields))
		for k, v := range f.Fields {
			m[k] = loopbackPort.ReplaceAllString(v, "127.0.0.1:PORT")
		}
		f.Fields = m
	}
	return f
}

func TestScaleRun(t *testing.T) {
	res, err := sim.Run(context.Background(), sim.Options{Seed: 5, Pairs: 4, Packets: 2})
	if err != nil {
		t.Fatal(err)
	}
	scale := 0
	for _, c := range res.Checks {
		if !c.Pass {
			t.Errorf("check %q failed: expected %s, observed %s", c.Name, c.Expected, c.Observed)
		}
		if c.Phase == "scale" {
			scale++
		}
	}
	if scale != 3 {
		t.Fatalf("%d scale checks, want 3", scale)
	}
	if _, err := sim.Run(context.Background(), sim.Options{Pairs: sim.MaxPairs + 1}); err == nil {
		t.Fatal("too many pairs accepted")
	}
}

func TestExitCodeOnFailure(t *testing.T) {
	defer func(f func(context.Context, sim.Options) (*sim.Result, error)) { runSim = f }(runSim)
	runSim = func(context.Context, sim.Options) (*sim.Result, error) {
		return &sim.Result{Checks: []sim.Check{
			{Phase: "attack", Name: "a", Expected: "rejected", Observed: "rejected", Pass: true},
			{Phase: "attack", Name: "b", Expected: "rejected", Observed: "established", Pass: false},
		}}, nil
	}
	var stdout, stderr bytes.Buffer
	if rc := run(nil, &stdout, &stderr); rc != 1 {
		t.Fatalf("rc %d, want 1", rc)
	}
	if !strings.Contains(stdout.String(), "FAIL") || !strings.Contains(stdout.String(), "1/2 checks passed") {
		t.Fatalf("table:\n%s", stdout.String())
	}
}

// TestRunAlias: "prose-sim run [flags]" is the flags-only form: a leading
// "run" is ignored, in scenario and in scale mode, and named in --help.
func TestRunAlias(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if rc := run([]string{"run", "--help"}, &stdout, &stderr); rc != 0 || !strings.Contains(stderr.String(), "usage: prose-sim [run] [flags]") {
		t.Fatalf("run --help: rc %d\n%s", rc, stderr.String())
	}
	defer func(f func(context.Context, sim.ScaleOptions) (*sim.ScaleResult, error)) { runScale = f }(runScale)
	var got sim.ScaleOptions
	runScale = func(_ context.Context, opt sim.ScaleOptions) (*sim.ScaleResult, error) {
		got = opt
		return &sim.ScaleResult{}, nil
	}
	stderr.Reset()
	if rc := run([]string{"run", "--ues", "40", "--relays", "4", "--quiet"}, &stdout, &stderr); rc != 0 {
		t.Fatalf("run --ues 40 --relays 4: rc %d, stderr %s", rc, stderr.String())
	}
	if got.UEs != 40 || got.Relays != 4 {
		t.Fatalf("run --ues 40 --relays 4 ran scale mode with %d UEs and %d relays", got.UEs, got.Relays)
	}
	defer func(f func(context.Context, sim.Options) (*sim.Result, error)) { runSim = f }(runSim)
	var opt sim.Options
	runSim = func(_ context.Context, o sim.Options) (*sim.Result, error) {
		opt = o
		return &sim.Result{}, nil
	}
	if rc := run([]string{"run", "--seed", "9", "--quiet"}, &stdout, &stderr); rc != 0 || opt.Seed != 9 {
		t.Fatalf("run --seed 9: rc %d, seed %d", rc, opt.Seed)
	}
	// Only a leading "run": anywhere else it is a stray argument.
	for _, args := range [][]string{{"--quiet", "run"}, {"run", "run"}} {
		stderr.Reset()
		if rc := run(args, &stdout, &stderr); rc != 2 || !strings.Contains(stderr.String(), `unexpected argument "run"`) {
			t.Errorf("%v: rc %d, stderr %q", args, rc, stderr.String())
		}
	}
}
