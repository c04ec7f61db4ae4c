// Package msg is the PC5 signalling (PC5-S) codec of prosesec: the
// PROSE DIRECT LINK messages of TS 24.554 used to set up, protect, keep
// alive, rekey and release a PC5 unicast link, their information elements,
// and the project's Key_Est_Info payloads. It owns bytes only: no crypto, no
// state, no I/O. It imports nothing but the standard library.
//
// # What follows TS 24.554, and how sure we are
//
// The specification text of TS 24.554 was not reachable; every value comes
// from docs/spec/3gpp-notes.md and carries its evidence label there and in
// codepoints.go (the one table of code points in this package):
//
//   - Framing — 1-octet message type, 1-octet sequence number, mandatory
//     V/LV/LV-E fields in order, then optional TV/TLV/TLV-E IEs — [PARTIAL]
//     (TS 24.587 via TS 38.508-1, NIST psc-ns3).
//   - ESTABLISHMENT REQUEST layout, and IEIs 0x28 (Target user info), 0x74
//     (Key establishment information container), 0x35 (Nonce_1), 0x36 (MSB
//     of KNRP-sess ID), 0x34 (KNRP ID): [PARTIAL]; 0x28 is [SOLID] for
//     TS 24.587. Relay service code 0x25: [INFERRED], PROVISIONAL.
//   - Message type values: 0x01/0x02 [SOLID] for TS 24.587; 0x01..0x08
//     [PARTIAL]; the rest [INFERRED], PROVISIONAL.
//   - Cause values (#1..#15, #111) and timers T5080/T5084/T5085/T5087:
//     [PARTIAL]. Recommended maximum of 8 direct links: [SOLID].
//   - SECURITY MODE COMMAND / COMPLETE / REJECT, ACCEPT, REKEYING,
//     KEEPALIVE and AUTHENTICATION layouts; policy, selected-algorithm and
//     UE security capability bit layouts beyond "0x80 = EA0": [INFERRED],
//     PROVISIONAL.
//
// # What this project defines (not 3GPP)
//
//   - IEIs the notes give no value for: MSBs of KNRP ID 0x50, LSBs of KNRP
//     ID 0x51, UE PC5 unicast user plane security policy 0x52, IP address
//     configuration 0x53, Link local IPv6 address 0x54, Maximum inactivity
//     period 0x55, Target IP address 0x56 (not a 3GPP IE at all: the peer
//     address assigned by the L3 UE-to-UE relay), Re-authentication
//     indication type-1 nibble 0xB. All PROVISIONAL.
//   - The coding of the Configuration of UE PC5 unicast user plane security
//     protection octet and of the user plane security policy octet.
//   - The Key_Est_Info payloads KeyEstInit, KeyEstResponse and KeyEstFinish
//     carried in the KEIC, with their suites and token formats. These are
//     NOT 3GPP: TS 33.536 leaves the container's contents to the
//     application. See docs/protocol.md.
//
// # Decoding rules
//
// Mandatory fields are read in order; then optional IEs by IEI, in any
// order, up to the end of the input (PC5-S messages carry no overall
// length). An optional IE of the message appearing twice is an error. An
// IEI the message does not define is handled by a TS 24.007 §11.2.4-style
// rule: if the package knows the IEI, its registered format frames it; if
// not, its range does: 0x00..0x0F comprehension required (the message fails
// with ErrComprehensionRequired), 0x10..0x6F TLV, 0x70..0x7F TLV-E,
// 0x80..0xFF type 1 (one octet). Such IEs are kept in the message's Unknown
// slice, in order, and written back after the message's own IEs on marshal,
// so nothing is silently lost. An IE that ends past the input is an error;
// every length is bounded (user info 1..253, security capabilities 2..8,
// KEIC 1..MaxKeyEstInfoLen, token 1..MaxTokenLen). Decoded values never
// alias the input, and the reader never allocates from a peer-supplied
// length. Marshal is deterministic, so a sender can hash exactly what it
// sends; a receiver hashes the octets it received (see docs/protocol.md,
// "Transcript and signatures").
//
// Every type has the method set of wmnsk/go-pfcp: MarshalLen, MarshalTo,
// Marshal, UnmarshalBinary. All length prefixes are written by the cursor
// builder and read by the cursor reader of internal/wire (shared with
// package discovery), in the manner of golang.org/x/crypto/cryptobyte. Errors are *Error values that start with
// "pc5/msg: ", name the message and field, say what was expected and what
// was found, and unwrap to one of the Err* kinds.
package msg
