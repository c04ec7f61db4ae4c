// Scale mode of prose-sim (issue #6): many end UEs and relays, fully
// provisioned by a real AS and linked offline through the real handshake.
//
// Scale runs three timed phases:
//
//  1. register: an in-process AS (package as over SQLite in a temporary
//     directory, its public HTTP API on an httptest TLS server on
//     127.0.0.1, as for the default scenario) registers Options.UEs end
//     UEs (grant u2u:use:00002a) and Options.Relays relays (grant
//     u2u:serve:00002a), each with a fresh P-256 identity key, from a
//     bounded pool of workers (the SQLite store's group commit batches
//     their inserts).
//  2. provision: every UE runs the ue client (private_key_jwt, CWT token,
//     JWKS, status lists) against the HTTPS API, from a bounded pool of
//     workers. The UEs share one HTTP connection pool (one TLS handshake
//     per pooled connection, not per UE); each one authenticates with its
//     own signed assertion and gets its own token. The credentials stay in
//     memory (no per-UE cache directory: 10,000 atomic file writes with
//     fsync would measure the disk). Then the HTTP server and the store
//     are closed: coverage is lost.
//  3. link: offline, per cell (below): every UE opens its credentials
//     (ue.Credentials.Open: JWKS, status lists and token re-verified at the
//     offline time), every source discovers its relay (Model B, the relay
//     forwards the solicitation, the target answers), hop 1 and hop 2 are
//     established through the real handshake (pc5/link through pc5/node,
//     relay package on the relay side, tokens verified offline), and
//     Options.Packets IP packets go from each source to its target, which
//     echoes each one back.
//
// # What "linked" means
//
// The end UEs form UEs/2 source/target pairs. A pair is linked when the
// source's hop 1 to its relay and the relay's hop 2 to the target are
// both established (two PC5 unicast links, both with tokens verified
// offline on both sides) and every IP packet of the pair crossed the relay
// both ways. "Links established" counts the established PC5 unicast
// links: two per linked pair, so UEs links when every pair is linked.
//
// # Geometry
//
// Relays stand on a square grid, CellSpacing apart; each relay's end UEs
// are placed uniformly at random (from the seed) in a disc of CellRadius
// around it; the radio range is RadioRange (PROJECT-DEFINED figures).
// Every UE is in range of its relay; UEs closer than RadioRange to each
// other hear each other; nodes of different cells are at least
// CellSpacing - 2*CellRadius > RadioRange apart, so no frame can cross a
// cell border. Each cell therefore has its own in-memory medium and
// virtual clock (no 10,000-node broadcast domain), and cells run
// concurrently on all cores. The RSSI of a link falls with distance.
//
// # Report
//
// ScaleResult holds the wall time of each phase, tokens per second,
// links established per second, packets delivered, frames on the media,
// the peak heap (runtime.MemStats sampled every 100 ms) and the peak
// resident set (VmHWM of /proc/self/status, Linux only), and the checks
// (expected and observed, as in the default scenario). No frame trace is
// kept at this scale: summary.json has counts only.

package sim

import (
	"context"
	"crypto"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/prosesec/prosesec/token"
	"github.com/prosesec/prosesec/ue"
)

// Geometry of scale mode, in metres (PROJECT-DEFINED).
const (
	CellSpacing = 1000.0
	CellRadius  = 250.0
	RadioRange  = 300.0
)

// Bounds of ScaleOptions.
const (
	MaxScaleUEs    = 1 << 20
	MaxScaleRelays = 1 << 16
	// MaxCellUEs bounds the end UEs of one cell: a cell's medium holds a
	// link per pair of nodes in range, about MaxCellUEs^2/2 of them.
	MaxCellUEs = 1000
)

// LinkedDefinition says what a linked pair is; the report prints it.
const LinkedDefinition = "a pair is linked when hop 1 (source-relay) and hop 2 (relay-target) are established, " +
	"tokens verified offline on both sides, and its IP packets crossed the relay both ways; " +
	"links = established PC5 unicast links (2 per pair)"

// ScaleOptions configure Scale.
type ScaleOptions struct {
	// UEs is the number of end UEs: even, at least 2 per relay.
	UEs int
	// Relays is the number of UE-to-UE relays (one per cell), at least 1.
	Relays int
	// Seed seeds the PC5 randomness, the placement and the media.
	Seed uint64
	// Packets is the number of IP packets each source sends to its target
	// (each one echoed back); default 1.
	Packets int
	// Workers bounds the concurrent registrations and provisionings
	// (default 32: enough callers in flight for the store's group commit).
	Workers int
	// CellWorkers bounds the cells linked at once (default GOMAXPROCS).
	CellWorkers int
	// MaxWall, if set, adds a check that the three phases together took at
	// most this long.
	MaxWall time.Duration
	// Progress, if set, is updated as the run goes (read it from another
	// goroutine with Snapshot).
	Progress *ScaleProgress
	// Log receives a short narrative (nil: discarded).
	Log io.Writer
	// Now is the wall clock of the phase timings (default time.Now).
	Now func() time.Time
}

// ScalePhase is one timed phase of a scale run.
type ScalePhase struct {
	Name string        `json:"name"`
	Wall time.Duration `json:"wall_ns"`
	// CPU is the user + system CPU time of the whole process during the
	// phase (AS and UEs together; 0 where not measured).
	CPU   time.Duration `json:"cpu_ns"`
	Items int           `json:"items"`
	Unit  string        `json:"unit"`
}

// Rate is Items per second of Wall.
func (p ScalePhase) Rate() float64 { return rate(p.Items, p.Wall) }

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// ScaleResult is the outcome of a scale run.
type ScaleResult struct {
	Seed     uint64 `json:"seed"`
	UEs      int    `json:"ues"`
	Relays   int    `json:"relays"`
	Pairs    int    `json:"pairs"`
	Workers  int    `json:"workers"`
	CellJobs int    `json:"cell_workers"`
	// Definition is LinkedDefinition.
	Definition string       `json:"linked_definition"`
	Phases     []ScalePhase `json:"phases"`
	// Wall is the time of the three phases together.
	Wall time.Duration `json:"wall_ns"`
	// Tokens is the number of tokens provisioned.
	Tokens      int `json:"tokens"`
	PairsLinked int `json:"pairs_linked"`
	// Links counts the established PC5 unicast links (both hops).
	Links int `json:"links"`
	// Packets each way: sent by the sources, delivered to the targets,
	// echoed back to the sources; Forwarded by the relays (both ways).
	PacketsSent      int    `json:"packets_sent"`
	PacketsDelivered int    `json:"packets_delivered"`
	PacketsEchoed    int    `json:"packets_echoed"`
	Forwarded        uint64 `json:"packets_forwarded"`
	// Frames on all the cells' media: sent, delivered copies, dropped
	// copies (out of range: broadcasts reach only the nodes in range).
	FramesSent      uint64 `json:"frames_sent"`
	FramesDelivered uint64 `json:"frames_delivered"`
	FramesDropped   uint64 `json:"frames_dropped"`
	// PeakHeap is the largest HeapAlloc sampled; VmHWM the peak resident
	// set of the process (0 where /proc/self/status is missing).
	PeakHeap   uint64  `json:"peak_heap_bytes"`
	VmHWM      uint64  `json:"vm_hwm_bytes"`
	NumGC      uint32  `json:"num_gc"`
	GOMAXPROCS int     `json:"gomaxprocs"`
	Checks     []Check `json:"checks"`
}

// TokensPerSecond is the provisioning rate.
func (r *ScaleResult) TokensPerSecond() float64 {
	if p, ok := r.phase("provision"); ok {
		return rate(r.Tokens, p.Wall)
	}
	return 0
}

// LinksPerSecond is the rate of established PC5 links in the link phase.
func (r *ScaleResult) LinksPerSecond() float64 {
	if p, ok := r.phase("link"); ok {
		return rate(r.Links, p.Wall)
	}
	return 0
}

func (r *ScaleResult) phase(name string) (ScalePhase, bool) {
	for _, p := range r.Phases {
		if p.Name == name {
			return p, true
		}
	}
	return ScalePhase{}, false
}

// Failed reports whether any check failed.
func (r *ScaleResult) Failed() bool {
	for _, c := range r.Checks {
		if !c.Pass {
			return true
		}
	}
	return false
}

func (r *ScaleResult) check(name, expected, observed string, pass bool) {
	r.Checks = append(r.Checks, Check{Phase: "scale", Name: name, Expected: expected, Observed: observed, Pass: pass})
}

// ScaleProgress is the live state of a scale run: the current phase and
// how many of its items are done. Scale updates it; any goroutine may read
// it with Snapshot.
type ScaleProgress struct {
	// OnPhase, if set, is called on the goroutine running Scale when a
	// phase starts (before any of its items is done) and with phase ""
	// when it ends (before the narrative says so).
	OnPhase func(phase string, total int)

	mu    sync.Mutex
	phase string
	total int64
	seq   int64
	done  atomic.Int64
}

func (p *ScaleProgress) start(phase string, total int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.phase, p.total = phase, int64(total)
	p.seq++
	p.done.Store(0)
	p.mu.Unlock()
	if p.OnPhase != nil {
		p.OnPhase(phase, total)
	}
}

func (p *ScaleProgress) end() {
	if p != nil && p.OnPhase != nil {
		p.OnPhase("", 0)
	}
}

func (p *ScaleProgress) add(n int) {
	if p != nil {
		p.done.Add(int64(n))
	}
}

// Snapshot returns the current phase ("" before the first), its sequence
// number (1 for the first phase, so a reader sees a new phase even with
// the same name), the items done and the total.
func (p *ScaleProgress) Snapshot() (phase string, seq, done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.phase, p.seq, min(p.done.Load(), p.total), p.total
}

// Phase names of scale mode, in order.
var ScalePhases = []string{"register", "provision", "link"}

// scaleUE is one UE of a scale run.
type scaleUE struct {
	name  string
	key   crypto.Signer
	cred  *ue.Credentials
	err   error // of registration or provisioning
	relay bool
}

// Scale runs scale mode: register, provision, then link offline, as the
// comment at the top of this file (and docs/prose-sim-scale.md) describes.
// The error is for set-up failures and bad options; failed expectations
// are in the result's checks.
func Scale(ctx context.Context, opt ScaleOptions) (*ScaleResult, error) {
	switch {
	case opt.Relays < 1 || opt.Relays > MaxScaleRelays:
		return nil, fmt.Errorf("sim: %d relays, want 1 to %d", opt.Relays, MaxScaleRelays)
	case opt.UEs < 2 || opt.UEs > MaxScaleUEs || opt.UEs%2 != 0:
		return nil, fmt.Errorf("sim: %d end UEs, want an even number from 2 to %d (source/target pairs)", opt.UEs, MaxScaleUEs)
	case opt.UEs < 2*opt.Relays:
		return nil, fmt.Errorf("sim: %d end UEs for %d relays: each relay needs at least one source/target pair (2 UEs)", opt.UEs, opt.Relays)
	case opt.UEs > MaxCellUEs*opt.Relays:
		return nil, fmt.Errorf("sim: %d end UEs for %d relays: at most %d end UEs per relay (cell)", opt.UEs, opt.Relays, MaxCellUEs)
	case opt.Packets < 0 || opt.Workers < 0 || opt.CellWorkers < 0:
		return nil, fmt.Errorf("sim: negative packets or workers")
	}
	if opt.Packets == 0 {
		opt.Packets = 1
	}
	if opt.Workers == 0 {
		opt.Workers = 32
	}
	if opt.CellWorkers == 0 {
		opt.CellWorkers = runtime.GOMAXPROCS(0)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = io.Discard
	}
	s := &scaler{opt: opt, res: &ScaleResult{
		Seed: opt.Seed, UEs: opt.UEs, Relays: opt.Relays, Pairs: opt.UEs / 2,
		Workers: opt.Workers, CellJobs: opt.CellWorkers, Definition: LinkedDefinition,
		GOMAXPROCS: runtime.GOMAXPROCS(0),
	}}
	mon := startMemMonitor()
	err := s.run(ctx)
	s.res.PeakHeap, s.res.NumGC = mon.stop()
	s.res.VmHWM = vmHWM()
	if err != nil {
		return s.res, fmt.Errorf("sim: %w", err)
	}
	return s.res, nil
}

type scaler struct {
	opt ScaleOptions
	res *ScaleResult
}

func (s *scaler) say(format string, a ...any) { fmt.Fprintf(s.opt.Log, format+"\n", a...) }

// names: relays first, then the end UEs (sources and targets alternate).
func (s *scaler) newUEs() []*scaleUE {
	u := make([]*scaleUE, 0, s.opt.Relays+s.opt.UEs)
	for i := range s.opt.Relays {
		u = append(u, &scaleUE{name: fmt.Sprintf("ue-relay-r%05d", i), relay: true})
	}
	for i := range s.opt.UEs / 2 {
		u = append(u, &scaleUE{name: fmt.Sprintf("ue-source-s%06d", i)}, &scaleUE{name: fmt.Sprintf("ue-target-t%06d", i)})
	}
	return u
}

func (s *scaler) run(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "prose-sim-scale-")
	if err != nil {
		return err
	}
	defer removeAll(dir)
	clk := &clock{t: Start}
	srv, err := startAS(ctx, dir, clk)
	if err != nil {
		return fmt.Errorf("starting the AS: %w", err)
	}
	stopped := false
	defer func() {
		if !stopped {
			srv.stop()
		}
	}()
	n := s.opt.Relays + s.opt.UEs
	s.say("== Scale: %d end UEs (%d source/target pairs) and %d relays, one relay per cell", s.opt.UEs, s.opt.UEs/2, s.opt.Relays)
	s.say("  AS issuer %s (SQLite in a temporary directory); %d workers in coverage, %d cells at once offline", srv.issuer, s.opt.Workers, s.opt.CellWorkers)
	ues := s.newUEs()
	t0 := s.opt.Now()

	// Phase 1: register.
	use := []token.Scope{{Role: token.RoleUse, RSC: DefaultRSC}}
	serve := []token.Scope{{Role: token.RoleServe, RSC: DefaultRSC}}
	s.opt.Progress.start("register", n)
	t, cpu := s.opt.Now(), processCPU()
	s.parallel(ctx, ues, s.opt.Workers, func(u *scaleUE) {
		g := use
		if u.relay {
			g = serve
		}
		u.key, u.err = srv.registerFor(ctx, u.name, 0, g...)
	})
	s.opt.Progress.end()
	reg := countOK(ues)
	s.res.Phases = append(s.res.Phases, ScalePhase{Name: "register", Wall: s.opt.Now().Sub(t), CPU: processCPU() - cpu, Items: reg, Unit: "UEs"})
	s.say("  registered %d/%d UEs in %v", reg, n, s.res.Phases[0].Wall.Round(time.Millisecond))
	s.res.check("UEs registered (relays: serve, end UEs: use)", fmt.Sprint(n), fmt.Sprintf("%d%s", reg, firstErr(ues)), reg == n)
	if err := ctx.Err(); err != nil {
		return err
	}

	// Phase 2: provision.
	hc := &http.Client{
		Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: srv.roots, MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout: 10 * time.Second,
			MaxIdleConns:        s.opt.Workers,
			MaxIdleConnsPerHost: s.opt.Workers,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	s.opt.Progress.start("provision", n)
	t, cpu = s.opt.Now(), processCPU()
	s.parallel(ctx, ues, s.opt.Workers, func(u *scaleUE) {
		if u.err != nil {
			return
		}
		u.cred, u.err = provisionScaleUE(ctx, srv, hc, u)
	})
	s.opt.Progress.end()
	prov := countOK(ues)
	s.res.Tokens = prov
	s.res.Phases = append(s.res.Phases, ScalePhase{Name: "provision", Wall: s.opt.Now().Sub(t), CPU: processCPU() - cpu, Items: prov, Unit: "tokens"})
	s.say("  provisioned %d/%d UEs (private_key_jwt, CWT) in %v: %.0f tokens/s", prov, n, s.res.Phases[1].Wall.Round(time.Millisecond), s.res.TokensPerSecond())
	s.res.check("UEs provisioned (CWT token, JWKS, status lists)", fmt.Sprint(n), fmt.Sprintf("%d%s", prov, firstErr(ues)), prov == n)
	hc.CloseIdleConnections()
	srv.stop()
	stopped = true
	s.say("  coverage lost: AS HTTP server and store closed")
	if err := ctx.Err(); err != nil {
		return err
	}

	// Phase 3: link.
	cells := s.layout(ues)
	s.opt.Progress.start("link", s.opt.UEs/2)
	t, cpu = s.opt.Now(), processCPU()
	stats := make([]cellStats, len(cells))
	var next atomic.Int64
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var firstCellErr error
	for range min(s.opt.CellWorkers, len(cells)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(cells) {
					return
				}
				st, err := cells[i].run(s.opt.Packets, func(k int) { s.opt.Progress.add(k) })
				if err != nil {
					errMu.Lock()
					if firstCellErr == nil {
						firstCellErr = fmt.Errorf("cell %d: %w", i, err)
					}
					errMu.Unlock()
				}
				stats[i] = st
				cells[i] = nil // let the cell's nodes go
			}
		}()
	}
	wg.Wait()
	linkWall, linkCPU := s.opt.Now().Sub(t), processCPU()-cpu
	s.opt.Progress.end()
	if firstCellErr != nil {
		return firstCellErr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var tot cellStats
	for _, st := range stats {
		tot.addUp(st)
	}
	s.res.Wall = s.opt.Now().Sub(t0)
	s.res.Links = tot.hop1 + tot.hop2
	s.res.PairsLinked = tot.linked
	s.res.Phases = append(s.res.Phases, ScalePhase{Name: "link", Wall: linkWall, CPU: linkCPU, Items: s.res.Links, Unit: "links"})
	s.res.PacketsSent, s.res.PacketsDelivered, s.res.PacketsEchoed, s.res.Forwarded = tot.sent, tot.delivered, tot.echoed, tot.forwarded
	s.res.FramesSent, s.res.FramesDelivered, s.res.FramesDropped = tot.frames.Sent, tot.frames.Delivered, tot.frames.TotalDropped()
	s.say("  offline: %d PC5 links established in %v (%.0f links/s), %d/%d pairs linked", s.res.Links, linkWall.Round(time.Millisecond), s.res.LinksPerSecond(), tot.linked, s.res.Pairs)

	pairs := s.res.Pairs
	want := pairs * s.opt.Packets
	frac := func(k, n int) string { return fmt.Sprintf("%d/%d", k, n) }
	s.res.check("offline bundles opened (credentials re-verified offline)", frac(n, n), frac(tot.opened, n)+tot.firstErr, tot.opened == n)
	s.res.check("relay discovered, target reachable (Model B)", frac(pairs, pairs), frac(tot.discovered, pairs), tot.discovered == pairs)
	s.res.check("hop 1 (source-relay) established", frac(pairs, pairs), frac(tot.hop1, pairs), tot.hop1 == pairs)
	s.res.check("hop 2 (relay-target) established", frac(pairs, pairs), frac(tot.hop2, pairs), tot.hop2 == pairs)
	s.res.check("handshakes rejected or timed out", "0", fmt.Sprint(tot.rejected), tot.rejected == 0)
	s.res.check("IP packets source->target and echoed back", fmt.Sprintf("%d and %d", want, want),
		fmt.Sprintf("%d and %d", tot.delivered, tot.echoed), tot.sent == want && tot.delivered == want && tot.echoed == want)
	s.res.check("packets forwarded by the relays", fmt.Sprint(2*want), fmt.Sprint(tot.forwarded), tot.forwarded == uint64(2*want))
	s.res.check("pairs linked", frac(pairs, pairs), frac(tot.linked, pairs), tot.linked == pairs)
	if s.opt.MaxWall > 0 {
		s.res.check("wall time of the three phases", "<= "+s.opt.MaxWall.String(), s.res.Wall.Round(time.Millisecond).String(), s.res.Wall <= s.opt.MaxWall)
	}
	return nil
}

// parallel runs f on every UE from w goroutines, counting progress.
func (s *scaler) parallel(ctx context.Context, ues []*scaleUE, w int, f func(*scaleUE)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(w, len(ues)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(ues) {
					return
				}
				f(ues[i])
				s.opt.Progress.add(1)
			}
		}()
	}
	wg.Wait()
}

func countOK(ues []*scaleUE) int {
	n := 0
	for _, u := range ues {
		if u.err == nil {
			n++
		}
	}
	return n
}

// firstErr describes the first failure, for a check's observation.
func firstErr(ues []*scaleUE) string {
	for _, u := range ues {
		if u.err != nil {
			return fmt.Sprintf(" (first failure: %s: %v)", u.name, u.err)
		}
	}
	return ""
}

func provisionScaleUE(ctx context.Context, srv *server, hc *http.Client, u *scaleUE) (*ue.Credentials, error) {
	c, err := ue.NewClient(ue.ClientConfig{Issuer: srv.issuer, ClientID: u.name, Key: u.key, Auth: ue.AuthPrivateKeyJWT, HTTPClient: hc, Clock: srv.clk.Now})
	if err != nil {
		return nil, err
	}
	return c.Provision(ctx)
}

// WriteTable writes the figures and the checks, in the table style of the
// default scenario.
func (r *ScaleResult) WriteTable(w io.Writer) {
	fmt.Fprintln(w)
	fmt.Fprintln(w, "== Scale run")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "end UEs\t%d (%d source/target pairs)\n", r.UEs, r.Pairs)
	fmt.Fprintf(tw, "relays\t%d (one per cell, %d cells linked at once, GOMAXPROCS %d)\n", r.Relays, r.CellJobs, r.GOMAXPROCS)
	for _, p := range r.Phases {
		fmt.Fprintf(tw, "phase %s\t%v\t%d %s, %.0f %s/s; CPU %v (%.2f cores)\n", p.Name, p.Wall.Round(time.Millisecond), p.Items, p.Unit, p.Rate(), p.Unit,
			p.CPU.Round(time.Millisecond), p.CPU.Seconds()/max(p.Wall.Seconds(), 1e-9))
	}
	fmt.Fprintf(tw, "wall time\t%v\t(register + provision + link)\n", r.Wall.Round(time.Millisecond))
	fmt.Fprintf(tw, "tokens/s\t%.0f\n", r.TokensPerSecond())
	fmt.Fprintf(tw, "links established/s\t%.0f\t%d PC5 unicast links, %d/%d pairs linked\n", r.LinksPerSecond(), r.Links, r.PairsLinked, r.Pairs)
	fmt.Fprintf(tw, "IP packets\t%d sent, %d delivered, %d echoed, %d forwarded by relays\n", r.PacketsSent, r.PacketsDelivered, r.PacketsEchoed, r.Forwarded)
	fmt.Fprintf(tw, "PC5 frames\t%d sent, %d copies delivered, %d copies dropped (out of range)\n", r.FramesSent, r.FramesDelivered, r.FramesDropped)
	hwm := "n/a"
	if r.VmHWM > 0 {
		hwm = mib(r.VmHWM)
	}
	fmt.Fprintf(tw, "memory\tpeak heap %s, peak RSS (VmHWM) %s, %d GCs\n", mib(r.PeakHeap), hwm, r.NumGC)
	tw.Flush()
	fmt.Fprintf(w, "linked: %s\n", r.Definition)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "== Summary")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PHASE\tCHECK\tEXPECTED\tOBSERVED\tRESULT")
	pass := 0
	for _, c := range r.Checks {
		res := "FAIL"
		if c.Pass {
			res, pass = "pass", pass+1
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Phase, c.Name, c.Expected, c.Observed, res)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d/%d checks passed, %v wall time\n", pass, len(r.Checks), r.Wall.Round(time.Millisecond))
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// WriteDir writes summary.json into dir (made if missing): the figures and
// the checks. Scale mode keeps no frame trace.
func (r *ScaleResult) WriteDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	type phase struct {
		ScalePhase
		Seconds    float64 `json:"seconds"`
		CPUSeconds float64 `json:"cpu_seconds"`
		Rate       float64 `json:"per_second"`
	}
	sum := struct {
		Mode   string `json:"mode"`
		Passed bool   `json:"passed"`
		*ScaleResult
		Phases         []phase `json:"phases"`
		WallSeconds    float64 `json:"wall_seconds"`
		TokensPerSec   float64 `json:"tokens_per_second"`
		LinksPerSecond float64 `json:"links_per_second"`
		Trace          string  `json:"trace"`
	}{Mode: "scale", Passed: !r.Failed(), ScaleResult: r, WallSeconds: r.Wall.Seconds(),
		TokensPerSec: r.TokensPerSecond(), LinksPerSecond: r.LinksPerSecond(),
		Trace: "not kept in scale mode (counts only)"}
	for _, p := range r.Phases {
		sum.Phases = append(sum.Phases, phase{p, p.Wall.Seconds(), p.CPU.Seconds(), p.Rate()})
	}
	b, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "summary.json"), append(b, '\n'), 0o644)
}

// errNoRelay is a cell without a relay (a layout bug).
var errNoRelay = errors.New("cell without a relay")

// rssiAt is the RSSI of a link of length d metres (PROJECT-DEFINED:
// -40 dBm at 1 m, 20 dB per decade).
func rssiAt(d float64) int16 {
	return int16(math.Round(-40 - 20*math.Log10(max(d, 1))))
}
