package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/prosesec/prosesec/discovery"
	"github.com/prosesec/prosesec/pc5/link"
	"github.com/prosesec/prosesec/pc5/medium"
	"github.com/prosesec/prosesec/pc5/msg"
	"github.com/prosesec/prosesec/pc5/node"
	"github.com/prosesec/prosesec/relay"
	"github.com/prosesec/prosesec/token"
	"github.com/prosesec/prosesec/ue"
)

var runCmd = &command{
	name: "run",
	synopsis: "prose-ue run --cache-dir DIR --role source|target|relay --l2 ID\n" +
		"               (--listen 127.0.0.1:PORT --peer ID=ADDR ... | --topology FILE) [flags]",
	short: "out of coverage: run a source, a target or a relay over PC5",
	long: "Out of coverage, from the cache only: attach to the UDP loopback PC5 medium and run " +
		"in one of three roles.\n" +
		"A relay announces and answers UE-to-UE relay discovery for the RSCs of its serve grants, " +
		"sets up hop 1 / hop 2 links and forwards IP packets.\n" +
		"A target answers discovery forwarded by relays, accepts hop 2 from a relay and answers " +
		"ICMPv6 echo requests.\n" +
		"A source discovers a relay for --target by RSC, sets up hop 1 and, with --ping N, sends N " +
		"ICMPv6 echo requests to the target through it.",
	examples: []string{
		"# a relay between UEs 000001 and 000021\n" +
			"prose-ue run --cache-dir r1 --role relay --l2 10 --listen 127.0.0.1:40010 \\\n" +
			"    --peer 1=127.0.0.1:40001 --peer 21=127.0.0.1:40021",
		"# a source pinging a target through a relay, the nodes named in a topology file\n" +
			"prose-ue run --cache-dir s1 --role source --l2 1 --topology topo.yaml \\\n" +
			"    --target ue-target-00001 --ping 3",
	},
}

type peerList []medium.Peer

func (p *peerList) String() string { return fmt.Sprint(*p) }
func (p *peerList) Set(s string) error {
	x, err := medium.ParsePeer(s)
	if err != nil {
		return err
	}
	*p = append(*p, x)
	return nil
}

type routeList map[string]medium.L2ID

func (r routeList) String() string { return fmt.Sprint(map[string]medium.L2ID(r)) }
func (r routeList) Set(s string) error {
	ui, id, ok := strings.Cut(s, "=")
	if !ok || ui == "" {
		return errors.New("want USERINFO=L2ID")
	}
	l2, err := medium.ParseL2ID(id)
	if err != nil {
		return err
	}
	r[ui] = l2
	return nil
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

type runOpts struct {
	role, target       string
	self               medium.L2ID
	rsc                token.RSC
	ping               int
	interval, wait     time.Duration
	discoveryTimeout   time.Duration
	announce           time.Duration
	maxLinks           int
	routes             routeList
	stdout             io.Writer
	bundle             *ue.OfflineBundle
	lc                 *link.Config
	port               medium.Port
	useRSCs, serveRSCs []token.RSC
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(runCmd)
	dir := fs.String("cache-dir", "", "credential cache `DIR` (required)")
	o := runOpts{routes: routeList{}, stdout: stdout}
	fs.StringVar(&o.role, "role", "", "`ROLE`: source, target or relay (required)")
	l2 := fs.String("l2", "", "this node's Layer-2 `ID`, hex (required)")
	listen := fs.String("listen", "", "this node's UDP `ADDR` on loopback, 127.0.0.1:PORT (with --peer)")
	var peers peerList
	fs.Var(&peers, "peer", "a neighbour, `ID=ADDR` with ADDR 127.0.0.1:PORT (repeatable)")
	topo := fs.String("topology", "", "topology `FILE` (instead of --listen/--peer)")
	rscFlag := fs.String("rsc", "", "relay service code `RSC`, hex (default: the first of the token's grants)")
	fs.StringVar(&o.target, "target", "", "source: the target's `USERINFO` (its client ID at the AS)")
	fs.IntVar(&o.ping, "ping", 0, "source: send `N` echo requests through the relay (0: just set up hop 1)")
	fs.DurationVar(&o.interval, "interval", time.Second, "source: `DURATION` between echo requests (and the wait for each reply)")
	fs.DurationVar(&o.wait, "wait", 40*time.Second, "source: time limit (`DURATION`) for hop 1 set-up")
	fs.DurationVar(&o.discoveryTimeout, "discovery-timeout", 10*time.Second, "source: time limit (`DURATION`) for finding a relay")
	fs.DurationVar(&o.announce, "announce", 2*time.Second, "relay: Model A announcement period (`DURATION`)")
	fs.IntVar(&o.maxLinks, "max-links", relay.DefaultMaxLinks, "relay: at most `N` simultaneous links")
	fs.Var(o.routes, "route", "relay: static target, `USERINFO=L2ID` (repeatable; otherwise discovery)")
	if err := parse(runCmd, fs, args, stdout); err != nil {
		return err
	}
	if *dir == "" || *l2 == "" {
		return usagef("run: --cache-dir and --l2 are required")
	}
	switch o.role {
	case "source":
		if o.target == "" {
			return usagef("run: a source needs --target")
		}
	case "target", "relay":
	default:
		return usagef("run: --role must be source, target or relay")
	}
	var err error
	if o.self, err = medium.ParseL2ID(*l2); err != nil || !o.self.Valid() {
		return usagef("run: bad --l2 %q", *l2)
	}
	var tp *medium.Topology
	switch {
	case *topo != "" && (*listen != "" || len(peers) > 0):
		return usagef("run: --topology excludes --listen and --peer")
	case *topo != "":
		if tp, err = medium.LoadTopology(*topo); err != nil {
			return err
		}
	case *listen != "":
		ap, perr := netip.ParseAddrPort(*listen)
		if perr != nil {
			return usagef("run: bad --listen: %v", perr)
		}
		if tp, err = medium.StarTopology(o.self, ap, peers); err != nil {
			return err
		}
	default:
		return usagef("run: give --listen and --peer, or --topology")
	}

	cache, err := ue.OpenCache(*dir)
	if err != nil {
		return err
	}
	if o.bundle, err = cache.Open(ue.Policy{}, time.Now()); err != nil {
		return err
	}
	b := o.bundle
	tf := msg.TokenCWT
	if b.TokenFormat == token.JWT {
		tf = msg.TokenJWT
	}
	o.lc = &link.Config{
		LocalUserInfo: []byte(b.ClientID), IdentityKey: b.IdentityKey,
		Token: b.Token, TokenFormat: tf, Verifier: b.Verifier, Rand: rand.Reader,
	}
	o.useRSCs, o.serveRSCs = discovery.UseRSCs(b.Claims.Scopes), discovery.ServeRSCs(b.Claims.Scopes)
	grants := o.useRSCs
	if o.role == "relay" {
		grants = o.serveRSCs
	}
	switch {
	case *rscFlag != "":
		if o.rsc, err = token.ParseRSC(*rscFlag); err != nil {
			return usagef("run: bad --rsc: %v", err)
		}
	case len(grants) > 0:
		o.rsc = grants[0]
	default:
		return fmt.Errorf("the token of %s grants no %s scope", b.ClientID, map[bool]string{true: "serve", false: "use"}[o.role == "relay"])
	}

	udp, err := medium.NewUDP(medium.UDPConfig{Topology: tp})
	if err != nil {
		return err
	}
	if o.port, err = udp.Attach(o.self); err != nil {
		return err
	}
	defer o.port.Close()
	fmt.Fprintf(stdout, "%s %s (%v) on the UDP medium, RSC %v\n", o.role, b.ClientID, o.self, o.rsc)
	switch o.role {
	case "relay":
		return runRelay(ctx, &o)
	case "target":
		return runTarget(ctx, &o)
	}
	return runSource(ctx, &o)
}

func sendDiscovery(port medium.Port, out []discovery.Outgoing) {
	for _, m := range out {
		if f, err := m.Frame(); err == nil {
			_ = port.Send(f)
		}
	}
}

func runRelay(ctx context.Context, o *runOpts) error {
	rscs := o.serveRSCs
	if len(rscs) == 0 {
		rscs = []token.RSC{o.rsc}
	}
	drel, err := discovery.NewRelay(discovery.RelayConfig{UserInfo: []byte(o.bundle.ClientID), RSCs: rscs})
	if err != nil {
		return err
	}
	r, err := relay.New(relay.Config{
		Self: o.self, Link: o.lc, RSCs: rscs, MaxLinks: o.maxLinks,
		Lookup: func(rsc token.RSC, ui []byte, now time.Time) (medium.L2ID, bool) {
			if id, ok := o.routes[string(ui)]; ok {
				return id, true
			}
			return drel.Lookup(rsc, ui, now)
		},
	})
	if err != nil {
		return err
	}
	do := make(chan func(time.Time))
	go func() {
		t := time.NewTicker(o.announce)
		defer t.Stop()
		for {
			fn := func(now time.Time) {
				drel.SetLoad(r.Links())
				sendDiscovery(o.port, drel.Announce(now))
			}
			select {
			case do <- fn:
			case <-ctx.Done():
				return
			}
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
		}
	}()
	other := func(f medium.Frame) {
		if in, err := discovery.Decode(f); err == nil {
			sendDiscovery(o.port, drel.Handle(in, time.Now()))
		}
	}
	err = node.Run(ctx, o.port, wallClock{}, r, do, other)
	st := r.Stats()
	fmt.Fprintf(o.stdout, "relay stopped: forwarded %d, no route %d, not paired %d, spoofed %d, open failed %d, rate limited %d, link-limit rejects %d, hop 2 failures %d\n",
		st.Forwarded, st.NoRoute, st.NotPaired, st.Spoofed, st.OpenFailed, st.RateLimited, st.LimitRejects, st.Hop2Failures)
	return err
}

func newEndpoint(o *runOpts, deliver func(from medium.L2ID, lcid uint8, pkt []byte), onEvent func(medium.L2ID, link.Event)) (*node.Endpoint, *discovery.Discoverer, error) {
	disc, err := discovery.NewDiscoverer(discovery.DiscovererConfig{UserInfo: []byte(o.bundle.ClientID), UseRSCs: o.useRSCs})
	if err != nil {
		return nil, nil, err
	}
	ep, err := node.NewEndpoint(node.EndpointConfig{Self: o.self, Link: o.lc, RSC: o.rsc, Deliver: deliver, OnEvent: onEvent})
	return ep, disc, err
}

func describe(peer medium.L2ID, ev link.Event) string {
	switch e := ev.(type) {
	case link.Established:
		return fmt.Sprintf("link with %s (%v) established (%v)", e.PeerUserInfo, peer, e.Security.Algorithms)
	case link.Rejected:
		return fmt.Sprintf("link with %v rejected: cause #%d %v (remote %v): %v", peer, uint8(e.Cause), e.Cause, e.Remote, e.Err)
	case link.Released:
		return fmt.Sprintf("link with %v released: cause #%d %v (remote %v)", peer, uint8(e.Cause), e.Cause, e.Remote)
	}
	return ""
}

func runTarget(ctx context.Context, o *runOpts) error {
	var ep *node.Endpoint
	ep, disc, err := newEndpoint(o, func(from medium.L2ID, lcid uint8, pkt []byte) {
		if reply, seq, ok := echoReply(pkt); ok {
			fmt.Fprintf(o.stdout, "echo request seq=%d from %v via %v\n", seq, netip.AddrFrom16([16]byte(pkt[8:24])), from)
			_ = ep.Send(lcid, reply)
		}
	}, func(peer medium.L2ID, ev link.Event) {
		if s := describe(peer, ev); s != "" {
			fmt.Fprintln(o.stdout, s)
		}
	})
	if err != nil {
		return err
	}
	other := func(f medium.Frame) {
		if in, err := discovery.Decode(f); err == nil {
			sendDiscovery(o.port, disc.Handle(in, time.Now()))
		}
	}
	return node.Run(ctx, o.port, wallClock{}, ep, nil, other)
}

type reply struct {
	seq  uint16
	size int
	from netip.Addr
	at   time.Time
}

func runSource(ctx context.Context, o *runOpts) error {
	events := make(chan link.Event, 16)
	replies := make(chan reply, 64)
	ep, disc, err := newEndpoint(o, func(_ medium.L2ID, _ uint8, pkt []byte) {
		if seq, ok := isEchoReply(pkt); ok {
			select {
			case replies <- reply{seq: seq, size: len(pkt), from: netip.AddrFrom16([16]byte(pkt[8:24])), at: time.Now()}:
			default:
			}
		}
	}, func(peer medium.L2ID, ev link.Event) {
		if s := describe(peer, ev); s != "" {
			fmt.Fprintln(o.stdout, s)
		}
		select {
		case events <- ev:
		default:
		}
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	do := make(chan func(time.Time))
	runErr := make(chan error, 1)
	other := func(f medium.Frame) {
		if in, err := discovery.Decode(f); err == nil {
			sendDiscovery(o.port, disc.Handle(in, time.Now()))
		}
	}
	go func() { runErr <- node.Run(ctx, o.port, wallClock{}, ep, do, other) }()
	call := func(fn func(now time.Time)) error {
		done := make(chan struct{})
		select {
		case do <- func(now time.Time) { fn(now); close(done) }:
		case err := <-runErr:
			cancel() // later calls end at once
			return fmt.Errorf("driver stopped: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		}
		<-done
		return nil
	}

	// Discovery: Model B solicitations every 500 ms, Model A heard too.
	var cand discovery.Candidate
	found := false
	for i := 0; i < int(o.discoveryTimeout/(500*time.Millisecond))+1 && !found; i++ {
		if err := call(func(now time.Time) {
			if c, ok := disc.Select(o.rsc, []byte(o.target), now); ok && c.TargetReachable {
				cand, found = c, true
				return
			}
			if m, err := disc.Solicit(o.rsc, []byte(o.target), now); err == nil {
				sendDiscovery(o.port, []discovery.Outgoing{m})
			}
		}); err != nil {
			return err
		}
		if !found {
			select {
			case <-time.After(500 * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if !found {
		return fmt.Errorf("no relay found for %s on RSC %v within %v", o.target, o.rsc, o.discoveryTimeout)
	}
	fmt.Fprintf(o.stdout, "relay %s (%v) selected for %s\n", cand.RelayUserInfo, cand.Relay, o.target)
	var cerr error
	if err := call(func(now time.Time) { cerr = ep.Connect(now, cand.Relay, cand.RelayUserInfo, []byte(o.target)) }); err != nil {
		return err
	}
	if cerr != nil {
		return cerr
	}
	var est link.Established
	deadline := time.After(o.wait)
wait:
	for {
		select {
		case ev := <-events:
			switch e := ev.(type) {
			case link.Established:
				est = e
				break wait
			case link.Rejected:
				return fmt.Errorf("hop 1 rejected with cause #%d (%v)", uint8(e.Cause), e.Cause)
			}
		case <-deadline:
			return fmt.Errorf("hop 1 not established within %v", o.wait)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	src, dst := relay.Addr(cand.Relay, o.self), est.Accept.TargetIPAddress
	fmt.Fprintf(o.stdout, "target %s at %v, local address %v\n", o.target, dst, src)
	if o.ping <= 0 {
		return nil
	}
	return ping(ctx, o, call, ep, src, dst, replies)
}

func ping(ctx context.Context, o *runOpts, call func(func(time.Time)) error, ep *node.Endpoint, src, dst netip.Addr, replies <-chan reply) error {
	const payload = 56
	fmt.Fprintf(o.stdout, "PING %s (%v) %d data bytes through the relay\n", o.target, dst, payload)
	sent := make(map[uint16]time.Time, o.ping)
	var rtts []time.Duration
	id := uint16(o.self)
	for i := 1; i <= o.ping; i++ {
		seq := uint16(i)
		pkt := echoRequest(src, dst, id, seq, payload)
		var serr error
		if err := call(func(time.Time) { serr = ep.Send(4, pkt) }); err != nil {
			return err
		}
		sent[seq] = time.Now()
		if serr != nil {
			fmt.Fprintf(o.stdout, "send seq=%d: %v\n", seq, serr)
		}
		timeout := time.After(o.interval)
	collect:
		for {
			select {
			case r := <-replies:
				t0, ok := sent[r.seq]
				if !ok {
					continue
				}
				delete(sent, r.seq)
				rtt := r.at.Sub(t0)
				rtts = append(rtts, rtt)
				fmt.Fprintf(o.stdout, "%d bytes from %v: icmp_seq=%d time=%.3f ms\n", r.size-40, r.from, r.seq, float64(rtt.Microseconds())/1000)
				if r.seq == seq {
					break collect
				}
			case <-timeout:
				break collect
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if i < o.ping {
			select {
			case <-timeout:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	fmt.Fprintf(o.stdout, "--- %s ping statistics ---\n", o.target)
	loss := 100 * float64(o.ping-len(rtts)) / float64(o.ping)
	fmt.Fprintf(o.stdout, "%d packets transmitted, %d received, %.0f%% packet loss\n", o.ping, len(rtts), loss)
	if len(rtts) > 0 {
		lo, hi, sum := rtts[0], rtts[0], time.Duration(0)
		for _, r := range rtts {
			lo, hi, sum = min(lo, r), max(hi, r), sum+r
		}
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		fmt.Fprintf(o.stdout, "rtt min/avg/max = %.3f/%.3f/%.3f ms\n", ms(lo), ms(sum/time.Duration(len(rtts))), ms(hi))
	}
	if len(rtts) < o.ping {
		return fmt.Errorf("%d of %d echo requests unanswered", o.ping-len(rtts), o.ping)
	}
	return nil
}
