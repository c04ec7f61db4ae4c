package main

import (
	"bytes"
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
