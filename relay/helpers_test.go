package relay_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/prosesec/prosesec/pc5/link"
	"github.com/prosesec/prosesec/pc5/medium"
	"github.com/prosesec/prosesec/pc5/msg"
	"github.com/prosesec/prosesec/pc5/node"
	"github.com/prosesec/prosesec/relay"
	"github.com/prosesec/prosesec/token"
)

// The test world: one AS (ES256 issuer) with its status list, UEs with
// identity keys and CWT tokens bound to them, all on an in-memory medium
// with virtual time (after pc5/link's helpers_test.go).

const (
	testIssuer   = "https://as.prosesec.example"
	testAudience = "prosesec:pc5"
	testListURI  = "https://as.prosesec.example/statuslists/1"
	testRSC      = token.RSC(0x00002a)
	otherRSC     = token.RSC(0x00002b)
	relayID      = medium.L2ID(0x000010)
	relayName    = "ue-relay-000001"
)

var testNow = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)

func seeded(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return rand.NewChaCha8(s)
}

func ecdsaKey(r *rand.ChaCha8) *ecdsa.PrivateKey {
	var b [32]byte
	for {
		r.Read(b[:])
		if k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), b[:]); err == nil {
			return k
		}
	}
}

type world struct {
	t        testing.TB
	keys     *rand.ChaCha8
	issuer   *token.Signer
	verifier *token.Verifier
	nextIdx  uint64
	nextRand uint64
	now      time.Time

	clock *medium.Clock
	mem   *medium.Mem
}

func newWorld(t testing.TB) *world { return newWorldAt(t, testNow) }

// newWorldAt makes a world whose tokens and status list are valid at now.
func newWorldAt(t testing.TB, now time.Time) *world {
	t.Helper()
	w := &world{t: t, now: now, keys: seeded(1), nextRand: 100}
	var err error
	if w.issuer, err = token.NewSigner(testIssuer, "k1", ecdsaKey(w.keys)); err != nil {
		t.Fatal(err)
	}
	trust := token.NewTrustStore()
	if err := trust.Add(w.issuer.Public()); err != nil {
		t.Fatal(err)
	}
	list, err := token.NewStatusList(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	cache := token.NewStatusCache(24 * time.Hour)
	at := now.Add(-time.Hour)
	raw, err := w.issuer.SignStatusList(&token.StatusListToken{Subject: testListURI, IssuedAt: at, Expiry: at.Add(48 * time.Hour), List: list}, token.CWT)
	if err != nil {
		t.Fatal(err)
	}
	slt, err := token.VerifyStatusList(raw, token.CWT, trust, []token.Algorithm{token.ES256}, now, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cache.Put(slt)
	w.verifier = &token.Verifier{Trust: trust, Algorithms: []token.Algorithm{token.ES256}, Audience: testAudience, Leeway: 30 * time.Second, Status: cache}
	w.clock = medium.NewClock(now)
	if w.mem, err = medium.NewMem(medium.MemConfig{Clock: w.clock, Seed: 1, Default: medium.DefaultLink()}); err != nil {
		t.Fatal(err)
	}
	return w
}

// linkConfig makes a UE's identity key, a token with scopes bound to it,
// and its link.Config.
func (w *world) linkConfig(name string, scopes ...token.Scope) *link.Config {
	w.t.Helper()
	key := ecdsaKey(w.keys)
	w.nextIdx++
	var id [16]byte
	binary.BigEndian.PutUint64(id[8:], w.nextIdx)
	jti, err := token.NewID(bytes.NewReader(id[:]))
	if err != nil {
		w.t.Fatal(err)
	}
	c := &token.Claims{
		Subject: name, Audience: []string{testAudience},
		IssuedAt: w.now.Add(-10 * time.Minute), Expiry: w.now.Add(2 * time.Hour),
		ID: jti, Scopes: scopes, Confirmation: crypto.PublicKey(key.Public()),
		Status: &token.StatusRef{URI: testListURI, Index: w.nextIdx},
	}
	raw, err := w.issuer.Sign(c, token.CWT)
	if err != nil {
		w.t.Fatal(err)
	}
	w.nextRand++
	return &link.Config{
		LocalUserInfo: []byte(name), IdentityKey: key, Token: raw, TokenFormat: msg.TokenCWT,
		Verifier: w.verifier, Rand: seeded(w.nextRand),
	}
}

func use(r token.RSC) token.Scope   { return token.Scope{Role: token.RoleUse, RSC: r} }
func serve(r token.RSC) token.Scope { return token.Scope{Role: token.RoleServe, RSC: r} }

// testRelay is the relay under test with its driver.
type testRelay struct {
	*relay.Relay
	drv *node.MemDriver
}

// newRelay attaches a relay; table is its static Lookup table.
func (w *world) newRelay(mod func(*relay.Config), table map[string]medium.L2ID, scopes ...token.Scope) *testRelay {
	w.t.Helper()
	if len(scopes) == 0 {
		scopes = []token.Scope{serve(testRSC)}
	}
	cfg := relay.Config{
		Self: relayID,
		Link: w.linkConfig(relayName, scopes...),
		RSCs: []token.RSC{testRSC},
		Lookup: func(_ token.RSC, ui []byte, _ time.Time) (medium.L2ID, bool) {
			id, ok := table[string(ui)]
			return id, ok
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	r, err := relay.New(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	port, err := w.mem.AttachPort(relayID)
	if err != nil {
		w.t.Fatal(err)
	}
	return &testRelay{Relay: r, drv: node.Mem(port, w.clock, r)}
}

// endUE is a source or target UE with what it received.
type endUE struct {
	id     medium.L2ID
	name   string
	ep     *node.Endpoint
	drv    *node.MemDriver
	events []link.Event
	got    [][]byte
	// echo makes a target answer every packet with src and dst swapped.
	echo bool
}

func (w *world) newUE(name string, id medium.L2ID, scopes ...token.Scope) *endUE {
	w.t.Helper()
	if len(scopes) == 0 {
		scopes = []token.Scope{use(testRSC)}
	}
	u := &endUE{id: id, name: name}
	ep, err := node.NewEndpoint(node.EndpointConfig{
		Self: id, Link: w.linkConfig(name, scopes...), RSC: testRSC,
		Deliver: func(_ medium.L2ID, lcid uint8, pkt []byte) {
			u.got = append(u.got, bytes.Clone(pkt))
			if u.echo {
				r := bytes.Clone(pkt)
				copy(r[8:24], pkt[24:40])
				copy(r[24:40], pkt[8:24])
				if err := u.ep.Send(lcid, r); err != nil {
					w.t.Errorf("%s: echo: %v", name, err)
				}
			}
		},
		OnEvent: func(_ medium.L2ID, ev link.Event) { u.events = append(u.events, ev) },
	})
	if err != nil {
		w.t.Fatal(err)
	}
	port, err := w.mem.AttachPort(id)
	if err != nil {
		w.t.Fatal(err)
	}
	u.ep, u.drv = ep, node.Mem(port, w.clock, ep)
	return u
}

func (u *endUE) connect(t testing.TB, target string) {
	t.Helper()
	u.drv.Do(func(now time.Time) {
		if err := u.ep.Connect(now, relayID, []byte(relayName), []byte(target)); err != nil {
			t.Fatal(err)
		}
	})
}

func (u *endUE) send(t testing.TB, pkt []byte) {
	t.Helper()
	u.drv.Do(func(time.Time) {
		if err := u.ep.Send(4, pkt); err != nil {
			t.Fatal(err)
		}
	})
}

func (u *endUE) established() (link.Established, bool) {
	for _, ev := range u.events {
		if e, ok := ev.(link.Established); ok {
			return e, true
		}
	}
	return link.Established{}, false
}

func (u *endUE) rejected() (link.Rejected, bool) {
	for _, ev := range u.events {
		if e, ok := ev.(link.Rejected); ok {
			return e, true
		}
	}
	return link.Rejected{}, false
}

// ipv6 builds an IPv6 packet (next header 59, no next header) with n
// octets of payload.
func ipv6(src, dst netip.Addr, n int, fill byte) []byte {
	p := make([]byte, 40+n)
	p[0] = 0x60
	binary.BigEndian.PutUint16(p[4:], uint16(n))
	p[6], p[7] = 59, 64
	s, d := src.As16(), dst.As16()
	copy(p[8:], s[:])
	copy(p[24:], d[:])
	for i := 40; i < len(p); i++ {
		p[i] = fill + byte(i)
	}
	return p
}
