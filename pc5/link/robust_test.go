package link

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prosesec/prosesec/pc5/msg"
	"github.com/prosesec/prosesec/token"
)

// Every handshake message truncated at every length and garbled at every
// octet: never a panic, never Established on the receiving side, and
// either a rejection with a cause from the allowed set (a check after the
// MAC-I: #111 or #7 for truncation, any check's cause for garbling), or a
// discard (a PDU that fails before its MAC-I verifies, or whose type octet
// changed), after which the timers end both sides locally with no context
// left.
func TestTruncatedAndGarbled(t *testing.T) {
	w := newWorld(t, 200)
	src := w.newParty(nameSource, msg.SignatureEd25519, token.RoleUse, 1)
	rel := w.newParty(nameRelay, msg.SignatureEd25519, token.RoleServe, 2)
	run := func(idx int, mod func([]byte) []byte) *pair {
		src.cfg.Rand, rel.cfg.Rand = seeded(1), seeded(2)
		pr := newPair(t, src.cfg, rel.cfg, initiatorPolicy(), responderPolicy())
		pr.filter = func(fromI bool, n int, p PDU) []PDU {
			if n == idx {
				return []PDU{{p.LCID, mod(bytes.Clone(p.Data))}}
			}
			return []PDU{p}
		}
		pr.handshake()
		return pr
	}
	ref := run(-1, nil)
	ref.mustEstablish()
	names := []string{"REQUEST", "SECURITY MODE COMMAND", "SECURITY MODE COMPLETE", "ACCEPT"}
	truncCauses := []msg.Cause{msg.CauseProtocolErrorUnspecified, msg.CauseIntegrityFailure}
	garbleCauses := append(truncCauses, msg.CauseAuthenticationFailure, msg.CauseUESecurityCapabilitiesMismatch,
		msg.CauseLSBOfKNRPSessIDConflict, msg.CauseSignallingSecurityPolicyMismatch, msg.CauseRequiredServiceNotAllowed,
		msg.CauseDirectCommunicationNotAllowed)
	masks := []byte{0x01, 0x80, 0xFF}
	if testing.Short() {
		masks = masks[:1]
	}
	stats := map[string]map[msg.Cause]int{}
	for idx := 0; idx < 4; idx++ {
		full := ref.log[idx].pdu.Data
		check := func(what string, pr *pair, allowed []msg.Cause) {
			t.Helper()
			receiver := 1
			if !ref.log[idx].fromI {
				receiver = 0
			}
			if _, ok := findEvent[Established](pr.ev[receiver]); ok {
				t.Fatalf("%s %s: established", names[idx], what)
			}
			rejected := false
			for s := 0; s < 2; s++ {
				if r, ok := findEvent[Rejected](pr.ev[s]); ok {
					rejected = true
					if !slices.Contains(allowed, r.Cause) {
						t.Fatalf("%s %s: side %d rejected with %v (%v)", names[idx], what, s, r.Cause, r.Err)
					}
					if stats[names[idx]] == nil {
						stats[names[idx]] = map[msg.Cause]int{}
					}
					if !r.Remote {
						stats[names[idx]][r.Cause]++
					}
				}
			}
			if rejected {
				return
			}
			// Otherwise a side discarded a PDU: the receiver (the ACCEPT
			// by PDCP, a SMC or COMPLETE that fails before its MAC-I, any
			// message whose type octet changed), or the initiator (the SMC
			// answering a garbled REQUEST: different transcripts, so its
			// MAC-I fails). The handshake then times out.
			discarded := false
			for s := 0; s < 2; s++ {
				discarded = discarded || len(pr.errs[s]) > 0 && errors.Is(pr.errs[s][0], ErrDiscarded)
			}
			if !discarded {
				t.Fatalf("%s %s: neither rejected nor discarded (states %v %v, errs %v %v)", names[idx], what, pr.i.State(), pr.p.State(), pr.errs[0], pr.errs[1])
			}
			// The genuine retransmissions (only the first copy was
			// garbled) may still complete the handshake; otherwise both
			// sides end with nothing kept.
			pr.advance(40*time.Second, 8*time.Second)
			if pr.i.State() == StateEstablished && pr.p.State() == StateEstablished {
				pr.exchangeData(1)
				return
			}
			for s := 0; s < 2; s++ {
				if l := pr.side(s); l.State() != StateClosed || l.Context() != nil || l.hs != nil {
					t.Fatalf("%s %s: side %d in state %v after the timers (context kept: %v)", names[idx], what, s, l.State(), l.Context() != nil)
				}
			}
		}
		for n := 1; n < len(full); n++ {
			check(fmt.Sprintf("truncated to %d", n), run(idx, func(b []byte) []byte { return b[:n] }), truncCauses)
		}
		for pos := range full {
			for _, m := range masks {
				check(fmt.Sprintf("octet %d ^ %#02x", pos, m), run(idx, func(b []byte) []byte { b[pos] ^= m; return b }), garbleCauses)
			}
		}
	}
	for _, n := range names {
		t.Logf("%-24s local causes: %v", n, stats[n])
	}
}
