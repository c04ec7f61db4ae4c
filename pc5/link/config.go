package link

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"time"

	"github.com/prosesec/prosesec/pc5/msg"
	"github.com/prosesec/prosesec/pc5/sec"
	"github.com/prosesec/prosesec/token"
)

// Config is what one UE (end UE or relay) brings to every PC5 link: its
// identity, its credentials, its algorithm and policy preferences, and the
// injected randomness. One Config may serve many links; a Link copies it
// when it is made, so later changes affect only later links (use
// Link.SetToken to refresh the token of a running link).
type Config struct {
	// LocalUserInfo is this UE's user info (application layer ID), 1..253
	// octets, sent as the source user info. The token's sub must equal it
	// read as a string.
	LocalUserInfo []byte
	// IdentityKey is the long-term PC5 identity key: a P-256 ECDSA key or
	// an Ed25519 key, the key the AS bound the token to (cnf). An
	// *ecdsa.PrivateKey signs deterministically (RFC 6979); any other
	// crypto.Signer is called with Rand.
	IdentityKey crypto.Signer
	// Token is this UE's access token, sent to the peer, in TokenFormat
	// (msg.TokenCWT, the compact form, or msg.TokenJWT).
	Token       []byte
	TokenFormat msg.TokenFormat
	// Verifier verifies the peer's token offline (trust store, algorithm
	// allow-list, audience, leeway, status list). Required.
	Verifier *token.Verifier
	// Suites lists the Key_Est_Info suites this UE accepts, in preference
	// order; the initiator offers the first. All must match IdentityKey's
	// signature algorithm. Empty: every suite that matches IdentityKey,
	// P-256 key agreement first.
	Suites []msg.Suite
	// Ciphering and Integrity are the supported algorithms in preference
	// order; they also make the UE security capabilities sent in a request.
	// Empty: NEA2, NEA3, NEA1 / NIA2, NIA3, NIA1 (no null algorithm).
	Ciphering []sec.CipherAlg
	Integrity []sec.IntegrityAlg
	// SignallingPolicy is the UE PC5 unicast signalling security policy. A
	// nil pointer means integrity REQUIRED, ciphering REQUIRED.
	SignallingPolicy *msg.UnicastSecurityPolicy
	// UPPolicy is the UE PC5 unicast user plane security policy sent in the
	// SECURITY MODE COMPLETE (and checked by a responder). Nil: the
	// signalling policy.
	UPPolicy *msg.UnicastSecurityPolicy
	// ProSeIdentifiers are sent in the ESTABLISHMENT REQUEST.
	ProSeIdentifiers []uint32
	// Rand is the source of every random value: nonces, KNRP-sess ID and
	// KNRP ID parts, ephemeral private keys (32 octets each, retried for
	// P-256 until valid), keep-alive counters. Required. The ephemeral
	// scalars are read from it directly: in production it must be
	// crypto/rand.Reader (a seeded source is for tests and goldens only).
	Rand io.Reader
	// KNRPSessIDInUse reports the KNRP-sess IDs of this UE's other links
	// (established or being set up). Nil: none. The link adds its own.
	KNRPSessIDInUse func(sec.KNRPSessID) bool
	// Timers overrides timer values; zero fields take the defaults.
	Timers Timers
	// PeerTokenExpiry says what happens when the peer's token expires on an
	// established link. The default, ReleaseAtExpiry, releases it with #6.
	PeerTokenExpiry ExpiryPolicy
	// TokenRefreshMargin: how long before the peer's token expires the link
	// starts a rekeying with re-authentication to learn a renewed token.
	// Zero means DefaultTokenRefreshMargin; negative disables it.
	TokenRefreshMargin time.Duration
	// RekeyThreshold is passed to sec.Config: the COUNT at which a rekeying
	// (without re-authentication) starts. Zero: sec.DefaultRekeyThreshold.
	RekeyThreshold uint64
	// DisableKeepalive turns off T5084/T5085 on this side. The link still
	// answers the peer's KEEPALIVE REQUESTs.
	DisableKeepalive bool

	// TracePDU, if set, is called with every PDU the link protects (the
	// signalling it sends and the user data given to SealData) and the
	// plaintext it carries, before the PDU leaves the link. It lets a
	// simulator or a debugging shell that sees only PDUs on the medium name
	// and decode protected messages. Whoever sets it sees everything the
	// link protects: for traces and tests only. The slices are the link's
	// own buffers (kept for retransmissions and transcripts): valid only
	// during the call, and never to be modified.
	TracePDU func(TracedPDU)
	// KeyLog, if set, receives the keys of every security context the link
	// keys (establishment and rekeying): on the responder when it sends the
	// SECURITY MODE COMMAND (before it has authenticated the initiator, so
	// a REQUEST from anyone yields an entry), on the initiator when it sends
	// the SECURITY MODE COMPLETE, after the command's MAC-I, the peer's
	// token and signature (or, rekeying without re-authentication, KNRP)
	// checked out. Like crypto/tls's Config.KeyLogWriter it exists to
	// decrypt recorded traffic while debugging and defeats the link's
	// security: never set it in production. The entry is the callee's to
	// keep or wipe.
	KeyLog func(KeyLogEntry)
}

// TracedPDU is one PDU the link protected, as Config.TracePDU sees it.
type TracedPDU struct {
	LCID      uint8
	PDU       []byte // the PDCP data PDU as it leaves the link
	Plaintext []byte // the PC5-S message octets or the user-data payload
	// Ciphered is false for the PDU of the SECURITY MODE COMMAND, which is
	// integrity-protected only, and on a bearer set up without ciphering;
	// otherwise CipherAlg ciphered it (128-NEA0, the null algorithm,
	// included). Integrity likewise says whether IntegrityAlg computed a
	// MAC-I.
	Ciphered     bool
	CipherAlg    sec.CipherAlg
	Integrity    bool
	IntegrityAlg sec.IntegrityAlg
}

// KeyLogEntry is the key material of one security context (Config.KeyLog):
// enough to unprotect every PDU of that context in a recorded trace.
type KeyLogEntry struct {
	KNRPSessID sec.KNRPSessID
	// Initiator is true on the UE that sent the request that set up this
	// context (DIRECTION 0 for its PDUs, pc5/sec).
	Initiator    bool
	CipherAlg    sec.CipherAlg
	IntegrityAlg sec.IntegrityAlg
	NRPEK        sec.NRPEK
	NRPIK        sec.NRPIK
}

func (e *KeyLogEntry) wipe() {
	if e != nil {
		e.NRPEK.Wipe()
		e.NRPIK.Wipe()
	}
}

// ExpiryPolicy is what an established link does when the peer's token
// expires. Tokens can only be renewed in coverage, so out of coverage the
// peer presents the same token at the re-authentication before expiry.
type ExpiryPolicy uint8

const (
	// ReleaseAtExpiry releases the link with #6 when the peer's token has
	// expired (exp + Verifier.Leeway) and no re-authentication brought a
	// newer one.
	ReleaseAtExpiry ExpiryPolicy = iota
	// KeepAfterExpiry keeps the link: the token authorized the link when it
	// was set up (or last re-authenticated). Re-authentication still runs
	// before expiry, and a rekeying with re-authentication after expiry
	// fails with #6 and releases the link.
	KeepAfterExpiry
)

// Timers holds timer durations and retransmission counts; zero fields take
// the defaults (TS 24.554 values via pc5/msg, PROVISIONAL ones from this
// package's codepoints.go).
type Timers struct {
	T5080                       time.Duration
	T5080Retransmissions        int
	SecurityMode                time.Duration
	SecurityModeRetransmissions int
	Rekeying                    time.Duration
	RekeyingRetransmissions     int
	T5084                       time.Duration
	T5085                       time.Duration
	T5085Retransmissions        int
	T5087                       time.Duration
	T5087Retransmissions        int
	// Pause bounds how long a paused responder waits for Accept or Reject
	// (TimerPause). Zero: (T5080Retransmissions + 1) × T5080.
	Pause time.Duration
}

func (t Timers) withDefaults() Timers {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	defN := func(n *int, v int) {
		if *n == 0 {
			*n = v
		}
	}
	def(&t.T5080, msg.T5080.Default())
	defN(&t.T5080Retransmissions, msg.T5080.MaxRetransmissions())
	def(&t.SecurityMode, DefaultSecurityMode)
	defN(&t.SecurityModeRetransmissions, DefaultSecurityModeRetransmissions)
	def(&t.Rekeying, DefaultRekeying)
	defN(&t.RekeyingRetransmissions, DefaultRekeyingRetransmissions)
	def(&t.T5084, msg.T5084.Default())
	def(&t.T5085, msg.T5085.Default())
	defN(&t.T5085Retransmissions, msg.T5085.MaxRetransmissions())
	def(&t.T5087, msg.T5087.Default())
	defN(&t.T5087Retransmissions, msg.T5087.MaxRetransmissions())
	def(&t.Pause, time.Duration(t.T5080Retransmissions+1)*t.T5080)
	return t
}

func (t Timers) validate() error {
	for _, d := range []time.Duration{t.T5080, t.SecurityMode, t.Rekeying, t.T5084, t.T5085, t.T5087, t.Pause} {
		if d < 0 {
			return fmt.Errorf("pc5/link: expected non-negative timer values, found %s", d)
		}
	}
	for _, n := range []int{t.T5080Retransmissions, t.SecurityModeRetransmissions, t.RekeyingRetransmissions, t.T5085Retransmissions, t.T5087Retransmissions} {
		if n < 0 || n > 255 {
			return fmt.Errorf("pc5/link: expected 0..255 retransmissions, found %d", n)
		}
	}
	return nil
}

// Policy is what one link expects of its peer.
type Policy struct {
	// PeerUserInfo is the peer's user info. An initiator must set it: the
	// peer's token sub must equal it. A responder may leave it empty to
	// accept any source user info (the token's sub must then equal the
	// REQUEST's source user info); if set, a REQUEST from another source is
	// rejected with #1 (once the COMPLETE has authenticated the initiator,
	// like AcceptRSC and AcceptTarget: an unauthenticated requester learns
	// nothing of these decisions).
	PeerUserInfo []byte
	// TargetUserInfo (initiator) is sent as the target user info; nil means
	// PeerUserInfo. A UE asking a relay for target T sets PeerUserInfo to
	// the relay and TargetUserInfo to T.
	TargetUserInfo []byte
	// RSC is the relay service code: sent by an initiator; a responder
	// without AcceptRSC requires the REQUEST's RSC to equal it.
	RSC token.RSC
	// AcceptRSC (responder) decides which requested RSCs to serve. Nil:
	// only RSC.
	AcceptRSC func(token.RSC) bool
	// AcceptTarget (responder) decides whether a requested target user info
	// is acceptable (a relay accepts the end UEs it can reach). Nil: the
	// target must be absent or equal Config.LocalUserInfo. Refusal: #1.
	AcceptTarget func(target []byte) bool
	// PeerRole is the role the peer's token must grant for the RSC:
	// token.RoleServe when the peer is a relay, token.RoleUse when it is an
	// end UE (a relay requires RoleUse from the source and target UEs).
	PeerRole token.Role
	// PauseBeforeAccept (responder) stops after the peer is authenticated
	// and authorized: the link emits PeerAuthorized and waits for
	// Link.Accept or Link.Reject (the relay sets up its second hop first).
	// Default: accept at once with Accept.
	PauseBeforeAccept bool
	// Accept is what a responder puts in its ESTABLISHMENT ACCEPT when it
	// accepts at once.
	Accept AcceptParams
}

// AcceptParams is the caller-supplied content of an ESTABLISHMENT ACCEPT.
// The configuration of UE PC5 unicast user plane security protection is
// not a parameter: it follows the selected algorithms (see docs/protocol.md).
type AcceptParams struct {
	QoSFlowDescriptions []byte               // PC5 QoS flow descriptions, opaque
	IPAddressConfig     *msg.IPAddressConfig // optional
	LinkLocalIPv6       netip.Addr           // optional; zero = absent
	TargetIPAddress     netip.Addr           // optional (relay: the target end UE's address)
}

var (
	defaultCiphering = []sec.CipherAlg{sec.NEA2, sec.NEA3, sec.NEA1}
	defaultIntegrity = []sec.IntegrityAlg{sec.NIA2, sec.NIA3, sec.NIA1}
	allSuites        = []msg.Suite{msg.SuiteP256ECDSAP256, msg.SuiteX25519ECDSAP256, msg.SuiteP256Ed25519, msg.SuiteX25519Ed25519}
)

// identityAlg returns the suite signature algorithm of a public key, or 0.
func identityAlg(pub crypto.PublicKey) msg.SignatureAlgorithm {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k != nil && k.Curve == elliptic.P256() {
			return msg.SignatureECDSAP256SHA256
		}
	case ed25519.PublicKey:
		if len(k) == ed25519.PublicKeySize {
			return msg.SignatureEd25519
		}
	}
	return 0
}

// Validate reports whether c can run links: every required field set, the
// identity key of a supported type, suites that match it, algorithm
// identities 0..3 without duplicates, policies without reserved values,
// non-negative timers and a usable Verifier.
func (c *Config) Validate() error {
	if c == nil {
		return errors.New("pc5/link: expected a Config, found nil")
	}
	if n := len(c.LocalUserInfo); n < msg.MinUserInfoLen || n > msg.MaxUserInfoLen {
		return fmt.Errorf("pc5/link: expected a local user info of %d..%d octets, found %d", msg.MinUserInfoLen, msg.MaxUserInfoLen, n)
	}
	if c.IdentityKey == nil {
		return errors.New("pc5/link: expected an identity key, found nil")
	}
	alg := identityAlg(c.IdentityKey.Public())
	if alg == 0 {
		return fmt.Errorf("pc5/link: expected a P-256 ECDSA or Ed25519 identity key, found %T", c.IdentityKey.Public())
	}
	if n := len(c.Token); n < 1 || n > msg.MaxTokenLen {
		return fmt.Errorf("pc5/link: expected a token of 1..%d octets, found %d", msg.MaxTokenLen, n)
	}
	if !c.TokenFormat.Known() {
		return fmt.Errorf("pc5/link: expected token format CWT or JWT, found %v", c.TokenFormat)
	}
	if err := c.Verifier.Validate(); err != nil {
		return fmt.Errorf("pc5/link: verifier: %w", err)
	}
	for _, s := range c.Suites {
		if !s.Known() {
			return fmt.Errorf("pc5/link: expected known suites, found %v", s)
		}
		if s.SignatureAlgorithm() != alg {
			return fmt.Errorf("pc5/link: suite %v needs a %v identity key, found %v", s, s.SignatureAlgorithm(), alg)
		}
	}
	for i, a := range c.Ciphering {
		if a > sec.NEA3 || slices.Contains(c.Ciphering[:i], a) {
			return fmt.Errorf("pc5/link: expected distinct ciphering algorithms 0..3, found %v", c.Ciphering)
		}
	}
	for i, a := range c.Integrity {
		if a > sec.NIA3 || slices.Contains(c.Integrity[:i], a) {
			return fmt.Errorf("pc5/link: expected distinct integrity algorithms 0..3, found %v", c.Integrity)
		}
	}
	for _, p := range []*msg.UnicastSecurityPolicy{c.SignallingPolicy, c.UPPolicy} {
		if p != nil && (p.Integrity() > msg.PolicyRequired || p.Ciphering() > msg.PolicyRequired) {
			return fmt.Errorf("pc5/link: expected policies NOT NEEDED, PREFERRED or REQUIRED, found %v", *p)
		}
	}
	if c.Rand == nil {
		return errors.New("pc5/link: expected a random source in Config.Rand, found nil")
	}
	if c.PeerTokenExpiry > KeepAfterExpiry {
		return fmt.Errorf("pc5/link: unknown peer token expiry policy %d", c.PeerTokenExpiry)
	}
	if c.RekeyThreshold > sec.MaxCount+1 {
		return fmt.Errorf("pc5/link: expected a rekey threshold of at most 2^32, found %d", c.RekeyThreshold)
	}
	return c.Timers.validate()
}

// withDefaults returns a copy of a validated config with defaults filled in.
func (c *Config) withDefaults() Config {
	d := *c
	alg := identityAlg(c.IdentityKey.Public())
	if len(d.Suites) == 0 {
		for _, s := range allSuites {
			if s.SignatureAlgorithm() == alg {
				d.Suites = append(d.Suites, s)
			}
		}
	}
	if len(d.Ciphering) == 0 {
		d.Ciphering = defaultCiphering
	}
	if len(d.Integrity) == 0 {
		d.Integrity = defaultIntegrity
	}
	if d.SignallingPolicy == nil {
		p := msg.NewUnicastSecurityPolicy(msg.PolicyRequired, msg.PolicyRequired)
		d.SignallingPolicy = &p
	}
	if d.UPPolicy == nil {
		d.UPPolicy = d.SignallingPolicy
	}
	if d.TokenRefreshMargin == 0 {
		d.TokenRefreshMargin = DefaultTokenRefreshMargin
	}
	d.Timers = d.Timers.withDefaults()
	return d
}

// capabilities returns the UE security capabilities listing the configured
// algorithms.
func (c *Config) capabilities() msg.UESecurityCapabilities {
	var ea, ia []uint8
	for _, a := range c.Ciphering {
		ea = append(ea, uint8(a))
	}
	for _, a := range c.Integrity {
		ia = append(ia, uint8(a))
	}
	return msg.NewUESecurityCapabilities(ea, ia)
}

func (p *Policy) validate(initiator bool) error {
	if initiator {
		if n := len(p.PeerUserInfo); n < msg.MinUserInfoLen || n > msg.MaxUserInfoLen {
			return fmt.Errorf("pc5/link: an initiator needs the peer's user info (%d..%d octets), found %d octets", msg.MinUserInfoLen, msg.MaxUserInfoLen, n)
		}
		if n := len(p.TargetUserInfo); n > msg.MaxUserInfoLen {
			return fmt.Errorf("pc5/link: expected a target user info of at most %d octets, found %d", msg.MaxUserInfoLen, n)
		}
	}
	if !p.RSC.Valid() {
		return fmt.Errorf("pc5/link: expected a 24-bit RSC, found %#x", uint32(p.RSC))
	}
	if !p.PeerRole.Valid() {
		return fmt.Errorf("pc5/link: expected peer role %q or %q, found %q", token.RoleUse, token.RoleServe, p.PeerRole)
	}
	if !initiator {
		if err := p.Accept.validate(); err != nil {
			return err
		}
	}
	return nil
}

func (a *AcceptParams) validate() error {
	m := msg.DirectLinkEstablishmentAccept{
		SourceUserInfo:      []byte{0},
		QoSFlowDescriptions: a.QoSFlowDescriptions,
		IPAddressConfig:     a.IPAddressConfig,
		LinkLocalIPv6:       a.LinkLocalIPv6,
		TargetIPAddress:     a.TargetIPAddress,
	}
	if _, err := m.Marshal(); err != nil {
		return fmt.Errorf("pc5/link: accept parameters: %w", err)
	}
	return nil
}

func msgToTokenFormat(f msg.TokenFormat) token.Format {
	switch f {
	case msg.TokenCWT:
		return token.CWT
	case msg.TokenJWT:
		return token.JWT
	}
	return 0
}
