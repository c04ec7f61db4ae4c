// Package relay owns the L3 UE-to-UE relay of prosesec (TR 33.740 Solution
// #4, docs/design.md §4 "relay order" and §5): its link table, its addressing, its
// routing table and the forwarding of IP packets between the two hops. It is
// a sans-I/O core like pc5/link: frames and time in (HandleFrame, Tick),
// frames out (Outbox); a driver (pc5/node) moves them over a pc5/medium Port.
//
// # Relay order
//
// A REQUEST from a new Layer-2 ID starts a responder link (hop 1) with
// Policy.PauseBeforeAccept, after a per-source token bucket (RequestRate,
// Burst): the handshake costs a key generation, an ECDH and a signature.
// When the source is authenticated and authorized (PeerAuthorized: its token
// grants u2u:use:<RSC> for an RSC in Config.RSCs), the relay finds the
// target's Layer-2 ID with Config.Lookup (discovery.Relay.Lookup or a static
// table), reuses an established link to the target or sets up hop 2 as the
// initiator (the target's token must grant u2u:use:<RSC>), and only when hop
// 2 is established accepts hop 1 with the target's address in the target IP
// address IE. Failures reject hop 1 with (PROJECT-DEFINED, PROVISIONAL):
//
//   - #1 (CauseTargetUnknown): the target's Layer-2 ID is not known;
//   - #4 (CauseHop2Failed): hop 2 failed, was rejected, or was not up within
//     Config.Hop2Timeout;
//   - #5 (CauseLinkLimit): Config.MaxLinks links (both hops counted) exist.
//
// When hop 2 ends, the relay releases the hop 1 links set up for that target
// with #4. A relay whose own token lacks u2u:serve:<RSC> is refused by the source
// itself with #11 (pc5/link). Beyond MaxPendingFactor × MaxLinks links in any
// state, new REQUESTs are dropped unanswered.
//
// # Addressing and forwarding
//
// See addr.go: one IPv6 unique-local /64 per relay derived from its Layer-2
// ID, each end UE's interface ID its Layer-2 ID. A data PDU (LCID 3..19) is
// opened with the hop's keys (OpenData, in place), its IPv6 source must be
// the sender's address (else dropped, Stats.Spoofed), its destination is
// looked up in the routing table (unknown: dropped, Stats.NoRoute), the two
// links must be a pair the relay set up (a source's hop 1 and the hop 2 to
// the target it asked for, either way; else dropped, Stats.NotPaired: a
// token authorizes a UE for one RSC and its REQUEST names one target), and
// the packet is sealed on the other hop's link on the same LCID. The steady path
// does not allocate. Counters are kept per link (PeerInfo.Stats) and per
// relay (Stats).
//
// Not implemented: one relay hop only; one link per neighbour Layer-2 ID (a
// REQUEST from a neighbour that already has a link goes to that link, which
// discards it; once up, any link may reach any routed address); no IPv4.
package relay
