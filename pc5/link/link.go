package link

import (
	"bytes"
	"fmt"
	"time"

	"github.com/prosesec/prosesec/pc5/msg"
	"github.com/prosesec/prosesec/pc5/sec"
	"github.com/prosesec/prosesec/token"
)

// Link is the sans-I/O state machine of one PC5 unicast link, on one side:
// the security handshake (as initiator or responder), then keep-alive,
// rekeying and release, and the protection of data. It is not safe for
// concurrent use: the caller serializes Start, Step, Tick, the other
// methods and Ready.
type Link struct {
	cfg       Config
	pol       Policy
	initiator bool
	state     State
	seq       uint8
	now       time.Time
	out       Ready
	timers    [len(timerOrder)]timerSlot

	token       []byte
	tokenFormat msg.TokenFormat

	hs *handshake // establishment in progress
	rk *handshake // rekeying in progress

	// The established link.
	peerUserInfo   []byte
	targetUserInfo []byte
	rsc            token.RSC
	peerClaims     *token.Claims
	suite          msg.Suite
	estPolicy      msg.UnicastSecurityPolicy // the initiator's signalling policy, replayed in every SMC
	knrp           sec.KNRP
	knrpID         sec.KNRPID
	algs           msg.SelectedAlgorithms
	ctxInitiator   bool
	cur, prev      *sec.Context
	acceptInfo     AcceptInfo

	// The last SECURITY MODE COMPLETE received and the PDU that answered it
	// (ACCEPT or REKEYING RESPONSE), resent if the COMPLETE is repeated.
	lastComplete, lastCompleteReply []byte

	kaCounter     uint32
	rxActivity    bool
	relCause      msg.Cause
	relErr        error
	relOctets     []byte
	refreshedExp  time.Time
	reauthPending bool
}

// timerOrder lists the timers in the order Tick fires them.
var timerOrder = [...]Timer{T5080, TimerSecurityMode, TimerPause, TimerRekeying, T5087, T5085, T5084, TimerTokenExpiry, TimerTokenRefresh}

type timerSlot struct {
	armed    bool
	deadline time.Time
	retx     int
}

func timerIndex(t Timer) int {
	for i, x := range timerOrder {
		if x == t {
			return i
		}
	}
	panic("pc5/link: unknown timer " + t.String())
}

// handshake is the state of one security mode exchange: the establishment
// handshake, or a rekeying (rekey), possibly with re-authentication.
type handshake struct {
	rekey, reauth bool
	requester     bool // this side sent the (establishment or rekeying) request
	smcDone       bool // requester: the SMC was accepted and the COMPLETE sent
	smcResends    int  // responder: SMCs resent for a repeated REQUEST

	suite     msg.Suite
	eph       *ephemeral
	reqOctets []byte
	thReq     [32]byte
	nonce1    [msg.NonceLen]byte
	nonce2    [msg.NonceLen]byte
	msb, lsb  uint8
	caps      msg.UESecurityCapabilities // the requester's, replayed in the SMC
	policy    msg.UnicastSecurityPolicy  // replayed in the SMC
	sel       msg.SelectedAlgorithms
	smcOctets []byte
	knrp      sec.KNRP
	ctx       *sec.Context
	knrpIDMSB uint16
	knrpID    sec.KNRPID

	peerClaims     *token.Claims
	sourceUserInfo []byte // responder: from the REQUEST
	targetUserInfo []byte
	rsc            token.RSC

	outPDU     []byte // what a retransmission resends: REQUEST, SMC or COMPLETE
	smcIn      []byte // initiator: the SMC PDU accepted
	completeIn []byte // responder: the COMPLETE PDU accepted
}

func (h *handshake) wipe() {
	if h == nil {
		return
	}
	h.eph.wipe()
	h.eph = nil
	h.knrp.Wipe()
	if h.ctx != nil {
		h.ctx.Wipe()
		h.ctx = nil
	}
	clear(h.nonce1[:])
	clear(h.nonce2[:])
}

// NewInitiator returns a Link that will set up a link to pol.PeerUserInfo
// when Start is called.
func NewInitiator(cfg *Config, pol Policy) (*Link, error) {
	return newLink(cfg, pol, true)
}

// NewResponder returns a Link waiting for an ESTABLISHMENT REQUEST: hand
// the first REQUEST from a new peer to Step.
func NewResponder(cfg *Config, pol Policy) (*Link, error) {
	return newLink(cfg, pol, false)
}

func newLink(cfg *Config, pol Policy, initiator bool) (*Link, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := pol.validate(initiator); err != nil {
		return nil, err
	}
	l := &Link{cfg: cfg.withDefaults(), pol: pol, initiator: initiator, state: StateWaitRequest}
	l.token, l.tokenFormat = cfg.Token, cfg.TokenFormat
	if initiator {
		l.state = StateIdle
	}
	return l, nil
}

// State returns the state of the link.
func (l *Link) State() State { return l.state }

// Initiator reports whether this side set up the link.
func (l *Link) Initiator() bool { return l.initiator }

// PeerUserInfo returns the peer's user info once the link is established.
func (l *Link) PeerUserInfo() []byte { return l.peerUserInfo }

// PeerClaims returns the verified claims of the peer's token once the link
// is established (updated by a re-authentication).
func (l *Link) PeerClaims() *token.Claims { return l.peerClaims }

// Security describes the security context in use (zero before the link is
// established).
func (l *Link) Security() Security {
	if l.cur == nil {
		return Security{}
	}
	return Security{Suite: l.suite, Algorithms: l.algs, KNRPSessID: l.cur.KNRPSessID(), KNRPID: l.knrpID, Initiator: l.ctxInitiator}
}

// Context returns the PDCP security context in use, or nil.
func (l *Link) Context() *sec.Context { return l.cur }

// SetToken replaces the token this side presents at the next
// re-authentication (a token renewed while in coverage).
func (l *Link) SetToken(raw []byte, f msg.TokenFormat) error {
	if len(raw) < 1 || len(raw) > msg.MaxTokenLen || !f.Known() {
		return fmt.Errorf("pc5/link: expected a CWT or JWT token of 1..%d octets, found %v of %d", msg.MaxTokenLen, f, len(raw))
	}
	l.token, l.tokenFormat = bytes.Clone(raw), f
	return nil
}

// Ready returns everything produced since the last call and clears it.
func (l *Link) Ready() Ready {
	r := l.out
	l.out = Ready{}
	return r
}

// HasReady reports whether Ready has something to return.
func (l *Link) HasReady() bool {
	return len(l.out.Send) > 0 || len(l.out.Timers) > 0 || len(l.out.Events) > 0
}

// NextDeadline returns when Tick must be called next: the earliest armed
// timer, or the time of the last input when a rekeying is due at once.
func (l *Link) NextDeadline() (time.Time, bool) {
	var t time.Time
	ok := false
	for i := range l.timers {
		s := &l.timers[i]
		if s.armed && (!ok || s.deadline.Before(t)) {
			t, ok = s.deadline, true
		}
	}
	if l.rekeyDue() {
		return l.now, true
	}
	return t, ok
}

// Tick fires every timer whose deadline is at or before now, then starts a
// rekeying if a bearer's COUNT reached the threshold.
func (l *Link) Tick(now time.Time) {
	l.now = now
	for i, t := range timerOrder {
		s := &l.timers[i]
		if s.armed && !now.Before(s.deadline) {
			s.armed = false
			l.expire(t, s)
			if l.state == StateClosed {
				return
			}
		}
	}
	l.checkRekey()
}

// Step hands the link one PDU received from the peer on LCID in.LCID at
// time now. It returns nil when the PDU was processed (see Ready for the
// results), an error wrapping ErrDiscarded when it was dropped without a
// change of state, and an *Error when it made the handshake or the link
// fail (also reported as a Rejected or Released event). Data bearers go
// through OpenData, not Step.
func (l *Link) Step(now time.Time, in PDU) error {
	l.now = now
	if l.state == StateClosed {
		return fmt.Errorf("%w: PDU on LCID %d after the link closed", ErrClosed, in.LCID)
	}
	if len(in.Data) == 0 {
		return discard("empty PDU on LCID %d", in.LCID)
	}
	var err error
	switch in.LCID {
	case lcidSRB0:
		err = l.stepSRB0(in.Data)
	case lcidSRB1:
		err = l.stepSRB1(in.Data)
	case lcidSRB2:
		err = l.stepSRB2(in.Data)
	default:
		err = discard("LCID %d carries no PC5-S message (data bearers go through OpenData)", in.LCID)
	}
	l.checkRekey()
	return err
}

// stepSRB0: bare ESTABLISHMENT REQUEST and REJECT.
func (l *Link) stepSRB0(data []byte) error {
	switch msg.MessageType(data[0]) {
	case msg.MsgEstablishmentRequest:
		if l.initiator {
			return discard("an initiator does not answer an ESTABLISHMENT REQUEST")
		}
		return l.onRequest(data)
	case msg.MsgEstablishmentReject:
		if !l.initiator || (l.state != StateRequestSent && l.state != StateCompleteSent) {
			return discard("ESTABLISHMENT REJECT in state %v", l.state)
		}
		var m msg.DirectLinkEstablishmentReject
		if err := m.UnmarshalBinary(data); err != nil {
			return discard("%v", err)
		}
		e := &Error{Cause: m.Cause, Err: fmt.Errorf("%w: ESTABLISHMENT REJECT with %v", ErrPeerRejected, m.Cause)}
		l.failHandshake(e, true)
		return e
	}
	return discard("%v on SL-SRB0", msg.MessageType(data[0]))
}

// stepSRB1: the SECURITY MODE COMMAND and COMPLETE (PDCP PDUs) and the bare
// SECURITY MODE REJECT.
func (l *Link) stepSRB1(data []byte) error {
	if data[0]&sec.PDCPDataPDUBit == 0 {
		if msg.MessageType(data[0]) != msg.MsgSecurityModeReject {
			return discard("bare %v on SL-SRB1", msg.MessageType(data[0]))
		}
		var m msg.DirectLinkSecurityModeReject
		if err := m.UnmarshalBinary(data); err != nil {
			return discard("%v", err)
		}
		// Only a handshake in progress takes the bare, unauthenticated
		// reject (as in 3GPP); an established link, also while it rekeys,
		// discards it: a rekeying fails only through a protected RELEASE
		// REQUEST on SL-SRB2.
		if l.state != StateCommandSent {
			return discard("SECURITY MODE REJECT in state %v", l.state)
		}
		e := &Error{Cause: m.Cause, Err: fmt.Errorf("%w: SECURITY MODE REJECT with %v", ErrPeerRejected, m.Cause)}
		l.failHandshake(e, true)
		return e
	}
	switch l.state {
	case StateRequestSent:
		return l.onCommand(data)
	case StateCommandSent:
		return l.onComplete(data)
	case StateEstablished:
		if l.rk != nil && l.rk.requester && !l.rk.smcDone {
			return l.onRekeyCommand(data)
		}
		if l.rk != nil && !l.rk.requester {
			if h, _, err := sec.ParsePDU(data, snSize, true); err == nil && h.SessID == l.rk.ctx.KNRPSessID() {
				return l.onRekeyComplete(data)
			}
		}
		if l.lastComplete != nil && bytes.Equal(data, l.lastComplete) {
			l.send(lcidSRB2, l.lastCompleteReply) // the ACCEPT or REKEYING RESPONSE
			return nil
		}
	}
	return discard("SL-SRB1 PDU in state %v", l.state)
}

// stepSRB2: every protected PC5-S message after the SMC.
func (l *Link) stepSRB2(data []byte) error {
	ctx := l.rxContext(data)
	if ctx == nil {
		return discard("SL-SRB2 PDU under no KNRP-sess ID of this link")
	}
	payload, err := ctx.Unprotect(nil, lcidSRB2, data)
	if err != nil {
		return discard("SL-SRB2: %v", err)
	}
	l.rxActivity = true
	if ctx == l.cur && l.prev != nil {
		l.prev.Wipe()
		l.prev = nil
	}
	m, err := msg.Parse(payload)
	if err != nil {
		return discard("SL-SRB2: %v", err)
	}
	switch m := m.(type) {
	case *msg.DirectLinkEstablishmentAccept:
		if l.state == StateCompleteSent && ctx == l.hs.ctx {
			return l.onAccept(m)
		}
	case *msg.DirectLinkKeepaliveRequest:
		if l.state == StateEstablished {
			l.sendProtected(&msg.DirectLinkKeepaliveResponse{Seq: l.nextSeq(), KeepaliveCounter: m.KeepaliveCounter})
			return nil
		}
	case *msg.DirectLinkKeepaliveResponse:
		if l.state == StateEstablished && l.slot(T5085).armed && m.KeepaliveCounter == l.kaCounter {
			l.cancel(T5085)
			l.rxActivity = false
			l.start(T5084, l.cfg.Timers.T5084)
			return nil
		}
	case *msg.DirectLinkReleaseRequest:
		if l.state == StateEstablished || l.state == StateReleasing {
			l.sendProtected(&msg.DirectLinkReleaseAccept{Seq: l.nextSeq()})
			l.closeLink(m.Cause, fmt.Errorf("%w with %v", ErrPeerReleased, m.Cause), true)
			return nil
		}
	case *msg.DirectLinkReleaseAccept:
		if l.state == StateReleasing {
			l.closeLink(l.relCause, l.relErr, false)
			return nil
		}
	case *msg.DirectLinkRekeyingRequest:
		if l.state == StateEstablished && ctx == l.cur {
			return l.onRekeyRequest(payload, m)
		}
	case *msg.DirectLinkRekeyingResponse:
		if l.state == StateEstablished && l.rk != nil && l.rk.requester && l.rk.smcDone && ctx == l.rk.ctx {
			l.finishRekeyRequester()
			return nil
		}
	}
	return discard("%v in state %v", m.MessageType(), l.state)
}

// rxContext picks the context a protected PDU claims by its KNRP-sess ID.
func (l *Link) rxContext(pdu []byte) *sec.Context {
	h, _, err := sec.ParsePDU(pdu, snSize, true)
	if err != nil {
		return nil
	}
	cands := [...]*sec.Context{l.cur, l.pendingRx(), l.prev, nil}
	if l.hs != nil {
		cands[3] = l.hs.ctx
	}
	for _, c := range cands {
		if c != nil && c.KNRPSessID() == h.SessID {
			return c
		}
	}
	return nil
}

// pendingRx is the new context of a rekeying this side requested, once the
// peer may use it (after the COMPLETE was sent).
func (l *Link) pendingRx() *sec.Context {
	if l.rk != nil && l.rk.requester && l.rk.smcDone {
		return l.rk.ctx
	}
	return nil
}

// Output helpers.

func (l *Link) send(lcid uint8, data []byte) {
	l.out.Send = append(l.out.Send, PDU{LCID: lcid, Data: data})
}

func (l *Link) event(e Event) { l.out.Events = append(l.out.Events, e) }

func (l *Link) nextSeq() uint8 {
	s := l.seq
	l.seq++
	return s
}

func (l *Link) slot(t Timer) *timerSlot { return &l.timers[timerIndex(t)] }

// start arms t for d from now with a fresh retransmission count.
func (l *Link) start(t Timer, d time.Duration) {
	l.slot(t).retx = 0
	l.armAt(t, l.now.Add(d))
}

// rearm arms t again, keeping its retransmission count.
func (l *Link) rearm(t Timer, d time.Duration) { l.armAt(t, l.now.Add(d)) }

func (l *Link) armAt(t Timer, at time.Time) {
	s := l.slot(t)
	s.armed, s.deadline = true, at
	l.out.Timers = append(l.out.Timers, TimerOp{Timer: t, Deadline: at})
}

func (l *Link) cancel(t Timer) {
	s := l.slot(t)
	if s.armed {
		s.armed = false
		l.out.Timers = append(l.out.Timers, TimerOp{Timer: t, Cancel: true})
	}
}

func (l *Link) cancelAll() {
	for _, t := range timerOrder {
		l.cancel(t)
	}
}

// inUse reports KNRP-sess IDs in use: the caller's and this link's own.
func (l *Link) inUse(id sec.KNRPSessID) bool {
	if l.cfg.KNRPSessIDInUse != nil && l.cfg.KNRPSessIDInUse(id) {
		return true
	}
	for _, c := range [...]*sec.Context{l.cur, l.prev} {
		if c != nil && c.KNRPSessID() == id {
			return true
		}
	}
	return false
}

// sendProtected marshals m and sends it on SL-SRB2 under the current
// context, returning its octets. A failure (the COUNT space exhausted)
// closes the link.
func (l *Link) sendProtected(m msg.Message) []byte {
	octets, err := m.Marshal()
	if err == nil {
		var pdu []byte
		if pdu, err = l.protect(l.cur, nil, lcidSRB2, octets, true); err == nil {
			l.send(lcidSRB2, pdu)
			return octets
		}
	}
	l.closeLink(msg.CauseProtocolErrorUnspecified, fmt.Errorf("pc5/link: sending %v: %w", m.MessageType(), err), false)
	return nil
}

// protect protects octets on lcid under ctx (integrity only unless
// cipher) and reports the PDU to Config.TracePDU.
func (l *Link) protect(ctx *sec.Context, dst []byte, lcid uint8, octets []byte, cipher bool) ([]byte, error) {
	var out []byte
	var err error
	if cipher {
		out, err = ctx.Protect(dst, lcid, octets)
	} else {
		out, err = ctx.ProtectNoCipher(dst, lcid, octets)
	}
	if err == nil && l.cfg.TracePDU != nil {
		ea, ciphered, ia, integrity := ctx.Protection(lcid)
		l.cfg.TracePDU(TracedPDU{LCID: lcid, PDU: out[len(dst):], Plaintext: octets,
			Ciphered: cipher && ciphered, CipherAlg: ea, Integrity: integrity, IntegrityAlg: ia})
	}
	return out, err
}

// keyLogEntry returns an entry for newContext to fill when Config.KeyLog
// is set, else nil.
func (l *Link) keyLogEntry() *KeyLogEntry {
	if l.cfg.KeyLog == nil {
		return nil
	}
	return new(KeyLogEntry)
}

// logKeys hands a filled entry to Config.KeyLog and wipes the link's copy.
func (l *Link) logKeys(e *KeyLogEntry) {
	if e != nil && l.cfg.KeyLog != nil {
		l.cfg.KeyLog(*e)
		e.wipe()
	}
}

func (l *Link) sendBare(lcid uint8, m msg.Message) {
	octets, err := m.Marshal()
	if err != nil { // cannot happen: seq and cause always encode
		panic("pc5/link: " + err.Error())
	}
	l.send(lcid, octets)
}

func (l *Link) sendEstablishmentReject(c msg.Cause) {
	l.sendBare(lcidSRB0, &msg.DirectLinkEstablishmentReject{Seq: l.nextSeq(), Cause: c})
}

func (l *Link) sendSecurityModeReject(c msg.Cause) {
	l.sendBare(lcidSRB1, &msg.DirectLinkSecurityModeReject{Seq: l.nextSeq(), Cause: c})
}

// failHandshake ends a handshake that did not make a link: secrets wiped,
// timers cancelled, Rejected emitted.
func (l *Link) failHandshake(e *Error, remote bool) {
	l.wipeAll()
	l.cancelAll()
	l.state = StateClosed
	l.event(Rejected{Cause: e.Cause, Err: e, Remote: remote})
}

// closeLink ends an established link: secrets wiped, Released emitted.
func (l *Link) closeLink(c msg.Cause, err error, remote bool) {
	l.wipeAll()
	l.cancelAll()
	l.state = StateClosed
	l.event(Released{Cause: c, Err: err, Remote: remote})
}

func (l *Link) wipeAll() {
	l.hs.wipe()
	l.hs = nil
	l.rk.wipe()
	l.rk = nil
	for _, c := range [...]*sec.Context{l.cur, l.prev} {
		if c != nil {
			c.Wipe()
		}
	}
	l.cur, l.prev = nil, nil
	l.knrp.Wipe()
	l.lastComplete, l.lastCompleteReply, l.relOctets = nil, nil, nil
}

// Abort drops the link at once without telling the peer: secrets wiped,
// timers cancelled, no event.
func (l *Link) Abort() {
	l.wipeAll()
	l.cancelAll()
	l.state = StateClosed
}

// expire handles a timer that fired.
func (l *Link) expire(t Timer, s *timerSlot) {
	tm := &l.cfg.Timers
	switch t {
	case T5080:
		if l.state != StateRequestSent {
			return
		}
		if s.retx < tm.T5080Retransmissions {
			s.retx++
			l.send(lcidSRB0, l.hs.outPDU)
			l.rearm(T5080, tm.T5080)
			return
		}
		l.failHandshake(fail(causeT5080Exhausted, ErrTimeout, "no SECURITY MODE COMMAND after %d ESTABLISHMENT REQUESTs", 1+tm.T5080Retransmissions), false)
	case TimerSecurityMode:
		l.expireSecurityMode(s)
	case TimerPause:
		if l.state != StatePaused {
			return
		}
		l.sendEstablishmentReject(causePauseExpired)
		l.failHandshake(fail(causePauseExpired, ErrTimeout, "paused for %s without Accept or Reject", tm.Pause), false)
	case TimerRekeying:
		if l.state != StateEstablished || l.rk == nil || !l.rk.requester || l.rk.smcDone {
			return
		}
		if s.retx < tm.RekeyingRetransmissions {
			s.retx++
			pdu, err := l.protect(l.cur, nil, lcidSRB2, l.rk.reqOctets, true)
			if err != nil {
				l.closeLink(msg.CauseProtocolErrorUnspecified, fmt.Errorf("pc5/link: resending the REKEYING REQUEST: %w", err), false)
				return
			}
			l.send(lcidSRB2, pdu)
			l.rearm(TimerRekeying, tm.Rekeying)
			return
		}
		l.closeLink(causeNoResponse, fmt.Errorf("%w: no SECURITY MODE COMMAND after %d REKEYING REQUESTs", ErrTimeout, 1+tm.RekeyingRetransmissions), false)
	case T5084:
		if l.state != StateEstablished {
			return
		}
		if l.rxActivity {
			l.rxActivity = false
			l.start(T5084, tm.T5084)
			return
		}
		l.kaCounter++
		l.sendProtected(&msg.DirectLinkKeepaliveRequest{Seq: l.nextSeq(), KeepaliveCounter: l.kaCounter})
		if l.state == StateEstablished {
			l.start(T5085, tm.T5085)
		}
	case T5085:
		if l.state != StateEstablished {
			return
		}
		if s.retx < tm.T5085Retransmissions {
			s.retx++
			l.sendProtected(&msg.DirectLinkKeepaliveRequest{Seq: l.nextSeq(), KeepaliveCounter: l.kaCounter})
			if l.state == StateEstablished {
				l.rearm(T5085, tm.T5085)
			}
			return
		}
		l.closeLink(causeNoResponse, fmt.Errorf("%w: no KEEPALIVE RESPONSE after %d KEEPALIVE REQUESTs", ErrTimeout, 1+tm.T5085Retransmissions), false)
	case T5087:
		if l.state != StateReleasing {
			return
		}
		if s.retx < tm.T5087Retransmissions {
			s.retx++
			pdu, err := l.protect(l.cur, nil, lcidSRB2, l.relOctets, true)
			if err == nil {
				l.send(lcidSRB2, pdu)
				l.rearm(T5087, tm.T5087)
				return
			}
		}
		l.closeLink(l.relCause, l.relErr, false)
	case TimerTokenRefresh:
		if l.state != StateEstablished || l.peerClaims == nil {
			return
		}
		l.refreshedExp = l.peerClaims.Expiry
		l.event(RekeyNeeded{Reason: RekeyPeerTokenExpiring})
		l.reauthPending = true
	case TimerTokenExpiry:
		if l.state != StateEstablished || l.cfg.PeerTokenExpiry != ReleaseAtExpiry {
			return
		}
		l.startRelease(msg.CauseAuthenticationFailure, &Error{Cause: msg.CauseAuthenticationFailure,
			Err: fmt.Errorf("pc5/link: peer token expired: %w (exp %s)", token.ErrExpired, l.peerClaims.Expiry.UTC().Format(time.RFC3339))})
	}
}

func (l *Link) expireSecurityMode(s *timerSlot) {
	tm := &l.cfg.Timers
	retry := s.retx < tm.SecurityModeRetransmissions
	if retry {
		s.retx++
	}
	timeout := fmt.Errorf("%w: security mode procedure not completed after %d × %s", ErrTimeout, 1+tm.SecurityModeRetransmissions, tm.SecurityMode)
	switch {
	case l.state == StateCommandSent:
		if retry {
			l.rearm(TimerSecurityMode, tm.SecurityMode)
			return
		}
		l.failHandshake(&Error{Cause: causeNoResponse, Err: timeout}, false)
	case l.state == StateCompleteSent:
		if retry {
			l.send(lcidSRB1, l.hs.outPDU)
			l.rearm(TimerSecurityMode, tm.SecurityMode)
			return
		}
		l.failHandshake(&Error{Cause: causeNoResponse, Err: timeout}, false)
	case l.state == StateEstablished && l.rk != nil:
		if retry {
			if l.rk.requester {
				l.send(lcidSRB1, l.rk.outPDU)
			}
			l.rearm(TimerSecurityMode, tm.SecurityMode)
			return
		}
		l.closeLink(causeNoResponse, timeout, false)
	}
}

// Release starts releasing an established link with the given cause (sent
// in the RELEASE REQUEST). Released follows on the RELEASE ACCEPT or when
// T5087 runs out.
func (l *Link) Release(now time.Time, c msg.Cause) error {
	l.now = now
	switch l.state {
	case StateReleasing:
		return nil
	case StateEstablished:
		l.startRelease(c, &Error{Cause: c, Err: fmt.Errorf("%w: released with %v", ErrLocal, c)})
		return nil
	}
	return fmt.Errorf("%w: Release needs an established link, found state %v (use Abort or Reject)", ErrState, l.state)
}

func (l *Link) startRelease(c msg.Cause, err error) {
	if l.state != StateEstablished {
		return
	}
	l.rk.wipe()
	l.rk = nil
	l.reauthPending = false
	l.cancelAll()
	l.relCause, l.relErr = c, err
	if l.relOctets = l.sendProtected(&msg.DirectLinkReleaseRequest{Seq: l.nextSeq(), Cause: c}); l.relOctets == nil {
		return // closed
	}
	l.state = StateReleasing
	l.start(T5087, l.cfg.Timers.T5087)
}

// rekeyDue reports whether a rekeying should start now.
func (l *Link) rekeyDue() bool {
	return l.state == StateEstablished && l.rk == nil && (l.reauthPending || (l.cur != nil && l.cur.NeedsRekey()))
}

// checkRekey starts a due rekeying: with re-authentication if the peer's
// token is expiring, else for the COUNT threshold.
func (l *Link) checkRekey() {
	if !l.rekeyDue() {
		return
	}
	reauth := l.reauthPending
	if !reauth {
		l.event(RekeyNeeded{Reason: RekeyCount})
	}
	l.reauthPending = false
	if err := l.startRekey(reauth); err != nil {
		l.closeLink(msg.CauseProtocolErrorUnspecified, err, false)
	}
}
