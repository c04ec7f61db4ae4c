package link

import (
	"errors"
	"fmt"

	"github.com/prosesec/prosesec/pc5/sec"
)

// Data after establishment: the link protects and unprotects PDUs of
// SL-SRB3 (PC5-RRC, LCID 3) and the SL-DRBs (LCID 4..19) with the PDCP
// context of pc5/sec; BEARER = LCID. It does not route: what the payload is
// (an IP packet) is the caller's business. SL-SRB0..2 belong to Step.

func checkDataLCID(lcid uint8) error {
	if lcid < lcidSRB3 || lcid > sec.LCIDDRBMax {
		return fmt.Errorf("pc5/link: expected a data LCID %d..%d, found %d (SL-SRB0..2 carry PC5-S through Step)", lcidSRB3, sec.LCIDDRBMax, lcid)
	}
	return nil
}

// SealData appends to dst the protected PDCP PDU carrying payload on LCID
// lcid (3..19). With room in cap(dst) for the header (4 octets), payload
// and MAC-I (4 octets) it does not allocate.
func (l *Link) SealData(dst []byte, lcid uint8, payload []byte) ([]byte, error) {
	if err := checkDataLCID(lcid); err != nil {
		return dst, err
	}
	if l.state != StateEstablished {
		return dst, fmt.Errorf("%w: SealData needs an established link, found state %v", ErrState, l.state)
	}
	return l.protect(l.cur, dst, lcid, payload, true)
}

// OpenData checks a protected PDU received on LCID lcid (3..19) and
// appends its payload to dst (pdu[:0] decrypts in place). During a
// rekeying it accepts the old and the new context, chosen by the KNRP-sess
// ID in the header. It does not allocate when dst has room. Errors wrap
// the pc5/sec errors (sec.ErrIntegrity, sec.ErrReplay, …): PDCP discards
// such PDUs silently; the link stays up.
func (l *Link) OpenData(dst []byte, lcid uint8, pdu []byte) ([]byte, error) {
	if err := checkDataLCID(lcid); err != nil {
		return dst, err
	}
	if l.state != StateEstablished && l.state != StateReleasing {
		return dst, fmt.Errorf("%w: OpenData needs an established link, found state %v", ErrState, l.state)
	}
	out, err := l.cur.Unprotect(dst, lcid, pdu)
	if err == nil {
		l.rxActivity = true
		if l.prev != nil { // the peer uses the new context: the old one goes
			l.prev.Wipe()
			l.prev = nil
		}
		return out, nil
	}
	if !errors.Is(err, sec.ErrWrongKNRPSessID) {
		return dst, err
	}
	for _, c := range [...]*sec.Context{l.prev, l.pendingRx()} {
		if c == nil {
			continue
		}
		if out, err2 := c.Unprotect(dst, lcid, pdu); err2 == nil {
			l.rxActivity = true
			return out, nil
		} else if !errors.Is(err2, sec.ErrWrongKNRPSessID) {
			return dst, err2
		}
	}
	return dst, err
}
