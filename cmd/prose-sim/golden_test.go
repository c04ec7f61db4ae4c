package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/prosesec/prosesec/sim"
)

var update = flag.Bool("update", false, "rewrite testdata/default-seed1.trace.jsonl from this run")

// TestDefaultTraceGolden pins the trace of the default scenario with seed
// 1: every PC5 frame's and HTTPS message's virtual time, sender, receiver,
// LCID, message, size and decoded fields (the AS's port replaced by PORT). A change in the handshake, the codec, the relay or the scenario
// shows up as a diff of testdata/default-seed1.trace.jsonl; after reviewing
// it, regenerate with `go test ./cmd/prose-sim -run TestDefaultTraceGolden -update`.
func TestDefaultTraceGolden(t *testing.T) {
	res, err := sim.Run(context.Background(), sim.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed() {
		t.Fatal("the default scenario has failing checks")
	}
	dir := t.TempDir()
	if err := res.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "trace.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	// The AS listens on a port of its own each run.
	got = loopbackPort.ReplaceAll(got, []byte("127.0.0.1:PORT"))
	golden := filepath.Join("testdata", "default-seed1.trace.jsonl")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
		for i := 0; i < len(gl) && i < len(wl); i++ {
			if !bytes.Equal(gl[i], wl[i]) {
				t.Fatalf("trace differs from %s at line %d:\n got: %s\nwant: %s\n(review, then -update)", golden, i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("trace differs from %s: %d lines, want %d (review, then -update)", golden, len(gl), len(wl))
	}
}
