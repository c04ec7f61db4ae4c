//go:build linux

package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prosesec/prosesec/pc5/link"
	"github.com/prosesec/prosesec/pc5/medium"
	"github.com/prosesec/prosesec/pc5/msg"
	"github.com/prosesec/prosesec/pc5/node"
	"github.com/prosesec/prosesec/relay"
	"github.com/prosesec/prosesec/token"
)

// Layer-2 IDs and names of the relay command's three nodes.
const (
	rlRelayID  = medium.L2ID(0x000010)
	rlSourceID = medium.L2ID(0x000001)
	rlTargetID = medium.L2ID(0x000021)
	rlRelay    = "ue-relay-bench"
	rlSource   = "ue-source-bench"
	rlTarget   = "ue-target-bench"
	rlLCID     = 4 // SL-DRB carrying the IP packets

	minPacket = 48   // an IPv6 header and 8 octets
	maxPacket = 8000 // below medium.MaxPayload with the PDCP overhead
	// udpWindow bounds the packets in flight on the UDP medium; a window
	// not drained within udpLossTimeout is counted as lost.
	udpWindow      = 256
	udpLossTimeout = 200 * time.Millisecond
)

type relaySettings struct {
	medium   string
	size     int
	suite    string
	duration time.Duration
	count    int64
	json     bool
}

func relayCommand() *command {
	return &command{
		name:     "relay",
		synopsis: "prose-bench relay [--medium mem|udp] [--suite SUITE] [--size OCTETS] [--duration D] [--count N] [--json]",
		short:    "relay forwarding: IP packets from a source UE through a real L3 UE-to-UE relay to a target UE",
		long: "Sets up a real relay (package relay) and two end UEs (pc5/node Endpoint) on an emulated PC5 " +
			"medium, establishes hop 1 (source → relay) and hop 2 (relay → target) with real handshakes and " +
			"tokens verified offline (an issuer made in-process with package token), then pushes IPv6 " +
			"packets of --size octets from the source through the relay to the target until --duration or " +
			"--count packets. Each packet is sealed by the source, opened, routed and re-sealed by the " +
			"relay, and opened by the target (NEA2/NIA2, the default algorithms). --medium mem (default) " +
			"uses the in-memory medium, driven deterministically in this goroutine (virtual time advanced " +
			"1 ms per frame hop, so only CPU is measured); --medium udp uses the UDP medium on 127.0.0.x " +
			"with one goroutine per node (node.Run, wall clock) and a window of 256 packets in flight. It " +
			"reports packets/s and Mb/s delivered to the target, drops (packets sent but not delivered, " +
			"with the relay's and the medium's drop counters) and the CPU time per packet of this process " +
			"(all three nodes together).",
		examples: []string{
			"# 1,400-octet packets through the relay on the in-memory medium for 10s\nprose-bench relay --size 1400 --duration 10s",
			"# The same over UDP on loopback, JSON output\nprose-bench relay --medium udp --size 1400 --duration 5s --json",
		},
		setup: func(fs *flag.FlagSet) func(ctx context.Context, e *env) error {
			s := &relaySettings{}
			fs.StringVar(&s.medium, "medium", "mem", "PC5 `MEDIUM`: mem (in-memory, virtual time) or udp (UDP on loopback, real time)")
			fs.IntVar(&s.size, "size", 1400, fmt.Sprintf("IPv6 packet size in `OCTETS` (%d to %d)", minPacket, maxPacket))
			fs.StringVar(&s.suite, "suite", "p256-ecdsa", "Key_Est_Info `SUITE` of the handshakes: "+suiteFlagHelp())
			fs.DurationVar(&s.duration, "duration", 5*time.Second, "length of the forwarding part (`DURATION`, at most 10m)")
			fs.Int64Var(&s.count, "count", 0, "cap on the packets sent (`N`, 0 to 10000000; 0 means the maximum)")
			fs.BoolVar(&s.json, "json", false, "print the report as JSON instead of a Markdown table")
			return func(ctx context.Context, e *env) error { return runRelay(ctx, e, s) }
		},
	}
}

// RelayReport is the output of prose-bench relay.
type RelayReport struct {
	Tool               string            `json:"tool"`
	Command            string            `json:"command"`
	Args               []string          `json:"args"`
	Flags              map[string]string `json:"flags"`
	Environment        Environment       `json:"environment"`
	Medium             string            `json:"medium"`
	Suite              string            `json:"suite"`
	PacketOctets       int               `json:"packet_octets"`
	WindowSeconds      float64           `json:"window_seconds"`
	Sent               int64             `json:"packets_sent"`
	Delivered          int64             `json:"packets_delivered"`
	Dropped            int64             `json:"packets_dropped"`
	PacketsPerSecond   float64           `json:"packets_per_second"`
	Mbps               float64           `json:"mbit_per_second"`
	CPUSeconds         float64           `json:"cpu_seconds"`
	CPUPerPacketUs     float64           `json:"cpu_us_per_packet"`
	MachineBusyPercent float64           `json:"machine_busy_percent"`
	StopReason         string            `json:"stop_reason"`
	Relay              relay.Stats       `json:"relay_stats"`
	MediumStats        string            `json:"medium_stats"`
	Corrupted          int64             `json:"packets_corrupted"`
}

// rlNodes are the three nodes of a relay run.
type rlNodes struct {
	relay     *relay.Relay
	src, tgt  *node.Endpoint
	delivered atomic.Int64
	corrupted atomic.Int64
	notify    chan struct{}
	want      atomic.Pointer[[]byte] // the packet the target must receive
	events    chan link.Event
}

func newRLNodes(s *relaySettings, suite msg.Suite, now time.Time) (*rlNodes, error) {
	w, err := newPC5World(now)
	if err != nil {
		return nil, err
	}
	mk := func(name string, role token.Role) (*link.Config, error) {
		return w.linkConfig(name, suite, msg.TokenCWT, token.CWT, token.Scope{Role: role, RSC: benchRSC})
	}
	n := &rlNodes{notify: make(chan struct{}, 1), events: make(chan link.Event, 16)}
	rc, err := mk(rlRelay, token.RoleServe)
	if err != nil {
		return nil, err
	}
	if n.relay, err = relay.New(relay.Config{
		Self: rlRelayID, Link: rc, RSCs: []token.RSC{benchRSC},
		Lookup: func(_ token.RSC, ui []byte, _ time.Time) (medium.L2ID, bool) {
			return rlTargetID, string(ui) == rlTarget
		},
	}); err != nil {
		return nil, fmt.Errorf("prose-bench: relay: %v", err)
	}
	tc, err := mk(rlTarget, token.RoleUse)
	if err != nil {
		return nil, err
	}
	if n.tgt, err = node.NewEndpoint(node.EndpointConfig{Self: rlTargetID, Link: tc, RSC: benchRSC,
		Deliver: func(_ medium.L2ID, _ uint8, pkt []byte) {
			// Compare what the header says; the payload bytes are checked
			// on one packet in 1024 so that the check costs little.
			want := *n.want.Load()
			if len(pkt) != len(want) || (n.delivered.Load()%1024 == 0 && string(pkt[40:]) != string(want[40:])) {
				n.corrupted.Add(1)
			}
			n.delivered.Add(1)
			select {
			case n.notify <- struct{}{}:
			default:
			}
		}}); err != nil {
		return nil, fmt.Errorf("prose-bench: target: %v", err)
	}
	sc, err := mk(rlSource, token.RoleUse)
	if err != nil {
		return nil, err
	}
	if n.src, err = node.NewEndpoint(node.EndpointConfig{Self: rlSourceID, Link: sc, RSC: benchRSC,
		Deliver: func(medium.L2ID, uint8, []byte) {},
		OnEvent: func(_ medium.L2ID, ev link.Event) {
			select {
			case n.events <- ev:
			default:
			}
		}}); err != nil {
		return nil, fmt.Errorf("prose-bench: source: %v", err)
	}
	return n, nil
}

// established waits for the source's first link event, which must be
// Established, and returns the target's address from the ACCEPT.
func (n *rlNodes) established(ctx context.Context, wait time.Duration) (netip.Addr, error) {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case ev := <-n.events:
		e, ok := ev.(link.Established)
		if !ok {
			return netip.Addr{}, fmt.Errorf("prose-bench: relay: hop 1 not established: %T %+v", ev, ev)
		}
		if !e.Accept.TargetIPAddress.IsValid() {
			return netip.Addr{}, errors.New("prose-bench: relay: the ACCEPT carries no target address")
		}
		return e.Accept.TargetIPAddress, nil
	case <-t.C:
		return netip.Addr{}, fmt.Errorf("prose-bench: relay: hop 1 not established within %v (relay %+v)", wait, n.relay.Stats())
	case <-ctx.Done():
		return netip.Addr{}, fmt.Errorf("prose-bench: %v", ctx.Err())
	}
}

// ipv6Packet builds an IPv6 packet (next header 59) of size octets.
func ipv6Packet(src, dst netip.Addr, size int) []byte {
	p := make([]byte, size)
	p[0] = 0x60
	binary.BigEndian.PutUint16(p[4:], uint16(size-40))
	p[6], p[7] = 59, 64
	s, d := src.As16(), dst.As16()
	copy(p[8:], s[:])
	copy(p[24:], d[:])
	for i := 40; i < size; i++ {
		p[i] = byte(i)
	}
	return p
}

func runRelay(ctx context.Context, e *env, s *relaySettings) error {
	if s.medium != "mem" && s.medium != "udp" {
		return usagef("--medium %q: use mem or udp", s.medium)
	}
	if s.size < minPacket || s.size > maxPacket {
		return usagef("--size %d: want %d to %d octets", s.size, minPacket, maxPacket)
	}
	suite, err := parseSuite(s.suite)
	if err != nil {
		return err
	}
	if err := checkPC5Bounds(1, s.duration, &s.count); err != nil {
		return err
	}
	envInfo := environment(ctx, time.Now())
	rep := &RelayReport{Tool: "prose-bench", Command: "relay", Args: e.args, Flags: flagValues(e.fs), Environment: envInfo,
		Medium: s.medium, Suite: suite.String(), PacketOctets: s.size}
	if s.medium == "mem" {
		err = relayMem(ctx, s, suite, rep)
	} else {
		err = relayUDP(ctx, s, suite, rep)
	}
	if err != nil {
		return err
	}
	rep.Dropped = rep.Sent - rep.Delivered
	rep.PacketsPerSecond = float64(rep.Delivered) / rep.WindowSeconds
	rep.Mbps = float64(rep.Delivered) * float64(s.size) * 8 / rep.WindowSeconds / 1e6
	if rep.Delivered > 0 {
		rep.CPUPerPacketUs = rep.CPUSeconds * 1e6 / float64(rep.Delivered)
	}
	rep.print(e.stdout, s.json)
	if rep.Delivered == 0 || rep.Corrupted > 0 || rep.StopReason == stopInterrupted || (s.medium == "mem" && rep.Dropped > 0) {
		return fmt.Errorf("prose-bench: relay: %d of %d packets delivered, %d corrupted, stopped by %s; see the report", rep.Delivered, rep.Sent, rep.Corrupted, rep.StopReason)
	}
	return nil
}

// measure brackets the forwarding part: CPU of this process and of the
// machine, and the wall time.
type measure struct {
	t0          time.Time
	cpu0        time.Duration
	busy0, tot0 int64
	machErr     error
	window      time.Duration
	cpu         time.Duration
	busyPercent float64
	stopReason  string
	deadline    time.Time
	maxCount    int64
}

func startMeasure(d time.Duration, count int64) *measure {
	m := &measure{cpu0: selfCPU(), maxCount: count}
	m.busy0, m.tot0, m.machErr = machineCPU()
	m.t0 = time.Now()
	m.deadline = m.t0.Add(d)
	return m
}

// more reports whether another batch may start after sent packets.
func (m *measure) more(ctx context.Context, sent int64) bool {
	switch {
	case ctx.Err() != nil:
		m.stopReason = stopInterrupted
	case sent >= m.maxCount:
		m.stopReason = stopRequests
	case !time.Now().Before(m.deadline):
		m.stopReason = stopDuration
	default:
		return true
	}
	return false
}

func (m *measure) end() {
	m.window = time.Since(m.t0)
	m.cpu = selfCPU() - m.cpu0
	busy1, tot1, err := machineCPU()
	if m.machErr == nil && err == nil && tot1 > m.tot0 {
		m.busyPercent = float64(int(1000*float64(busy1-m.busy0)/float64(tot1-m.tot0))) / 10
	}
}

func (m *measure) fill(rep *RelayReport) {
	rep.WindowSeconds = m.window.Seconds()
	rep.CPUSeconds = m.cpu.Seconds()
	rep.MachineBusyPercent = m.busyPercent
	rep.StopReason = m.stopReason
}

// relayMem runs the three nodes on the in-memory medium, all on this
// goroutine: each batch is sealed by the source, then the virtual clock is
// advanced so that the medium delivers it through the relay to the target.
func relayMem(ctx context.Context, s *relaySettings, suite msg.Suite, rep *RelayReport) error {
	now := time.Now()
	n, err := newRLNodes(s, suite, now)
	if err != nil {
		return err
	}
	clock := medium.NewClock(now)
	mem, err := medium.NewMem(medium.MemConfig{Clock: clock, Seed: 1, Default: medium.DefaultLink()})
	if err != nil {
		return fmt.Errorf("prose-bench: %v", err)
	}
	attach := func(id medium.L2ID, c node.Core) (*node.MemDriver, error) {
		p, err := mem.AttachPort(id)
		if err != nil {
			return nil, fmt.Errorf("prose-bench: %v", err)
		}
		return node.Mem(p, clock, c), nil
	}
	if _, err := attach(rlRelayID, n.relay); err != nil {
		return err
	}
	if _, err := attach(rlTargetID, n.tgt); err != nil {
		return err
	}
	src, err := attach(rlSourceID, n.src)
	if err != nil {
		return err
	}
	var cerr error
	src.Do(func(now time.Time) { cerr = n.src.Connect(now, rlRelayID, []byte(rlRelay), []byte(rlTarget)) })
	if cerr != nil {
		return fmt.Errorf("prose-bench: relay: connect: %v", cerr)
	}
	clock.Advance(5 * time.Second)
	dst, err := n.established(ctx, time.Second)
	if err != nil {
		return err
	}
	pkt := ipv6Packet(n.src.LocalAddr(rlRelayID), dst, s.size)
	n.want.Store(&pkt)
	const batch = 256
	var sent int64
	var serr error
	m := startMeasure(s.duration, s.count)
	for m.more(ctx, sent) {
		k := min(int64(batch), s.count-sent)
		src.Do(func(time.Time) {
			for range k {
				if err := n.src.Send(rlLCID, pkt); err != nil && serr == nil {
					serr = err
				}
			}
		})
		sent += k
		if serr != nil {
			break
		}
		clock.Advance(3 * time.Millisecond) // source → relay → target
	}
	m.end()
	if serr != nil {
		return fmt.Errorf("prose-bench: relay: source send: %v", serr)
	}
	m.fill(rep)
	rep.Sent, rep.Delivered, rep.Corrupted = sent, n.delivered.Load(), n.corrupted.Load()
	rep.Relay, rep.MediumStats = n.relay.Stats(), mem.Stats().String()
	return nil
}

// wallClock is the real clock for node.Run.
type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// relayUDP runs the three nodes on the UDP medium on loopback, each with
// node.Run on its own goroutine, and sends from the source with at most
// udpWindow packets in flight.
func relayUDP(ctx context.Context, s *relaySettings, suite msg.Suite, rep *RelayReport) error {
	n, err := newRLNodes(s, suite, time.Now())
	if err != nil {
		return err
	}
	topo, err := medium.ParseTopology([]byte(`
nodes:
  - {id: "000010", addr: "127.0.0.1:0", neighbours: ["000001", "000021"]}
  - {id: "000001", addr: "127.0.0.1:0"}
  - {id: "000021", addr: "127.0.0.1:0"}
`))
	if err != nil {
		return fmt.Errorf("prose-bench: topology: %v", err)
	}
	udp, err := medium.NewUDP(medium.UDPConfig{Topology: topo, QueueLen: 4 * udpWindow})
	if err != nil {
		return fmt.Errorf("prose-bench: %v", err)
	}
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	runErrs := make([]error, 3)
	defer func() {
		cancel()
		wg.Wait()
	}()
	do := make(chan func(time.Time))
	for i, nd := range []struct {
		id   medium.L2ID
		core node.Core
		do   chan func(time.Time)
	}{{rlRelayID, n.relay, nil}, {rlTargetID, n.tgt, nil}, {rlSourceID, n.src, do}} {
		p, err := udp.Attach(nd.id)
		if err != nil {
			return fmt.Errorf("prose-bench: attaching %v on loopback: %v", nd.id, err)
		}
		wg.Go(func() {
			defer p.Close()
			if err := node.Run(rctx, p, wallClock{}, nd.core, nd.do, nil); err != nil && rctx.Err() == nil {
				runErrs[i] = err
				cancel()
			}
		})
	}
	call := func(f func(now time.Time)) error {
		done := make(chan struct{})
		select {
		case do <- func(now time.Time) { f(now); close(done) }:
		case <-rctx.Done():
			return fmt.Errorf("prose-bench: relay: %v", errors.Join(append(runErrs, rctx.Err())...))
		}
		<-done
		return nil
	}
	var cerr error
	if err := call(func(now time.Time) { cerr = n.src.Connect(now, rlRelayID, []byte(rlRelay), []byte(rlTarget)) }); err != nil {
		return err
	}
	if cerr != nil {
		return fmt.Errorf("prose-bench: relay: connect: %v", cerr)
	}
	dst, err := n.established(ctx, 10*time.Second)
	if err != nil {
		return err
	}
	pkt := ipv6Packet(n.src.LocalAddr(rlRelayID), dst, s.size)
	n.want.Store(&pkt)
	const batch = 32
	var sent, lost int64
	var serr error
	m := startMeasure(s.duration, s.count)
	for m.more(ctx, sent) {
		// Wait until the window has room; a window that does not drain
		// within udpLossTimeout is counted as lost.
		for sent-n.delivered.Load()-lost > udpWindow-batch {
			t := time.NewTimer(udpLossTimeout)
			select {
			case <-n.notify:
			case <-t.C:
				lost = sent - n.delivered.Load()
			case <-rctx.Done():
			}
			t.Stop()
			if rctx.Err() != nil {
				break
			}
		}
		if rctx.Err() != nil {
			break
		}
		k := min(int64(batch), s.count-sent)
		if err := call(func(time.Time) {
			for range k {
				if err := n.src.Send(rlLCID, pkt); err != nil && serr == nil {
					serr = err
				}
			}
		}); err != nil {
			return err
		}
		sent += k
		if serr != nil {
			break
		}
	}
	// Let the last window arrive.
	drain := time.Now().Add(udpLossTimeout)
	for n.delivered.Load() < sent && time.Now().Before(drain) {
		time.Sleep(time.Millisecond)
	}
	m.end()
	if serr != nil {
		return fmt.Errorf("prose-bench: relay: source send: %v", serr)
	}
	if err := errors.Join(runErrs...); err != nil {
		return fmt.Errorf("prose-bench: relay: %v", err)
	}
	m.fill(rep)
	rep.Sent, rep.Delivered, rep.Corrupted = sent, n.delivered.Load(), n.corrupted.Load()
	// The relay's counters are read on its goroutine's behalf after the
	// run: node.Run has stopped by then.
	cancel()
	wg.Wait()
	rep.Relay, rep.MediumStats = n.relay.Stats(), udp.Stats().String()
	return nil
}

func (r *RelayReport) print(w io.Writer, asJSON bool) {
	if asJSON {
		b, _ := json.MarshalIndent(r, "", "  ")
		fmt.Fprintf(w, "%s\n", b)
		return
	}
	fmt.Fprintf(w, "| medium | packet octets | packets/s | Mb/s | sent | delivered | dropped | CPU µs/packet |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|---:|\n")
	fmt.Fprintf(w, "| %s | %d | %.0f | %.1f | %d | %d | %d | %.2f |\n\n",
		r.Medium, r.PacketOctets, r.PacketsPerSecond, r.Mbps, r.Sent, r.Delivered, r.Dropped, r.CPUPerPacketUs)
	var notes []string
	if r.StopReason != stopDuration && r.StopReason != stopRequests {
		notes = append(notes, "stopped: "+r.StopReason)
	}
	if r.Corrupted > 0 {
		notes = append(notes, fmt.Sprintf("%d packets corrupted", r.Corrupted))
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "- %s\n", strings.Join(notes, "; "))
	}
	fmt.Fprintf(w, "Relay: %+v. Medium: %s.\n", r.Relay, r.MediumStats)
	e := r.Environment
	fmt.Fprintf(w, "Measured %s on %s (%d CPUs, GOMAXPROCS %d), Linux %s, %s, commit %s; load average at start %s; machine busy %.0f%% during the run.\n",
		e.Date, e.CPUModel, e.NumCPU, e.GOMAXPROCS, e.Kernel, e.GoVersion, e.Commit, e.LoadAverage, r.MachineBusyPercent)
	fmt.Fprintf(w, "Suite %s, NEA2/NIA2. Packets/s and Mb/s count IP packets delivered to the target over the run's wall time; CPU per packet is getrusage(RUSAGE_SELF) over the run (source, relay and target together) per delivered packet.\n", r.Suite)
	fmt.Fprintf(w, "Command: prose-bench %s\n", strings.Join(r.Args, " "))
}
