// Package discovery owns UE-to-UE relay discovery in prosesec: the
// discovery messages (Model A announcement, Model B solicitation and
// response) with their codec, and two sans-I/O cores — Relay (the relay's
// announcer and responder) and Discoverer (the end UE's discoverer, relay
// selection, and its answers as a target). The cores take messages and
// "now" and return messages to send (Outgoing); a driver moves them over a
// pc5/medium Port on LCIDDiscovery (Decode, Outgoing.Frame) and calls
// Relay.Announce periodically.
//
// # The flows
//
// Model A: each relay broadcasts, per RSC it serves, an Announcement with
// the end UEs reachable through it (UE-to-UE relay UE info); end UEs
// record it.
//
// Model B, for source S, relay R and target T:
//
//	S -> all: Solicitation{RSC, discoverer S, target T}
//	R -> S:   Response{RSC, discoveree R, reachable [T]}         if R already reaches T
//	R -> all: Solicitation{RSC, discoverer R, target T, source S} otherwise, and then
//	T -> R:   Response{RSC, discoveree T, source S}
//	R -> S:   Response{RSC, discoveree R, reachable [T]}         and R learns T's Layer-2 ID
//
// Relay.Lookup gives the relay T's Layer-2 ID for its second hop. Only one
// relay hop is modelled: a relay does not forward another relay's
// solicitation (Rel-19 multi-hop relaying is not implemented).
// Discoverer.Select picks the relay by the rule of CompareCandidates: the
// target reported reachable, then the best RSSI, then the lowest load,
// then the lowest Layer-2 ID.
//
// # What follows 3GPP, and how sure we are
//
// From docs/spec/3gpp-notes.md §3.7 and §1.4: the ProSe direct discovery
// PC5 message type octet (discovery type, content type, model) and its
// Rel-17 values [SOLID, TS 24.554 §11.2.1]; the 3-octet RSC; the IE names
// UE-to-UE relay UE info, Target user info and the roles of Model A and B
// [SOLID names, TS 24.554 Rel-18 TOC; TS 23.304]; the UTC-based counter LSB
// and the 4-octet MIC [INFERRED].
//
// # What this project defines (PROVISIONAL)
//
//   - The signalling of the Rel-18 content type extension (content type
//     0b1111 followed by an extension octet) and its values, the message
//     layouts, the Load octet, the LCID of discovery frames and the use of
//     the application layer ID (1..253 octets) as user info: all in
//     codepoints.go and message.go.
//   - The relay selection rule, the timers (ForwardTimeout, ReachableTTL,
//     MaxAge) and the bounds (MaxPending, MaxCandidates).
//   - Discovery security is NOT implemented: TS 33.503 §6.1.3.2.2 protects
//     discovery messages with per-RSC keys (DUIK for the MIC, DUSK and DUCK
//     for scrambling and confidentiality), which the AS of this project
//     does not provision. The MIC field is carried but set to zero and not
//     checked; the UTC-based counter LSB is informative only.
//
// # Trust
//
// Discovery authenticates nothing. A relay should announce only the RSCs
// of its own u2u:serve scopes (RelayConfig.RSCs = ServeRSCs of its token),
// but a malicious relay may announce any RSC, any reachable UE, a low load
// or a loud signal, and anybody may send a response. What protects the end
// UEs is the PC5 handshake that follows (pc5/link): it verifies the relay's
// token offline, including the scope u2u:serve:<RSC>, and the relay's
// proof of possession of the key the token is bound to. A driver whose
// handshake with the selected relay fails calls Discoverer.Exclude and
// selects again.
//
// Decoders are length-checked and fuzzed; errors start with "discovery: ".
// The package logs nothing and reads no clock.
package discovery
