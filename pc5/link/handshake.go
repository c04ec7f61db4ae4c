package link

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/prosesec/prosesec/pc5/msg"
	"github.com/prosesec/prosesec/pc5/sec"
	"github.com/prosesec/prosesec/token"
)

// The establishment handshake (docs/design.md §4, docs/protocol.md §7–8):
//
//	I → P  ESTABLISHMENT REQUEST   SL-SRB0, clear       KeyEstInit
//	P → I  SECURITY MODE COMMAND   SL-SRB1, MAC only    KeyEstResponse
//	I → P  SECURITY MODE COMPLETE  SL-SRB1, MAC+cipher  KeyEstFinish
//	P → I  ESTABLISHMENT ACCEPT    SL-SRB2, MAC+cipher
//
// The same exchange, with a REKEYING REQUEST in place of the REQUEST and a
// REKEYING RESPONSE in place of the ACCEPT, rekeys an established link
// (lifecycle.go).

// peerCheck is what the peer's token must satisfy.
type peerCheck struct {
	wantSub []byte
	role    token.Role
	rsc     token.RSC
}

// Start sends the ESTABLISHMENT REQUEST (initiator, state idle).
func (l *Link) Start(now time.Time) error {
	l.now = now
	if !l.initiator || l.state != StateIdle {
		return fmt.Errorf("%w: Start needs an initiator in state idle, found %v", ErrState, l.state)
	}
	h, err := l.newRequest()
	if err != nil {
		l.state = StateClosed
		return err
	}
	l.hs = h
	l.send(lcidSRB0, h.outPDU)
	l.state = StateRequestSent
	l.start(T5080, l.cfg.Timers.T5080)
	return nil
}

func (l *Link) newRequest() (*handshake, error) {
	h := &handshake{requester: true, suite: l.cfg.Suites[0], caps: l.cfg.capabilities(), policy: *l.cfg.SignallingPolicy}
	if err := l.initRequester(h); err != nil {
		return nil, err
	}
	keic, err := (&msg.KeyEstInit{Suite: h.suite, EphemeralPublicKey: h.eph.pub}).Marshal()
	if err != nil {
		h.wipe()
		return nil, fmt.Errorf("pc5/link: KeyEstInit: %w", err)
	}
	h.targetUserInfo = l.pol.TargetUserInfo
	if h.targetUserInfo == nil {
		h.targetUserInfo = l.pol.PeerUserInfo
	}
	h.rsc = l.pol.RSC
	rsc := uint32(l.pol.RSC)
	nonce1, msb := h.nonce1, h.msb
	req := &msg.DirectLinkEstablishmentRequest{
		Seq:                      l.nextSeq(),
		ProSeIdentifiers:         l.cfg.ProSeIdentifiers,
		SourceUserInfo:           l.cfg.LocalUserInfo,
		UESecurityCapabilities:   h.caps,
		SignallingSecurityPolicy: h.policy,
		TargetUserInfo:           h.targetUserInfo,
		KeyEstInfo:               keic,
		Nonce1:                   &nonce1,
		KNRPSessIDMSB:            &msb,
		RelayServiceCode:         &rsc,
	}
	if h.reqOctets, err = req.Marshal(); err != nil {
		h.wipe()
		return nil, fmt.Errorf("pc5/link: ESTABLISHMENT REQUEST: %w", err)
	}
	clear(nonce1[:])
	h.thReq = sha256.Sum256(h.reqOctets)
	h.outPDU = h.reqOctets
	return h, nil
}

// initRequester draws the requester's ephemeral key (when the exchange
// establishes a new KNRP), Nonce_1 and the MSB of the KNRP-sess ID.
func (l *Link) initRequester(h *handshake) error {
	var err error
	if !h.rekey || h.reauth {
		if h.eph, err = newEphemeral(h.suite, l.cfg.Rand); err != nil {
			return err
		}
	}
	if _, err = io.ReadFull(l.cfg.Rand, h.nonce1[:]); err != nil {
		h.wipe()
		return fmt.Errorf("pc5/link: reading randomness for Nonce_1: %w", err)
	}
	if h.msb, err = sec.PickKNRPSessMSB(l.cfg.Rand, l.inUse); err != nil {
		h.wipe()
		return fmt.Errorf("pc5/link: %w", err)
	}
	return nil
}

// onRequest: the responder receives an ESTABLISHMENT REQUEST.
func (l *Link) onRequest(data []byte) error {
	switch l.state {
	case StateWaitRequest:
	case StateCommandSent:
		if bytes.Equal(data, l.hs.reqOctets) { // T5080 retransmission: the SMC was lost
			// At most as many resends as a genuine initiator retransmits
			// its REQUEST: a replayed REQUEST must not make this side an
			// amplifier (an SMC is about 3.5 times the REQUEST's size).
			if l.hs.smcResends >= l.cfg.Timers.T5080Retransmissions {
				return discard("ESTABLISHMENT REQUEST repeated after %d SECURITY MODE COMMAND resends", l.hs.smcResends)
			}
			l.hs.smcResends++
			l.send(lcidSRB1, l.hs.outPDU)
			return nil
		}
		return discard("an ESTABLISHMENT REQUEST other than the one being answered")
	default:
		return discard("ESTABLISHMENT REQUEST in state %v", l.state)
	}
	h, e := l.answerRequest(data)
	if e != nil {
		h.wipe()
		l.sendEstablishmentReject(e.Cause)
		l.failHandshake(e, false)
		return e
	}
	l.hs = h
	l.send(lcidSRB1, h.outPDU)
	l.state = StateCommandSent
	l.start(TimerSecurityMode, l.cfg.Timers.SecurityMode)
	return nil
}

// answerRequest checks an ESTABLISHMENT REQUEST and builds the SMC. The
// checks, in order: decoding (#111), the signalling policies (#10), the
// IEs the handshake needs (#111), the suite (#111 malformed, #6 not
// accepted), then buildCommand (#8, #9, #6). Whether this side serves the
// source, the target and the RSC (#1, #11) is decided only once the
// COMPLETE has authenticated the initiator (authorizeRequest): an
// unauthenticated REQUEST must not learn which targets and RSCs this side
// serves (a presence oracle), so every well-formed REQUEST is answered
// alike.
func (l *Link) answerRequest(data []byte) (*handshake, *Error) {
	var req msg.DirectLinkEstablishmentRequest
	if err := req.UnmarshalBinary(data); err != nil {
		return nil, protocolError("ESTABLISHMENT REQUEST", err)
	}
	if e := checkPolicies(req.SignallingSecurityPolicy, *l.cfg.SignallingPolicy); e != nil {
		return nil, e
	}
	var missing string
	switch {
	case req.KeyEstInfo == nil:
		missing = "Key establishment information container"
	case req.Nonce1 == nil:
		missing = "Nonce_1"
	case req.KNRPSessIDMSB == nil:
		missing = "MSB of KNRP-sess ID"
	case req.RelayServiceCode == nil:
		missing = "Relay service code"
	}
	if missing != "" {
		return nil, fail(msg.CauseProtocolErrorUnspecified, ErrProtocol, "ESTABLISHMENT REQUEST without %s", missing)
	}
	rsc := token.RSC(*req.RelayServiceCode)
	var ki msg.KeyEstInit
	if err := ki.UnmarshalBinary(req.KeyEstInfo); err != nil {
		return nil, protocolError("KeyEstInit", err)
	}
	if !slices.Contains(l.cfg.Suites, ki.Suite) {
		return nil, fail(msg.CauseAuthenticationFailure, ErrSuite, "suite %v offered, accepted %v", ki.Suite, l.cfg.Suites)
	}
	h := &handshake{
		suite:          ki.Suite,
		reqOctets:      bytes.Clone(data),
		thReq:          sha256.Sum256(data),
		nonce1:         *req.Nonce1,
		msb:            *req.KNRPSessIDMSB,
		caps:           req.UESecurityCapabilities,
		policy:         req.SignallingSecurityPolicy,
		sourceUserInfo: req.SourceUserInfo,
		targetUserInfo: req.TargetUserInfo,
		rsc:            rsc,
	}
	if e := l.buildCommand(h, ki.EphemeralPublicKey); e != nil {
		return h, e
	}
	return h, nil
}

// authorizeRequest is the responder's decision on the REQUEST's source,
// target and RSC, taken once the initiator is authenticated (its token and
// transcript signature verified): a source other than Policy.PeerUserInfo
// or a target not served (#1), an RSC not served (#11). The ESTABLISHMENT
// REJECT that carries the cause is the answer to an authenticated
// COMPLETE.
func (l *Link) authorizeRequest(h *handshake) *Error {
	if len(l.pol.PeerUserInfo) > 0 && !bytes.Equal(h.sourceUserInfo, l.pol.PeerUserInfo) {
		return fail(msg.CauseDirectCommunicationNotAllowed, ErrNotAllowed, "request from user info %x, expected %x", h.sourceUserInfo, l.pol.PeerUserInfo)
	}
	if !l.acceptTarget(h.targetUserInfo) {
		return fail(msg.CauseDirectCommunicationNotAllowed, ErrNotAllowed, "target user info %x not served", h.targetUserInfo)
	}
	if !l.acceptRSC(h.rsc) {
		return fail(msg.CauseRequiredServiceNotAllowed, ErrNotAllowed, "RSC %v not served", h.rsc)
	}
	return nil
}

func (l *Link) acceptTarget(t []byte) bool {
	if l.pol.AcceptTarget != nil {
		return l.pol.AcceptTarget(t)
	}
	return len(t) == 0 || bytes.Equal(t, l.cfg.LocalUserInfo)
}

func (l *Link) acceptRSC(r token.RSC) bool {
	if l.pol.AcceptRSC != nil {
		return l.pol.AcceptRSC(r)
	}
	return r == l.pol.RSC
}

// buildCommand is the responder's step 2: select the algorithms, draw
// Nonce_2 and the LSB, (when a new KNRP is needed) make the ephemeral key,
// derive KNRP and sign, derive KNRP-sess and the context, and protect the
// SMC (integrity only). eI is the requester's ephemeral key (nil when KNRP
// is kept). It sets h.outPDU.
func (l *Link) buildCommand(h *handshake, eI []byte) *Error {
	sel, e := selectAlgorithms(h.caps, h.policy, *l.cfg.SignallingPolicy, l.cfg.Ciphering, l.cfg.Integrity)
	if e != nil {
		return e
	}
	h.sel = sel
	if _, err := io.ReadFull(l.cfg.Rand, h.nonce2[:]); err != nil {
		return failWrap(msg.CauseProtocolErrorUnspecified, ErrProtocol, "reading randomness for Nonce_2", err)
	}
	lsb, err := sec.PickKNRPSessLSB(l.cfg.Rand, h.msb, l.inUse)
	if err != nil {
		return failWrap(msg.CauseLSBOfKNRPSessIDConflict, ErrKNRPSessIDConflict, "picking the LSB", err)
	}
	h.lsb = lsb
	var keic []byte
	var knrpIDMSBs *uint16
	if eI != nil {
		eph, err := newEphemeral(h.suite, l.cfg.Rand)
		if err != nil {
			return failWrap(msg.CauseProtocolErrorUnspecified, ErrProtocol, "ephemeral key", err)
		}
		z, err := eph.shared(h.suite, eI)
		eph.wipe()
		if err != nil {
			return &Error{Cause: msg.CauseAuthenticationFailure, Err: err}
		}
		fields := smcFields(eph.pub, &h.nonce2, lsb, sel, eI)
		if h.knrp, err = deriveKNRP(z, &h.nonce1, &h.thReq, fields); err != nil {
			return failWrap(msg.CauseProtocolErrorUnspecified, ErrProtocol, "KNRP", err)
		}
		sig, err := sign(l.cfg.IdentityKey, h.suite.SignatureAlgorithm(), l.cfg.Rand, responderSigInput(&h.thReq, fields))
		if err != nil {
			return failWrap(msg.CauseProtocolErrorUnspecified, ErrProtocol, "signing", err)
		}
		kr := msg.KeyEstResponse{Suite: h.suite, EphemeralPublicKey: eph.pub, TokenFormat: l.tokenFormat, Token: l.token, Signature: sig}
		if keic, err = kr.Marshal(); err != nil {
			return failWrap(msg.CauseProtocolErrorUnspecified, ErrProtocol, "KeyEstResponse", err)
		}
		var b [2]byte
		if _, err := io.ReadFull(l.cfg.Rand, b[:]); err != nil {
			return failWrap(msg.CauseProtocolErrorUnspecified, ErrProtocol, "reading randomness for the KNRP ID", err)
		}
		h.knrpIDMSB = binary.BigEndian.Uint16(b[:])
		knrpIDMSBs = &h.knrpIDMSB
	} else {
		h.knrp = l.knrp
	}
	kl := l.keyLogEntry()
	if e := h.newContext(sec.NewKNRPSessID(h.msb, lsb), false, l.cfg.RekeyThreshold, kl); e != nil {
		return e
	}
	l.logKeys(kl)
	smc := &msg.DirectLinkSecurityModeCommand{
		Seq:                      l.nextSeq(),
		UESecurityCapabilities:   h.caps,
		Nonce2:                   h.nonce2,
		SelectedAlgorithms:       sel,
		SignallingSecurityPolicy: h.policy,
		KNRPSessIDLSB:            lsb,
		KeyEstInfo:               keic,
		KNRPIDMSBs:               knrpIDMSBs,
	}
	if h.smcOctets, err = smc.Marshal(); err != nil {
		return failWrap(msg.CauseProtocolErrorUnspecified, ErrProtocol, "SECURITY MODE COMMAND", err)
	}
	if h.outPDU, err = l.protect(h.ctx, nil, lcidSRB1, h.smcOctets, false); err != nil {
		return failWrap(msg.CauseProtocolErrorUnspecified, ErrProtocol, "protecting the SECURITY MODE COMMAND", err)
	}
	return nil
}

// newContext derives KNRP-sess from h.knrp and the nonces and builds the
// PDCP context; KNRP-sess is wiped once NRPEK/NRPIK are keyed. A non-nil
// kl receives the context's keys (Config.KeyLog).
func (h *handshake) newContext(id sec.KNRPSessID, initiator bool, threshold uint64, kl *KeyLogEntry) *Error {
	ctx, e := newContext(&h.knrp, &h.nonce1, &h.nonce2, h.sel, id, initiator, threshold, kl)
	if e != nil {
		return e
	}
	h.ctx = ctx
	return nil
}

func newContext(knrp *sec.KNRP, nonce1, nonce2 *[msg.NonceLen]byte, sel msg.SelectedAlgorithms, id sec.KNRPSessID, initiator bool, threshold uint64, kl *KeyLogEntry) (*sec.Context, *Error) {
	sess := knrp.DeriveSess(nonce1, nonce2)
	defer sess.Wipe()
	ea, ia := sec.CipherAlg(sel.Ciphering()), sec.IntegrityAlg(sel.Integrity())
	ctx, err := sec.NewContext(sec.Config{
		Sess:           &sess,
		SessID:         id,
		CipherAlg:      ea,
		IntegrityAlg:   ia,
		Initiator:      initiator,
		RekeyThreshold: threshold,
	})
	if err != nil {
		return nil, failWrap(msg.CauseProtocolErrorUnspecified, ErrProtocol, "security context", err)
	}
	if kl != nil {
		*kl = KeyLogEntry{KNRPSessID: id, Initiator: initiator, CipherAlg: ea, IntegrityAlg: ia, NRPEK: sess.NRPEK(ea), NRPIK: sess.NRPIK(ia)}
	}
	return ctx, nil
}

// onCommand: the initiator receives the SMC.
func (l *Link) onCommand(pdu []byte) error {
	h := l.hs
	complete, err := l.processCommand(h, pdu, peerCheck{wantSub: l.pol.PeerUserInfo, role: l.pol.PeerRole, rsc: l.pol.RSC})
	if e, ok := asFailure(err); !ok {
		return err // discarded before the MAC-I verified: T5080 runs on
	} else if e != nil {
		l.sendSecurityModeReject(e.Cause)
		l.failHandshake(e, false)
		return e
	}
	h.smcIn = bytes.Clone(pdu)
	h.outPDU = complete
	l.send(lcidSRB1, complete)
	l.cancel(T5080)
	l.state = StateCompleteSent
	l.start(TimerSecurityMode, l.cfg.Timers.SecurityMode)
	return nil
}

// processCommand is the requester's step 3: it checks the SMC and returns
// the protected SECURITY MODE COMPLETE.
//
// Until the MAC-I of the SMC verifies, nothing vouches for the PDU: every
// failure up to that point (verifyCommand: PDCP framing and decoding, the
// KNRP-sess ID MSB this side chose, the Key_Est_Info and suite, the
// selected algorithms against what was offered and the own signalling
// policy, a zero KNRP-sess ID, the key share, the MAC-I itself) returns an
// error wrapping ErrDiscarded and leaves h untouched, so that a forged or
// reflected PDU neither ends the exchange nor spoils the genuine SMC that
// follows. A re-authenticating SMC must also be attributable to the link's
// peer (fromPeer), else it is discarded too. Only then are Nonce_2, the
// selection, KNRP and the context committed to h (and the ephemeral key
// wiped), and a failure is an *Error
// with the cause to report: the own user plane policy against the
// selection (#12, establishment only), the replayed capabilities (#8) and
// policy (#10), the KNRP-sess ID in local use (#9), then the peer's token
// and transcript signature (#6, #11).
func (l *Link) processCommand(h *handshake, pdu []byte, p peerCheck) ([]byte, error) {
	v, err := l.verifyCommand(h, pdu)
	if err != nil {
		return nil, err
	}
	// A MAC-I that verifies proves only that the sender answered this
	// request: the keys are logged once the peer is authenticated too,
	// right before the COMPLETE is protected under them.
	defer v.kl.wipe()
	if h.rekey && h.reauth && !l.fromPeer(h, v) {
		v.ctx.Wipe()
		v.knrp.Wipe()
		return nil, discard("SECURITY MODE COMMAND of a re-authentication whose signature is neither the link peer's identity key's nor made with a token of the link peer")
	}
	// The MAC-I verified under keys only the holder of the responder's
	// ephemeral key (or, in a rekeying without re-authentication, of KNRP)
	// could derive: commit.
	newKNRP := !h.rekey || h.reauth
	if newKNRP {
		h.eph.wipe()
		h.eph = nil
	}
	h.nonce2, h.sel, h.knrp, h.ctx = v.smc.Nonce2, v.smc.SelectedAlgorithms, v.knrp, v.ctx
	smc, kr := &v.smc, &v.kr
	if !h.rekey {
		if e := checkUP(*l.cfg.UPPolicy, h.sel, "own"); e != nil {
			return nil, e
		}
	}
	if !smc.UESecurityCapabilities.Equal(h.caps) {
		return nil, fail(msg.CauseUESecurityCapabilitiesMismatch, ErrCapabilities, "replayed capabilities %v, sent %v", smc.UESecurityCapabilities, h.caps)
	}
	if smc.SignallingSecurityPolicy != h.policy {
		return nil, fail(msg.CauseSignallingSecurityPolicyMismatch, ErrPolicy, "replayed policy %v, sent %v", smc.SignallingSecurityPolicy, h.policy)
	}
	if err := sec.CheckKNRPSessID(v.id, l.inUse); err != nil {
		return nil, failWrap(msg.CauseLSBOfKNRPSessIDConflict, ErrKNRPSessIDConflict, "LSB of the SECURITY MODE COMMAND", err)
	}
	h.smcOctets = bytes.Clone(v.body)
	c := &msg.DirectLinkSecurityModeComplete{Seq: l.nextSeq()}
	if !h.rekey {
		up := *l.cfg.UPPolicy
		c.UPSecurityPolicy = &up
	}
	if newKNRP {
		claims, e := l.checkPeer(h.suite, kr.TokenFormat, kr.Token, responderSigInput(&h.thReq, v.fields), kr.Signature, p)
		if e != nil {
			return nil, e
		}
		h.peerClaims = claims
		thSMC := sha256.Sum256(h.smcOctets)
		sig, err := sign(l.cfg.IdentityKey, h.suite.SignatureAlgorithm(), l.cfg.Rand, initiatorSigInput(&h.thReq, &thSMC))
		if err != nil {
			return nil, failWrap(msg.CauseProtocolErrorUnspecified, ErrProtocol, "signing", err)
		}
		if c.KeyEstInfo, err = (&msg.KeyEstFinish{Suite: h.suite, TokenFormat: l.tokenFormat, Token: l.token, Signature: sig}).Marshal(); err != nil {
			return nil, failWrap(msg.CauseProtocolErrorUnspecified, ErrProtocol, "KeyEstFinish", err)
		}
		var b [2]byte
		if _, err := io.ReadFull(l.cfg.Rand, b[:]); err != nil {
			return nil, failWrap(msg.CauseProtocolErrorUnspecified, ErrProtocol, "reading randomness for the KNRP ID", err)
		}
		lsbs := binary.BigEndian.Uint16(b[:])
		c.KNRPIDLSBs = &lsbs
		var msbs uint16
		if smc.KNRPIDMSBs != nil {
			msbs = *smc.KNRPIDMSBs
		}
		h.knrpID = sec.NewKNRPID(msbs, lsbs)
	}
	octets, err := c.Marshal()
	if err != nil {
		return nil, failWrap(msg.CauseProtocolErrorUnspecified, ErrProtocol, "SECURITY MODE COMPLETE", err)
	}
	l.logKeys(v.kl)
	out, err := l.protect(h.ctx, nil, lcidSRB1, octets, true)
	if err != nil {
		return nil, failWrap(msg.CauseProtocolErrorUnspecified, ErrProtocol, "protecting the SECURITY MODE COMPLETE", err)
	}
	return out, nil
}

// fromPeer reports whether the SMC of a rekeying with re-authentication,
// whose MAC-I verified, can be attributed to the link's peer: σ_P verifies
// under the identity key of the peer's current token, or under the cnf key
// of a token in the SMC that verifies and names the peer. Only such an SMC
// may end the link when a later check fails. The MAC-I alone does not
// prove it when the link runs NEA0: the REKEYING REQUEST then travels in
// clear, and anyone can answer its E_I with an own key share and derive
// keys that verify.
func (l *Link) fromPeer(h *handshake, v *verifiedCommand) bool {
	alg := h.suite.SignatureAlgorithm()
	in := responderSigInput(&h.thReq, v.fields)
	if l.peerClaims != nil && l.peerClaims.Confirmation != nil && verify(l.peerClaims.Confirmation, alg, in, v.kr.Signature) == nil {
		return true
	}
	c, err := l.cfg.Verifier.Verify(v.kr.Token, msgToTokenFormat(v.kr.TokenFormat), l.now)
	return err == nil && c.Confirmation != nil && c.RequireSubject(string(l.peerUserInfo)) == nil &&
		verify(c.Confirmation, alg, in, v.kr.Signature) == nil
}

// verifiedCommand is an SMC whose MAC-I verified, with what was derived
// to verify it (not yet committed to the handshake).
type verifiedCommand struct {
	smc    msg.DirectLinkSecurityModeCommand
	kr     msg.KeyEstResponse
	body   []byte // the SMC octets inside the PDU
	id     sec.KNRPSessID
	fields []byte // SMCFIELDS (new KNRP only)
	knrp   sec.KNRP
	ctx    *sec.Context
	kl     *KeyLogEntry // ctx's keys when Config.KeyLog is set
}

// verifyCommand runs every check of the SMC up to and including its MAC-I,
// on local values only: h is not modified (the ephemeral key is used, not
// wiped). Any failure is a discard (an error wrapping ErrDiscarded that
// names the cause the check would have had), never an *Error.
//
// The selected algorithms are checked here, before the MAC-I, because they
// decide the keys and whether the MAC-I proves anything at all: with NIA0
// the MAC-I is 32 zero bits, which anyone can produce, so an SMC selecting
// an algorithm this side does not accept cannot be authenticated.
func (l *Link) verifyCommand(h *handshake, pdu []byte) (*verifiedCommand, error) {
	pre := func(e *Error) (*verifiedCommand, error) {
		return nil, discardFailure("SECURITY MODE COMMAND before its MAC-I verified", e)
	}
	hdr, body, err := sec.ParsePDU(pdu, snSize, true)
	if err != nil {
		return pre(protocolError("SECURITY MODE COMMAND PDU", err))
	}
	if hdr.SessID.MSB() != h.msb {
		return pre(fail(msg.CauseIntegrityFailure, ErrIntegrity, "SECURITY MODE COMMAND under KNRP-sess ID %v, this side chose MSB %#02x", hdr.SessID, h.msb))
	}
	v := &verifiedCommand{body: body}
	smc := &v.smc
	if err := smc.UnmarshalBinary(body); err != nil {
		return pre(protocolError("SECURITY MODE COMMAND", err))
	}
	if hdr.SessID.LSB() != smc.KNRPSessIDLSB {
		return pre(fail(msg.CauseProtocolErrorUnspecified, ErrProtocol, "PDCP header carries KNRP-sess ID %v, the command's LSB is %#02x", hdr.SessID, smc.KNRPSessIDLSB))
	}
	newKNRP := !h.rekey || h.reauth
	kr := &v.kr
	if newKNRP {
		if smc.KeyEstInfo == nil {
			return pre(fail(msg.CauseProtocolErrorUnspecified, ErrProtocol, "SECURITY MODE COMMAND without Key_Est_Info"))
		}
		if err := kr.UnmarshalBinary(smc.KeyEstInfo); err != nil {
			return pre(protocolError("KeyEstResponse", err))
		}
		if kr.Suite != h.suite {
			return pre(fail(msg.CauseAuthenticationFailure, ErrSuite, "responder answered with suite %v, %v was offered", kr.Suite, h.suite))
		}
	} else if smc.KeyEstInfo != nil {
		return pre(fail(msg.CauseProtocolErrorUnspecified, ErrProtocol, "Key_Est_Info in a rekeying without re-authentication"))
	}
	if e := checkSelected(smc.SelectedAlgorithms, h.caps, *l.cfg.SignallingPolicy); e != nil {
		return pre(e)
	}
	v.id = sec.NewKNRPSessID(h.msb, smc.KNRPSessIDLSB)
	if uint16(v.id) == sec.KNRPSessIDUnprotected {
		return pre(fail(msg.CauseLSBOfKNRPSessIDConflict, ErrKNRPSessIDConflict, "KNRP-sess ID %v is reserved", v.id))
	}
	if newKNRP {
		z, err := h.eph.shared(h.suite, kr.EphemeralPublicKey)
		if err != nil {
			return pre(&Error{Cause: msg.CauseAuthenticationFailure, Err: err})
		}
		v.fields = smcFields(kr.EphemeralPublicKey, &smc.Nonce2, smc.KNRPSessIDLSB, smc.SelectedAlgorithms, h.eph.pub)
		if v.knrp, err = deriveKNRP(z, &h.nonce1, &h.thReq, v.fields); err != nil {
			return pre(failWrap(msg.CauseProtocolErrorUnspecified, ErrProtocol, "KNRP", err))
		}
	} else {
		v.knrp = l.knrp
	}
	kl := l.keyLogEntry()
	ctx, e := newContext(&v.knrp, &h.nonce1, &smc.Nonce2, smc.SelectedAlgorithms, v.id, true, l.cfg.RekeyThreshold, kl)
	if e != nil {
		v.knrp.Wipe()
		return pre(e)
	}
	if _, err := ctx.UnprotectNoCipher(nil, lcidSRB1, pdu); err != nil {
		ctx.Wipe()
		v.knrp.Wipe()
		kl.wipe()
		return pre(failWrap(msg.CauseIntegrityFailure, ErrIntegrity, "SECURITY MODE COMMAND", err))
	}
	v.ctx, v.kl = ctx, kl // logged by processCommand once the peer is authenticated
	return v, nil
}

// onComplete: the responder receives the SECURITY MODE COMPLETE.
func (l *Link) onComplete(pdu []byte) error {
	h := l.hs
	err := l.processComplete(h, pdu, peerCheck{wantSub: h.sourceUserInfo, role: l.pol.PeerRole, rsc: h.rsc})
	if e, ok := asFailure(err); !ok {
		return err // not deciphered and verified: TimerSecurityMode runs on
	} else if e != nil {
		l.sendEstablishmentReject(e.Cause)
		l.failHandshake(e, false)
		return e
	}
	l.cancel(TimerSecurityMode)
	h.completeIn = bytes.Clone(pdu)
	if l.pol.PauseBeforeAccept {
		l.state = StatePaused
		l.start(TimerPause, l.cfg.Timers.Pause)
		l.event(PeerAuthorized{SourceUserInfo: h.sourceUserInfo, TargetUserInfo: h.targetUserInfo, RSC: h.rsc, PeerClaims: h.peerClaims})
		return nil
	}
	if err := l.accept(l.pol.Accept); err != nil {
		e := failWrap(msg.CauseProtocolErrorUnspecified, ErrProtocol, "ESTABLISHMENT ACCEPT", err)
		l.sendEstablishmentReject(e.Cause)
		l.failHandshake(e, false)
		return e
	}
	return nil
}

// processComplete is the responder's step 4. A PDU that fails PDCP
// deciphering and MAC-I (wrong KNRP-sess ID, replayed COUNT, a reflected
// SMC, noise) is discarded: an error wrapping ErrDiscarded, with the PDCP
// state unchanged and the handshake still waiting. After the MAC-I
// verified, failures are *Errors, in order: decoding (#111), the
// Key_Est_Info (#111; another suite #6), the user plane policies (#12),
// the peer's token and transcript signature (#6, #11), then
// (establishment) whether this side serves the source, target and RSC of
// the REQUEST (#1, #11; authorizeRequest).
func (l *Link) processComplete(h *handshake, pdu []byte, p peerCheck) error {
	payload, err := h.ctx.Unprotect(nil, lcidSRB1, pdu)
	if err != nil {
		return discardFailure("SECURITY MODE COMPLETE that does not verify", failWrap(msg.CauseIntegrityFailure, ErrIntegrity, "SECURITY MODE COMPLETE", err))
	}
	var c msg.DirectLinkSecurityModeComplete
	if err := c.UnmarshalBinary(payload); err != nil {
		return protocolError("SECURITY MODE COMPLETE", err)
	}
	newKNRP := !h.rekey || h.reauth
	if !newKNRP {
		if c.KeyEstInfo != nil {
			return fail(msg.CauseProtocolErrorUnspecified, ErrProtocol, "Key_Est_Info in a rekeying without re-authentication")
		}
		return nil
	}
	if c.KeyEstInfo == nil {
		return fail(msg.CauseProtocolErrorUnspecified, ErrProtocol, "SECURITY MODE COMPLETE without Key_Est_Info")
	}
	var kf msg.KeyEstFinish
	if err := kf.UnmarshalBinary(c.KeyEstInfo); err != nil {
		return protocolError("KeyEstFinish", err)
	}
	if kf.Suite != h.suite {
		return fail(msg.CauseAuthenticationFailure, ErrSuite, "initiator finished with suite %v, the handshake runs %v", kf.Suite, h.suite)
	}
	if !h.rekey {
		if c.UPSecurityPolicy != nil {
			if e := checkUP(*c.UPSecurityPolicy, h.sel, "initiator's"); e != nil {
				return e
			}
		}
		if e := checkUP(*l.cfg.UPPolicy, h.sel, "own"); e != nil {
			return e
		}
	}
	thSMC := sha256.Sum256(h.smcOctets)
	claims, e := l.checkPeer(h.suite, kf.TokenFormat, kf.Token, initiatorSigInput(&h.thReq, &thSMC), kf.Signature, p)
	if e != nil {
		return e
	}
	h.peerClaims = claims
	if !h.rekey {
		if e := l.authorizeRequest(h); e != nil {
			return e
		}
	}
	var lsbs uint16
	if c.KNRPIDLSBs != nil {
		lsbs = *c.KNRPIDLSBs
	}
	h.knrpID = sec.NewKNRPID(h.knrpIDMSB, lsbs)
	return nil
}

// checkPeer verifies the peer's token offline at the link's now, that its
// cnf key verifies the transcript signature, that its sub is the expected
// user info and that it grants the role for the RSC. Causes come from the
// one table in errors.go.
func (l *Link) checkPeer(suite msg.Suite, f msg.TokenFormat, raw, sigInput, sig []byte, p peerCheck) (*token.Claims, *Error) {
	claims, err := l.cfg.Verifier.Verify(raw, msgToTokenFormat(f), l.now)
	if err != nil {
		return nil, &Error{Cause: TokenCause(err), Err: fmt.Errorf("peer %v token: %w", f, err)}
	}
	if claims.Confirmation == nil {
		return nil, fail(msg.CauseAuthenticationFailure, ErrUnboundToken, "token of %q has no cnf key", claims.Subject)
	}
	if err := verify(claims.Confirmation, suite.SignatureAlgorithm(), sigInput, sig); err != nil {
		return nil, &Error{Cause: TokenCause(err), Err: fmt.Errorf("%w with the cnf key of %q's token", err, claims.Subject)}
	}
	if err := claims.RequireSubject(string(p.wantSub)); err != nil {
		return nil, &Error{Cause: TokenCause(err), Err: fmt.Errorf("peer token: %w", err)}
	}
	if err := claims.Require(p.role, p.rsc); err != nil {
		return nil, &Error{Cause: TokenCause(err), Err: fmt.Errorf("peer token: %w", err)}
	}
	return claims, nil
}

// Accept sends the ESTABLISHMENT ACCEPT of a paused responder (state
// paused, after PeerAuthorized) and establishes the link. A paused
// responder waits at most Timers.Pause (TimerPause): then it rejects the
// initiator with #4 and wipes its keys, as Reject would.
func (l *Link) Accept(now time.Time, p AcceptParams) error {
	l.now = now
	if l.state != StatePaused {
		return fmt.Errorf("%w: Accept needs a paused responder, found state %v", ErrState, l.state)
	}
	return l.accept(p)
}

// Reject ends a paused responder's handshake with an ESTABLISHMENT REJECT
// carrying cause (e.g. the relay could not reach the target).
func (l *Link) Reject(now time.Time, c msg.Cause) error {
	l.now = now
	if l.state != StatePaused {
		return fmt.Errorf("%w: Reject needs a paused responder, found state %v", ErrState, l.state)
	}
	l.sendEstablishmentReject(c)
	l.failHandshake(&Error{Cause: c, Err: fmt.Errorf("%w: rejected with %v", ErrLocal, c)}, false)
	return nil
}

func (l *Link) accept(p AcceptParams) error {
	h := l.hs
	up := upConfig(h.sel)
	m := &msg.DirectLinkEstablishmentAccept{
		SourceUserInfo:      l.cfg.LocalUserInfo,
		QoSFlowDescriptions: p.QoSFlowDescriptions,
		UPProtectionConfig:  up,
		IPAddressConfig:     p.IPAddressConfig,
		LinkLocalIPv6:       p.LinkLocalIPv6,
		TargetIPAddress:     p.TargetIPAddress,
	}
	if err := p.validate(); err != nil {
		return err
	}
	m.Seq = l.nextSeq()
	octets, err := m.Marshal()
	if err != nil {
		return fmt.Errorf("pc5/link: ESTABLISHMENT ACCEPT: %w", err)
	}
	pdu, err := l.protect(h.ctx, nil, lcidSRB2, octets, true)
	if err != nil {
		return fmt.Errorf("pc5/link: protecting the ESTABLISHMENT ACCEPT: %w", err)
	}
	l.send(lcidSRB2, pdu)
	l.lastComplete, l.lastCompleteReply = h.completeIn, pdu
	l.establish(AcceptInfo{AcceptParams: p, UPProtection: up}, h.sourceUserInfo)
	return nil
}

// onAccept: the initiator receives the ESTABLISHMENT ACCEPT.
func (l *Link) onAccept(m *msg.DirectLinkEstablishmentAccept) error {
	h := l.hs
	var e *Error
	switch {
	case !bytes.Equal(m.SourceUserInfo, l.pol.PeerUserInfo):
		e = fail(msg.CauseProtocolErrorUnspecified, ErrProtocol, "ESTABLISHMENT ACCEPT from user info %x, expected %x", m.SourceUserInfo, l.pol.PeerUserInfo)
	case m.UPProtectionConfig != upConfig(h.sel):
		e = fail(msg.CauseProtocolErrorUnspecified, ErrProtocol, "ESTABLISHMENT ACCEPT with %v, the selected algorithms %v give %v", m.UPProtectionConfig, h.sel, upConfig(h.sel))
	}
	if e != nil {
		l.failHandshake(e, false)
		return e
	}
	info := AcceptInfo{
		AcceptParams: AcceptParams{QoSFlowDescriptions: m.QoSFlowDescriptions, IPAddressConfig: m.IPAddressConfig, LinkLocalIPv6: m.LinkLocalIPv6, TargetIPAddress: m.TargetIPAddress},
		UPProtection: m.UPProtectionConfig,
	}
	l.establish(info, l.pol.PeerUserInfo)
	return nil
}

// establish moves the handshake's results into the link.
func (l *Link) establish(info AcceptInfo, peer []byte) {
	h := l.hs
	l.cancelAll()
	l.cur, h.ctx = h.ctx, nil
	l.knrp, l.knrpID, l.algs, l.suite = h.knrp, h.knrpID, h.sel, h.suite
	l.ctxInitiator = l.initiator
	l.peerClaims, l.peerUserInfo, l.targetUserInfo, l.rsc = h.peerClaims, peer, h.targetUserInfo, h.rsc
	l.estPolicy = h.policy
	l.acceptInfo = info
	h.wipe()
	l.hs = nil
	l.state = StateEstablished
	if !l.cfg.DisableKeepalive {
		l.start(T5084, l.cfg.Timers.T5084)
	}
	l.armTokenTimers()
	l.event(Established{
		PeerUserInfo:   l.peerUserInfo,
		TargetUserInfo: l.targetUserInfo,
		RSC:            l.rsc,
		PeerClaims:     l.peerClaims,
		Security:       l.Security(),
		Context:        l.cur,
		Accept:         info,
	})
}

// Policy and algorithm rules.

// checkPolicies is the responder's TS 33.536 check: reject when one side's
// policy is NOT NEEDED and the other's REQUIRED (for integrity, and by the
// same rule for ciphering), and reserved values. Cause #10 (the
// signalling policy mismatch; #12 is kept for the user plane).
func checkPolicies(peer, own msg.UnicastSecurityPolicy) *Error {
	if peer.Integrity() > msg.PolicyRequired || peer.Ciphering() > msg.PolicyRequired {
		return fail(msg.CauseSignallingSecurityPolicyMismatch, ErrPolicy, "reserved value in the initiator's policy (%v)", peer)
	}
	conflict := func(a, b msg.SecurityPolicy) bool {
		return a == msg.PolicyNotNeeded && b == msg.PolicyRequired || a == msg.PolicyRequired && b == msg.PolicyNotNeeded
	}
	if conflict(peer.Integrity(), own.Integrity()) || conflict(peer.Ciphering(), own.Ciphering()) {
		return fail(msg.CauseSignallingSecurityPolicyMismatch, ErrPolicy, "initiator's policy (%v) conflicts with this side's (%v)", peer, own)
	}
	return nil
}

// selectAlgorithms picks the first algorithm of each preference list that
// the initiator supports. A null algorithm is allowed only when both
// policies for it are NOT NEEDED.
func selectAlgorithms(caps msg.UESecurityCapabilities, peer, own msg.UnicastSecurityPolicy, ciph []sec.CipherAlg, integ []sec.IntegrityAlg) (msg.SelectedAlgorithms, *Error) {
	nullI := peer.Integrity() == msg.PolicyNotNeeded && own.Integrity() == msg.PolicyNotNeeded
	nullC := peer.Ciphering() == msg.PolicyNotNeeded && own.Ciphering() == msg.PolicyNotNeeded
	ia, okI := sec.IntegrityAlg(0), false
	for _, a := range integ {
		if (a != sec.NIA0 || nullI) && caps.SupportsIntegrity(uint8(a)) {
			ia, okI = a, true
			break
		}
	}
	ca, okC := sec.CipherAlg(0), false
	for _, a := range ciph {
		if (a != sec.NEA0 || nullC) && caps.SupportsCiphering(uint8(a)) {
			ca, okC = a, true
			break
		}
	}
	if !okI || !okC {
		return 0, fail(msg.CauseUESecurityCapabilitiesMismatch, ErrCapabilities, "no acceptable common algorithms: initiator offers %v, this side supports %v / %v", caps, ciph, integ)
	}
	return msg.NewSelectedAlgorithms(uint8(ca), uint8(ia)), nil
}

// checkSelected is the requester's check of the selected algorithms: they
// must be among those it offered (#8) and null only where its own policy
// is NOT NEEDED (#10).
func checkSelected(sel msg.SelectedAlgorithms, caps msg.UESecurityCapabilities, own msg.UnicastSecurityPolicy) *Error {
	if !caps.SupportsCiphering(sel.Ciphering()) || !caps.SupportsIntegrity(sel.Integrity()) {
		return fail(msg.CauseUESecurityCapabilitiesMismatch, ErrCapabilities, "selected %v, offered %v", sel, caps)
	}
	if sel.Integrity() == uint8(sec.NIA0) && own.Integrity() != msg.PolicyNotNeeded ||
		sel.Ciphering() == uint8(sec.NEA0) && own.Ciphering() != msg.PolicyNotNeeded {
		return fail(msg.CauseSignallingSecurityPolicyMismatch, ErrPolicy, "selected %v against policy %v", sel, own)
	}
	return nil
}

// upConfig is the user plane protection of the link: PROJECT-DEFINED,
// PROVISIONAL, it follows the signalling algorithms (ciphering activated
// unless NEA0, integrity unless NIA0).
func upConfig(sel msg.SelectedAlgorithms) msg.UPProtectionConfig {
	var c uint8
	if sel.Ciphering() != uint8(sec.NEA0) {
		c |= msg.UPProtectionCiphering
	}
	if sel.Integrity() != uint8(sec.NIA0) {
		c |= msg.UPProtectionIntegrity
	}
	return msg.UPProtectionConfig(c)
}

// checkUP fails with #12 when a user plane policy REQUIRES a protection the
// selected algorithms do not give.
func checkUP(p msg.UnicastSecurityPolicy, sel msg.SelectedAlgorithms, whose string) *Error {
	if p.Integrity() == msg.PolicyRequired && sel.Integrity() == uint8(sec.NIA0) ||
		p.Ciphering() == msg.PolicyRequired && sel.Ciphering() == uint8(sec.NEA0) {
		return fail(msg.CauseSecurityPolicyNotAligned, ErrUPPolicy, "%s user plane policy %v, selected %v", whose, p, sel)
	}
	return nil
}
