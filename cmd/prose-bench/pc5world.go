//go:build linux

package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prosesec/prosesec/pc5/link"
	"github.com/prosesec/prosesec/pc5/msg"
	"github.com/prosesec/prosesec/token"
)

// The PC5 commands (handshake, relay) need what a ProSe Application Server
// hands out: an issuer key, tokens bound to the UEs' identity keys, and a
// signed status list. pc5World makes them in-process with package token,
// as the tests of pc5/link and relay do, but with crypto/rand and tokens
// valid around the wall clock's now (the PC5 commands run in real time).

const (
	benchIssuer   = "https://as.prose-bench.invalid"
	benchAudience = "prosesec:pc5"
	benchListURI  = benchIssuer + "/statuslists/0"
	benchRSC      = token.RSC(0x00002a)
	benchLeeway   = 30 * time.Second
	// benchTokenLife is the validity of the tokens around the start of a
	// run: longer than any bounded run.
	benchTokenLife = 2 * time.Hour
)

// suiteNames are the Key_Est_Info suites by their flag names.
var suiteNames = []struct {
	name  string
	suite msg.Suite
}{
	{"p256-ecdsa", msg.SuiteP256ECDSAP256},
	{"x25519-ed25519", msg.SuiteX25519Ed25519},
	{"x25519-ecdsa", msg.SuiteX25519ECDSAP256},
	{"p256-ed25519", msg.SuiteP256Ed25519},
}

func suiteFlagHelp() string {
	var n []string
	for _, s := range suiteNames {
		n = append(n, s.name)
	}
	return strings.Join(n, ", ")
}

func parseSuite(v string) (msg.Suite, error) {
	for _, s := range suiteNames {
		if s.name == v || strings.EqualFold(s.suite.String(), v) {
			return s.suite, nil
		}
	}
	return 0, usagef("--suite %q: use one of %s", v, suiteFlagHelp())
}

func parsePC5Format(v string) (msg.TokenFormat, token.Format, error) {
	switch v {
	case "cwt":
		return msg.TokenCWT, token.CWT, nil
	case "jwt":
		return msg.TokenJWT, token.JWT, nil
	}
	return 0, 0, usagef("--format %q: use cwt or jwt", v)
}

// pc5World is one issuer, its trust store and a verified status list.
type pc5World struct {
	now    time.Time
	issuer *token.Signer
	trust  *token.TrustStore
	cache  *token.StatusCache
	mu     sync.Mutex
	next   uint64 // status index and jti counter
}

func newPC5World(now time.Time) (*pc5World, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("prose-bench: %v", err)
	}
	w := &pc5World{now: now, trust: token.NewTrustStore(), cache: token.NewStatusCache(24 * time.Hour)}
	if w.issuer, err = token.NewSigner(benchIssuer, "b1", key); err != nil {
		return nil, fmt.Errorf("prose-bench: %v", err)
	}
	if err := w.trust.Add(w.issuer.Public()); err != nil {
		return nil, fmt.Errorf("prose-bench: %v", err)
	}
	list, err := token.NewStatusList(4096, 1)
	if err != nil {
		return nil, fmt.Errorf("prose-bench: %v", err)
	}
	at := now.Add(-time.Minute)
	raw, err := w.issuer.SignStatusList(&token.StatusListToken{Subject: benchListURI, IssuedAt: at, Expiry: at.Add(benchTokenLife), List: list}, token.CWT)
	if err != nil {
		return nil, fmt.Errorf("prose-bench: signing the status list: %v", err)
	}
	slt, err := token.VerifyStatusList(raw, token.CWT, w.trust, []token.Algorithm{token.ES256}, now, benchLeeway)
	if err != nil {
		return nil, fmt.Errorf("prose-bench: verifying the status list: %v", err)
	}
	w.cache.Put(slt)
	return w, nil
}

// verifier returns a verifier of the world's tokens, with the status list.
func (w *pc5World) verifier() *token.Verifier {
	return &token.Verifier{Trust: w.trust, Algorithms: []token.Algorithm{token.ES256}, Audience: benchAudience, Leeway: benchLeeway, Status: w.cache}
}

// linkConfig makes a UE named name with a fresh identity key for suite's
// signature algorithm, a token in format f granting scope and bound to the
// key, and its link.Config (crypto/rand, the given suite only).
func (w *pc5World) linkConfig(name string, suite msg.Suite, mf msg.TokenFormat, f token.Format, scope token.Scope) (*link.Config, error) {
	var key crypto.Signer
	if suite.SignatureAlgorithm() == msg.SignatureEd25519 {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("prose-bench: %v", err)
		}
		key = k
	} else {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("prose-bench: %v", err)
		}
		key = k
	}
	w.mu.Lock()
	w.next++
	idx := w.next
	w.mu.Unlock()
	jti, err := token.NewID(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("prose-bench: %v", err)
	}
	c := &token.Claims{
		Subject:      name,
		Audience:     []string{benchAudience},
		IssuedAt:     w.now.Add(-time.Minute),
		Expiry:       w.now.Add(benchTokenLife),
		ID:           jti,
		Scopes:       []token.Scope{scope},
		Confirmation: key.Public(),
		Status:       &token.StatusRef{URI: benchListURI, Index: idx},
	}
	raw, err := w.issuer.Sign(c, f)
	if err != nil {
		return nil, fmt.Errorf("prose-bench: signing a token: %v", err)
	}
	return &link.Config{
		LocalUserInfo: []byte(name),
		IdentityKey:   key,
		Token:         raw,
		TokenFormat:   mf,
		Verifier:      w.verifier(),
		Suites:        []msg.Suite{suite},
		Rand:          rand.Reader,
	}, nil
}
