package link

import (
	"fmt"
	"time"

	"github.com/prosesec/prosesec/pc5/msg"
	"github.com/prosesec/prosesec/pc5/sec"
)

// This file is the one table of code points, timers and constants of package
// link. 3GPP values are not redefined here: message types, IEIs, cause
// values and the TS 24.554 timers come from pc5/msg/codepoints.go, FC values,
// algorithm identities and LCIDs from pc5/sec/codepoints.go, each with its
// evidence label. What follows is either a reference to those tables or a
// value this package had to choose; every chosen value is marked
// PROJECT-DEFINED, PROVISIONAL, so that a reader holding TS 24.554 / TS
// 33.536 can correct it in one place.

// Timer names a timer of the link state machine. The TS 24.554 timers keep
// their numbers (T5080 = 5080, …); timers whose TS 24.554 name and value were
// NOT FOUND (notes §3.6) have PROJECT-DEFINED numbers from 0xFF01 up.
type Timer uint16

const (
	// T5080 guards the ESTABLISHMENT REQUEST: on expiry the identical
	// octets are sent again, up to Timers.T5080Retransmissions times, then
	// the establishment fails with #5 (NIST psc-ns3). [PARTIAL] via pc5/msg.
	T5080 = Timer(msg.T5080)
	// T5084 is the keep-alive timer: when it expires without any PDU
	// received from the peer since it was armed, a KEEPALIVE REQUEST is
	// sent. [PARTIAL] via pc5/msg.
	T5084 = Timer(msg.T5084)
	// T5085 guards the KEEPALIVE REQUEST (retransmitted up to
	// Timers.T5085Retransmissions times, then the link is released locally
	// with #4). [PARTIAL] via pc5/msg.
	T5085 = Timer(msg.T5085)
	// T5087 guards the RELEASE REQUEST (retransmitted, then the link is
	// released locally). [PARTIAL] via pc5/msg.
	T5087 = Timer(msg.T5087)

	// TimerSecurityMode supervises the security mode procedure: at the
	// sender of a SECURITY MODE COMMAND it bounds the wait for the
	// SECURITY MODE COMPLETE (SecurityMode × (1 + retransmissions) in all,
	// nothing is resent: the SMC is resent when the peer resends its
	// request); at the sender of a SECURITY MODE COMPLETE it guards the
	// wait for the ESTABLISHMENT ACCEPT or REKEYING RESPONSE and resends the
	// identical COMPLETE PDU. The TS 24.554 timer for this was NOT FOUND.
	// PROJECT-DEFINED, PROVISIONAL.
	TimerSecurityMode Timer = 0xFF01
	// TimerRekeying guards the REKEYING REQUEST until the SECURITY MODE
	// COMMAND arrives; on expiry the request is resent (new PDCP COUNT,
	// same PC5-S octets). Name and value NOT FOUND. PROJECT-DEFINED,
	// PROVISIONAL.
	TimerRekeying Timer = 0xFF02
	// TimerTokenRefresh fires TokenRefreshMargin before the peer's token
	// expires and starts a rekeying with re-authentication. Not a PC5
	// timer. PROJECT-DEFINED.
	TimerTokenRefresh Timer = 0xFF03
	// TimerTokenExpiry fires when the peer's token expires (exp + verifier
	// leeway) and, under ReleaseAtExpiry, releases the link with #6. Not a
	// PC5 timer. PROJECT-DEFINED.
	TimerTokenExpiry Timer = 0xFF04
	// TimerPause supervises a paused responder (Policy.PauseBeforeAccept,
	// after PeerAuthorized): if the caller has called neither Accept nor
	// Reject when it expires, the link sends an ESTABLISHMENT REJECT with
	// #4, wipes its keys and reports Rejected (ErrTimeout). Its value,
	// Timers.Pause, defaults to (T5080 retransmissions + 1) × T5080 (32 s
	// with the defaults): as long as an initiator waits for an answer to
	// its REQUEST, and as long as the initiator of this link waits for the
	// ACCEPT with the default TimerSecurityMode. Name and value NOT FOUND.
	// PROJECT-DEFINED, PROVISIONAL.
	TimerPause Timer = 0xFF05
)

// String returns "T5080" for TS 24.554 timers and a short name otherwise.
func (t Timer) String() string {
	switch t {
	case TimerSecurityMode:
		return "T-SECURITY-MODE"
	case TimerRekeying:
		return "T-REKEYING"
	case TimerTokenRefresh:
		return "T-TOKEN-REFRESH"
	case TimerTokenExpiry:
		return "T-TOKEN-EXPIRY"
	case TimerPause:
		return "T-PAUSE"
	}
	return fmt.Sprintf("T%d", uint16(t))
}

// Default timer values.
const (
	// DefaultSecurityMode is the default TimerSecurityMode value. With 3
	// retransmissions the sender of the COMPLETE waits 32 s for the ACCEPT,
	// long enough for a relay to set up its second hop (one T5080 cycle)
	// before it accepts the first. PROJECT-DEFINED, PROVISIONAL.
	DefaultSecurityMode = 8 * time.Second
	// DefaultSecurityModeRetransmissions: PROJECT-DEFINED, PROVISIONAL
	// (the NIST count for T5080/T5085/T5087).
	DefaultSecurityModeRetransmissions = 3
	// DefaultRekeying is the default TimerRekeying value, T5080's.
	// PROJECT-DEFINED, PROVISIONAL.
	DefaultRekeying = 8 * time.Second
	// DefaultRekeyingRetransmissions: PROJECT-DEFINED, PROVISIONAL.
	DefaultRekeyingRetransmissions = 3
	// DefaultTokenRefreshMargin is how long before the peer's token expires
	// the link asks for a rekeying with re-authentication. PROJECT-DEFINED.
	DefaultTokenRefreshMargin = 5 * time.Minute
)

// Causes of local failures, where no message from the peer carries one.
const (
	// causeT5080Exhausted: the ESTABLISHMENT REQUEST was never answered.
	// NIST psc-ns3 releases with #5 after the last T5080 [PARTIAL].
	causeT5080Exhausted = msg.CauseLackOfResources
	// causeNoResponse: any other supervision timer ran out (keep-alive,
	// security mode, rekeying). #4 "direct connection is not available
	// anymore". PROJECT-DEFINED, PROVISIONAL.
	causeNoResponse = msg.CauseDirectConnectionNotAvailable
	// causePauseExpired: a paused responder was neither accepted nor
	// rejected by its caller before TimerPause ran out (a relay that could
	// not set up its second hop in time). The ESTABLISHMENT REJECT carries
	// it. #4, as for the other supervision timers. PROJECT-DEFINED,
	// PROVISIONAL.
	causePauseExpired = msg.CauseDirectConnectionNotAvailable
)

// PDCP SN size of every bearer set up by this package. TS 38.323 allows 12
// or 18 bits on SL-DRBs (sl-PDCP-SN-Size); this package always configures
// 12 (sec.SNSize12). PROJECT-DEFINED, PROVISIONAL.
const snSize = sec.SNSize12

// LCIDs: SL-SRB0 carries the unprotected ESTABLISHMENT REQUEST and REJECT,
// SL-SRB1 the SECURITY MODE COMMAND / COMPLETE / REJECT, SL-SRB2 every other
// protected PC5-S message, SL-SRB3 PC5-RRC, 4..19 the SL-DRBs (TS 38.331
// §5.8.1, TS 38.321 Table 6.2.4-1 [SOLID], values in pc5/sec). BEARER = LCID.
const (
	lcidSRB0 = sec.LCIDSLSRB0
	lcidSRB1 = sec.LCIDSLSRB1
	lcidSRB2 = sec.LCIDSLSRB2
	lcidSRB3 = sec.LCIDSLSRB3
)

// reauthNewKNRP is the Re-authentication indication value that asks for a
// fresh ECDH and new tokens: value nibble bit 1 (pc5/msg, IEIReauthIndication:
// "bit 1 = 1 asks for a new KNRP"). PROJECT-DEFINED, PROVISIONAL.
const reauthNewKNRP uint8 = 0x01

// Transcript labels (docs/protocol.md §8). PROJECT-DEFINED, not 3GPP. The two
// signature labels have the same length, so the two signed inputs of one
// suite never collide; every later field has a fixed length.
const (
	labelResponderSignature = "prosesec PC5 v1 responder signature"
	labelInitiatorSignature = "prosesec PC5 v1 initiator signature"
	labelKNRP               = "prosesec PC5 v1 KNRP"
)
