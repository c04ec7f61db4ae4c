package link

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prosesec/prosesec/pc5/msg"
	"github.com/prosesec/prosesec/pc5/sec"
	"github.com/prosesec/prosesec/token"
)

// The test world: one ProSe Application Server (an ES256 issuer), its
// status list, and UEs with identity keys and CWT tokens bound to them.
// Everything goes through the public API of package token.

const (
	testIssuer   = "https://as.prosesec.example"
	testAudience = "prosesec:pc5"
	testListURI  = "https://as.prosesec.example/statuslists/1"
	testRSC      = token.RSC(0x00002a)
	testLeeway   = 30 * time.Second
)

var testNow = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)

// seeded returns a deterministic io.Reader (ChaCha8).
func seeded(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return rand.NewChaCha8(s)
}

// ecdsaKey makes a P-256 key from a seeded stream (ecdsa.GenerateKey
// ignores its reader since Go 1.26).
func ecdsaKey(t testing.TB, r *rand.ChaCha8) *ecdsa.PrivateKey {
	var b [32]byte
	for {
		r.Read(b[:])
		k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), b[:])
		if err == nil {
			return k
		}
	}
}

func ed25519Key(r *rand.ChaCha8) ed25519.PrivateKey {
	var seed [ed25519.SeedSize]byte
	r.Read(seed[:])
	return ed25519.NewKeyFromSeed(seed[:])
}

type world struct {
	t        testing.TB
	now      time.Time
	keys     *rand.ChaCha8
	issuer   *token.Signer
	trust    *token.TrustStore
	list     *token.StatusList
	listAt   time.Time
	cache    *token.StatusCache
	verifier *token.Verifier
	nextIdx  uint64
}

func newWorld(t testing.TB, seed uint64) *world {
	t.Helper()
	w := &world{t: t, now: testNow, keys: seeded(seed)}
	var err error
	if w.issuer, err = token.NewSigner(testIssuer, "k1", ecdsaKey(t, w.keys)); err != nil {
		t.Fatal(err)
	}
	w.trust = token.NewTrustStore()
	if err := w.trust.Add(w.issuer.Public()); err != nil {
		t.Fatal(err)
	}
	if w.list, err = token.NewStatusList(1024, 1); err != nil {
		t.Fatal(err)
	}
	w.cache = token.NewStatusCache(24 * time.Hour)
	w.publishStatus(w.now.Add(-time.Hour))
	w.verifier = w.newVerifier(w.cache)
	return w
}

func (w *world) newVerifier(st token.StatusChecker) *token.Verifier {
	return &token.Verifier{Trust: w.trust, Algorithms: []token.Algorithm{token.ES256, token.EdDSA}, Audience: testAudience, Leeway: testLeeway, Status: st}
}

// publishStatus signs the current status list as issued at `at` and puts
// it, verified, into the world's cache.
func (w *world) publishStatus(at time.Time) {
	w.t.Helper()
	w.listAt = at
	raw, err := w.issuer.SignStatusList(&token.StatusListToken{Subject: testListURI, IssuedAt: at, Expiry: at.Add(48 * time.Hour), List: w.list}, token.CWT)
	if err != nil {
		w.t.Fatal(err)
	}
	slt, err := token.VerifyStatusList(raw, token.CWT, w.trust, []token.Algorithm{token.ES256}, w.now, testLeeway)
	if err != nil {
		w.t.Fatal(err)
	}
	w.cache.Put(slt)
}

// claims returns the typical claims of a UE token.
func (w *world) claims(sub string, pub crypto.PublicKey, scopes ...token.Scope) *token.Claims {
	w.nextIdx++
	var id [16]byte
	binary.BigEndian.PutUint64(id[8:], w.nextIdx)
	jti, err := token.NewID(bytes.NewReader(id[:]))
	if err != nil {
		w.t.Fatal(err)
	}
	return &token.Claims{
		Subject:      sub,
		Audience:     []string{testAudience},
		IssuedAt:     w.now.Add(-10 * time.Minute),
		Expiry:       w.now.Add(time.Hour),
		ID:           jti,
		Scopes:       scopes,
		Confirmation: pub,
		Status:       &token.StatusRef{URI: testListURI, Index: w.nextIdx},
	}
}

func (w *world) sign(c *token.Claims, f token.Format) []byte {
	w.t.Helper()
	raw, err := w.issuer.Sign(c, f)
	if err != nil {
		w.t.Fatal(err)
	}
	return raw
}

// party is one UE: user info, identity key, token, and its Config.
type party struct {
	name   string
	key    crypto.Signer
	claims *token.Claims
	cfg    *Config
}

func (p *party) pub() crypto.PublicKey { return p.key.Public() }

// newParty makes a UE with an identity key for alg and a CWT token
// granting role for testRSC; rnd seeds its Config.Rand.
func (w *world) newParty(name string, alg msg.SignatureAlgorithm, role token.Role, rnd uint64) *party {
	p := &party{name: name}
	if alg == msg.SignatureEd25519 {
		p.key = ed25519Key(w.keys)
	} else {
		p.key = ecdsaKey(w.t, w.keys)
	}
	p.claims = w.claims(name, p.key.Public(), token.Scope{Role: role, RSC: testRSC})
	p.cfg = &Config{
		LocalUserInfo: []byte(name),
		IdentityKey:   p.key,
		Token:         w.sign(p.claims, token.CWT),
		TokenFormat:   msg.TokenCWT,
		Verifier:      w.verifier,
		Rand:          seeded(rnd),
	}
	return p
}

// reissue replaces p's token with one signed from modified claims.
func (w *world) reissue(p *party, mod func(*token.Claims)) {
	c := *p.claims
	mod(&c)
	p.claims = &c
	p.cfg.Token = w.sign(&c, token.CWT)
}

func suiteAlg(s msg.Suite) msg.SignatureAlgorithm { return s.SignatureAlgorithm() }

// The standard scenario: source UE S (initiator, role use) asks relay R
// (responder, role serve) for target T.
const (
	nameSource = "ue-source-00001"
	nameRelay  = "ue-relay-000001"
	nameTarget = "ue-target-00001"
)

func initiatorPolicy() Policy {
	return Policy{PeerUserInfo: []byte(nameRelay), TargetUserInfo: []byte(nameTarget), RSC: testRSC, PeerRole: token.RoleServe}
}

func responderPolicy() Policy {
	return Policy{RSC: testRSC, PeerRole: token.RoleUse, AcceptTarget: func([]byte) bool { return true }}
}

// wire is one PDU on the air, for logs and goldens.
type wire struct {
	fromI bool
	pdu   PDU
}

// pair wires two links in memory.
type pair struct {
	t      testing.TB
	i, p   *Link
	now    time.Time
	log    []wire
	ev     [2][]Event // 0: initiator, 1: responder
	errs   [2][]error // Step errors at each side
	filter func(fromI bool, n int, pdu PDU) []PDU
	sent   int
}

func newPair(t testing.TB, ic, pc *Config, ip, pp Policy) *pair {
	t.Helper()
	i, err := NewInitiator(ic, ip)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewResponder(pc, pp)
	if err != nil {
		t.Fatal(err)
	}
	return &pair{t: t, i: i, p: p, now: testNow}
}

func (pr *pair) side(n int) *Link {
	if n == 0 {
		return pr.i
	}
	return pr.p
}

// pump delivers everything both sides produce until neither has output.
func (pr *pair) pump() {
	pr.t.Helper()
	for range 10000 {
		moved := false
		for s := 0; s < 2; s++ {
			l := pr.side(s)
			if !l.HasReady() {
				continue
			}
			moved = true
			rd := l.Ready()
			pr.ev[s] = append(pr.ev[s], rd.Events...)
			for _, pdu := range rd.Send {
				pr.log = append(pr.log, wire{fromI: s == 0, pdu: pdu})
				out := []PDU{pdu}
				if pr.filter != nil {
					out = pr.filter(s == 0, pr.sent, pdu)
				}
				pr.sent++
				for _, q := range out {
					if err := pr.side(1-s).Step(pr.now, q); err != nil {
						pr.errs[1-s] = append(pr.errs[1-s], err)
					}
				}
			}
		}
		if !moved {
			return
		}
	}
	pr.t.Fatal("pump: no quiescence")
}

// handshake starts the initiator and pumps.
func (pr *pair) handshake() {
	pr.t.Helper()
	if err := pr.i.Start(pr.now); err != nil {
		pr.t.Fatal(err)
	}
	pr.pump()
}

// advance moves the clock by d in steps, ticking both sides.
func (pr *pair) advance(d, step time.Duration) {
	end := pr.now.Add(d)
	for pr.now.Before(end) {
		pr.now = pr.now.Add(step)
		pr.i.Tick(pr.now)
		pr.p.Tick(pr.now)
		pr.pump()
	}
}

func findEvent[E Event](evs []Event) (E, bool) {
	for _, e := range evs {
		if x, ok := e.(E); ok {
			return x, true
		}
	}
	var zero E
	return zero, false
}

func countEvents[E Event](evs []Event) int {
	n := 0
	for _, e := range evs {
		if _, ok := e.(E); ok {
			n++
		}
	}
	return n
}

func (pr *pair) mustEstablish() (Established, Established) {
	pr.t.Helper()
	ei, ok1 := findEvent[Established](pr.ev[0])
	ep, ok2 := findEvent[Established](pr.ev[1])
	if !ok1 || !ok2 {
		pr.t.Fatalf("not established: initiator %v (events %v, errs %v), responder %v (events %v, errs %v)",
			pr.i.State(), pr.ev[0], pr.errs[0], pr.p.State(), pr.ev[1], pr.errs[1])
	}
	return ei, ep
}

// exchangeData sends n packets each way on LCID 4 and checks them.
func (pr *pair) exchangeData(n int) {
	pr.t.Helper()
	for k := 0; k < n; k++ {
		for s := 0; s < 2; s++ {
			a, b := pr.side(s), pr.side(1-s)
			payload := []byte(fmt.Sprintf("packet %d from side %d", k, s))
			pdu, err := a.SealData(nil, sec.LCIDDRBMin, payload)
			if err != nil {
				pr.t.Fatalf("SealData: %v", err)
			}
			got, err := b.OpenData(nil, sec.LCIDDRBMin, pdu)
			if err != nil {
				pr.t.Fatalf("OpenData side %d: %v", 1-s, err)
			}
			if !bytes.Equal(got, payload) {
				pr.t.Fatalf("data: got %q, want %q", got, payload)
			}
		}
	}
}

func messageName(p PDU) string {
	data := p.Data
	if p.LCID != lcidSRB0 && len(data) > 0 && data[0]&sec.PDCPDataPDUBit != 0 {
		return "PDCP"
	}
	if len(data) == 0 {
		return "empty"
	}
	return msg.MessageType(data[0]).String()
}
