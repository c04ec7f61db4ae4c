package sim

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prosesec/prosesec/as"
	"github.com/prosesec/prosesec/discovery"
	"github.com/prosesec/prosesec/pc5/link"
	"github.com/prosesec/prosesec/pc5/medium"
	"github.com/prosesec/prosesec/pc5/msg"
	"github.com/prosesec/prosesec/relay"
	"github.com/prosesec/prosesec/token"
	"github.com/prosesec/prosesec/ue"
)

// worldRun is the state of a custom world between its phases.
type worldRun struct {
	w        *World
	srv      *server
	offline  time.Time
	prov     map[string]*provisioned
	bundles  map[string]*ue.OfflineBundle
	refused  map[string]string // UE name -> why its cache did not open
	verifier *token.Verifier   // for attackers without a cache of their own
	rscs     []token.RSC       // every RSC of the world (what relays accept)
	salt     int
}

// Set-up times of a world's runs (virtual time).
const (
	worldHandshakeWait = 40 * time.Second // T5080 x 3 retransmissions and hop 2 fit
	worldAttackWait    = 60 * time.Second
	worldSolicitWait   = 2 * time.Second
	worldSolicitTries  = 3
)

// runWorld plays a custom world: the same four phases as the default
// scenario, with the file's UEs, AS settings, radio and expectations.
func (r *runner) runWorld(ctx context.Context, w *World) error {
	dir, err := os.MkdirTemp("", "prose-sim-")
	if err != nil {
		return err
	}
	defer removeAll(dir)
	wr := &worldRun{w: w, prov: map[string]*provisioned{}, bundles: map[string]*ue.OfflineBundle{}, refused: map[string]string{}}
	wr.rscs = w.allRSCs()

	r.say("== Phase 1: in coverage (AS in-process on 127.0.0.1, SQLite in a temporary directory)")
	clk := &clock{t: Start}
	srv, err := startASWith(ctx, dir, clk, func(c *as.Config) {
		c.DefaultTokenLifetime, c.StatusListTTL = w.tokenLifetime, w.statusListTTL
	})
	if err != nil {
		return fmt.Errorf("starting the AS: %w", err)
	}
	wr.srv = srv
	stopped := false
	defer func() {
		if !stopped {
			srv.stop()
		}
	}()
	r.say("  AS issuer %s, token lifetime %v, status list TTL %v", srv.issuer, w.tokenLifetime, w.statusListTTL)
	done := r.traceHTTP(srv, clk)
	err = r.worldProvision(ctx, dir, wr)
	done()
	if err != nil {
		return err
	}

	r.say("== Phase 2: coverage lost")
	srv.stop()
	stopped = true
	r.say("  AS HTTP server closed; from here on everything is verified offline")

	wr.offline = Start.Add(w.offlineAfter)
	r.say("== Phase 3: offline at %s (virtual time, %v after provisioning)", wr.offline.Format(time.RFC3339), w.offlineAfter)
	r.worldOpen(wr)

	r.say("== Phase 4: sessions and attackers (each on a fresh medium)")
	for _, se := range w.sessions {
		if err := r.worldSession(wr, se); err != nil {
			return err
		}
	}
	for i, a := range w.attackers {
		if err := r.worldAttack(wr, i, a); err != nil {
			return err
		}
	}
	if d := w.dropped; d != nil {
		n := 0
		for _, f := range r.res.Frames {
			if f.Dropped != "" {
				n++
			}
		}
		var want []string
		pass := true
		if d.Min != nil {
			want = append(want, fmt.Sprintf("at least %d", *d.Min))
			pass = pass && n >= *d.Min
		}
		if d.Max != nil {
			want = append(want, fmt.Sprintf("at most %d", *d.Max))
			pass = pass && n <= *d.Max
		}
		r.check("radio", "frames dropped by the radio", strings.Join(want, " and "), fmt.Sprintf("%d", n), pass)
	}
	return nil
}

// lane records the role of a node in a run for the sequence chart.
func (r *runner) lane(run, name string, rank int) {
	if r.res.lanes == nil {
		r.res.lanes = map[string]map[string]int{}
	}
	if r.res.lanes[run] == nil {
		r.res.lanes[run] = map[string]int{}
	}
	r.res.lanes[run][name] = rank
}

// allRSCs lists the world's RSC and every RSC of a grant or a session.
func (w *World) allRSCs() []token.RSC {
	out := []token.RSC{w.rsc}
	add := func(c token.RSC) {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	for _, u := range w.ues {
		for _, g := range u.grants {
			add(g.RSC)
		}
	}
	for _, s := range w.sessions {
		add(s.rsc)
	}
	return out
}

// worldProvision registers every UE, then provisions them: the UEs with a
// revocation "first" provision first and are revoked at once (so every
// later cache carries the bit), then the others in file order; a key
// rotation follows the UE it names; "last" revocations come at the end.
func (r *runner) worldProvision(ctx context.Context, dir string, wr *worldRun) error {
	w := wr.w
	keys := map[string]crypto.Signer{}
	for _, u := range w.ues {
		k, err := wr.srv.registerFor(ctx, u.name, u.lifetime, u.grants...)
		if err != nil {
			return err
		}
		keys[u.name] = k
		life := "AS default"
		if u.lifetime > 0 {
			life = u.lifetime.String()
		}
		role := "end UE"
		if u.relay {
			role = "relay"
		}
		r.say("  registered %-20s %-6s grants %s, token lifetime %s", u.name, role, token.FormatScopes(u.grants), life)
	}
	first := map[string]bool{}
	for _, rv := range w.revocations {
		if !rv.last {
			first[rv.ue] = true
		}
	}
	var order []string
	for _, u := range w.ues {
		if first[u.name] {
			order = append(order, u.name)
		}
	}
	for _, u := range w.ues {
		if !first[u.name] {
			order = append(order, u.name)
		}
	}
	revoke := func(name string) error {
		if err := wr.srv.as.RevokeToken(ctx, wr.prov[name].cred.Token.ID); err != nil {
			return fmt.Errorf("revoking the token of %s: %w", name, err)
		}
		return nil
	}
	gen := 1 // the AS signing key in use: 1, then one more per rotation
	for _, n := range order {
		p, err := wr.srv.provision(ctx, dir, n, keys[n])
		if err != nil {
			return err
		}
		wr.prov[n] = p
		r.say("  provisioned %-19s token %s..%s (CWT, %d octets, AS key #%d), %d status list(s)", n,
			p.cred.Token.IssuedAt.Format("15:04:05"), p.cred.Token.Expiry.Format("15:04:05"), len(p.cred.Token.Raw), gen, len(p.cred.StatusLists))
		if first[n] {
			if err := revoke(n); err != nil {
				return err
			}
			r.say("  revoked the token of %s (before the others provision: their status lists carry it)", n)
		}
		for _, after := range w.rotations {
			if after != n {
				continue
			}
			if _, err := wr.srv.as.RotateKeys(ctx, true); err != nil {
				return fmt.Errorf("rotating the AS signing key after %s: %w", n, err)
			}
			gen++
			r.say("  rotated the AS signing key: key #%d signs from now on (it was published in advance; key #%d stays published)", gen, gen-1)
		}
	}
	for _, rv := range w.revocations {
		if rv.last {
			if err := revoke(rv.ue); err != nil {
				return err
			}
			r.say("  revoked the token of %s after everyone provisioned (no cached status list carries it)", rv.ue)
		}
	}
	r.check("coverage", "provisioning", fmt.Sprintf("%d UEs provisioned", len(w.ues)), fmt.Sprintf("%d UEs provisioned", len(wr.prov)), len(wr.prov) == len(w.ues))
	return nil
}

// defaultOffline is the offline start a UE is expected to have when the
// file does not say: from the token lifetime, the status list TTL, the
// offline time and the UE's clock skew. It is never "refused": only a
// damaged cache is, and the sim never damages one.
func (w *World) defaultOffline(u *worldUE) string {
	at := w.offlineAfter + u.skew
	life := u.lifetime
	if life == 0 {
		life = w.tokenLifetime
	}
	// A clock before the token's issue time is no refusal:
	// ue.Credentials.Open verifies the token at its own issue time and
	// only checks that the token and the status lists have not expired
	// (the UE's PC5 verifier then finds peers' tokens not yet valid).
	switch {
	case at >= w.statusListTTL || at > ue.DefaultMaxStatusAge:
		return "status_list_stale"
	case at >= life:
		return "token_expired"
	}
	return "opens"
}

func offlineOutcome(err error) string {
	switch {
	case err == nil:
		return "opens"
	case errors.Is(err, ue.ErrTokenExpired):
		return "token_expired"
	case errors.Is(err, ue.ErrStatusListStale):
		return "status_list_stale"
	case errors.Is(err, ue.ErrRevoked):
		return "revoked"
	}
	return "refused"
}

// worldOpen opens every UE's cache at its own clock (offline + skew).
func (r *runner) worldOpen(wr *worldRun) {
	w := wr.w
	lw := w.leeway
	if lw == 0 {
		lw = -1 // ue.Policy: negative is none, 0 the default
	}
	for _, u := range w.ues {
		b, err := wr.prov[u.name].cache.Open(ue.Policy{Leeway: lw}, wr.offline.Add(u.skew))
		want, ok := w.offlineExpect[u.name]
		if !ok {
			want = w.defaultOffline(u)
		}
		got := offlineOutcome(err)
		name := "offline start of " + u.name
		if u.skew != 0 {
			name += fmt.Sprintf(" (clock %+v)", u.skew)
		}
		r.check("offline", name, want, got+detail(err), got == want)
		if err != nil {
			wr.refused[u.name] = got
			continue
		}
		wr.bundles[u.name] = b
		if wr.verifier == nil {
			wr.verifier = b.Verifier
		}
	}
}

// detail adds the short form of a refusal (no times, no URLs).
func detail(err error) string {
	if err == nil {
		return ""
	}
	for _, e := range []error{ue.ErrTokenExpired, ue.ErrStatusListStale, ue.ErrRevoked} {
		if errors.Is(err, e) {
			return " (" + e.Error() + ")"
		}
	}
	return " (" + err.Error() + ")"
}

// party makes the PC5 party of a UE from its offline bundle.
func (wr *worldRun) party(r *runner, name string) (party, bool) {
	b, ok := wr.bundles[name]
	if !ok {
		return party{}, false
	}
	wr.salt++
	u := wr.w.byName[name]
	p := party{name: name, cfg: &link.Config{
		LocalUserInfo: []byte(name), IdentityKey: b.IdentityKey, Token: b.Token, TokenFormat: msg.TokenCWT,
		Verifier: b.Verifier, Rand: seeded(r.opt.Seed, fmt.Sprintf("%s/w%d", name, wr.salt)),
	}, rscs: discovery.UseRSCs(b.Claims.Scopes)}
	if u.relay {
		p.rscs = discovery.ServeRSCs(b.Claims.Scopes)
	}
	return p, true
}

// raw makes a party that presents tok with key, named name on the air and
// userInfo in its signalling, verifying peers with the world's verifier.
func (wr *worldRun) raw(r *runner, name, userInfo string, key crypto.Signer, tok []byte) party {
	wr.salt++
	return party{name: name, cfg: &link.Config{
		LocalUserInfo: []byte(userInfo), IdentityKey: key, Token: tok, TokenFormat: msg.TokenCWT,
		Verifier: wr.verifier, Rand: seeded(r.opt.Seed, fmt.Sprintf("%s/w%d", name, wr.salt)),
	}}
}

func (wr *worldRun) radioFor(run *pc5Run, extra map[string][]float64) {
	pos := map[string][]float64{}
	for _, u := range wr.w.ues {
		pos[u.name] = u.pos
	}
	for k, v := range extra {
		pos[k] = v
	}
	run.radio = func(a, b string) medium.Link { return wr.w.link(a, b, pos) }
}

// notStarted reports the first of names whose cache did not open.
func (wr *worldRun) notStarted(names ...string) (string, bool) {
	for _, n := range names {
		if why, ok := wr.refused[n]; ok {
			return fmt.Sprintf("not started: %s did not start offline (%s)", n, why), true
		}
	}
	return "", false
}

// describeExpect writes an expectation the way describeEnd writes what
// happened.
func describeExpect(e outcomeExpect, packets int) string {
	switch e.outcome {
	case outEstablished:
		n := packets
		if e.delivered >= 0 {
			n = e.delivered
		}
		if packets == 0 {
			return "established, both hops"
		}
		if e.delivered >= 0 && e.delivered < packets {
			return fmt.Sprintf("established, both hops; at least %d of %d packets each way", n, packets)
		}
		return fmt.Sprintf("established, both hops; %d packets each way", n)
	case outRejected:
		who := "rejected"
		switch e.by {
		case "relay":
			who = "rejected by the relay"
		case "source":
			who = "source rejected"
		}
		if e.hasCause {
			return fmt.Sprintf("%s: %v", who, e.cause)
		}
		return who
	case outTimeout:
		return "the source gives up when a timer runs out (T5080 or the security mode timer), no link"
	case outNoRelay:
		return "no relay found with the target reachable"
	case outNoLink:
		return "no link"
	case outNotStarted:
		return "not started (a party's credentials refused offline)"
	}
	return e.outcome
}

// judge compares a source's outcome with e.
func judge(e outcomeExpect, s, t *endUE) (string, bool) {
	obs := describeEnd(s)
	_, est := s.established()
	_, hop2 := t.established()
	rj, rejected := s.rejected()
	timeout := rejected && errors.Is(rj.Err, link.ErrTimeout)
	if est && hop2 {
		obs = "established, both hops"
	}
	if trj, ok := t.rejected(); ok && !hop2 {
		who := "target rejected the relay"
		if trj.Remote {
			who = "relay rejected the target"
		}
		obs += fmt.Sprintf("; hop 2: %s: %v (%s)", who, trj.Cause, tokenErrName(trj.Err))
	}
	switch e.outcome {
	case outEstablished:
		return obs, est && hop2
	case outRejected:
		ok := rejected && !est && !timeout && (!e.hasCause || rj.Cause == e.cause)
		switch e.by {
		case "relay":
			ok = ok && rj.Remote
		case "source":
			ok = ok && !rj.Remote
		}
		return obs, ok
	case outTimeout:
		return obs, timeout && !rj.Remote && !est
	case outNoLink:
		return obs, !est
	}
	return obs, false
}

// worldSession plays one session on a fresh medium: discovery (unless
// via names the relay), both hops, packets both ways.
func (r *runner) worldSession(wr *worldRun, se session) error {
	w := wr.w
	packets := se.packets
	if packets < 0 {
		packets = r.opt.Packets
	}
	expected := describeExpect(se.exp, packets)
	names := []string{se.from, se.to}
	if se.via != "" {
		names = append(names, se.via)
	}
	if obs, ok := wr.notStarted(names...); ok {
		r.res.Runs = append(r.res.Runs, se.name)
		r.say("  %s: %s", se.name, obs)
		r.check("session", se.name, expected, obs, se.exp.outcome == outNotStarted)
		return nil
	}
	run, err := r.newRun(se.name, wr.offline)
	if err != nil {
		return err
	}
	defer r.finish(run)
	wr.radioFor(run, nil)
	disc := se.via == ""
	var relays []*worldUE
	for _, u := range w.ues {
		if disc && u.relay || u.name == se.via {
			if _, ok := wr.bundles[u.name]; ok {
				relays = append(relays, u)
			}
		}
	}
	for _, u := range relays {
		p, _ := wr.party(r, u.name)
		if disc && len(p.rscs) == 0 {
			continue // serves nothing: never answers a discovery
		}
		if err := run.addRelayAt(p, u.id, wr.rscs, u.skew, nil, disc); err != nil {
			return err
		}
		r.lane(se.name, u.name, 1)
	}
	from, to := w.byName[se.from], w.byName[se.to]
	r.lane(se.name, se.from, 0)
	r.lane(se.name, se.to, 2)
	tp, _ := wr.party(r, se.to)
	t, err := run.addUEAt(tp, to.id, se.rsc, to.skew, true, disc)
	if err != nil {
		return err
	}
	sp, _ := wr.party(r, se.from)
	s, err := run.addUEAt(sp, from.id, se.rsc, from.skew, false, disc)
	if err != nil {
		return err
	}
	if err := run.applyRadio(); err != nil {
		return err
	}
	rid, rname := medium.L2ID(0), se.via
	if se.via != "" {
		rid = w.byName[se.via].id
	} else {
		r.say("  %s: %s solicits a relay for %s (Model B, RSC %v)", se.name, se.from, se.to, se.rsc)
		var cand discovery.Candidate
		found := false
		for range worldSolicitTries {
			if err := s.solicit(se.to); err != nil {
				return err
			}
			run.clock.Advance(worldSolicitWait)
			// Discovery runs at the true virtual time (responses are
			// recorded at it), whatever the source's clock skew.
			cand, found = s.disc.Select(se.rsc, []byte(se.to), run.clock.Now())
			if found && cand.TargetReachable {
				break
			}
		}
		found = found && cand.TargetReachable
		obs := "no relay found with the target reachable"
		if found {
			obs = fmt.Sprintf("relay %s selected, target reachable", cand.RelayUserInfo)
		}
		if se.exp.outcome == outNoRelay {
			r.check("session", se.name, expected, obs, !found)
			return nil
		}
		r.check("session", se.name+": discovery", "a relay with the target reachable", obs, found)
		if !found {
			return nil
		}
		rid, rname = cand.Relay, string(cand.RelayUserInfo)
	}
	r.say("  %s -> relay %s: DIRECT LINK ESTABLISHMENT REQUEST for %s", se.from, rname, se.to)
	if err := s.connectVia(rid, rname, se.to); err != nil {
		return err
	}
	waitOutcome(run, s, worldHandshakeWait)
	obs, ok := judge(se.exp, s, t)
	if se.exp.outcome != outEstablished || !ok || packets == 0 {
		r.check("session", se.name, expected, obs, ok)
		return nil
	}
	srcAddr := s.ep.LocalAddr(rid)
	dst := relay.Addr(rid, to.id)
	unsent := 0
	for i := range packets {
		if err := s.send(ipv6(srcAddr, dst, 1000, byte(i))); err != nil {
			unsent++ // the link went away meanwhile; what arrived tells
		}
		run.clock.Advance(100 * time.Millisecond)
	}
	run.clock.Advance(2 * time.Second)
	least := packets
	if se.exp.delivered >= 0 {
		least = se.exp.delivered
	}
	obs = fmt.Sprintf("established, both hops; %d of %d packets to the target, %d echoed back", t.got, packets, s.got)
	if unsent > 0 {
		obs += fmt.Sprintf(" (%d not sent: %s)", unsent, describeRelease(s))
	}
	r.check("session", se.name, expected, obs, t.got >= least && s.got >= least && t.got <= packets && s.got <= packets)
	return nil
}

// waitOutcome advances the run until the source's handshake ended
// (established or rejected), then one more second for the relay to
// settle, or until max elapsed.
func waitOutcome(run *pc5Run, s *endUE, max time.Duration) {
	for waited := time.Duration(0); waited < max; waited += time.Second {
		run.clock.Advance(time.Second)
		_, est := s.established()
		_, rej := s.rejected()
		if est || rej {
			run.clock.Advance(time.Second)
			return
		}
	}
}

// describeRelease says why the source's link ended, if it did.
func describeRelease(s *endUE) string {
	for _, ev := range s.events {
		if rl, ok := ev.(link.Released); ok {
			who := "released locally"
			if rl.Remote {
				who = "released by the relay"
			}
			return fmt.Sprintf("%s: %v", who, rl.Cause)
		}
	}
	return "link not usable"
}

// tokenErrName names the sentinel a token error wraps (no times, URLs).
func tokenErrName(err error) string {
	if err == nil {
		return "accepted"
	}
	for _, e := range []error{token.ErrExpired, token.ErrNotYetValid, token.ErrRevoked, token.ErrUnknownKey, token.ErrUnknownIssuer,
		token.ErrBadSignature, token.ErrScopeNotGranted, token.ErrStatusListStale, token.ErrStatusListMissing, token.ErrWrongAudience, token.ErrMalformed} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return err.Error()
}

// flipMAC corrupts the last octet (MAC-I) of the protected signalling a
// given source sends.
func flipMAC(src medium.L2ID) tamper {
	return func(f medium.Frame) medium.Frame {
		if f.Src != src || f.LCID < 1 || f.LCID > 3 || len(f.Payload) == 0 {
			return f
		}
		f.Payload = bytes.Clone(f.Payload)
		f.Payload[len(f.Payload)-1] ^= 0x01
		return f
	}
}

// worldAttack plays one attacker's move on a fresh medium.
func (r *runner) worldAttack(wr *worldRun, i int, a attacker) error {
	w := wr.w
	name := a.label
	expected := describeExpect(a.exp, 0)
	from, via, to := w.byName[a.from], w.byName[a.via], w.byName[a.target]
	attID := attackerID(i)
	key, err := ecdsa.GenerateKey(elliptic.P256(), seeded(r.opt.Seed, "attacker/"+a.name))
	if err != nil {
		return err
	}
	// Who must have started offline for the move to be played.
	need := []string{a.via, a.target}
	switch a.move {
	case "wrong-role", "relay-not-authorized", "downgrade", "tamper", "replay-captured":
		need = append(need, a.from)
	}
	if obs, ok := wr.notStarted(need...); ok || wr.verifier == nil {
		if !ok {
			obs = "not started: no UE started offline"
		}
		r.res.Runs = append(r.res.Runs, name)
		r.say("  %s: %s", name, obs)
		r.check("attack", name, expected, obs, a.exp.outcome == outNotStarted)
		return nil
	}
	if a.move == "replay-captured" {
		return r.replayCaptured(wr, name, expected, a, attID)
	}
	run, err := r.newRun(name, wr.offline)
	if err != nil {
		return err
	}
	defer r.finish(run)
	srcID, srcSkew := from.id, from.skew
	var src party
	var tm tamper
	relayUE := via
	switch a.move {
	case "forged":
		rogueKey, err := ecdsa.GenerateKey(elliptic.P256(), seeded(r.opt.Seed, "rogue-issuer/"+a.name))
		if err != nil {
			return err
		}
		rogue, err := token.NewSigner(wr.srv.issuer, "rogue", rogueKey)
		if err != nil {
			return err
		}
		jti, err := token.NewID(seeded(r.opt.Seed, "forged-jti/"+a.name))
		if err != nil {
			return err
		}
		tok, err := rogue.Sign(&token.Claims{
			Issuer: wr.srv.issuer, Subject: a.name, ClientID: a.name, Audience: []string{as.DefaultAudience},
			IssuedAt: wr.offline.Add(-time.Minute), Expiry: wr.offline.Add(time.Hour), ID: jti,
			Scopes: []token.Scope{{Role: token.RoleUse, RSC: w.rsc}}, Confirmation: key.Public(),
		}, token.CWT)
		if err != nil {
			return err
		}
		src, srcID, srcSkew = wr.raw(r, a.name, a.name, key, tok), attID, 0
	case "expired", "revoked", "wrong-rsc":
		p := wr.prov[a.from]
		src = wr.raw(r, a.from, a.from, p.key, p.cred.Token.Raw)
	case "replayed":
		src, srcID, srcSkew = wr.raw(r, a.name, a.name, key, wr.prov[a.from].cred.Token.Raw), attID, 0
	case "impersonate":
		src, srcID, srcSkew = wr.raw(r, a.name+" (as "+a.from+")", a.from, key, wr.prov[a.from].cred.Token.Raw), attID, 0
	default: // wrong-role, relay-not-authorized, downgrade, tamper
		src, _ = wr.party(r, a.from)
		switch a.move {
		case "downgrade":
			tm = stripCapabilities
		case "tamper":
			tm = flipMAC(from.id)
		}
	}
	wr.radioFor(run, map[string][]float64{src.name: a.pos})
	r.lane(name, src.name, 0)
	r.lane(name, relayUE.name, 1)
	r.lane(name, to.name, 2)
	rp, _ := wr.party(r, relayUE.name)
	if err := run.addRelayAt(rp, relayUE.id, wr.rscs, relayUE.skew, tm, false); err != nil {
		return err
	}
	tp, _ := wr.party(r, to.name)
	t, err := run.addUEAt(tp, to.id, w.rsc, to.skew, false, false)
	if err != nil {
		return err
	}
	s, err := run.addUEAt(src, srcID, w.rsc, srcSkew, false, false)
	if err != nil {
		return err
	}
	if err := run.applyRadio(); err != nil {
		return err
	}
	r.say("  attack: %s (%s -> %s for %s)", name, src.name, relayUE.name, to.name)
	if err := s.connectVia(relayUE.id, relayUE.name, to.name); err != nil {
		return err
	}
	run.clock.Advance(worldAttackWait)
	obs, ok := judge(a.exp, s, t)
	if a.move == "downgrade" {
		// Told, not judged: the expectation is the scenario's.
		note, _ := discardedSMCs(run, s)
		obs = note + "; " + obs
	}
	if a.exp.outcome != outEstablished {
		if _, est := t.established(); est {
			obs += "; hop 2 established"
			ok = false
		}
		if n := run.relay.Links(); n != 0 {
			obs += fmt.Sprintf("; relay keeps %d link(s)", n)
			ok = false
		}
	}
	switch a.move {
	case "forged", "expired", "revoked", "replayed", "impersonate", "wrong-rsc":
		_, verr := rp.cfg.Verifier.Verify(src.cfg.Token, token.CWT, run.clock.Now().Add(relayUE.skew))
		obs += "; relay's verifier on the token: " + tokenErrName(verr)
	}
	r.check("attack", name, expected, obs, ok)
	return nil
}

// replayCaptured: a victim sets up its link through the relay while the
// attacker records its DIRECT LINK ESTABLISHMENT REQUEST; the attacker
// then replays it from its own Layer-2 ID. The relay answers but, without
// the victim's identity key, the attacker can never complete the
// handshake: the relay gains no link.
func (r *runner) replayCaptured(wr *worldRun, name, expected string, a attacker, attID medium.L2ID) error {
	w := wr.w
	from, via, to := w.byName[a.from], w.byName[a.via], w.byName[a.target]
	run, err := r.newRun(name, wr.offline)
	if err != nil {
		return err
	}
	defer r.finish(run)
	wr.radioFor(run, map[string][]float64{a.name: a.pos})
	for n, rank := range map[string]int{a.name: 0, from.name: 0, via.name: 1, to.name: 2} {
		r.lane(name, n, rank)
	}
	rp, _ := wr.party(r, via.name)
	if err := run.addRelayAt(rp, via.id, wr.rscs, via.skew, nil, false); err != nil {
		return err
	}
	tp, _ := wr.party(r, to.name)
	t, err := run.addUEAt(tp, to.id, w.rsc, to.skew, true, false)
	if err != nil {
		return err
	}
	sp, _ := wr.party(r, from.name)
	s, err := run.addUEAt(sp, from.id, w.rsc, from.skew, false, false)
	if err != nil {
		return err
	}
	port, err := run.mem.AttachPort(attID)
	if err != nil {
		return err
	}
	run.names[attID] = a.name
	var answers []string
	port.SetHandler(func(f medium.Frame) {
		m, _ := describe(f)
		answers = append(answers, m)
	})
	if err := run.applyRadio(); err != nil {
		return err
	}
	var captured []byte
	run.capture = func(f medium.Frame) {
		if captured == nil && f.Src == from.id && f.Dst == via.id && f.LCID == 0 {
			if m, err := msg.Parse(f.Payload); err == nil {
				if _, ok := m.(*msg.DirectLinkEstablishmentRequest); ok {
					captured = bytes.Clone(f.Payload)
				}
			}
		}
	}
	r.say("  attack: %s (%s records %s's REQUEST to %s, then replays it)", name, a.name, from.name, via.name)
	if err := s.connectVia(via.id, via.name, to.name); err != nil {
		return err
	}
	run.clock.Advance(worldHandshakeWait)
	victim := describeEnd(s)
	if _, ok := t.established(); ok {
		victim += ", hop 2 established"
	}
	if captured == nil {
		r.check("attack", name, expected, "nothing captured: the victim sent no REQUEST ("+victim+")", false)
		return nil
	}
	before := run.relay.Links()
	if err := port.Send(medium.Frame{Dst: via.id, LCID: 0, Payload: captured}); err != nil {
		return err
	}
	run.clock.Advance(worldAttackWait)
	after := run.relay.Links()
	ans := "nothing"
	if len(answers) > 0 {
		ans = strings.Join(slices.Compact(answers), ", ")
	}
	obs := fmt.Sprintf("victim %s; replayed REQUEST answered with %s; relay links %d before, %d after", victim, ans, before, after)
	gained := after > before
	ok := false
	switch a.exp.outcome {
	case outNoLink:
		ok = !gained
	case outEstablished:
		ok = gained
	}
	r.check("attack", name, expected, obs, ok)
	return nil
}

// attackerID is the Layer-2 ID of the i-th attacker of a world:
// 0x000200 to 0x0002ff, apart from the relays' (0x000010 to 0x0000fe) and
// the end UEs' (0x000100 to 0x0001fe). Each attacker plays on a fresh
// medium, so attackers 256 apart may share one.
func attackerID(i int) medium.L2ID { return medium.L2ID(0x000200 + i%0x100) }
