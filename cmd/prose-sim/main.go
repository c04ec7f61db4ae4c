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
//     simulated medium and per HTTPS request and response between a UE and
//     the AS while in coverage: run, virtual time, protocol, sender,
//     receiver, LCID, message, size and the decoded fields (PC5-S
//     information elements, PDCP header, what a protected PDU carries as
//     its sender's link reported it, IPv6 addresses; OAuth parameters,
//     status and error). No payload octets, tokens, secrets or key
//     material, unless --debug-keys asks for the octets and keys.jsonl;
//   - sequence.html: a self-contained page (inline SVG, no scripts, no
//     fetches) with the checks and one message sequence chart per run:
//     rejects in red, frames an attacker rewrote in flight in orange,
//     frames their receiver discarded dashed red, lost ones dashed grey
//     (docs/prose-sim-output.md).
//
// --scenario FILE reads a YAML scenario: it tunes the default scenario
// (seed, packets, pairs, attacks) or, with "ues", describes a world of its
// own (docs/scenarios.md); cmd/prose-sim/examples/ holds some. The AS
// runs in-process on 127.0.0.1 only, over a SQLite store in a temporary
// directory removed at the end.
//
// With --ues N (and --relays M) it runs the scale mode instead (sim.Scale):
// the AS registers and provisions N end UEs and M relays over its HTTPS
// API, coverage is lost, and offline, one cell per relay, the N/2
// source/target pairs discover their relay and link through it with the
// real handshake, and IP packets cross every pair both ways. A progress
// bar goes to stderr when it is a terminal (plain lines every few seconds
// otherwise, nothing with --quiet); the report gives the wall time of each
// phase, tokens/s, links established/s, packets, peak heap and RSS, and
// the checks (exit status 1 if one fails). --out DIR writes summary.json
// (counts only: no trace at this scale).
//
// "prose-sim run [flags]" is the same as "prose-sim [flags]": a leading
// "run" is accepted and ignored.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/prosesec/prosesec/internal/clihelp"
	"github.com/prosesec/prosesec/sim"
)

const usage = `usage: prose-sim [run] [flags]

Plays the default Solution #4 scenario (in coverage -> coverage lost ->
offline relay links and IP traffic -> attacks) and prints a narrative and
a summary table. Exit status 1 if any check failed, 2 on a set-up error.
A leading "run" is accepted and ignored: "prose-sim run --ues 40" is
"prose-sim --ues 40".

Examples:
  prose-sim                      # default scenario, narrative + table
  prose-sim --seed 7             # other PC5 randomness
  prose-sim --out /tmp/sim       # also write summary.json, trace.jsonl, sequence.html
  prose-sim --out /tmp/sim --debug-keys   # plus frame octets and keys.jsonl, to decrypt the trace elsewhere
  prose-sim --quiet --out out    # table only
  prose-sim --pairs 8            # adds a scale run: 8 pairs through one relay
  prose-sim --scenario cmd/prose-sim/examples/token-attacks.yaml
  prose-sim --scenario cmd/prose-sim/examples/lossy-radio.yaml    # a world of its own (docs/scenarios.md)

Shipped scenarios (cmd/prose-sim/examples/):
  default.yaml, token-attacks.yaml, relay-attacks.yaml, pairs.yaml    tune the default scenario
  attackers.yaml              a world with every attacker move
  clock-skew.yaml             clock skew within and beyond the verifier leeway
  expiry-and-revocation.yaml  token expiry and revocation, offline
  key-rotation.yaml           AS key rotations between provisioning steps
  lossy-radio.yaml            15 %% loss, delay and jitter; handshakes survive by retransmission
  out-of-range.yaml           radio range and positions; discovery fails without a reachable relay

Scale mode (instead of the scenario): N end UEs in N/2 source/target pairs
and M relays, registered and provisioned by the AS, then linked offline
(hop 1 + hop 2 established, IP packets both ways), one cell per relay:
  prose-sim --ues 10000 --relays 100                  # 10,000 UEs and 100 relays, under 60 s on 2 cores (15-41 s measured)
  prose-sim run --ues 40 --relays 4 --packets 3 --out /tmp/scale
  prose-sim --ues 2000 --relays 20 --max-wall 60s     # check fails if slower

Attacks of the default scenario (names for a scenario file's "attacks" list):
  %s
A world's attackers also have the moves impersonate, tamper and replay-captured
(docs/scenarios.md).
`

// runSim is sim.Run and runScale sim.Scale; tests replace them.
var (
	runSim   = sim.Run
	runScale = sim.Scale
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "run" {
		// "prose-sim run --ues N --relays M": the wording, the
		// same as the flags alone.
		args = args[1:]
	}
	fs := flag.NewFlagSet("prose-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seed := fs.Uint64("seed", 1, "`SEED` of the PC5 randomness (nonces, ephemeral keys, medium)")
	out := fs.String("out", "", "write summary.json, trace.jsonl and sequence.html into `DIR`")
	quiet := fs.Bool("quiet", false, "print the summary table only")
	packets := fs.Int("packets", 5, "`N` IP packets sent each way through the relay; replaces a scenario file's top-level packets, not a session's own (scale mode: per pair, 1 unless set)")
	pairs := fs.Int("pairs", 1, fmt.Sprintf("`N` source/target pairs; above 1 adds a scale run with that many pairs through the relay (at most %d)", sim.MaxPairs))
	scenario := fs.String("scenario", "", "YAML scenario `FILE`: tunes the default scenario (seed, packets, pairs, attacks) or, with ues, describes a world (docs/scenarios.md; examples in cmd/prose-sim/examples/); flags win over it")
	nUEs := fs.Int("ues", 0, "scale mode: `N` end UEs (even, at least 2 per relay), instead of the scenario")
	nRelays := fs.Int("relays", 0, "scale mode: `M` relays, one per cell (default: one per 100 end UEs)")
	workers := fs.Int("workers", 32, "scale mode: `N` concurrent registrations and provisionings")
	maxWall := fs.Duration("max-wall", 0, "scale mode: add a check that the three phases took at most `DURATION` (0: none)")
	debugKeys := fs.Bool("debug-keys", false, "with --out: also write every PC5 frame's octets (hex) into trace.jsonl and the keys of every security context (NRPEK, NRPIK) into keys.jsonl (0600), to decrypt the trace with another implementation; exposes everything the links protect")
	// The whole usage for --help; after a bad flag the flag package's
	// one-line error and a pointer to --help.
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, usage, strings.Join(sim.AttackNames, ", "))
			clihelp.Flags(stderr, "Flags", fs, nil, clihelp.DefaultNote)
			return 0
		}
		fmt.Fprintln(stderr, "run 'prose-sim --help' for the flags and examples")
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
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["packets"] && *packets < 1 {
		fmt.Fprintf(stderr, "prose-sim: --packets %d: want at least 1\n", *packets)
		return 2
	}
	if set["pairs"] && (*pairs < 1 || *pairs > sim.MaxPairs) {
		fmt.Fprintf(stderr, "prose-sim: --pairs %d: want 1 to %d\n", *pairs, sim.MaxPairs)
		return 2
	}
	if *out != "" {
		// Before the run, not after it: a bad --out fails at once.
		if err := os.MkdirAll(*out, 0o755); err != nil {
			fmt.Fprintf(stderr, "prose-sim: --out: %v\n", err)
			return 2
		}
	}
	if set["ues"] || set["relays"] {
		return runScaleMode(scaleFlags{
			ues: *nUEs, relays: *nRelays, seed: *seed, packets: *packets, workers: *workers,
			maxWall: *maxWall, out: *out, quiet: *quiet, set: set,
		}, stdout, stderr, log)
	}
	for _, f := range []string{"workers", "max-wall"} {
		if set[f] {
			fmt.Fprintf(stderr, "prose-sim: --%s needs --ues (scale mode)\n", f)
			return 2
		}
	}
	if *debugKeys && *out == "" {
		fmt.Fprintln(stderr, "prose-sim: --debug-keys needs --out (it writes keys.jsonl there)")
		return 2
	}
	opt := sim.Options{Seed: *seed, Log: log, Packets: *packets, Pairs: *pairs, DebugKeys: *debugKeys}
	if *scenario != "" {
		sc, err := sim.LoadScenario(*scenario)
		if err != nil {
			fmt.Fprintf(stderr, "prose-sim: %v\n", err)
			return 2
		}
		sc.Apply(&opt, set)
		if opt.World != nil && set["pairs"] {
			fmt.Fprintf(stderr, "prose-sim: --pairs does not apply to %s: its sessions say which UEs link (docs/scenarios.md)\n", *scenario)
			return 2
		}
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
		files := []string{filepath.Join(*out, "summary.json"), filepath.Join(*out, "trace.jsonl"), filepath.Join(*out, "sequence.html")}
		if len(res.Keys) > 0 {
			files = append(files, filepath.Join(*out, "keys.jsonl"))
		}
		fmt.Fprintf(stdout, "wrote %s\n", strings.Join(files, ", "))
		if *debugKeys {
			fmt.Fprintln(stderr, "prose-sim: --debug-keys: trace.jsonl holds the frames' octets and keys.jsonl their keys; treat both as secrets")
		}
	}
	if res.Failed() {
		return 1
	}
	return 0
}

type scaleFlags struct {
	ues, relays, packets, workers int
	seed                          uint64
	maxWall                       time.Duration
	out                           string
	quiet                         bool
	set                           map[string]bool
}

// runScaleMode runs sim.Scale with a progress display on stderr.
func runScaleMode(f scaleFlags, stdout, stderr, log io.Writer) int {
	for _, n := range []string{"pairs", "scenario", "debug-keys"} {
		if f.set[n] {
			fmt.Fprintf(stderr, "prose-sim: --%s does not apply to scale mode (--ues)\n", n)
			return 2
		}
	}
	if !f.set["ues"] {
		fmt.Fprintln(stderr, "prose-sim: --relays needs --ues (scale mode)")
		return 2
	}
	if f.relays == 0 {
		f.relays = max(1, f.ues/100)
	}
	opt := sim.ScaleOptions{
		UEs: f.ues, Relays: f.relays, Seed: f.seed, Workers: f.workers,
		MaxWall: f.maxWall, Log: log, Now: time.Now,
	}
	if f.set["packets"] {
		opt.Packets = f.packets
	}
	var pr *progressPrinter
	if !f.quiet {
		opt.Progress = new(sim.ScaleProgress)
		pr = startProgress(stderr, isTerminal(stderr), opt.Progress, time.Now)
		opt.Progress.OnPhase = pr.onPhase
	}
	// Ctrl-C stops the run between items and still removes its temporary
	// directory.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := runScale(ctx, opt)
	if pr != nil {
		pr.finish()
	}
	if err != nil {
		fmt.Fprintf(stderr, "prose-sim: %v\n", err)
		return 2
	}
	res.WriteTable(stdout)
	if f.out != "" {
		if err := res.WriteDir(f.out); err != nil {
			fmt.Fprintf(stderr, "prose-sim: %v\n", err)
			return 2
		}
		fmt.Fprintf(stdout, "wrote %s (no trace in scale mode)\n", filepath.Join(f.out, "summary.json"))
	}
	if res.Failed() {
		return 1
	}
	return 0
}
