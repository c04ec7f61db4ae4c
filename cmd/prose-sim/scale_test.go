package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestScaleMode runs --ues 40 --relays 4 with stderr not a terminal: the
// progress comes as plain lines, the table and summary.json as figures.
func TestScaleMode(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if rc := run([]string{"--ues", "40", "--relays", "4", "--packets", "2", "--seed", "4", "--out", dir}, &stdout, &stderr); rc != 0 {
		t.Fatalf("rc %d, stderr %s\n%s", rc, stderr.String(), stdout.String())
	}
	out := stdout.String()
	for _, want := range []string{"== Scale run", "tokens/s", "links established/s", "peak heap", "10/10 checks passed", "linked: "} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	// Non-terminal progress: a start and an end line per phase, no
	// carriage returns.
	errs := stderr.String()
	if strings.Contains(errs, "\r") {
		t.Errorf("terminal control on a non-terminal:\n%q", errs)
	}
	for _, want := range []string{
		"prose-sim: register: started, 44 UEs to do\n", "prose-sim: register: done, 44/44 UEs in ",
		"prose-sim: provision: started, 44 UEs to do\n", "prose-sim: provision: done, 44/44 UEs in ",
		"prose-sim: link: started, 20 pairs to do\n", "prose-sim: link: done, 20/20 pairs in ", " pairs/s)\n",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sum struct {
		Mode, Trace    string
		Passed         bool
		UEs            int     `json:"ues"`
		Relays         int     `json:"relays"`
		Links          int     `json:"links"`
		PairsLinked    int     `json:"pairs_linked"`
		PacketsEchoed  int     `json:"packets_echoed"`
		LinksPerSecond float64 `json:"links_per_second"`
		TokensPerSec   float64 `json:"tokens_per_second"`
		PeakHeap       uint64  `json:"peak_heap_bytes"`
		Phases         []struct {
			Name    string  `json:"name"`
			Seconds float64 `json:"seconds"`
		} `json:"phases"`
		Checks []struct{ Pass bool } `json:"checks"`
	}
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Mode != "scale" || !sum.Passed || sum.UEs != 40 || sum.Relays != 4 || sum.Links != 40 || sum.PairsLinked != 20 ||
		sum.PacketsEchoed != 40 || sum.LinksPerSecond <= 0 || sum.TokensPerSec <= 0 || sum.PeakHeap == 0 || len(sum.Phases) != 3 || len(sum.Checks) != 10 {
		t.Fatalf("summary.json:\n%s", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "trace.jsonl")); !os.IsNotExist(err) {
		t.Errorf("trace.jsonl written in scale mode (%v)", err)
	}

	// --quiet: no progress at all.
	stdout.Reset()
	stderr.Reset()
	if rc := run([]string{"--ues", "4", "--relays", "2", "--quiet"}, &stdout, &stderr); rc != 0 || stderr.Len() != 0 {
		t.Fatalf("rc %d, stderr %q", rc, stderr.String())
	}
}

// TestScaleFailedCheck: a check that fails (here --max-wall 1ns) makes
// the exit status 1.
func TestScaleFailedCheck(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if rc := run([]string{"--ues", "4", "--relays", "1", "--quiet", "--max-wall", "1ns"}, &stdout, &stderr); rc != 1 {
		t.Fatalf("rc %d, want 1\n%s", rc, stdout.String())
	}
	if !strings.Contains(stdout.String(), "FAIL") || !strings.Contains(stdout.String(), "<= 1ns") {
		t.Fatalf("table:\n%s", stdout.String())
	}
}

func TestScaleFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--ues", "40", "--pairs", "3"},
		{"--ues", "40", "--scenario", "examples/default.yaml"},
		{"--relays", "3"},
		{"--workers", "3"},
		{"--ues", "41", "--relays", "4"},
	} {
		var stdout, stderr bytes.Buffer
		if rc := run(args, &stdout, &stderr); rc != 2 || !strings.HasPrefix(stderr.String(), "prose-sim: ") {
			t.Errorf("%v: rc %d, stderr %q", args, rc, stderr.String())
		}
	}
}

// fakeProgress is a snapshotter the test moves by hand.
type fakeProgress struct {
	mu          sync.Mutex
	phase       string
	done, total int64
}

func (f *fakeProgress) Snapshot() (string, int64, int64, int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.phase, 0, f.done, f.total
}

func (f *fakeProgress) set(phase string, done, total int64) {
	f.mu.Lock()
	f.phase, f.done, f.total = phase, done, total
	f.mu.Unlock()
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestProgressPlain drives the non-terminal display by hand: a line at
// each phase start and end, and a progress line once plainEvery passed.
func TestProgressPlain(t *testing.T) {
	var buf bytes.Buffer
	src := &fakeProgress{}
	clk := &fakeClock{t: time.Unix(0, 0)}
	p := &progressPrinter{w: &buf, src: src, now: clk.now, stop: make(chan struct{})}
	src.set("provision", 0, 1000)
	p.onPhase("provision", 1000)
	clk.add(time.Second)
	src.set("provision", 100, 1000)
	p.tick() // less than plainEvery since the start: silent
	clk.add(plainEvery)
	src.set("provision", 600, 1000)
	p.tick()
	clk.add(time.Second)
	src.set("provision", 990, 1000) // ten failed and were not counted
	p.onPhase("", 0)
	src.set("link", 0, 50)
	p.onPhase("link", 50)
	clk.add(2 * time.Second)
	src.set("link", 50, 50)
	p.finish() // close(stop) with no goroutine running: fine
	// The link phase counts pairs: its rate is pairs/s, not the report's
	// links/s (two links a pair).
	want := "prose-sim: provision: started, 1000 UEs to do\n" +
		"prose-sim: provision [##################............] 600/1000 ( 60%) 100 UEs/s ETA 4s\n" +
		"prose-sim: provision: done, 990/1000 UEs in 7s (141 UEs/s)\n" +
		"prose-sim: link: started, 50 pairs to do\n" +
		"prose-sim: link: done, 50/50 pairs in 2s (25 pairs/s)\n"
	if buf.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

// TestProgressTerminal: on a terminal the line is redrawn with \r and
// ended with a newline when its phase ends.
func TestProgressTerminal(t *testing.T) {
	var buf bytes.Buffer
	src := &fakeProgress{}
	clk := &fakeClock{t: time.Unix(0, 0)}
	p := &progressPrinter{w: &buf, tty: true, src: src, now: clk.now, stop: make(chan struct{})}
	src.set("register", 0, 10)
	p.onPhase("register", 10)
	clk.add(time.Second)
	src.set("register", 5, 10)
	p.tick()
	src.set("register", 10, 10)
	p.finish()
	s := buf.String()
	if !strings.Contains(s, "\rregister  [###############...............] 5/10 ( 50%) 5 UEs/s ETA 1s") ||
		!strings.HasSuffix(s, "\rregister: done, 10/10 UEs in 1s (10 UEs/s)"+strings.Repeat(" ", len("register  [##############################] 10/10 (100%) 10 UEs/s ETA 0s")-len("register: done, 10/10 UEs in 1s (10 UEs/s)"))+"\n") {
		t.Fatalf("%q", s)
	}
}
