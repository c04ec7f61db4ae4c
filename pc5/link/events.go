package link

import (
	"time"

	"github.com/prosesec/prosesec/pc5/msg"
	"github.com/prosesec/prosesec/pc5/sec"
	"github.com/prosesec/prosesec/token"
)

// PDU is one unit on a sidelink logical channel: what the caller hands to
// Step (received) and what Ready returns to send. On SL-SRB0 (LCID 0) Data
// is a bare PC5-S message. On SL-SRB1 and SL-SRB2 it is a PDCP data PDU
// (first bit D/C = 1), except the SECURITY MODE REJECT, which is sent on
// SL-SRB1 as a bare PC5-S message (first octet 0x0E, D/C = 0) because no
// security context is trusted when it is sent (PROVISIONAL).
type PDU struct {
	LCID uint8
	Data []byte
}

// TimerOp tells the caller that a timer was armed (Deadline set) or
// cancelled. The Link keeps every deadline itself: a caller may just call
// Tick at NextDeadline. TimerOps serve traces and shells that keep one OS
// timer per link timer.
type TimerOp struct {
	Timer    Timer
	Cancel   bool
	Deadline time.Time // when armed
}

// Ready is everything a Link produced since the last call to Ready, in
// order: PDUs to send, timer operations, events.
type Ready struct {
	Send   []PDU
	Timers []TimerOp
	Events []Event
}

// Event is one of Established, PeerAuthorized, Rejected, Released,
// RekeyNeeded, Rekeyed.
type Event interface{ isEvent() }

// Security describes the security context of a link.
type Security struct {
	Suite      msg.Suite
	Algorithms msg.SelectedAlgorithms
	KNRPSessID sec.KNRPSessID
	KNRPID     sec.KNRPID
	// Initiator is true on the UE that sent the request that set up this
	// context (ESTABLISHMENT or REKEYING REQUEST): DIRECTION 0 (pc5/sec).
	Initiator bool
}

// Established: the link is up. Both sides emit it: the responder when it
// sends the ESTABLISHMENT ACCEPT, the initiator when it receives it.
type Established struct {
	// PeerUserInfo is the peer's user info; its token's sub equals it.
	PeerUserInfo []byte
	// TargetUserInfo is the target user info of the REQUEST (responder:
	// received; initiator: sent).
	TargetUserInfo []byte
	RSC            token.RSC
	// PeerClaims are the verified claims of the peer's token.
	PeerClaims *token.Claims
	Security   Security
	// Context is the PDCP security context now in use. The Link keeps using
	// it (prefer Link.SealData and Link.OpenData); it is replaced at the
	// next Rekeyed event and wiped at Released.
	Context *sec.Context
	// Accept (initiator) is the content of the ESTABLISHMENT ACCEPT
	// received; (responder) what was sent.
	Accept AcceptInfo
}

// AcceptInfo is the content of an ESTABLISHMENT ACCEPT.
type AcceptInfo struct {
	AcceptParams
	UPProtection msg.UPProtectionConfig
}

// PeerAuthorized (responder with Policy.PauseBeforeAccept): the peer's
// token and transcript signature verified and its scope allows the RSC.
// The link waits for Link.Accept or Link.Reject.
type PeerAuthorized struct {
	SourceUserInfo []byte
	TargetUserInfo []byte
	RSC            token.RSC
	PeerClaims     *token.Claims
}

// Rejected: the handshake ended without a link. Cause is the cause sent to
// the peer (Remote false) or received from it (Remote true); Err the
// detailed reason (an *Error when detected locally).
type Rejected struct {
	Cause  msg.Cause
	Err    error
	Remote bool
}

// Released: an established link ended; its keys are wiped.
type Released struct {
	Cause  msg.Cause
	Err    error
	Remote bool
}

// RekeyReason says why a rekeying starts.
type RekeyReason uint8

const (
	// RekeyCount: a bearer's COUNT reached the rekey threshold (pc5/sec
	// NeedsRekey). Rekeying without re-authentication.
	RekeyCount RekeyReason = iota + 1
	// RekeyPeerTokenExpiring: the peer's token expires within
	// TokenRefreshMargin. Rekeying with re-authentication.
	RekeyPeerTokenExpiring
)

func (r RekeyReason) String() string {
	switch r {
	case RekeyCount:
		return "COUNT threshold"
	case RekeyPeerTokenExpiring:
		return "peer token expiring"
	}
	return "unknown"
}

// RekeyNeeded: the link starts a rekeying by itself (it sends a REKEYING
// REQUEST in the same Ready).
type RekeyNeeded struct{ Reason RekeyReason }

// Rekeyed: a rekeying completed; Context replaces the previous one.
type Rekeyed struct {
	Reauthenticated bool
	// PeerClaims are the claims of the token the peer presented at a
	// re-authentication, nil otherwise.
	PeerClaims *token.Claims
	Security   Security
	Context    *sec.Context
}

func (Established) isEvent()    {}
func (PeerAuthorized) isEvent() {}
func (Rejected) isEvent()       {}
func (Released) isEvent()       {}
func (RekeyNeeded) isEvent()    {}
func (Rekeyed) isEvent()        {}

// State is the state of a Link.
type State uint8

const (
	StateIdle         State = iota // initiator before Start
	StateRequestSent               // initiator: REQUEST sent, waiting for the SMC
	StateCompleteSent              // initiator: COMPLETE sent, waiting for the ACCEPT
	StateWaitRequest               // responder: waiting for the REQUEST
	StateCommandSent               // responder: SMC sent, waiting for the COMPLETE
	StatePaused                    // responder: peer authorized, waiting for Accept/Reject
	StateEstablished               // link up (a rekeying may be running)
	StateReleasing                 // RELEASE REQUEST sent
	StateClosed                    // handshake failed or link released; keys wiped
)

var stateNames = [...]string{"idle", "request sent", "complete sent", "wait request", "command sent", "paused", "established", "releasing", "closed"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}
