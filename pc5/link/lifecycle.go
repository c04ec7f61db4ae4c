package link

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/prosesec/prosesec/pc5/msg"
)

// Rekeying (notes §2.2, [INFERRED]; message layouts PROVISIONAL in pc5/msg):
//
//	A → B  REKEYING REQUEST        SL-SRB2, old context   caps, Nonce_1', MSB'
//	                                                      [Re-auth ind. 1, KeyEstInit]
//	B → A  SECURITY MODE COMMAND   SL-SRB1, new context   (MAC only) [KeyEstResponse]
//	A → B  SECURITY MODE COMPLETE  SL-SRB1, new context   [KeyEstFinish]
//	B → A  REKEYING RESPONSE       SL-SRB2, new context
//
// Either side may be A. Without re-authentication KNRP is kept and only
// KNRP-sess = KDF(KNRP, 0x7F, Nonce_1', Nonce_2') is new; with it, the
// exchange is the establishment handshake with REQ := the REKEYING REQUEST
// octets, a fresh ECDH and both tokens verified again (sub must still be
// the link's peer). The new context has A as its initiator (DIRECTION 0).
// B switches to it when the COMPLETE verifies and keeps the old one for
// receiving until a PDU arrives under the new one; A switches when the
// REKEYING RESPONSE arrives and wipes the old one. When both sides start
// at once, the request of the establishment initiator wins.

// Rekey starts a rekeying of an established link; reauth asks for a fresh
// ECDH and a new exchange of tokens (a new KNRP).
func (l *Link) Rekey(now time.Time, reauth bool) error {
	l.now = now
	if l.state != StateEstablished || l.rk != nil {
		return fmt.Errorf("%w: Rekey needs an established link without a rekeying in progress, found state %v", ErrState, l.state)
	}
	return l.startRekey(reauth)
}

func (l *Link) startRekey(reauth bool) error {
	h := &handshake{rekey: true, reauth: reauth, requester: true, suite: l.suite, caps: l.cfg.capabilities(), policy: l.estPolicy}
	if err := l.initRequester(h); err != nil {
		return err
	}
	m := &msg.DirectLinkRekeyingRequest{Seq: l.nextSeq(), UESecurityCapabilities: h.caps, Nonce1: h.nonce1, KNRPSessIDMSB: h.msb}
	if reauth {
		keic, err := (&msg.KeyEstInit{Suite: h.suite, EphemeralPublicKey: h.eph.pub}).Marshal()
		if err != nil {
			h.wipe()
			return fmt.Errorf("pc5/link: KeyEstInit: %w", err)
		}
		v := reauthNewKNRP
		m.ReauthIndication, m.KeyEstInfo = &v, keic
	}
	octets, err := m.Marshal()
	if err == nil {
		h.reqOctets = octets
		h.thReq = sha256.Sum256(octets)
		var pdu []byte
		if pdu, err = l.protect(l.cur, nil, lcidSRB2, octets, true); err == nil {
			clear(m.Nonce1[:])
			l.rk = h
			l.send(lcidSRB2, pdu)
			l.start(TimerRekeying, l.cfg.Timers.Rekeying)
			return nil
		}
	}
	h.wipe()
	return fmt.Errorf("pc5/link: REKEYING REQUEST: %w", err)
}

// onRekeyRequest: the peer asks for a rekeying (payload is the REKEYING
// REQUEST octets as received).
func (l *Link) onRekeyRequest(payload []byte, m *msg.DirectLinkRekeyingRequest) error {
	if l.rk != nil {
		switch {
		case !l.rk.requester && bytes.Equal(payload, l.rk.reqOctets):
			l.send(lcidSRB1, l.rk.outPDU) // the peer resent its request: the SMC was lost
			return nil
		case !l.rk.requester:
			return discard("a second REKEYING REQUEST while one is being answered")
		case l.rk.smcDone:
			return discard("REKEYING REQUEST while this side's rekeying is completing")
		case l.initiator:
			return discard("rekeying collision: the establishment initiator's request wins")
		}
		if l.rk.reauth { // collision: yield to the establishment initiator,
			l.reauthPending = true // and re-authenticate afterwards
		}
		l.rk.wipe()
		l.rk = nil
		l.cancel(TimerRekeying)
	}
	h := &handshake{
		rekey:     true,
		suite:     l.suite,
		reqOctets: bytes.Clone(payload),
		thReq:     sha256.Sum256(payload),
		nonce1:    m.Nonce1,
		msb:       m.KNRPSessIDMSB,
		caps:      m.UESecurityCapabilities,
		policy:    l.estPolicy,
	}
	h.reauth = m.ReauthIndication != nil && *m.ReauthIndication&reauthNewKNRP != 0
	var e *Error
	var eI []byte
	switch {
	case h.reauth && m.KeyEstInfo == nil:
		e = fail(msg.CauseProtocolErrorUnspecified, ErrProtocol, "REKEYING REQUEST with re-authentication but no Key_Est_Info")
	case h.reauth:
		var ki msg.KeyEstInit
		if err := ki.UnmarshalBinary(m.KeyEstInfo); err != nil {
			e = protocolError("KeyEstInit", err)
		} else if ki.Suite != l.suite {
			e = fail(msg.CauseAuthenticationFailure, ErrSuite, "re-authentication with suite %v, the link runs %v", ki.Suite, l.suite)
		}
		eI = ki.EphemeralPublicKey
	case m.KeyEstInfo != nil:
		e = fail(msg.CauseProtocolErrorUnspecified, ErrProtocol, "Key_Est_Info in a REKEYING REQUEST without re-authentication")
	}
	if e == nil {
		e = l.buildCommand(h, eI)
	}
	if e != nil {
		h.wipe()
		l.startRelease(e.Cause, e)
		return e
	}
	l.rk = h
	l.send(lcidSRB1, h.outPDU)
	l.start(TimerSecurityMode, l.cfg.Timers.SecurityMode)
	return nil
}

// onRekeyCommand: the requester receives the SMC of its rekeying. A PDU
// that fails before its MAC-I verifies is discarded (the rekeying waits
// on, under TimerRekeying); a failure after it releases the link with the
// cause in a protected RELEASE REQUEST (no bare SECURITY MODE REJECT: an
// established link is ended only by protected messages).
func (l *Link) onRekeyCommand(pdu []byte) error {
	h := l.rk
	complete, err := l.processCommand(h, pdu, peerCheck{wantSub: l.peerUserInfo, role: l.pol.PeerRole, rsc: l.rsc})
	if e, ok := asFailure(err); !ok {
		return err
	} else if e != nil {
		l.startRelease(e.Cause, e)
		return e
	}
	h.smcDone = true
	h.smcIn = bytes.Clone(pdu)
	h.outPDU = complete
	l.send(lcidSRB1, complete)
	l.cancel(TimerRekeying)
	l.start(TimerSecurityMode, l.cfg.Timers.SecurityMode)
	return nil
}

// onRekeyComplete: the responder of a rekeying receives the COMPLETE. A
// PDU that does not decipher and verify under the new context (a reflected
// SMC, a forgery carrying the new KNRP-sess ID) is discarded; a failure
// after it releases the link.
func (l *Link) onRekeyComplete(pdu []byte) error {
	h := l.rk
	err := l.processComplete(h, pdu, peerCheck{wantSub: l.peerUserInfo, role: l.pol.PeerRole, rsc: l.rsc})
	if e, ok := asFailure(err); !ok {
		return err
	} else if e != nil {
		h.wipe()
		l.rk = nil
		l.startRelease(e.Cause, e)
		return e
	}
	if l.prev != nil {
		l.prev.Wipe()
	}
	l.prev = l.cur
	l.installRekey()
	l.cancel(TimerSecurityMode)
	octets, err := (&msg.DirectLinkRekeyingResponse{Seq: l.nextSeq()}).Marshal()
	if err == nil {
		var resp []byte
		if resp, err = l.protect(l.cur, nil, lcidSRB2, octets, true); err == nil {
			l.send(lcidSRB2, resp)
			l.lastComplete, l.lastCompleteReply = bytes.Clone(pdu), resp
			return nil
		}
	}
	l.closeLink(msg.CauseProtocolErrorUnspecified, fmt.Errorf("pc5/link: REKEYING RESPONSE: %w", err), false)
	return nil
}

// finishRekeyRequester: the REKEYING RESPONSE arrived under the new context.
func (l *Link) finishRekeyRequester() {
	old := l.cur
	l.installRekey()
	old.Wipe()
	if l.prev != nil {
		l.prev.Wipe()
		l.prev = nil
	}
	l.cancel(TimerSecurityMode)
	l.lastComplete, l.lastCompleteReply = nil, nil
}

// installRekey makes l.rk's context current and emits Rekeyed.
func (l *Link) installRekey() {
	h := l.rk
	l.cur, h.ctx = h.ctx, nil
	l.algs = h.sel
	l.ctxInitiator = h.requester
	if h.reauth {
		l.knrp.Wipe()
		l.knrp, l.knrpID, l.peerClaims = h.knrp, h.knrpID, h.peerClaims
		l.armTokenTimers()
	}
	h.wipe()
	l.rk = nil
	ev := Rekeyed{Reauthenticated: h.reauth, Security: l.Security(), Context: l.cur}
	if h.reauth {
		ev.PeerClaims = l.peerClaims
	}
	l.event(ev)
}

// armTokenTimers arms the refresh (re-authentication) and expiry timers for
// the peer's current token. The refresh timer is not armed again for a
// token whose refresh already ran (the peer could not renew it out of
// coverage), so the link does not rekey in a loop.
func (l *Link) armTokenTimers() {
	l.cancel(TimerTokenRefresh)
	l.cancel(TimerTokenExpiry)
	if l.peerClaims == nil {
		return
	}
	exp := l.peerClaims.Expiry
	if m := l.cfg.TokenRefreshMargin; m > 0 {
		if at := exp.Add(-m); at.After(l.now) && !exp.Equal(l.refreshedExp) {
			l.armAt(TimerTokenRefresh, at)
		}
	}
	if l.cfg.PeerTokenExpiry == ReleaseAtExpiry {
		l.armAt(TimerTokenExpiry, exp.Add(l.cfg.Verifier.Leeway))
	}
}
