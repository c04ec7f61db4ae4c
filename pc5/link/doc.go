// Package link owns the PC5 unicast link of prosesec on one side: the
// security handshake that sets it up with tokens verified offline (TR 33.740
// Solution #4, docs/design.md §4), then keep-alive, rekeying, release, and the PDCP
// protection of what flows over it. It is a pure state machine in the
// manner of etcd's raft RawNode: no goroutines, sockets, clocks or
// crypto/rand. The caller
//
//   - makes a Link with NewInitiator or NewResponder (a Config per UE, a
//     Policy per link) and, as initiator, calls Start;
//   - hands every PC5-S PDU received from the peer to Step with its LCID
//     (SL-SRB0..2) and the current time, and calls Tick at NextDeadline;
//   - after each call, takes Ready: PDUs to send with their LCID, timer
//     operations, and events (Established, PeerAuthorized, Rejected,
//     Released, RekeyNeeded, Rekeyed);
//   - protects and unprotects data (SL-SRB3, SL-DRBs) with SealData and
//     OpenData;
//   - as a relay, sets Policy.PauseBeforeAccept and answers PeerAuthorized
//     with Accept or Reject once its second hop is up (or not).
//
// Randomness (nonces, KNRP-sess ID and KNRP ID parts, ephemeral keys) comes
// from Config.Rand; time only from the arguments. With a seeded Rand and a
// P-256 *ecdsa.PrivateKey or Ed25519 identity, a handshake is byte-stable.
// The ephemeral private scalars are read from Config.Rand directly, so in
// production Config.Rand must be crypto/rand.Reader: a seeded or otherwise
// predictable source is for tests only and gives away KNRP.
//
// # Unauthenticated PDUs
//
// A PDU that fails before anything authenticates it is discarded with no
// change of state (Step returns an error wrapping ErrDiscarded): every check
// of a SECURITY MODE COMMAND up to and including its MAC-I (the values
// derived to check it are committed only afterwards, so a forgery cannot
// spoil the genuine SMC), and the PDCP deciphering and MAC-I of a SECURITY
// MODE COMPLETE, in the establishment and in a rekeying. Timers keep
// running, so a handshake completes through retransmissions or ends with
// its timer's cause. Only failures after the MAC-I are answered with a
// cause. An established link, also while it rekeys, ignores bare rejects
// and reports a rekeying failure only in a protected RELEASE REQUEST. A
// responder decides whether it serves the REQUEST's source, target and RSC
// only after the COMPLETE has authenticated the initiator, and resends its
// SMC for a repeated REQUEST at most Timers.T5080Retransmissions times; it
// still does a key generation, an ECDH and a signature for every
// well-formed REQUEST, so a relay should rate-limit REQUESTs per source
// Layer-2 ID before they reach Step (docs/protocol.md §7).
//
// # What follows 3GPP, and how sure we are
//
// Message names, the flow REQUEST → SECURITY MODE COMMAND → SECURITY MODE
// COMPLETE → ACCEPT, the key hierarchy KNRP → KNRP-sess → NRPEK/NRPIK,
// Nonce_1/Nonce_2, the KNRP-sess ID split (MSB by the initiator, LSB by the
// responder), the SMC integrity-protected but not ciphered and the COMPLETE
// ciphered, the bearers (SL-SRB0/1/2), the policy rule of TS 33.536 (reject
// NOT NEEDED against REQUIRED), the replay checks of capabilities and
// policy, and the cause values follow TS 33.536 §5.3.3.1.4 and TS 24.554 as
// far as docs/spec/3gpp-notes.md records them (§2.2–2.5, §3; steps 1–2
// SOLID, the rest INFERRED). Codings and timer values come from pc5/msg and
// pc5/sec, which carry the evidence labels. Rekeying, keep-alive and
// release follow the INFERRED outline of the notes.
//
// # What this project defines (PROVISIONAL)
//
//   - The content of Key_Est_Info: an ephemeral ECDH exchange signed with
//     the identity keys the tokens are bound to (cnf), the transcript and
//     the KNRP derivation (transcript.go; docs/protocol.md §8).
//   - The token rules: verified offline with token.Verifier at the Step's
//     time, sub equal to the peer's user info, the scope u2u:<role>:<RSC>
//     for Policy.PeerRole, and the one error → cause table (errors.go). The
//     token.TrustStore has no per-issuer restriction of sub or RSC: every
//     trusted issuer is trusted for every user info and service (a design
//     note; restrict issuers outside, e.g. in Policy.AcceptRSC or on
//     PeerAuthorized).
//   - Timers with no TS 24.554 value found: TimerSecurityMode,
//     TimerRekeying, and the token refresh/expiry timers (codepoints.go);
//     local failures use cause #5 (T5080, as NIST psc-ns3) or #4.
//   - The SECURITY MODE REJECT travels bare on SL-SRB1; the ESTABLISHMENT
//     REJECT bare on SL-SRB0 (both unauthenticated, as in 3GPP, and acted
//     on only while a handshake runs). An SMC or COMPLETE failing before
//     its MAC-I is discarded (the 3GPP behaviour was not found).
//   - User plane protection follows the signalling algorithms; both sides
//     check the initiator's UP policy against them, the responder also its
//     own (#12).
//   - A paused responder is supervised by TimerPause (#4 when it runs out).
//   - Rekeying: who switches when, collision resolution, the replayed
//     policy (the establishment's), and a protected release on any
//     rekeying failure after the MAC-I.
//
// Errors start with "pc5/link: ". A handshake failure is an *Error with the
// cause sent to the peer (like a crypto/tls alert); the peer learns only the
// cause, the Error's Err says why. No security context survives a failure:
// key material is wiped on failure and on release (the ephemeral key as far
// as crypto/ecdh allows).
//
// Two opt-in hooks serve traces and debugging, never production:
// Config.TracePDU sees every PDU the link protects with its plaintext (a
// simulator names and decodes protected messages with it), and
// Config.KeyLog receives each security context's NRPEK and NRPIK, like
// crypto/tls's KeyLogWriter, so that a recorded trace can be decrypted by
// another implementation. Both are nil by default.
package link
