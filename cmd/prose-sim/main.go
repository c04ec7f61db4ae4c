// Command prose-sim plays TR 33.740 Solution #4 end to end in one process:
// a ProSe Application Server on loopback provisions a source UE, a target
// UE and a UE-to-UE relay; coverage is lost; the PC5 links through the
// relay are established on an in-memory medium with virtual time, with
// tokens verified offline; IP packets flow both ways; then a series of
// attacks must each be rejected with its expected PC5 cause.
//
// Run without arguments it plays the default scenario, narrates it, prints
// a summary table and exits 1 if any expectation failed (2 if the scenario
// could not be set up). See -help. The scenario logic is package sim.
//
// With --out DIR it also writes:
//
//   - summary.json: the seed, whether every check passed, and each check
//     (phase, name, expected and observed outcome, pass);
//   - trace.jsonl: one JSON object per PC5 frame sent (or dropped) on the
//     simulated medium: run, virtual time, sender, receiver, LCID, message
//     type (PC5-S in the clear, discovery) or kind of protected PDU, size.
//     No payload octets and no key material;
//   - sequence.html: a self-contained page (inline SVG, no scripts, no
//     fetches) with the checks and one message sequence chart per run,
//     rejects in red.
//
// --scenario FILE reads a YAML scenario (seed, packets, pairs, attacks);
// examples/ holds some. The AS runs in-process on 127.0.0.1 only, over a
// SQLite store in a temporary directory removed at the end.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/prosesec/prosesec/sim"
)

const usage = `usage: prose-sim [flags]

Plays the default Solution #4 scenario (in coverage -> coverage lost ->
offline relay links and IP traffic -> attacks) and prints a narrative and
a summary table. Exit status 1 if any check failed, 2 on a set-up error.

Examples:
  prose-sim                      # default scenario, narrative + table
  prose-sim --seed 7             # other PC5 randomness
  prose-sim --out /tmp/sim       # also write summary.json, trace.jsonl, sequence.html
  prose-sim --quiet --out out    # table only
  prose-sim --pairs 8            # adds a scale run: 8 pairs through one relay
  prose-sim --scenario cmd/prose-sim/examples/token-attacks.yaml

Attacks (names for a scenario file's "attacks" list):
  %s

Flags:
`

// runSim is sim.Run; tests replace it.
var runSim = sim.Run

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("prose-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seed := fs.Uint64("seed", 1, "seed of the PC5 randomness (nonces, ephemeral keys, medium)")
	out := fs.String("out", "", "directory for summary.json, trace.jsonl and sequence.html")
	quiet := fs.Bool("quiet", false, "print the summary table only")
	packets := fs.Int("packets", 5, "IP packets sent each way through the relay")
	pairs := fs.Int("pairs", 1, fmt.Sprintf("source/target pairs; above 1 adds a scale run with that many pairs through the relay (at most %d)", sim.MaxPairs))
	scenario := fs.String("scenario", "", "YAML scenario file (seed, packets, pairs, attacks; see examples/); flags win over it")
	fs.Usage = func() {
		fmt.Fprintf(stderr, usage, strings.Join(sim.AttackNames, ", "))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "prose-sim: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	var log io.Writer = stdout
	if *quiet {
		log = io.Discard
	}
	opt := sim.Options{Seed: *seed, Log: log, Packets: *packets, Pairs: *pairs}
	if *scenario != "" {
		sc, err := sim.LoadScenario(*scenario)
		if err != nil {
			fmt.Fprintf(stderr, "prose-sim: %v\n", err)
			return 2
		}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		sc.Apply(&opt, set)
		if sc.Description != "" {
			fmt.Fprintf(log, "Scenario %s: %s\n", *scenario, sc.Description)
		}
	}
	res, err := runSim(context.Background(), opt)
	if err != nil {
		fmt.Fprintf(stderr, "prose-sim: %v\n", err)
		return 2
	}
	res.WriteTable(stdout)
	if *out != "" {
		if err := res.WriteDir(*out); err != nil {
			fmt.Fprintf(stderr, "prose-sim: %v\n", err)
			return 2
		}
		fmt.Fprintf(stdout, "wrote %s\n", strings.Join([]string{
			filepath.Join(*out, "summary.json"), filepath.Join(*out, "trace.jsonl"), filepath.Join(*out, "sequence.html")}, ", "))
	}
	if res.Failed() {
		return 1
	}
	return 0
}
