package sim

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/prosesec/prosesec/as"
	"github.com/prosesec/prosesec/pc5/medium"
	"github.com/prosesec/prosesec/pc5/msg"
	"github.com/prosesec/prosesec/token"
	"github.com/prosesec/prosesec/ue"
)

// World is a custom scenario, checked and resolved from a Scenario file:
// its UEs and grants, the AS's token lifetimes, clock skews, the radio
// model, revocations, key rotations, the offline time, the sessions to
// set up, the attackers' moves and every expectation. Run plays it when
// Options.World is set (custom.go).
type World struct {
	rsc           token.RSC
	tokenLifetime time.Duration // AS default
	statusListTTL time.Duration
	leeway        time.Duration
	offlineAfter  time.Duration
	ues           []*worldUE
	byName        map[string]*worldUE
	radio         radioModel
	revocations   []revocation
	rotations     []string // each: rotate the AS key after this UE provisioned
	sessions      []session
	attackers     []attacker
	offlineExpect map[string]string
	dropped       *rangeSpec
}

type worldUE struct {
	name     string
	relay    bool
	grants   []token.Scope
	lifetime time.Duration // 0: the AS default
	skew     time.Duration
	pos      []float64
	id       medium.L2ID
}

// radioModel is the PROJECT-DEFINED radio of a world: a base link, a
// range over 2-D positions, per-pair overrides.
type radioModel struct {
	rng   float64
	base  medium.Link
	pairs map[[2]string]linkSpecR
}

type linkSpecR struct {
	loss          *float64
	delay, jitter *time.Duration
	inRange       *bool
}

type revocation struct {
	ue   string
	last bool // revoke after everyone provisioned (no cache carries it)
}

type session struct {
	name, from, to, via string
	rsc                 token.RSC
	packets             int // -1: Options.Packets
	exp                 outcomeExpect
}

type attacker struct {
	name, move, from, via, target string
	label                         string // the check's and the run's name
	pos                           []float64
	exp                           outcomeExpect
}

// Outcomes a session or an attacker can be expected to have.
const (
	outEstablished = "established"
	outRejected    = "rejected"
	outTimeout     = "timeout"
	outNoRelay     = "no_relay"
	outNoLink      = "no_link"
	outNotStarted  = "not_started"
)

var outcomeNames = []string{outEstablished, outRejected, outTimeout, outNoRelay, outNoLink, outNotStarted}

type outcomeExpect struct {
	outcome   string
	cause     msg.Cause
	hasCause  bool
	by        string // "", "relay" (the relay rejected the source) or "source" (the source rejected the relay)
	delivered int    // established sessions: packets each way at least (-1: all)
}

// MoveNames are the attackers' moves of a scenario world: the attacks of
// the default scenario and three more.
var MoveNames = append(slices.Clone(AttackNames), "replay-captured", "tamper", "impersonate")

// defaultMoveExpect is what each move must end in unless the file says.
func defaultMoveExpect(move string) outcomeExpect {
	switch move {
	case "wrong-rsc":
		return outcomeExpect{outcome: outRejected, cause: msg.CauseRequiredServiceNotAllowed, hasCause: true, by: "relay", delivered: -1}
	case "wrong-role", "relay-not-authorized":
		return outcomeExpect{outcome: outRejected, cause: msg.CauseRequiredServiceNotAllowed, hasCause: true, by: "source", delivered: -1}
	case "downgrade", "tamper":
		return outcomeExpect{outcome: outTimeout, delivered: -1}
	case "replay-captured":
		return outcomeExpect{outcome: outNoLink, delivered: -1}
	}
	return outcomeExpect{outcome: outRejected, cause: msg.CauseAuthenticationFailure, hasCause: true, by: "relay", delivered: -1}
}

// Offline start outcomes (expect.offline_start).
var offlineOutcomes = []string{"opens", "token_expired", "status_list_stale", "revoked", "refused"}

func parseDur(field, s string, def time.Duration, negative bool) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a duration (want a Go duration such as 500ms, 90s, 10m or 2h)", field, s)
	}
	if d < 0 && !negative {
		return 0, fmt.Errorf("%s: %s is negative (want 0 or more)", field, s)
	}
	return d, nil
}

func parseRSCField(field, s string) (token.RSC, error) {
	r, err := token.ParseRSC(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a relay service code (want 6 hex digits, e.g. 00002a)", field, s)
	}
	return r, nil
}

// parseGrant reads "use:00002a", "serve:00002a" or the full scope
// "u2u:use:00002a".
func parseGrant(field, s string) (token.Scope, error) {
	full := s
	if !strings.HasPrefix(full, "u2u:") {
		full = "u2u:" + full
	}
	if role, rsc, ok := strings.Cut(strings.TrimPrefix(full, "u2u:"), ":"); ok {
		full = "u2u:" + role + ":" + strings.ToLower(rsc)
	}
	sc, err := token.ParseScope(full)
	if err != nil {
		return token.Scope{}, fmt.Errorf("%s: %q is not a grant (want use:<RSC> or serve:<RSC>, RSC 6 hex digits, e.g. use:00002a)", field, s)
	}
	return sc, nil
}

func checkLoss(field string, v float64) error {
	if math.IsNaN(v) || v < 0 || v > 1 {
		return fmt.Errorf("%s: %v is out of range (want a probability from 0 to 1)", field, v)
	}
	return nil
}

func checkPos(field string, p []float64) error {
	if p != nil && len(p) != 2 {
		return fmt.Errorf("%s: %d numbers (want [x, y])", field, len(p))
	}
	return nil
}

// parseCause reads a PC5 cause as its number or its name
// ("authentication failure", "authentication_failure", "#6").
func parseCause(field string, n *yaml.Node) (msg.Cause, error) {
	v := strings.TrimPrefix(strings.TrimSpace(n.Value), "#")
	if i, err := strconv.Atoi(v); err == nil {
		if i < 0 || i > 255 || strings.HasSuffix(msg.Cause(i).String(), "(unknown cause)") {
			return 0, fmt.Errorf("%s: %d is not a PC5 cause of pc5/msg (want a known number or a name such as authentication_failure)", field, i)
		}
		return msg.Cause(i), nil
	}
	norm := func(s string) string {
		return strings.NewReplacer("_", " ", "-", " ").Replace(strings.ToLower(strings.TrimSpace(s)))
	}
	var names []string
	for i := range 256 {
		c := msg.Cause(i)
		s := c.String()
		if strings.HasSuffix(s, "(unknown cause)") {
			continue
		}
		_, name, _ := strings.Cut(s, " ")
		if norm(name) == norm(v) {
			return c, nil
		}
		names = append(names, strings.ReplaceAll(name, " ", "_"))
	}
	return 0, fmt.Errorf("%s: %q is not a PC5 cause (want a number or one of: %s)", field, n.Value, strings.Join(names, ", "))
}

// strictDecode decodes a mapping node into v, refusing unknown keys (a
// node's Decode does not honour KnownFields).
func strictDecode(field string, n *yaml.Node, v any, typeName string) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("%s: line %d: want a mapping", field, n.Line)
	}
	yt := yamlTypes[typeName]
	known := knownFields(yt.t)
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i].Value; !slices.Contains(known, k) {
			return fmt.Errorf("%s: line %d: unknown field %q (known: %s)", field, n.Content[i].Line, k, strings.Join(known, ", "))
		}
	}
	if err := checkTypes(n, yt.t, field); err != nil {
		return err
	}
	if err := n.Decode(v); err != nil {
		return fmt.Errorf("%s: %v", field, err)
	}
	return nil
}

// parseExpect reads an expect value: an outcome name, or a mapping with
// outcome, cause, by and delivered.
func parseExpect(field string, n *yaml.Node, def outcomeExpect, discovery bool) (outcomeExpect, error) {
	if n == nil || n.Kind == 0 {
		return def, nil
	}
	e := outcomeExpect{delivered: -1}
	switch n.Kind {
	case yaml.ScalarNode:
		e.outcome = n.Value
	case yaml.MappingNode:
		var es expectSpec
		if err := strictDecode(field, n, &es, "expectSpec"); err != nil {
			return e, err
		}
		e.outcome, e.by = es.Outcome, es.By
		if es.Cause.Kind != 0 {
			c, err := parseCause(field+".cause", &es.Cause)
			if err != nil {
				return e, err
			}
			e.cause, e.hasCause = c, true
			if e.outcome == "" {
				e.outcome = outRejected
			}
		}
		if es.Delivered != nil {
			if *es.Delivered < 0 {
				return e, fmt.Errorf("%s.delivered: %d is negative (want the packets each way that must arrive)", field, *es.Delivered)
			}
			e.delivered = *es.Delivered
		}
		if e.outcome == "" {
			e.outcome = outEstablished
		}
	default:
		return e, fmt.Errorf("%s: line %d: want an outcome (%s) or a mapping {outcome, cause, by, delivered}", field, n.Line, strings.Join(outcomeNames, ", "))
	}
	if !slices.Contains(outcomeNames, e.outcome) {
		return e, fmt.Errorf("%s: outcome %q is unknown (want one of %s)", field, e.outcome, strings.Join(outcomeNames, ", "))
	}
	if e.hasCause && e.outcome != outRejected {
		return e, fmt.Errorf("%s: a cause goes with outcome %q, not %q", field, outRejected, e.outcome)
	}
	if e.by != "" && e.by != "relay" && e.by != "source" {
		return e, fmt.Errorf("%s.by: %q is unknown (want relay: the relay rejected the source, or source: the source rejected the relay)", field, e.by)
	}
	if e.outcome == outNoRelay && !discovery {
		return e, fmt.Errorf("%s: outcome %q needs discovery (a session without via)", field, outNoRelay)
	}
	return e, nil
}

// compile checks the world fields of s and resolves them into s.world
// (nil when the file has no ues).
func (s *Scenario) compile() error {
	if s.Packets != nil && *s.Packets < 1 {
		return fmt.Errorf("packets: %d: want at least 1 (IP packets each way; a session's own packets: 0 sets up its link without any)", *s.Packets)
	}
	world := len(s.UEs) > 0
	if !world {
		for f, set := range map[string]bool{
			"rsc": s.RSC != "", "leeway": s.Leeway != "", "as": s.AS != nil, "radio": s.Radio != nil,
			"revocations": len(s.Revocations) > 0, "key_rotations": len(s.KeyRotations) > 0, "offline_after": s.OfflineAfter != "",
			"sessions": len(s.Sessions) > 0, "attackers": len(s.Attackers) > 0, "expect": s.Expect != nil,
		} {
			if set {
				return fmt.Errorf("%s: a world field needs ues (the UEs of the world)", f)
			}
		}
		if s.Pairs < 0 || s.Pairs > MaxPairs {
			return fmt.Errorf("pairs: %d: want 1 to %d", s.Pairs, MaxPairs)
		}
		if s.Attacks != nil {
			for i, a := range *s.Attacks {
				if !slices.Contains(AttackNames, a) {
					return fmt.Errorf("attacks[%d]: %q is unknown (want one of %s)", i, a, strings.Join(AttackNames, ", "))
				}
			}
		}
		return nil
	}
	if s.Pairs != 0 {
		return fmt.Errorf("pairs: applies to the default scenario only, not to a world with ues")
	}
	if s.Attacks != nil {
		return fmt.Errorf("attacks: applies to the default scenario only; a world lists attackers")
	}
	w := &World{rsc: DefaultRSC, byName: map[string]*worldUE{}}
	var err error
	if s.RSC != "" {
		if w.rsc, err = parseRSCField("rsc", s.RSC); err != nil {
			return err
		}
	}
	if w.leeway, err = parseDur("leeway", s.Leeway, ue.DefaultLeeway, false); err != nil {
		return err
	}
	w.tokenLifetime, w.statusListTTL = as.DefaultTokenLifetime, as.DefaultStatusListTTL
	if s.AS != nil {
		if w.tokenLifetime, err = parseDur("as.token_lifetime", s.AS.TokenLifetime, as.DefaultTokenLifetime, false); err != nil {
			return err
		}
		if w.statusListTTL, err = parseDur("as.status_list_ttl", s.AS.StatusListTTL, as.DefaultStatusListTTL, false); err != nil {
			return err
		}
	}
	if w.tokenLifetime < time.Second || w.tokenLifetime > as.DefaultMaxTokenLifetime {
		return fmt.Errorf("as.token_lifetime: %v is out of range (want 1s to %v)", w.tokenLifetime, as.DefaultMaxTokenLifetime)
	}
	if w.statusListTTL < 2*time.Second {
		return fmt.Errorf("as.status_list_ttl: %v is too short (want at least 2s)", w.statusListTTL)
	}
	if w.offlineAfter, err = parseDur("offline_after", s.OfflineAfter, 10*time.Minute, false); err != nil {
		return err
	}

	// UEs.
	nRelay, nEnd := 0, 0
	for i, u := range s.UEs {
		f := fmt.Sprintf("ues[%d]", i)
		if u.Name == "" {
			return fmt.Errorf("%s.name: missing (want the UE's user info, 1 to 128 characters of A-Z a-z 0-9 . _ : -)", f)
		}
		if len(u.Name) > 128 || strings.IndexFunc(u.Name, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._:-", r))
		}) >= 0 {
			return fmt.Errorf("%s.name: %q is not a user info (want 1 to 128 characters of A-Z a-z 0-9 . _ : -)", f, u.Name)
		}
		f = fmt.Sprintf("ues[%d] (%s)", i, u.Name)
		if w.byName[u.Name] != nil {
			return fmt.Errorf("%s.name: %q is listed twice", f, u.Name)
		}
		wu := &worldUE{name: u.Name}
		switch u.Role {
		case "", "end":
			wu.id = medium.L2ID(0x000100 + nEnd)
			nEnd++
		case "relay":
			wu.relay = true
			wu.id = medium.L2ID(0x000010 + nRelay)
			nRelay++
		default:
			return fmt.Errorf("%s.role: %q is unknown (want end or relay)", f, u.Role)
		}
		if u.Grants == nil {
			role := token.RoleUse
			if wu.relay {
				role = token.RoleServe
			}
			wu.grants = []token.Scope{{Role: role, RSC: w.rsc}}
		}
		if u.Grants != nil {
			for j, g := range *u.Grants {
				sc, err := parseGrant(fmt.Sprintf("%s.grants[%d]", f, j), g)
				if err != nil {
					return err
				}
				wu.grants = append(wu.grants, sc)
			}
			if len(wu.grants) == 0 {
				return fmt.Errorf("%s.grants: empty (want at least one grant; the AS registers no UE without one)", f)
			}
		}
		if wu.lifetime, err = parseDur(f+".token_lifetime", u.TokenLifetime, 0, false); err != nil {
			return err
		}
		if u.TokenLifetime != "" && (wu.lifetime < time.Second || wu.lifetime > as.DefaultMaxTokenLifetime) {
			return fmt.Errorf("%s.token_lifetime: %v is out of range (want 1s to %v)", f, wu.lifetime, as.DefaultMaxTokenLifetime)
		}
		if wu.skew, err = parseDur(f+".clock_skew", u.ClockSkew, 0, true); err != nil {
			return err
		}
		if err := checkPos(f+".position", u.Position); err != nil {
			return err
		}
		wu.pos = u.Position
		w.ues = append(w.ues, wu)
		w.byName[u.Name] = wu
	}
	if nEnd > 0xff || nRelay > 0xef {
		return fmt.Errorf("ues: %d end UEs and %d relays, at most 255 and 239", nEnd, nRelay)
	}
	ueRef := func(field, name string, role string) error {
		u := w.byName[name]
		if u == nil {
			return fmt.Errorf("%s: %q is not a UE of this world (ues: %s)", field, name, strings.Join(w.names(), ", "))
		}
		if role == "relay" && !u.relay {
			return fmt.Errorf("%s: %q is an end UE (want a UE with role relay)", field, name)
		}
		if role == "end" && u.relay {
			return fmt.Errorf("%s: %q is a relay (want a UE with role end)", field, name)
		}
		return nil
	}

	// Radio.
	w.radio = radioModel{base: medium.DefaultLink(), pairs: map[[2]string]linkSpecR{}}
	if r := s.Radio; r != nil {
		if r.Range < 0 || math.IsNaN(r.Range) {
			return fmt.Errorf("radio.range: %v is negative (want a distance in the units of the positions; 0: everyone in range)", r.Range)
		}
		w.radio.rng = r.Range
		if err := checkLoss("radio.loss", r.Loss); err != nil {
			return err
		}
		w.radio.base.Loss = r.Loss
		if w.radio.base.Delay, err = parseDur("radio.delay", r.Delay, w.radio.base.Delay, false); err != nil {
			return err
		}
		if w.radio.base.Jitter, err = parseDur("radio.jitter", r.Jitter, 0, false); err != nil {
			return err
		}
		for i, l := range r.Links {
			f := fmt.Sprintf("radio.links[%d]", i)
			if len(l.Between) != 2 || l.Between[0] == l.Between[1] {
				return fmt.Errorf("%s.between: want two different UE names, [a, b]", f)
			}
			for _, n := range l.Between {
				if err := ueRef(f+".between", n, ""); err != nil {
					return err
				}
			}
			var o linkSpecR
			if l.Loss != nil {
				if err := checkLoss(f+".loss", *l.Loss); err != nil {
					return err
				}
				o.loss = l.Loss
			}
			for _, d := range []struct {
				name, v string
				dst     **time.Duration
			}{{"delay", l.Delay, &o.delay}, {"jitter", l.Jitter, &o.jitter}} {
				if d.v != "" {
					v, err := parseDur(f+"."+d.name, d.v, 0, false)
					if err != nil {
						return err
					}
					*d.dst = &v
				}
			}
			o.inRange = l.InRange
			w.radio.pairs[pairKey(l.Between[0], l.Between[1])] = o
		}
	}
	for _, u := range w.ues {
		if w.radio.rng > 0 && u.pos == nil {
			return fmt.Errorf("ues (%s).position: missing; radio.range is set, so every UE needs [x, y]", u.name)
		}
		if w.radio.rng == 0 && u.pos != nil {
			return fmt.Errorf("ues (%s).position: given, but radio.range is not set (positions only matter with a range)", u.name)
		}
	}

	// Revocations and key rotations.
	for i := range s.Revocations {
		n := &s.Revocations[i]
		f := fmt.Sprintf("revocations[%d]", i)
		var rv revocationSpec
		switch n.Kind {
		case yaml.ScalarNode:
			rv.UE = n.Value
		case yaml.MappingNode:
			if err := strictDecode(f, n, &rv, "revocationSpec"); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: line %d: want a UE name or {ue, when}", f, n.Line)
		}
		if err := ueRef(f+".ue", rv.UE, ""); err != nil {
			return err
		}
		switch rv.When {
		case "", "first":
		case "last":
		default:
			return fmt.Errorf("%s.when: %q is unknown (want first: revoked before the others provision, or last: after everyone provisioned)", f, rv.When)
		}
		if slices.ContainsFunc(w.revocations, func(r revocation) bool { return r.ue == rv.UE }) {
			return fmt.Errorf("%s.ue: %q is revoked twice", f, rv.UE)
		}
		w.revocations = append(w.revocations, revocation{ue: rv.UE, last: rv.When == "last"})
	}
	for i, kr := range s.KeyRotations {
		if err := ueRef(fmt.Sprintf("key_rotations[%d].after", i), kr.After, ""); err != nil {
			return err
		}
		w.rotations = append(w.rotations, kr.After)
	}

	// Sessions.
	for i, ss := range s.Sessions {
		f := fmt.Sprintf("sessions[%d]", i)
		if err := ueRef(f+".from", ss.From, "end"); err != nil {
			return err
		}
		if err := ueRef(f+".to", ss.To, "end"); err != nil {
			return err
		}
		if ss.From == ss.To {
			return fmt.Errorf("%s: from and to are both %q", f, ss.From)
		}
		if ss.Via != "" {
			if err := ueRef(f+".via", ss.Via, ""); err != nil {
				return err
			}
			if ss.Via == ss.From || ss.Via == ss.To {
				return fmt.Errorf("%s.via: %q is also an end of the session (want a third UE)", f, ss.Via)
			}
		}
		se := session{name: ss.Name, from: ss.From, to: ss.To, via: ss.Via, rsc: w.rsc, packets: -1}
		if ss.RSC != "" {
			if se.rsc, err = parseRSCField(f+".rsc", ss.RSC); err != nil {
				return err
			}
		}
		if ss.Packets != nil {
			if *ss.Packets < 0 {
				return fmt.Errorf("%s.packets: %d is negative", f, *ss.Packets)
			}
			se.packets = *ss.Packets
		}
		if se.exp, err = parseExpect(f+".expect", &ss.Expect, outcomeExpect{outcome: outEstablished, delivered: -1}, ss.Via == ""); err != nil {
			return err
		}
		if se.packets >= 0 && se.exp.delivered > se.packets {
			return fmt.Errorf("%s.expect.delivered: %d is more than the session's %d packets", f, se.exp.delivered, se.packets)
		}
		if se.name == "" {
			how := "discovery"
			if se.via != "" {
				how = "via " + se.via
			}
			se.name = fmt.Sprintf("session %d: %s -> %s (%s)", i+1, se.from, se.to, how)
		}
		w.sessions = append(w.sessions, se)
	}

	// Attackers.
	firstEnd := func(not string) string {
		for _, u := range w.ues {
			if !u.relay && u.name != not {
				return u.name
			}
		}
		return ""
	}
	firstRelay := func() string {
		for _, u := range w.ues {
			if u.relay {
				return u.name
			}
		}
		return ""
	}
	for i, at := range s.Attackers {
		f := fmt.Sprintf("attackers[%d]", i)
		if !slices.Contains(MoveNames, at.Move) {
			return fmt.Errorf("%s.move: %q is unknown (want one of %s)", f, at.Move, strings.Join(MoveNames, ", "))
		}
		a := attacker{name: at.Name, move: at.Move, from: at.From, via: at.Via, target: at.Target, pos: at.Position}
		if a.name == "" {
			a.name = fmt.Sprintf("attacker-%d", i+1)
		}
		if w.byName[a.name] != nil {
			return fmt.Errorf("%s.name: %q is a UE of the world (want the attacker's own name)", f, a.name)
		}
		if a.from == "" {
			a.from = firstEnd(a.target)
		}
		if a.target == "" {
			a.target = firstEnd(a.from)
		}
		if a.via == "" {
			a.via = firstRelay()
		}
		for _, r := range []struct{ field, v, role string }{{"from", a.from, "end"}, {"target", a.target, "end"}, {"via", a.via, ""}} {
			if r.v == "" {
				return fmt.Errorf("%s.%s: missing and the world has no UE to default to", f, r.field)
			}
			role := r.role
			if r.field == "via" && a.move != "wrong-role" && a.move != "relay-not-authorized" {
				role = "relay"
			}
			if err := ueRef(f+"."+r.field, r.v, role); err != nil {
				return err
			}
		}
		if a.from == a.target || a.via == a.from || a.via == a.target {
			return fmt.Errorf("%s: from (%s), via (%s) and target (%s) must be three different UEs", f, a.from, a.via, a.target)
		}
		if err := checkPos(f+".position", a.pos); err != nil {
			return err
		}
		if w.radio.rng == 0 && a.pos != nil {
			return fmt.Errorf("%s.position: given, but radio.range is not set", f)
		}
		if a.exp, err = parseExpect(f+".expect", &at.Expect, defaultMoveExpect(a.move), false); err != nil {
			return err
		}
		if a.move == "replay-captured" && a.exp.outcome != outNoLink && a.exp.outcome != outEstablished && a.exp.outcome != outNotStarted {
			return fmt.Errorf("%s.expect: move replay-captured ends in %s, %s or %s, not %q", f, outNoLink, outEstablished, outNotStarted, a.exp.outcome)
		}
		a.label = fmt.Sprintf("attacker %s: %s", a.name, a.move)
		if at.Name == "" {
			a.label = fmt.Sprintf("attack %d: %s", i+1, a.move)
		}
		w.attackers = append(w.attackers, a)
	}

	// Global expectations.
	if e := s.Expect; e != nil {
		w.offlineExpect = map[string]string{}
		for n, o := range e.OfflineStart {
			if err := ueRef("expect.offline_start", n, ""); err != nil {
				return err
			}
			if !slices.Contains(offlineOutcomes, o) {
				return fmt.Errorf("expect.offline_start.%s: %q is unknown (want one of %s)", n, o, strings.Join(offlineOutcomes, ", "))
			}
			w.offlineExpect[n] = o
		}
		if d := e.Dropped; d != nil {
			if d.Min == nil && d.Max == nil || d.Min != nil && *d.Min < 0 || d.Max != nil && *d.Max < 0 || d.Min != nil && d.Max != nil && *d.Min > *d.Max {
				return fmt.Errorf("expect.dropped_frames: want {min: N, max: M} with 0 <= N <= M (either may be left out)")
			}
			w.dropped = d
		}
	}
	if len(w.sessions) == 0 && len(w.attackers) == 0 {
		return fmt.Errorf("sessions: a world needs at least one session or attacker")
	}
	s.world = w
	return nil
}

func pairKey(a, b string) [2]string {
	if b < a {
		a, b = b, a
	}
	return [2]string{a, b}
}

func (w *World) names() []string {
	out := make([]string, len(w.ues))
	for i, u := range w.ues {
		out[i] = u.name
	}
	return out
}

// link is the radio between two named nodes; attackers and other nodes
// without a position are in range of everyone.
func (w *World) link(a, b string, pos map[string][]float64) medium.Link {
	l := w.radio.base
	if w.radio.rng > 0 {
		pa, pb := pos[a], pos[b]
		if pa != nil && pb != nil {
			l.InRange = math.Hypot(pa[0]-pb[0], pa[1]-pb[1]) <= w.radio.rng
		}
	}
	if o, ok := w.radio.pairs[pairKey(a, b)]; ok {
		if o.loss != nil {
			l.Loss = *o.loss
		}
		if o.delay != nil {
			l.Delay = *o.delay
		}
		if o.jitter != nil {
			l.Jitter = *o.jitter
		}
		if o.inRange != nil {
			l.InRange = *o.inRange
		}
	}
	return l
}
