//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prosesec/prosesec/pc5/link"
	"github.com/prosesec/prosesec/pc5/msg"
	"github.com/prosesec/prosesec/token"
)

// Bounds of the PC5 commands.
const (
	maxPC5Concurrency = 256
	maxPC5Count       = 10_000_000
)

type handshakeSettings struct {
	suite       string
	format      string
	concurrency int
	duration    time.Duration
	count       int64
	json        bool
}

func handshakeCommand() *command {
	return &command{
		name:     "handshake",
		synopsis: "prose-bench handshake [--suite NAME] [--format cwt|jwt] [--concurrency N] [--duration D] [--count N] [--json]",
		short:    "PC5 link security handshakes per second (pc5/link initiator and responder in-process)",
		long: "Runs complete PC5 link security handshakes (docs/design.md §4: REQUEST, SECURITY MODE COMMAND, " +
			"SECURITY MODE COMPLETE, ACCEPT) between real pc5/link initiators and responders, in memory " +
			"(no medium, no virtual time), on --concurrency goroutines, each with its own source UE and " +
			"relay: identity keys for the --suite, tokens in --format bound to them, signed by an issuer " +
			"made in-process with package token, and a signed status list; every handshake verifies both " +
			"tokens offline (with the status list) and both transcript signatures, with crypto/rand. The " +
			"run stops at --duration or --count handshakes, whichever comes first. It reports " +
			"handshakes/s, the wall-clock latency of one handshake (both sides, p50/p90/p99/max), the CPU " +
			"time per handshake (getrusage of this process: both sides together), and the heap " +
			"allocations per handshake (runtime.MemStats). A handshake that does not establish both " +
			"sides is counted as an error by its cause.",
		examples: []string{
			"# Handshakes/s of the default suite on 2 goroutines for 10s\nprose-bench handshake --concurrency 2 --duration 10s",
			"# X25519 + Ed25519 with JWT tokens, 5,000 handshakes, JSON output\nprose-bench handshake --suite x25519-ed25519 --format jwt --count 5000 --json",
		},
		setup: func(fs *flag.FlagSet) func(ctx context.Context, e *env) error {
			s := &handshakeSettings{}
			fs.StringVar(&s.suite, "suite", "p256-ecdsa", "Key_Est_Info `SUITE`: "+suiteFlagHelp())
			fs.StringVar(&s.format, "format", "cwt", "token `FORMAT` carried in the handshake: cwt or jwt")
			fs.IntVar(&s.concurrency, "concurrency", 1, "goroutines (`N`, 1 to 256), each running handshakes back to back")
			fs.DurationVar(&s.duration, "duration", 5*time.Second, "length of the run (`DURATION`, at most 10m)")
			fs.Int64Var(&s.count, "count", 0, "cap on the handshakes of the run (`N`, 0 to 10000000; 0 means the maximum)")
			fs.BoolVar(&s.json, "json", false, "print the report as JSON instead of a Markdown table")
			return func(ctx context.Context, e *env) error { return runHandshakes(ctx, e, s) }
		},
	}
}

// checkPC5Bounds checks the bounds of a PC5 run and turns a count of 0
// into the maximum, so that every run is bounded in count as well as time.
func checkPC5Bounds(concurrency int, duration time.Duration, count *int64) error {
	if concurrency < 1 || concurrency > maxPC5Concurrency {
		return usagef("--concurrency %d: want 1 to %d", concurrency, maxPC5Concurrency)
	}
	if duration <= 0 || duration > maxDuration {
		return usagef("--duration %v: want more than 0 and at most %v", duration, maxDuration)
	}
	if *count < 0 || *count > maxPC5Count {
		return usagef("--count %d: want 0 (the maximum) to %d", *count, maxPC5Count)
	}
	if *count == 0 {
		*count = maxPC5Count
	}
	return nil
}

// HandshakeReport is the output of prose-bench handshake.
type HandshakeReport struct {
	Tool        string            `json:"tool"`
	Command     string            `json:"command"`
	Args        []string          `json:"args"`
	Flags       map[string]string `json:"flags"`
	Environment Environment       `json:"environment"`
	Suite       string            `json:"suite"`
	Format      string            `json:"format"`
	Concurrency int               `json:"concurrency"`
	// WindowSeconds is the wall time of the run.
	WindowSeconds        float64          `json:"window_seconds"`
	Handshakes           int64            `json:"handshakes"`
	HandshakesPerSecond  float64          `json:"handshakes_per_second"`
	LatencyMs            Latency          `json:"latency_ms"`
	ErrorCount           int64            `json:"error_count"`
	Errors               map[string]int64 `json:"errors"`
	StopReason           string           `json:"stop_reason"`
	CPUSeconds           float64          `json:"cpu_seconds"`
	CPUPerHandshakeUs    float64          `json:"cpu_us_per_handshake"`
	AllocsPerHandshake   float64          `json:"allocs_per_handshake"`
	BytesPerHandshake    float64          `json:"alloc_bytes_per_handshake"`
	MachineBusyPercent   float64          `json:"machine_busy_percent"`
	RequestOctets        int              `json:"request_octets"`
	SecurityModeOctets   int              `json:"security_mode_command_octets"`
	CompleteOctets       int              `json:"security_mode_complete_octets"`
	AcceptOctets         int              `json:"accept_octets"`
	LatencySamplesCapped bool             `json:"latency_samples_capped,omitempty"`
}

// hsPair is one worker's source UE (initiator) and relay (responder).
type hsPair struct {
	src, rel *link.Config
	ipol     link.Policy
	rpol     link.Policy
	sizes    [4]int // octets of REQUEST, SMC, COMPLETE, ACCEPT
}

const (
	hsSource = "ue-source-bench"
	hsRelay  = "ue-relay-bench"
	hsTarget = "ue-target-bench"
)

func newHSPair(w *pc5World, suite msg.Suite, mf msg.TokenFormat, f token.Format, i int) (*hsPair, error) {
	src, err := w.linkConfig(fmt.Sprintf("%s-%03d", hsSource, i), suite, mf, f, token.Scope{Role: token.RoleUse, RSC: benchRSC})
	if err != nil {
		return nil, err
	}
	relName := fmt.Sprintf("%s-%03d", hsRelay, i)
	rel, err := w.linkConfig(relName, suite, mf, f, token.Scope{Role: token.RoleServe, RSC: benchRSC})
	if err != nil {
		return nil, err
	}
	return &hsPair{
		src:  src,
		rel:  rel,
		ipol: link.Policy{PeerUserInfo: []byte(relName), TargetUserInfo: []byte(hsTarget), RSC: benchRSC, PeerRole: token.RoleServe},
		rpol: link.Policy{RSC: benchRSC, PeerRole: token.RoleUse, AcceptTarget: func([]byte) bool { return true }},
	}, nil
}

// handshake runs one hop's handshake, both sides, until nothing moves, and
// returns nil when both sides are established. Messages go straight from
// one Link's Ready to the other's Step, at the wall clock's time.
func (p *hsPair) handshake() error {
	now := time.Now()
	i, err := link.NewInitiator(p.src, p.ipol)
	if err != nil {
		return err
	}
	r, err := link.NewResponder(p.rel, p.rpol)
	if err != nil {
		return err
	}
	if err := i.Start(now); err != nil {
		return err
	}
	est, n := 0, 0
	var failure error
	for moved := true; moved; {
		moved = false
		for _, pair := range [2][2]*link.Link{{i, r}, {r, i}} {
			if !pair[0].HasReady() {
				continue
			}
			moved = true
			rd := pair[0].Ready()
			for _, e := range rd.Events {
				switch ev := e.(type) {
				case link.Established:
					est++
				case link.Rejected:
					if failure == nil {
						failure = fmt.Errorf("rejected: %v", ev.Cause)
					}
				}
			}
			for _, q := range rd.Send {
				if n < len(p.sizes) {
					p.sizes[n] = len(q.Data)
				}
				n++
				if err := pair[1].Step(now, q); err != nil && failure == nil {
					failure = err
				}
			}
		}
		if n > 16 {
			return errors.New("more than 16 PDUs: the handshake loops")
		}
	}
	if est == 2 {
		return nil
	}
	if failure != nil {
		return failure
	}
	return fmt.Errorf("%d of 2 sides established", est)
}

func runHandshakes(ctx context.Context, e *env, s *handshakeSettings) error {
	suite, err := parseSuite(s.suite)
	if err != nil {
		return err
	}
	mf, f, err := parsePC5Format(s.format)
	if err != nil {
		return err
	}
	if err := checkPC5Bounds(s.concurrency, s.duration, &s.count); err != nil {
		return err
	}
	envInfo := environment(ctx, time.Now())
	w, err := newPC5World(time.Now())
	if err != nil {
		return err
	}
	pairs := make([]*hsPair, s.concurrency)
	for i := range pairs {
		if pairs[i], err = newHSPair(w, suite, mf, f, i); err != nil {
			return err
		}
		// One handshake outside the window: proves the set-up and records
		// the message sizes.
		if err := pairs[i].handshake(); err != nil {
			return fmt.Errorf("prose-bench: handshake: first handshake of worker %d: %v", i, err)
		}
	}

	// Latency samples: at most maxLatencySamples in all, the rest counted.
	const maxLatencySamples = 2_000_000
	perWorker := maxLatencySamples / s.concurrency
	type wstats struct {
		lats   []time.Duration
		errors map[string]int64
		ok     int64
		capped bool
	}
	stats := make([]wstats, s.concurrency)
	var (
		claimed  atomic.Int64
		stopFlag atomic.Bool
		reason   atomic.Value
	)
	reason.Store(stopDuration)
	runtime.GC()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := selfCPU()
	busy0, total0, machErr := machineCPU()
	t0 := time.Now()
	var wg sync.WaitGroup
	for k := range s.concurrency {
		st := &stats[k]
		st.errors = map[string]int64{}
		st.lats = make([]time.Duration, 0, min(perWorker, 1<<16))
		p := pairs[k]
		wg.Go(func() {
			for !stopFlag.Load() {
				if claimed.Add(1) > s.count {
					reason.Store(stopRequests)
					stopFlag.Store(true)
					return
				}
				h0 := time.Now()
				err := p.handshake()
				lat := time.Since(h0)
				if err != nil {
					st.errors[shortErr(err)]++
					continue
				}
				st.ok++
				if len(st.lats) < perWorker {
					st.lats = append(st.lats, lat)
				} else {
					st.capped = true
				}
			}
		})
	}
	timer := time.NewTimer(s.duration)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-timer.C:
		stopFlag.Store(true)
	case <-ctx.Done():
		reason.Store(stopInterrupted)
		stopFlag.Store(true)
	case <-done:
	}
	timer.Stop()
	<-done
	window := time.Since(t0)
	cpu1 := selfCPU()
	busy1, total1, machErr1 := machineCPU()
	runtime.ReadMemStats(&ms1)

	rep := &HandshakeReport{
		Tool: "prose-bench", Command: "handshake", Args: e.args, Flags: flagValues(e.fs), Environment: envInfo,
		Suite: suite.String(), Format: s.format, Concurrency: s.concurrency,
		WindowSeconds: window.Seconds(), Errors: map[string]int64{}, StopReason: reason.Load().(string),
		CPUSeconds:    (cpu1 - cpu0).Seconds(),
		RequestOctets: pairs[0].sizes[0], SecurityModeOctets: pairs[0].sizes[1],
		CompleteOctets: pairs[0].sizes[2], AcceptOctets: pairs[0].sizes[3],
	}
	var lats []time.Duration
	for i := range stats {
		rep.Handshakes += stats[i].ok
		lats = append(lats, stats[i].lats...)
		rep.LatencySamplesCapped = rep.LatencySamplesCapped || stats[i].capped
		for k, v := range stats[i].errors {
			rep.Errors[k] += v
			rep.ErrorCount += v
		}
	}
	rep.HandshakesPerSecond = float64(rep.Handshakes) / window.Seconds()
	rep.LatencyMs = latencyStats(lats)
	if n := rep.Handshakes + rep.ErrorCount; n > 0 {
		rep.CPUPerHandshakeUs = float64((cpu1 - cpu0).Microseconds()) / float64(n)
		rep.AllocsPerHandshake = float64(ms1.Mallocs-ms0.Mallocs) / float64(n)
		rep.BytesPerHandshake = float64(ms1.TotalAlloc-ms0.TotalAlloc) / float64(n)
	}
	if machErr == nil && machErr1 == nil && total1 > total0 {
		rep.MachineBusyPercent = float64(int(1000*float64(busy1-busy0)/float64(total1-total0))) / 10
	}
	rep.print(e.stdout, s.json)
	if rep.ErrorCount > 0 || rep.Handshakes == 0 || rep.StopReason == stopInterrupted {
		return fmt.Errorf("prose-bench: handshake: %d handshakes, %d errors, stopped by %s; see the report", rep.Handshakes, rep.ErrorCount, rep.StopReason)
	}
	return nil
}

func (r *HandshakeReport) print(w io.Writer, asJSON bool) {
	if asJSON {
		b, _ := json.MarshalIndent(r, "", "  ")
		fmt.Fprintf(w, "%s\n", b)
		return
	}
	fmt.Fprintf(w, "| suite | token | concurrency | handshakes/s | p50 ms | p90 ms | p99 ms | max ms | handshakes | errors | CPU µs/handshake | allocs/handshake | KiB/handshake |\n")
	fmt.Fprintf(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	fmt.Fprintf(w, "| %s | %s | %d | %.0f | %.3f | %.3f | %.3f | %.3f | %d | %d | %.0f | %.0f | %.1f |\n\n",
		r.Suite, r.Format, r.Concurrency, r.HandshakesPerSecond, r.LatencyMs.P50, r.LatencyMs.P90, r.LatencyMs.P99, r.LatencyMs.Max,
		r.Handshakes, r.ErrorCount, r.CPUPerHandshakeUs, r.AllocsPerHandshake, r.BytesPerHandshake/1024)
	var notes []string
	if r.StopReason != stopDuration && r.StopReason != stopRequests {
		notes = append(notes, "stopped: "+r.StopReason)
	}
	keys := make([]string, 0, len(r.Errors))
	for k := range r.Errors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		notes = append(notes, fmt.Sprintf("%d × %s", r.Errors[k], k))
	}
	if r.LatencySamplesCapped {
		notes = append(notes, "latency percentiles over the first 2,000,000 handshakes")
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "- %s\n", strings.Join(notes, "; "))
	}
	fmt.Fprintf(w, "PDU octets: REQUEST %d, SECURITY MODE COMMAND %d, SECURITY MODE COMPLETE %d, ACCEPT %d.\n",
		r.RequestOctets, r.SecurityModeOctets, r.CompleteOctets, r.AcceptOctets)
	e := r.Environment
	fmt.Fprintf(w, "Measured %s on %s (%d CPUs, GOMAXPROCS %d), Linux %s, %s, commit %s; load average at start %s; machine busy %.0f%% during the run.\n",
		e.Date, e.CPUModel, e.NumCPU, e.GOMAXPROCS, e.Kernel, e.GoVersion, e.Commit, e.LoadAverage, r.MachineBusyPercent)
	fmt.Fprintf(w, "Each handshake: both sides (initiator and responder) in this process, messages handed over in memory; latency is wall time of one handshake; CPU is getrusage(RUSAGE_SELF) over the run divided by the handshakes; allocations from runtime.MemStats.\n")
	fmt.Fprintf(w, "Command: prose-bench %s\n", strings.Join(r.Args, " "))
}
