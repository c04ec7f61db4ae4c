// Package sim is the scenario engine of prose-sim: it plays TR 33.740
// Solution #4 end to end in one process and checks every expectation.
//
// The default scenario (Run) has four phases:
//
//  1. In coverage: a real ProSe Application Server (package as over a
//     temporary SQLite store, its public HTTP API on an httptest TLS server
//     on 127.0.0.1) registers a source UE, a target UE, a relay and the
//     attackers' UEs; each provisions with the ue client (private_key_jwt,
//     CWT tokens) into its own cache directory. One token is revoked before
//     the others provision, so their cached status lists carry the bit.
//  2. Coverage lost: the HTTP server is closed.
//  3. Offline: each UE opens its cache (ue.Cache.Open) into an offline
//     bundle; on an in-memory PC5 medium (pc5/medium) with virtual time the
//     source discovers the relay (package discovery, Model B: the relay
//     forwards the solicitation, the target answers, the relay learns its
//     Layer-2 ID), asks the relay (package relay) for the target, hop 1
//     and hop 2 are established with the tokens verified offline, and IP
//     packets flow both ways through the relay.
//  4. Attacks: each runs on a fresh medium and must be rejected with its
//     expected PC5 cause (forged, expired, revoked and replayed tokens,
//     wrong role, wrong RSC, a bidding-down of the security capabilities,
//     a relay not authorized to serve). The attackers use the relay's
//     static lookup, not discovery.
//
// Options.Pairs adds a scale run (many pairs through one relay) and
// Options.Attacks selects attacks; a Scenario (scenario.go) reads both from
// a YAML file. Scale (scale.go) is a separate mode for many UEs and relays:
// AS provisioning at scale, then offline linking one cell per relay, cells
// in parallel (docs/prose-sim-scale.md).
//
// A scenario file with "ues" describes a World of its own instead
// (worldspec.go checks it, custom.go plays it; docs/scenarios.md is the
// schema): its UEs and their grants, the AS's token lifetimes and status
// list TTL, per-UE clock skews, a PROJECT-DEFINED radio (range over 2-D
// positions, loss, delay and jitter per pair, as medium.Link values),
// revocations placed before the others provision (so their status lists
// carry the bit) or after, AS key rotations between provisioning steps,
// the time spent offline, sessions (discovery or a named relay) and
// attackers' moves (MoveNames), each with the outcome it must have. Run
// plays the World when Options.World is set (Scenario.Apply sets it) with
// the same pieces: the AS over loopback TLS, the ue client, the real
// handshake, relay and discovery on the in-memory medium.
//
// Every expectation is a Check; Result.Failed tells whether any failed.
// Every frame sent on the medium is recorded as a Frame, without payload
// or key material (run, virtual time, sender, receiver, LCID, message
// type, size). Result.WriteTable prints the summary table; Result.WriteDir
// writes summary.json, trace.jsonl and sequence.html (report.go), a
// self-contained page drawing each run's message sequence chart.
//
// Run reads no flags and no environment; its PC5 part draws all its
// randomness from Options.Seed (the AS, identity and issuer keys come from
// crypto/rand: the same seed gives the same frames, sizes and times).
package sim

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prosesec/prosesec/discovery"
	"github.com/prosesec/prosesec/pc5/link"
	"github.com/prosesec/prosesec/pc5/medium"
	"github.com/prosesec/prosesec/pc5/msg"
	"github.com/prosesec/prosesec/relay"
	"github.com/prosesec/prosesec/token"
	"github.com/prosesec/prosesec/ue"
)

// DefaultRSC is the relay service code of the default scenario.
const DefaultRSC = token.RSC(0x00002a)

// otherRSC is an RSC the relay does not serve.
const otherRSC = token.RSC(0x00002b)

// Names of the simulated UEs (their user info and AS client IDs).
const (
	SourceName = "ue-source-00001"
	TargetName = "ue-target-00001"
	RelayName  = "ue-relay-000001"
)

// Start is the wall-clock time of the in-coverage phase (fixed so a run
// is reproducible; the AS and the UE clients read it, not time.Now).
var Start = time.Date(2030, 1, 2, 3, 0, 0, 0, time.UTC)

// Options configure Run.
type Options struct {
	// Seed seeds the PC5 randomness (handshake nonces, ephemeral keys,
	// medium jitter). Identity and AS keys come from crypto/rand.
	Seed uint64
	// Log receives the narrative (nil: discarded).
	Log io.Writer
	// Packets is the number of IP packets sent each way: 0 is the
	// default, 5; negative is an error. A world's session with its own
	// packets (0 included) uses those.
	Packets int
	// Pairs, if above 1, adds a scale run: that many source/target pairs
	// (provisioned like the others) discover the relay and talk through it
	// at once (at most MaxPairs).
	Pairs int
	// Attacks names the attacks to run (AttackNames); nil runs them all,
	// an empty non-nil slice none.
	Attacks []string
	// World, if set, replaces the default scenario by a custom world read
	// from a scenario file (Scenario.Apply sets it; Pairs and Attacks do
	// not apply to it).
	World *World
	// DebugKeys adds key material to the result, for decrypting the trace
	// with another implementation: each frame's octets (Frame.Octets) and
	// the keys of every security context (Result.Keys, keys.jsonl). It
	// exposes everything the links protect; off by default.
	DebugKeys bool
}

// AttackNames are the keys of the attacks of phase 4, in the order they run.
var AttackNames = []string{"forged", "expired", "revoked", "replayed", "wrong-rsc", "wrong-role", "relay-not-authorized", "downgrade"}

// MaxPairs bounds Options.Pairs.
const MaxPairs = 64

// Check is one expectation of the scenario.
type Check struct {
	Phase    string `json:"phase"`
	Name     string `json:"name"`
	Expected string `json:"expected"`
	Observed string `json:"observed"`
	Pass     bool   `json:"pass"`
}

// Result is the outcome of a run.
type Result struct {
	Seed   uint64   `json:"seed"`
	Checks []Check  `json:"checks"`
	Frames []Frame  `json:"-"`
	Runs   []string `json:"runs"`
	// Keys are the keys of every security context, only with DebugKeys.
	Keys     []KeyRecord   `json:"-"`
	Duration time.Duration `json:"-"`
	// lanes ranks the nodes of a run for its sequence chart (0 source,
	// 1 relay, 2 target); runs without an entry are ranked by name.
	lanes map[string]map[string]int
}

// Failed reports whether any check failed.
func (r *Result) Failed() bool {
	for _, c := range r.Checks {
		if !c.Pass {
			return true
		}
	}
	return false
}

type runner struct {
	opt Options
	res *Result
	log io.Writer
}

func (r *runner) say(format string, a ...any) {
	fmt.Fprintf(r.log, format+"\n", a...)
}

func (r *runner) check(phase, name, expected, observed string, pass bool) {
	r.res.Checks = append(r.res.Checks, Check{Phase: phase, Name: name, Expected: expected, Observed: observed, Pass: pass})
	mark := "ok  "
	if !pass {
		mark = "FAIL"
	}
	r.say("    [%s] %s: expected %s, observed %s", mark, name, expected, observed)
}

// Run plays the default scenario. The error is for set-up failures
// (the AS could not start, a temporary directory could not be made);
// failed expectations are in the Result.
func Run(ctx context.Context, opt Options) (*Result, error) {
	switch {
	case opt.Packets < 0:
		return nil, fmt.Errorf("sim: %d packets, want at least 1 (0: the default, 5)", opt.Packets)
	case opt.Packets == 0:
		opt.Packets = 5
	}
	if opt.Pairs > MaxPairs {
		return nil, fmt.Errorf("sim: %d pairs, at most %d", opt.Pairs, MaxPairs)
	}
	for _, a := range opt.Attacks {
		if !slices.Contains(AttackNames, a) {
			return nil, fmt.Errorf("sim: unknown attack %q (known: %s)", a, strings.Join(AttackNames, ", "))
		}
	}
	r := &runner{opt: opt, res: &Result{Seed: opt.Seed}, log: opt.Log}
	if r.log == nil {
		r.log = io.Discard
	}
	t0 := time.Now()
	var err error
	if opt.World != nil {
		err = r.runWorld(ctx, opt.World)
	} else {
		err = r.run(ctx)
	}
	r.res.Duration = time.Since(t0)
	if err != nil {
		err = fmt.Errorf("sim: %w", err)
	}
	return r.res, err
}

// ues is what the in-coverage phase leaves behind.
type ues struct {
	source, target, relay       *provisioned
	expired, revoked, otherRSC  *provisioned
	relayUseOnly, relayOtherRSC *provisioned
	pairs                       [][2]*provisioned // scale run: source, target
}

func (r *runner) run(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "prose-sim-")
	if err != nil {
		return err
	}
	defer removeAll(dir)

	// Phase 1.
	r.say("== Phase 1: in coverage (AS in-process on 127.0.0.1, SQLite in a temporary directory)")
	clk := &clock{t: Start.Add(-3 * time.Hour)}
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
	r.say("  AS issuer %s", srv.issuer)
	done := r.traceHTTP(srv, clk)
	u, err := r.provisionAll(ctx, dir, srv, clk)
	done()
	if err != nil {
		return err
	}

	// Phase 2.
	r.say("== Phase 2: coverage lost")
	srv.stop()
	stopped = true
	r.say("  AS HTTP server closed; from here on everything is verified offline")

	// Phase 3.
	offline := Start.Add(10 * time.Minute)
	r.say("== Phase 3: offline at %s (virtual time)", offline.Format(time.RFC3339))
	pol := ue.Policy{}
	open := func(p *provisioned) (*ue.OfflineBundle, error) { return p.cache.Open(pol, offline) }
	bundles := map[string]*ue.OfflineBundle{}
	for _, p := range []*provisioned{u.source, u.target, u.relay, u.otherRSC, u.relayUseOnly, u.relayOtherRSC} {
		b, err := open(p)
		r.check("offline", "offline start of "+p.name, "cache opens", outcome(err, "cache opens"), err == nil)
		if err != nil {
			return fmt.Errorf("opening the cache of %s: %w", p.name, err)
		}
		bundles[p.name] = b
	}
	_, err = open(u.expired)
	obs := outcome(err, "cache opens")
	tokenExpired := !offline.Before(u.expired.cred.Token.Expiry)
	if tokenExpired && err != nil && !errors.Is(err, ue.ErrTokenExpired) {
		obs += fmt.Sprintf("; its token expired at %s", u.expired.cred.Token.Expiry.Format("15:04"))
	}
	r.check("offline", "offline start of "+u.expired.name, "refused: token and status list expired (provisioned 3 h early)", obs,
		tokenExpired && (errors.Is(err, ue.ErrTokenExpired) || errors.Is(err, ue.ErrStatusListStale)))
	// The revoked UE provisioned before its revocation: its own cache does
	// not know, only its peers' caches do (the attack below).
	_, err = open(u.revoked)
	r.check("offline", "offline start of "+u.revoked.name, "cache opens (it predates the revocation)", outcome(err, "cache opens"), err == nil)

	verifier := bundles[SourceName].Verifier
	salt := 0
	cfg := func(name string, b *ue.OfflineBundle) party {
		salt++
		return party{name: name, cfg: &link.Config{
			LocalUserInfo: []byte(name), IdentityKey: b.IdentityKey, Token: b.Token, TokenFormat: msg.TokenCWT,
			Verifier: b.Verifier, Rand: seeded(r.opt.Seed, fmt.Sprintf("%s/%d", name, salt)),
		}, rscs: discovery.UseRSCs(b.Claims.Scopes)}
	}
	// raw makes a party from a token and key directly, skipping Open (for
	// attackers whose own cache refuses to open).
	rawAs := func(name, userInfo string, key crypto.Signer, tok []byte) party {
		salt++
		return party{name: name, cfg: &link.Config{
			LocalUserInfo: []byte(userInfo), IdentityKey: key, Token: tok, TokenFormat: msg.TokenCWT,
			Verifier: verifier, Rand: seeded(r.opt.Seed, fmt.Sprintf("%s/%d", name, salt)),
		}}
	}
	raw := func(name string, key crypto.Signer, tok []byte) party { return rawAs(name, name, key, tok) }
	src := func() party { return cfg(SourceName, bundles[SourceName]) }
	tgt := func() party { return cfg(TargetName, bundles[TargetName]) }
	rel := func() party {
		p := cfg(RelayName, bundles[RelayName])
		p.rscs = discovery.ServeRSCs(bundles[RelayName].Claims.Scopes)
		return p
	}

	if err := r.happyPath(offline, src(), tgt(), rel()); err != nil {
		return err
	}

	if len(u.pairs) > 0 {
		var ps [][2]party
		for _, p := range u.pairs {
			var pp [2]party
			for j := range p {
				b, err := open(p[j])
				if err != nil {
					return fmt.Errorf("opening the cache of %s: %w", p[j].name, err)
				}
				pp[j] = cfg(p[j].name, b)
			}
			ps = append(ps, pp)
		}
		if err := r.scale(offline, ps, rel()); err != nil {
			return err
		}
	}

	// Phase 4.
	r.say("== Phase 4: attacks (each on a fresh medium)")
	attacker, err := ecdsa.GenerateKey(elliptic.P256(), seeded(r.opt.Seed, "attacker"))
	if err != nil {
		return err
	}
	rogueKey, err := ecdsa.GenerateKey(elliptic.P256(), seeded(r.opt.Seed, "rogue-issuer"))
	if err != nil {
		return err
	}
	rogue, err := token.NewSigner(srv.issuer, "rogue", rogueKey)
	if err != nil {
		return err
	}
	jti, err := token.NewID(seeded(r.opt.Seed, "forged-jti"))
	if err != nil {
		return err
	}
	forged, err := rogue.Sign(&token.Claims{
		Issuer: srv.issuer, Subject: "ue-source-forged", ClientID: "ue-source-forged", Audience: []string{bundles[SourceName].Claims.Audience[0]},
		IssuedAt: offline.Add(-time.Minute), Expiry: offline.Add(time.Hour), ID: jti,
		Scopes: []token.Scope{{Role: token.RoleUse, RSC: DefaultRSC}}, Confirmation: attacker.Public(),
	}, token.CWT)
	if err != nil {
		return err
	}
	auth := "rejected by the relay: #6 authentication failure"
	attacks := []attack{
		{name: "forged token (rogue issuer key)", expect: remote(msg.CauseAuthenticationFailure), expected: auth,
			src: raw("ue-source-forged", attacker, forged), why: token.ErrUnknownKey},
		{name: "expired token", expect: remote(msg.CauseAuthenticationFailure), expected: auth,
			src: raw(u.expired.name, u.expired.key, u.expired.cred.Token.Raw), why: token.ErrExpired},
		{name: "revoked token (status list bit set)", expect: remote(msg.CauseAuthenticationFailure), expected: auth,
			src: raw(u.revoked.name, u.revoked.key, u.revoked.cred.Token.Raw), why: token.ErrRevoked},
		{name: "token of another UE replayed (cnf mismatch)", expect: remote(msg.CauseAuthenticationFailure), expected: auth,
			src: rawAs("attacker-as-"+SourceName, SourceName, attacker, bundles[SourceName].Token), tokenValid: true},
		{name: "source token for another RSC", expect: remote(msg.CauseRequiredServiceNotAllowed),
			expected: "rejected by the relay: #11 required service not allowed", src: cfg(u.otherRSC.name, bundles[u.otherRSC.name])},
		{name: "relay presents a use token (wrong role)", expect: local(msg.CauseRequiredServiceNotAllowed, token.ErrScopeNotGranted),
			expected: "source rejects the relay: #11 required service not allowed (token: scope not granted)", relay: ptr(cfg(u.relayUseOnly.name, bundles[u.relayUseOnly.name]))},
		{name: "relay not authorized to serve this RSC", expect: local(msg.CauseRequiredServiceNotAllowed, token.ErrScopeNotGranted),
			expected: "source rejects the relay: #11 required service not allowed (token: scope not granted)", relay: ptr(cfg(u.relayOtherRSC.name, bundles[u.relayOtherRSC.name]))},
		{name: "capabilities stripped from the REQUEST (bidding down)", expect: timedOut,
			expected: "SMC fails integrity at the source, discarded; the source gives up when T5080 runs out", tamper: stripCapabilities, discards: true},
	}
	for i, a := range attacks {
		if r.opt.Attacks != nil && !slices.Contains(r.opt.Attacks, AttackNames[i]) {
			continue
		}
		if a.src.cfg == nil {
			a.src = src()
		}
		rp := rel()
		if a.relay != nil {
			rp = *a.relay
		}
		if err := r.attack(offline, a, rp, tgt()); err != nil {
			return err
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

func outcome(err error, ok string) string {
	switch {
	case err == nil:
		return ok
	case errors.Is(err, ue.ErrTokenExpired):
		return "refused: token expired (ue.ErrTokenExpired)"
	case errors.Is(err, ue.ErrStatusListStale):
		return "refused: cached status list expired (ue.ErrStatusListStale)"
	case errors.Is(err, ue.ErrRevoked):
		return "refused: token revoked (ue.ErrRevoked)"
	}
	return "refused: " + err.Error()
}

func (r *runner) provisionAll(ctx context.Context, dir string, srv *server, clk *clock) (*ues, error) {
	use := func(rsc token.RSC) token.Scope { return token.Scope{Role: token.RoleUse, RSC: rsc} }
	serve := func(rsc token.RSC) token.Scope { return token.Scope{Role: token.RoleServe, RSC: rsc} }
	specs := []struct {
		name   string
		grants []token.Scope
	}{
		{SourceName, []token.Scope{use(DefaultRSC)}},
		{TargetName, []token.Scope{use(DefaultRSC)}},
		{RelayName, []token.Scope{serve(DefaultRSC)}},
		{"ue-source-expired", []token.Scope{use(DefaultRSC)}},
		{"ue-source-revoked", []token.Scope{use(DefaultRSC)}},
		{"ue-source-otherrsc", []token.Scope{use(otherRSC)}},
		{"ue-relay-useonly", []token.Scope{use(DefaultRSC)}},
		{"ue-relay-otherrsc", []token.Scope{serve(otherRSC), use(DefaultRSC)}},
	}
	keys := map[string]crypto.Signer{}
	for _, s := range specs {
		k, err := srv.register(ctx, s.name, s.grants...)
		if err != nil {
			return nil, err
		}
		keys[s.name] = k
		r.say("  registered %-20s grants %s", s.name, token.FormatScopes(s.grants))
	}
	prov := func(name string) (*provisioned, error) {
		p, err := srv.provision(ctx, dir, name, keys[name])
		if err != nil {
			return nil, err
		}
		r.say("  provisioned %-19s token %s..%s (CWT, %d octets), %d status list(s)", name,
			p.cred.Token.IssuedAt.Format("15:04"), p.cred.Token.Expiry.Format("15:04"), len(p.cred.Token.Raw), len(p.cred.StatusLists))
		return p, nil
	}
	u := &ues{}
	var err error
	// The expired UE provisions three hours early: its token has expired
	// by the time the others go offline.
	r.say("  [%s] early provisioning (this token expires before the offline phase)", clk.Now().Format("15:04"))
	if u.expired, err = prov("ue-source-expired"); err != nil {
		return nil, err
	}
	clk.Set(Start)
	r.say("  [%s] provisioning (AS clock, 10 minutes before coverage is lost)", clk.Now().Format("15:04"))
	if u.revoked, err = prov("ue-source-revoked"); err != nil {
		return nil, err
	}
	if err := srv.as.RevokeToken(ctx, u.revoked.cred.Token.ID); err != nil {
		return nil, fmt.Errorf("revoking: %w", err)
	}
	r.say("  revoked the token of ue-source-revoked (before coverage is lost)")
	for _, n := range []string{SourceName, TargetName, RelayName, "ue-source-otherrsc", "ue-relay-useonly", "ue-relay-otherrsc"} {
		p, err := prov(n)
		if err != nil {
			return nil, err
		}
		switch n {
		case SourceName:
			u.source = p
		case TargetName:
			u.target = p
		case RelayName:
			u.relay = p
		case "ue-source-otherrsc":
			u.otherRSC = p
		case "ue-relay-useonly":
			u.relayUseOnly = p
		case "ue-relay-otherrsc":
			u.relayOtherRSC = p
		}
	}
	for i := range r.pairs() {
		var pair [2]*provisioned
		for j, n := range []string{fmt.Sprintf("ue-source-s%04d", i), fmt.Sprintf("ue-target-t%04d", i)} {
			k, err := srv.register(ctx, n, use(DefaultRSC))
			if err != nil {
				return nil, err
			}
			keys[n] = k
			if pair[j], err = srv.provision(ctx, dir, n, k); err != nil {
				return nil, err
			}
		}
		u.pairs = append(u.pairs, pair)
	}
	if n := r.pairs(); n > 0 {
		r.say("  registered and provisioned %d more source/target pairs for the scale run", n)
	}
	r.check("coverage", "provisioning", "all UEs provisioned", "all UEs provisioned", true)
	return u, nil
}

// pairs is the number of pairs of the scale run (0: none).
func (r *runner) pairs() int {
	if r.opt.Pairs > 1 {
		return r.opt.Pairs
	}
	return 0
}

func (r *runner) newRun(name string, at time.Time) (*pc5Run, error) {
	r.res.Runs = append(r.res.Runs, name)
	run, err := newRun(name, at, r.opt.Seed)
	if run != nil {
		run.log = r.log
		run.pdus = newPDULog()
		run.debug = r.opt.DebugKeys
	}
	return run, err
}

func (r *runner) finish(run *pc5Run) {
	r.res.Frames = append(r.res.Frames, run.frames...)
	r.res.Keys = append(r.res.Keys, run.keys...)
}

// traceHTTP makes srv record the UEs' exchanges with it as the first run
// of the trace; the returned function adds them to the result.
func (r *runner) traceHTTP(srv *server, clk *clock) func() {
	srv.http = newHTTPLog(clk)
	r.res.Runs = append(r.res.Runs, httpRunName)
	return func() { r.res.Frames = append(r.res.Frames, srv.http.frames()...) }
}

func (r *runner) happyPath(at time.Time, src, tgt, rel party) error {
	run, err := r.newRun("offline: discovery, relay links, IP traffic", at)
	if err != nil {
		return err
	}
	defer r.finish(run)
	if err := run.addRelay(rel, nil, true); err != nil {
		return err
	}
	t, err := run.addUE(tgt, targetID, true, true)
	if err != nil {
		return err
	}
	s, err := run.addUE(src, sourceID, false, true)
	if err != nil {
		return err
	}
	r.say("  relay discovery (Model B): %s solicits a relay for %s (RSC %06x)", src.name, tgt.name, uint32(DefaultRSC))
	if err := s.solicit(tgt.name); err != nil {
		return err
	}
	run.clock.Advance(time.Second)
	cand, found := s.disc.Select(DefaultRSC, []byte(tgt.name), run.clock.Now())
	obs := "no relay found"
	if found {
		obs = fmt.Sprintf("%s (L2 %06x), target reachable %v", cand.RelayUserInfo, uint32(cand.Relay), cand.TargetReachable)
	}
	r.check("offline", "relay discovery (Model B)", "relay "+rel.name+" selected, target reachable", obs,
		found && cand.Relay == relayID && string(cand.RelayUserInfo) == rel.name && cand.TargetReachable)
	if !found {
		return nil
	}
	r.say("  %s -> relay %s: DIRECT LINK ESTABLISHMENT REQUEST for %s", src.name, cand.RelayUserInfo, tgt.name)
	if err := s.connect(string(cand.RelayUserInfo), tgt.name); err != nil {
		return err
	}
	run.clock.Advance(5 * time.Second)
	e, ok := s.established()
	obs = "not established"
	if ok {
		obs = fmt.Sprintf("established, peer %s (%s), target address %v", e.PeerUserInfo, token.FormatScopes(e.PeerClaims.Scopes), e.Accept.TargetIPAddress)
	} else if rj, ok := s.rejected(); ok {
		obs = fmt.Sprintf("rejected #%d", rj.Cause)
	}
	want := relay.Addr(relayID, targetID)
	r.check("offline", "hop 1 (source-relay)", "established, token verified offline", obs, ok && e.Accept.TargetIPAddress == want)
	e2, ok2 := t.established()
	obs = "not established"
	if ok2 {
		obs = fmt.Sprintf("established, peer %s (%s)", e2.PeerUserInfo, token.FormatScopes(e2.PeerClaims.Scopes))
	}
	r.check("offline", "hop 2 (relay-target)", "established, token verified offline", obs, ok2 && string(e2.PeerUserInfo) == rel.name)
	if !ok || !ok2 {
		return nil
	}
	srcAddr, dst := s.ep.LocalAddr(relayID), relay.Addr(relayID, targetID)
	n := r.opt.Packets
	for i := range n {
		if err := s.send(ipv6(srcAddr, dst, 1000, byte(i))); err != nil {
			return err
		}
		run.clock.Advance(100 * time.Millisecond)
	}
	run.clock.Advance(time.Second)
	r.say("  %d IP packets %v -> %v, echoed back by the target", n, srcAddr, dst)
	st := run.relay.Stats()
	r.check("offline", "IP source->target via relay", fmt.Sprintf("%d packets", n), fmt.Sprintf("%d packets", t.got), t.got == n)
	r.check("offline", "IP target->source via relay", fmt.Sprintf("%d packets", n), fmt.Sprintf("%d packets", s.got), s.got == n)
	r.check("offline", "relay forwarded", fmt.Sprintf("%d packets", 2*n), fmt.Sprintf("%d packets", st.Forwarded), st.Forwarded == uint64(2*n))
	return nil
}

// expectation judges a source's events.
type expectation func(s *endUE) (string, bool)

func describeEnd(s *endUE) string {
	if e, ok := s.established(); ok {
		return "established (peer " + string(e.PeerUserInfo) + ")"
	}
	rj, ok := s.rejected()
	if !ok {
		return "no outcome"
	}
	if errors.Is(rj.Err, link.ErrTimeout) {
		// A supervision timer ran out: nothing was received, and the
		// source sends no REJECT; the cause is the one it records.
		why := rj.Err.Error()
		if _, after, ok := strings.Cut(why, strings.TrimPrefix(link.ErrTimeout.Error(), "pc5/link: ")+": "); ok {
			why = after
		}
		return fmt.Sprintf("source gave up: %v (%s; no REJECT on the air)", rj.Cause, why)
	}
	who := "source rejected"
	if rj.Remote {
		who = "rejected by the relay"
	}
	d := fmt.Sprintf("%s: %v", who, rj.Cause)
	switch {
	case !rj.Remote && errors.Is(rj.Err, token.ErrScopeNotGranted):
		d += " (" + token.ErrScopeNotGranted.Error() + ")"
	}
	return d
}

func remote(c msg.Cause) expectation {
	return func(s *endUE) (string, bool) {
		rj, ok := s.rejected()
		_, est := s.established()
		return describeEnd(s), ok && !est && rj.Remote && rj.Cause == c
	}
}

// local: the source itself rejected with c, for the reason why.
func local(c msg.Cause, why error) expectation {
	return func(s *endUE) (string, bool) {
		rj, ok := s.rejected()
		_, est := s.established()
		return describeEnd(s), ok && !est && !rj.Remote && rj.Cause == c && errors.Is(rj.Err, why)
	}
}

func timedOut(s *endUE) (string, bool) {
	rj, ok := s.rejected()
	_, est := s.established()
	return describeEnd(s), ok && !est && !rj.Remote && errors.Is(rj.Err, link.ErrTimeout)
}

type attack struct {
	name     string
	expected string
	expect   expectation
	src      party
	relay    *party
	tamper   tamper
	// why, if set, is the error the relay's offline verifier must give for
	// the source's token (the cause on the air does not tell them apart).
	why error
	// tokenValid: the token itself verifies; the attack fails elsewhere
	// (the signature is not made with the token's cnf key).
	tokenValid bool
	// discards: the source must discard every SECURITY MODE COMMAND it
	// receives, unauthenticated (discardedSMCs).
	discards bool
}

func (r *runner) attack(at time.Time, a attack, rel, tgt party) error {
	run, err := r.newRun(a.name, at)
	if err != nil {
		return err
	}
	defer r.finish(run)
	if err := run.addRelay(rel, a.tamper, false); err != nil {
		return err
	}
	t, err := run.addUE(tgt, targetID, false, false)
	if err != nil {
		return err
	}
	s, err := run.addUE(a.src, sourceID, false, false)
	if err != nil {
		return err
	}
	r.say("  attack: %s (%s -> %s)", a.name, a.src.name, rel.name)
	if err := s.connect(rel.name, tgt.name); err != nil {
		return err
	}
	run.clock.Advance(60 * time.Second)
	obs, ok := a.expect(s)
	if a.discards {
		note, all := discardedSMCs(run, s)
		obs, ok = note+"; "+obs, ok && all
	}
	if _, est := t.established(); est {
		obs += "; hop 2 established"
		ok = false
	}
	if n := run.relay.Links(); n != 0 {
		obs += fmt.Sprintf("; relay keeps %d link(s)", n)
		ok = false
	}
	expected := a.expected
	if a.why != nil {
		_, err := rel.cfg.Verifier.Verify(a.src.cfg.Token, token.CWT, run.clock.Now())
		expected += fmt.Sprintf("; relay's verifier: %v", a.why)
		if errors.Is(err, a.why) {
			err = a.why // the detail names the issuer URL and times
		}
		obs += fmt.Sprintf("; relay's verifier: %v", err)
		ok = ok && errors.Is(err, a.why)
	}
	if a.tokenValid {
		_, err := rel.cfg.Verifier.Verify(a.src.cfg.Token, token.CWT, run.clock.Now())
		expected += "; relay's verifier: token valid (the attacker lacks its cnf key)"
		if err == nil {
			obs += "; relay's verifier: token valid"
		} else {
			obs += fmt.Sprintf("; relay's verifier: %v", err)
		}
		ok = ok && err == nil
	}
	r.check("attack", a.name, expected, obs, ok)
	return nil
}

// discardedSMCs tells whether s discarded every SECURITY MODE COMMAND it
// received in run for a failed integrity check, and nothing else reached
// it: its endpoint reported one discard (node.EndpointConfig.OnDiscard)
// per frame delivered to it, all of them SMCs, each wrapping
// link.ErrIntegrity: none was authenticated, and none was answered. If so,
// the trace entries of those SMCs get the field "discarded" with the
// link's reason (the chart draws them as discarded).
func discardedSMCs(run *pc5Run, s *endUE) (string, bool) {
	smc := msg.MsgSecurityModeCommand.String()
	var got []int
	other := 0
	for i, f := range run.frames {
		switch {
		case f.To != s.name || f.Dropped != "":
		case f.Message == smc:
			got = append(got, i)
		default:
			other++
		}
	}
	d := s.discards
	integrity := 0
	for _, err := range d {
		if errors.Is(err, link.ErrIntegrity) {
			integrity++
		}
	}
	if len(got) == 0 || other != 0 || len(d) != len(got) || integrity != len(d) {
		return fmt.Sprintf("source discarded %d of the %d frames it received (%d SECURITY MODE COMMANDs), %d for failed integrity", len(d), len(got)+other, len(got), integrity), false
	}
	for k, i := range got {
		f := &run.frames[i]
		f.Fields = maps.Clone(f.Fields)
		if f.Fields == nil {
			f.Fields = map[string]string{}
		}
		f.Fields["discarded"] = "by " + s.name + ", not answered: " + d[k].Error()
	}
	return fmt.Sprintf("source discarded all %d SECURITY MODE COMMANDs it received, each for a failed integrity check (MAC-I, #7), no COMPLETE, no REJECT", len(got)), true
}

// stripCapabilities rewrites the source's DIRECT LINK ESTABLISHMENT
// REQUEST in flight to offer only the weakest algorithms.
func stripCapabilities(f medium.Frame) medium.Frame {
	if f.LCID != 0 {
		return f
	}
	var req msg.DirectLinkEstablishmentRequest
	if err := req.UnmarshalBinary(f.Payload); err != nil {
		return f
	}
	req.UESecurityCapabilities = msg.NewUESecurityCapabilities([]uint8{1}, []uint8{1})
	d, err := req.Marshal()
	if err != nil {
		return f
	}
	f.Payload = d
	return f
}

// scale runs many source/target pairs through one relay at once.
func (r *runner) scale(at time.Time, pairs [][2]party, rel party) error {
	name := fmt.Sprintf("scale: %d pairs through one relay", len(pairs))
	r.say("  %s", name)
	run, err := r.newRun(name, at)
	if err != nil {
		return err
	}
	run.log = nil // too many frames to narrate
	defer r.finish(run)
	run.maxLinks = max(2*len(pairs), relay.DefaultMaxLinks)
	if err := run.addRelay(rel, nil, true); err != nil {
		return err
	}
	var srcs, tgts []*endUE
	for i, p := range pairs {
		t, err := run.addUE(p[1], medium.L2ID(0x002000+i), true, true)
		if err != nil {
			return err
		}
		s, err := run.addUE(p[0], medium.L2ID(0x001000+i), false, true)
		if err != nil {
			return err
		}
		srcs, tgts = append(srcs, s), append(tgts, t)
	}
	for i, s := range srcs {
		if err := s.solicit(pairs[i][1].name); err != nil {
			return err
		}
		run.clock.Advance(10 * time.Millisecond)
	}
	run.clock.Advance(time.Second)
	found := 0
	for i, s := range srcs {
		c, ok := s.disc.Select(DefaultRSC, []byte(pairs[i][1].name), run.clock.Now())
		if ok && c.Relay == relayID && c.TargetReachable {
			found++
			if err := s.connect(string(c.RelayUserInfo), pairs[i][1].name); err != nil {
				return err
			}
			run.clock.Advance(10 * time.Millisecond)
		}
	}
	run.clock.Advance(5 * time.Second)
	n := len(pairs)
	r.check("scale", "relay discovered", fmt.Sprintf("%d/%d", n, n), fmt.Sprintf("%d/%d", found, n), found == n)
	est := 0
	for i, s := range srcs {
		if _, ok := s.established(); !ok {
			continue
		}
		if _, ok := tgts[i].established(); ok {
			est++
		}
	}
	r.check("scale", "both hops established", fmt.Sprintf("%d/%d", n, n), fmt.Sprintf("%d/%d", est, n), est == n)
	sent := 0
	for i, s := range srcs {
		if _, ok := s.established(); !ok {
			continue
		}
		src, dst := s.ep.LocalAddr(relayID), relay.Addr(relayID, tgts[i].id)
		for k := range r.opt.Packets {
			if err := s.send(ipv6(src, dst, 200, byte(k))); err == nil {
				sent++
			}
		}
		run.clock.Advance(50 * time.Millisecond)
	}
	run.clock.Advance(2 * time.Second)
	got, echoed := 0, 0
	for i, s := range srcs {
		got += tgts[i].got
		echoed += s.got
	}
	want := n * r.opt.Packets
	r.check("scale", "IP packets delivered and echoed", fmt.Sprintf("%d and %d", want, want), fmt.Sprintf("%d and %d", got, echoed), sent == want && got == want && echoed == want)
	return nil
}
