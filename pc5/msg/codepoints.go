package msg

import (
	"fmt"
	"time"
)

// This file is the one table of code points used by package msg. Each value
// names its source and its evidence label from docs/spec/3gpp-notes.md:
//
//	[SOLID]    seen in a primary or near-primary source
//	[PARTIAL]  indirect evidence (a draft-based simulator, or the TS 24.587 analogue)
//	[INFERRED] not found in any reachable source
//
// Values labelled INFERRED are PROVISIONAL: a reader holding TS 24.554
// checks and corrects them here, in one place. Values this project defines
// itself (no 3GPP value exists or none was found) are marked
// "PROJECT-DEFINED, PROVISIONAL".

// MessageType is the ProSe PC5 signalling message type, the first octet of
// every PC5-S message. Source: TS 24.554 §11.3.1 Table 11.3.1.1, notes §3.2.
// 0x01 and 0x02 are [SOLID] for the TS 24.587 analogue (TS 38.508-1) and
// [PARTIAL] for TS 24.554 (NIST psc-ns3 numbers 1..8 the same way). All other
// values are [INFERRED] from the TS 24.587 ordering: PROVISIONAL.
type MessageType uint8

const (
	MsgEstablishmentRequest    MessageType = 0x01 // [PARTIAL] (SOLID for TS 24.587)
	MsgEstablishmentAccept     MessageType = 0x02 // [PARTIAL] (SOLID for TS 24.587)
	MsgEstablishmentReject     MessageType = 0x03 // [PARTIAL] NIST psc-ns3
	MsgModificationRequest     MessageType = 0x04 // [PARTIAL] NIST psc-ns3; no codec here
	MsgModificationAccept      MessageType = 0x05 // [PARTIAL] NIST psc-ns3; no codec here
	MsgModificationReject      MessageType = 0x06 // [PARTIAL] NIST psc-ns3; no codec here
	MsgReleaseRequest          MessageType = 0x07 // [PARTIAL] NIST psc-ns3
	MsgReleaseAccept           MessageType = 0x08 // [PARTIAL] NIST psc-ns3
	MsgAuthenticationRequest   MessageType = 0x09 // [INFERRED] PROVISIONAL
	MsgAuthenticationResponse  MessageType = 0x0A // [INFERRED] PROVISIONAL
	MsgAuthenticationReject    MessageType = 0x0B // [INFERRED] PROVISIONAL
	MsgSecurityModeCommand     MessageType = 0x0C // [INFERRED] PROVISIONAL
	MsgSecurityModeComplete    MessageType = 0x0D // [INFERRED] PROVISIONAL
	MsgSecurityModeReject      MessageType = 0x0E // [INFERRED] PROVISIONAL
	MsgIdentifierUpdateRequest MessageType = 0x0F // [INFERRED] PROVISIONAL; no codec here
	MsgIdentifierUpdateAccept  MessageType = 0x10 // [INFERRED] PROVISIONAL; no codec here
	MsgIdentifierUpdateAck     MessageType = 0x11 // [INFERRED] PROVISIONAL; no codec here
	MsgIdentifierUpdateReject  MessageType = 0x12 // [INFERRED] PROVISIONAL; no codec here
	MsgKeepaliveRequest        MessageType = 0x13 // [INFERRED] PROVISIONAL
	MsgKeepaliveResponse       MessageType = 0x14 // [INFERRED] PROVISIONAL
	MsgRekeyingRequest         MessageType = 0x15 // [INFERRED] PROVISIONAL
	MsgRekeyingResponse        MessageType = 0x16 // [INFERRED] PROVISIONAL
)

var messageTypeNames = [...]string{
	MsgEstablishmentRequest:    "ESTABLISHMENT REQUEST",
	MsgEstablishmentAccept:     "ESTABLISHMENT ACCEPT",
	MsgEstablishmentReject:     "ESTABLISHMENT REJECT",
	MsgModificationRequest:     "MODIFICATION REQUEST",
	MsgModificationAccept:      "MODIFICATION ACCEPT",
	MsgModificationReject:      "MODIFICATION REJECT",
	MsgReleaseRequest:          "RELEASE REQUEST",
	MsgReleaseAccept:           "RELEASE ACCEPT",
	MsgAuthenticationRequest:   "AUTHENTICATION REQUEST",
	MsgAuthenticationResponse:  "AUTHENTICATION RESPONSE",
	MsgAuthenticationReject:    "AUTHENTICATION REJECT",
	MsgSecurityModeCommand:     "SECURITY MODE COMMAND",
	MsgSecurityModeComplete:    "SECURITY MODE COMPLETE",
	MsgSecurityModeReject:      "SECURITY MODE REJECT",
	MsgIdentifierUpdateRequest: "IDENTIFIER UPDATE REQUEST",
	MsgIdentifierUpdateAccept:  "IDENTIFIER UPDATE ACCEPT",
	MsgIdentifierUpdateAck:     "IDENTIFIER UPDATE ACK",
	MsgIdentifierUpdateReject:  "IDENTIFIER UPDATE REJECT",
	MsgKeepaliveRequest:        "KEEPALIVE REQUEST",
	MsgKeepaliveResponse:       "KEEPALIVE RESPONSE",
	MsgRekeyingRequest:         "REKEYING REQUEST",
	MsgRekeyingResponse:        "REKEYING RESPONSE",
}

// short is the name without the "PROSE DIRECT LINK " prefix; errors use it.
func (t MessageType) short() string {
	if int(t) < len(messageTypeNames) && messageTypeNames[t] != "" {
		return messageTypeNames[t]
	}
	return fmt.Sprintf("message type 0x%02x", uint8(t))
}

// String returns the TS 24.554 message name, e.g.
// "PROSE DIRECT LINK SECURITY MODE COMMAND".
func (t MessageType) String() string {
	if int(t) < len(messageTypeNames) && messageTypeNames[t] != "" {
		return "PROSE DIRECT LINK " + messageTypeNames[t]
	}
	return fmt.Sprintf("MessageType(0x%02x)", uint8(t))
}

// IEI is an information element identifier of an optional IE. For type-1
// IEs (IEI octet 0x80..0xFF, see IEFormat) only the high nibble identifies the
// IE; the constant holds that nibble in the high half and 0 in the low half.
//
// Sources: notes §3.3. The NIST psc-ns3 model writes 28, 74, 53, 54, 52 and 25
// as decimal constants; read as hexadecimal they are the values below, and
// '28'H for Target user info is confirmed for TS 24.587 by TS 38.508-1.
type IEI uint8

const (
	// IEITargetUserInfo: Target user info (Application layer ID), TLV 3..255.
	// [SOLID] for TS 24.587 (TS 38.508-1 "Application layer ID IEI '28'H"),
	// [PARTIAL] for TS 24.554.
	IEITargetUserInfo IEI = 0x28
	// IEIKeyEstInfo: Key establishment information container, TLV-E. [PARTIAL]
	IEIKeyEstInfo IEI = 0x74
	// IEINonce1: Nonce_1 (Nonce), TV 17. [PARTIAL]
	IEINonce1 IEI = 0x35
	// IEIKNRPSessIDMSB: MSB of KNRP-sess ID, TV 2. [PARTIAL]
	IEIKNRPSessIDMSB IEI = 0x36
	// IEIKNRPID: KNRP ID, TV 5. [PARTIAL]
	IEIKNRPID IEI = 0x34
	// IEIRelayServiceCode: Relay service code, TV 4. [INFERRED] PROVISIONAL:
	// NIST writes decimal 25 with the note "not defined in the standard at the
	// time, LTE value used"; read as hexadecimal like its other IEIs.
	IEIRelayServiceCode IEI = 0x25

	// The IEIs below have no value in the notes. PROJECT-DEFINED, PROVISIONAL:
	// chosen from 0x50..0x5F (and type-1 nibble 0xB), away from every value in
	// the notes, so that a real TS 24.554 value can replace each in one place.

	// IEIKNRPIDMSBs: MSBs of KNRP ID (TS 24.554 §11.3.16 name [SOLID]), TV 3.
	// PROJECT-DEFINED, PROVISIONAL.
	IEIKNRPIDMSBs IEI = 0x50
	// IEIKNRPIDLSBs: LSBs of KNRP ID (TS 24.554 §11.3.17 name [SOLID]), TV 3.
	// PROJECT-DEFINED, PROVISIONAL.
	IEIKNRPIDLSBs IEI = 0x51
	// IEIUPSecurityPolicy: UE PC5 unicast user plane security policy, TV 2.
	// PROJECT-DEFINED, PROVISIONAL.
	IEIUPSecurityPolicy IEI = 0x52
	// IEIIPAddressConfig: IP address configuration, TV 2. PROJECT-DEFINED, PROVISIONAL.
	IEIIPAddressConfig IEI = 0x53
	// IEILinkLocalIPv6: Link local IPv6 address, TV 17. PROJECT-DEFINED, PROVISIONAL.
	IEILinkLocalIPv6 IEI = 0x54
	// IEIMaxInactivityPeriod: Maximum inactivity period, TV 5 (seconds,
	// 4 octets). PROJECT-DEFINED, PROVISIONAL (coding too).
	IEIMaxInactivityPeriod IEI = 0x55
	// IEITargetIPAddress: the IP address of the peer (target) end UE as
	// assigned/announced by the L3 UE-to-UE relay, TLV with 4 (IPv4) or 16
	// (IPv6) octets. Not a TS 24.554 IE at all: PROJECT-DEFINED, PROVISIONAL.
	IEITargetIPAddress IEI = 0x56
	// IEIReauthIndication: Re-authentication indication (TS 24.554 §11.3.24
	// name [SOLID]), type 1: IEI nibble 0xB, value nibble bit 1 = 1 asks for
	// a new KNRP. PROJECT-DEFINED, PROVISIONAL.
	IEIReauthIndication IEI = 0xB0
)

// String returns the IE name.
func (i IEI) String() string {
	if d := lookupIE(uint8(i)); d != nil {
		return d.name
	}
	return fmt.Sprintf("IEI(0x%02x)", uint8(i))
}

// IEFormat is the TS 24.007 §11.2.1 format of an optional IE.
type IEFormat uint8

const (
	// FormatType1 is a 1-octet IE: IEI in bits 8..5, value in bits 4..1.
	FormatType1 IEFormat = 1
	// FormatTV is IEI followed by a value of fixed, IE-specific length.
	FormatTV IEFormat = 2
	// FormatTLV is IEI, 1-octet length, value.
	FormatTLV IEFormat = 3
	// FormatTLVE is IEI, 2-octet length (big endian), value.
	FormatTLVE IEFormat = 4
)

// String returns the TS 24.007 name of the format.
func (f IEFormat) String() string {
	switch f {
	case FormatType1:
		return "type 1 (TV, half octet)"
	case FormatTV:
		return "TV"
	case FormatTLV:
		return "TLV"
	case FormatTLVE:
		return "TLV-E"
	}
	return fmt.Sprintf("IEFormat(%d)", uint8(f))
}

// Ranges that decide how an unknown IEI is framed (TS 24.007 §11.2.4 style;
// the split follows TS 24.501 / 24.007 conventions). [INFERRED] PROVISIONAL:
//
//	0x00..0x0F  comprehension required: an unknown IE here fails the message
//	0x10..0x6F  TLV  (1-octet length)
//	0x70..0x7F  TLV-E (2-octet length)
//	0x80..0xFF  type 1: the whole IE is this one octet
const (
	ieiComprehensionRequiredMax = 0x0F
	ieiTLVEMin                  = 0x70
	ieiTLVEMax                  = 0x7F
	ieiType1Min                 = 0x80
)

// Cause is a PC5 signalling protocol cause value. Source: TS 24.554 Table
// 11.3.8.1 as cited by usnistgov/psc-ns3 nr-sl-ue-prose-direct-link.cc
// [PARTIAL] (notes §3.5). Rel-18 additions for U2U relays were not found.
type Cause uint8

const (
	CauseDirectCommunicationNotAllowed    Cause = 1   // Direct communication to the target UE not allowed [PARTIAL]
	CauseDirectCommunicationNotNeeded     Cause = 2   // Direct communication to the target UE no longer needed [PARTIAL]
	CauseLayer2IDConflict                 Cause = 3   // Conflict of layer-2 ID for unicast communication is detected [PARTIAL]
	CauseDirectConnectionNotAvailable     Cause = 4   // Direct connection is not available anymore [PARTIAL]
	CauseLackOfResources                  Cause = 5   // Lack of resources for PC5 unicast link [PARTIAL]
	CauseAuthenticationFailure            Cause = 6   // Authentication failure [PARTIAL]
	CauseIntegrityFailure                 Cause = 7   // Integrity failure [PARTIAL]
	CauseUESecurityCapabilitiesMismatch   Cause = 8   // UE security capabilities mismatch [PARTIAL]
	CauseLSBOfKNRPSessIDConflict          Cause = 9   // LSB of KNRP-sess ID conflict [PARTIAL]
	CauseSignallingSecurityPolicyMismatch Cause = 10  // UE PC5 unicast signalling security policy mismatch [PARTIAL]
	CauseRequiredServiceNotAllowed        Cause = 11  // Required service not allowed [PARTIAL]
	CauseSecurityPolicyNotAligned         Cause = 12  // Security policy not aligned [PARTIAL]
	CauseCongestion                       Cause = 13  // Congestion situation [PARTIAL]
	CauseAuthenticationSynchronisationErr Cause = 14  // Authentication synchronisation error [PARTIAL]
	CauseU2NRelaySecurityProcedureFailure Cause = 15  // Security procedure failure of 5G ProSe UE-to-network relay [PARTIAL]
	CauseProtocolErrorUnspecified         Cause = 111 // Protocol error, unspecified [PARTIAL]
)

var causeNames = map[Cause]string{
	CauseDirectCommunicationNotAllowed:    "direct communication to the target UE not allowed",
	CauseDirectCommunicationNotNeeded:     "direct communication to the target UE no longer needed",
	CauseLayer2IDConflict:                 "conflict of layer-2 ID for unicast communication is detected",
	CauseDirectConnectionNotAvailable:     "direct connection is not available anymore",
	CauseLackOfResources:                  "lack of resources for PC5 unicast link",
	CauseAuthenticationFailure:            "authentication failure",
	CauseIntegrityFailure:                 "integrity failure",
	CauseUESecurityCapabilitiesMismatch:   "UE security capabilities mismatch",
	CauseLSBOfKNRPSessIDConflict:          "LSB of KNRP-sess ID conflict",
	CauseSignallingSecurityPolicyMismatch: "UE PC5 unicast signalling security policy mismatch",
	CauseRequiredServiceNotAllowed:        "required service not allowed",
	CauseSecurityPolicyNotAligned:         "security policy not aligned",
	CauseCongestion:                       "congestion situation",
	CauseAuthenticationSynchronisationErr: "authentication synchronisation error",
	CauseU2NRelaySecurityProcedureFailure: "security procedure failure of 5G ProSe UE-to-network relay",
	CauseProtocolErrorUnspecified:         "protocol error, unspecified",
}

// String returns "#6 authentication failure" style text; unknown values
// print as "#200 (unknown cause)". The codec keeps unknown values verbatim.
func (c Cause) String() string {
	if n, ok := causeNames[c]; ok {
		return fmt.Sprintf("#%d %s", uint8(c), n)
	}
	return fmt.Sprintf("#%d (unknown cause)", uint8(c))
}

// Timer names a TS 24.554 Table 12.3.1 timer. Source: NIST psc-ns3
// attributes citing that table [PARTIAL] (notes §3.6). T5081..T5083,
// T5086, T5088.. were NOT FOUND and are not defined here.
type Timer uint16

const (
	T5080 Timer = 5080 // retransmission of ESTABLISHMENT REQUEST, 8 s, 3 retransmissions then release with #5 [PARTIAL]
	T5084 Timer = 5084 // keep-alive timer, 5 s [PARTIAL]
	T5085 Timer = 5085 // retransmission of KEEPALIVE REQUEST, 5 s, max 3 [PARTIAL]
	T5087 Timer = 5087 // retransmission of RELEASE REQUEST, 5 s, max 3 [PARTIAL]
)

// Default returns the default duration of the timer (notes §3.6, [PARTIAL]),
// or 0 for an unknown timer.
func (t Timer) Default() time.Duration {
	switch t {
	case T5080:
		return 8 * time.Second
	case T5084, T5085, T5087:
		return 5 * time.Second
	}
	return 0
}

// MaxRetransmissions returns how many times the guarded message is sent
// again on expiry before giving up (NIST psc-ns3: 3 [PARTIAL]); 0 for a timer
// that does not guard a retransmission (T5084) or an unknown timer.
func (t Timer) MaxRetransmissions() int {
	switch t {
	case T5080, T5085, T5087:
		return 3
	}
	return 0
}

// String returns "T5080" style names.
func (t Timer) String() string { return fmt.Sprintf("T%d", uint16(t)) }

// MaxDirectLinks is the recommended maximum number of simultaneous PC5
// unicast direct links of a UE. Source: TS 24.554 §7.2.2.1 NOTE 1 via
// itecspec [SOLID].
const MaxDirectLinks = 8

// SecurityPolicy is one 3-bit policy value inside the UE PC5 unicast
// signalling (or user plane) security policy octet. Values: notes §3.4,
// 0x00 = both NOT NEEDED is [SOLID] (TS 38.508-1); 001/010 are [INFERRED].
type SecurityPolicy uint8

const (
	PolicyNotNeeded SecurityPolicy = 0 // 000 NOT NEEDED [SOLID via 0x00]
	PolicyPreferred SecurityPolicy = 1 // 001 PREFERRED [INFERRED] PROVISIONAL
	PolicyRequired  SecurityPolicy = 2 // 010 REQUIRED [INFERRED] PROVISIONAL
)

// String returns NOT NEEDED, PREFERRED, REQUIRED or "reserved(n)".
func (p SecurityPolicy) String() string {
	switch p {
	case PolicyNotNeeded:
		return "NOT NEEDED"
	case PolicyPreferred:
		return "PREFERRED"
	case PolicyRequired:
		return "REQUIRED"
	}
	return fmt.Sprintf("reserved(%d)", uint8(p))
}

// Bit layout of the UE PC5 unicast signalling security policy octet
// (notes §3.4): bits 3..1 ciphering policy, bits 7..5 integrity policy,
// bits 4 and 8 spare. [INFERRED] PROVISIONAL. The same layout is used, as a
// PROJECT-DEFINED PROVISIONAL choice, for the UE PC5 unicast user plane
// security policy.
const (
	policyCipheringShift = 0
	policyIntegrityShift = 4
	policyFieldMask      = 0x07
)

// Bit layout of the UE security capabilities contents (notes §3.4): octet 1
// 5G-EA0 in bit 8 (0x80) down to 5G-EA7 in bit 1; octet 2 the same for
// 5G-IA0..7; octets 3..8 optional (EPS algorithms / spare, [INFERRED]) and
// kept verbatim. "1000 0000 = 5G-EA0 supported" is [SOLID] (TS 38.508-1);
// the other bits follow TS 24.501 [INFERRED].
const (
	SecCapEA0 uint8 = 0x80 // 5G-EA0 (null ciphering) [SOLID]
	SecCapEA1 uint8 = 0x40 // 128-5G-EA1 [INFERRED]
	SecCapEA2 uint8 = 0x20 // 128-5G-EA2 [INFERRED]
	SecCapEA3 uint8 = 0x10 // 128-5G-EA3 [INFERRED]
	SecCapIA0 uint8 = 0x80 // 5G-IA0 (null integrity) [SOLID by analogy]
	SecCapIA1 uint8 = 0x40 // 128-5G-IA1 [INFERRED]
	SecCapIA2 uint8 = 0x20 // 128-5G-IA2 [INFERRED]
	SecCapIA3 uint8 = 0x10 // 128-5G-IA3 [INFERRED]
)

// Selected security algorithms octet (notes §3.4): bits 8..5 ciphering
// algorithm identity, bits 4..1 integrity algorithm identity, each a TS
// 33.501 §5.11.1.1 4-bit ID (0 = NEA0/NIA0 ... 3 = NEA3/NIA3). [INFERRED] PROVISIONAL.
const (
	selAlgCipheringShift = 4
	selAlgIntegrityMask  = 0x0F
)

// Configuration of UE PC5 unicast user plane security protection, 1 octet.
// The coding was not found. PROJECT-DEFINED, PROVISIONAL: bit 1 = user plane
// ciphering activated, bit 5 = user plane integrity activated (the policy
// octet's field positions); other bits spare, kept verbatim.
const (
	UPProtectionCiphering uint8 = 0x01 // PROJECT-DEFINED, PROVISIONAL
	UPProtectionIntegrity uint8 = 0x10 // PROJECT-DEFINED, PROVISIONAL
)

// IPAddressConfig is the value of the IP address configuration IE.
// [INFERRED] PROVISIONAL, after the TS 24.587 coding as remembered; any
// other value is kept verbatim.
type IPAddressConfig uint8

const (
	IPConfigIPv6Router          IPAddressConfig = 0x00 // [INFERRED] PROVISIONAL
	IPConfigIPv6NotSupported    IPAddressConfig = 0x01 // IPv6 address allocation not supported [INFERRED] PROVISIONAL
	IPConfigDHCPv4Server        IPAddressConfig = 0x02 // [INFERRED] PROVISIONAL
	IPConfigDHCPv4AndIPv6Router IPAddressConfig = 0x03 // [INFERRED] PROVISIONAL
)

// String returns a short description of the IP address configuration.
func (c IPAddressConfig) String() string {
	switch c {
	case IPConfigIPv6Router:
		return "IPv6 router"
	case IPConfigIPv6NotSupported:
		return "IPv6 address allocation not supported"
	case IPConfigDHCPv4Server:
		return "DHCPv4 server"
	case IPConfigDHCPv4AndIPv6Router:
		return "DHCPv4 server and IPv6 router"
	}
	return fmt.Sprintf("IPAddressConfig(0x%02x)", uint8(c))
}

// Length bounds of IE contents. Source: notes §3.3 (user info LV 2..254 ⇒
// contents 1..253 [PARTIAL]; security capabilities contents 2..8 [PARTIAL]).
const (
	MinUserInfoLen      = 1
	MaxUserInfoLen      = 253
	MinSecCapLen        = 2
	MaxSecCapLen        = 8
	NonceLen            = 16        // Nonce_1 / Nonce_2, 128 bits [SOLID]
	MaxProSeIDs         = 63        // ProSe identifiers LV: 4 octets each, 255/4 [PARTIAL layout]
	MaxRelayServiceCode = 1<<24 - 1 // Relay service code is 24 bits [SOLID: TS 33.503 A.8 L = 0x0003]
	linkLocalIPv6Len    = 16
)

// MaxKeyEstInfoLen bounds the contents of the Key establishment information
// container (TLV-E allows 65535). PROJECT-DEFINED: large enough for a
// KeyEstResponse with a MaxTokenLen token.
const MaxKeyEstInfoLen = 4096

// MaxQoSFlowDescriptionsLen bounds the PC5 QoS flow descriptions LV-E
// contents (kept opaque by this codec). PROJECT-DEFINED.
const MaxQoSFlowDescriptionsLen = 4096

// ---------------------------------------------------------------------------
// Key_Est_Info payloads. NOT 3GPP. TS 33.536 leaves the contents of the Key
// establishment information container to the application; everything below
// is PROJECT-DEFINED (see docs/protocol.md).
// ---------------------------------------------------------------------------

// KeyEstVersion is the only Key_Est_Info payload version this codec reads
// and writes. PROJECT-DEFINED.
const KeyEstVersion uint8 = 1

// Suite names the ephemeral key agreement and the identity signature
// algorithm used by both parties of one handshake. PROJECT-DEFINED.
type Suite uint8

const (
	SuiteP256ECDSAP256   Suite = 0x01 // ECDH P-256 + ECDSA P-256/SHA-256 (project default)
	SuiteX25519Ed25519   Suite = 0x02 // X25519 + Ed25519
	SuiteX25519ECDSAP256 Suite = 0x03 // X25519 + ECDSA P-256/SHA-256
	SuiteP256Ed25519     Suite = 0x04 // ECDH P-256 + Ed25519
)

// KeyExchange names an ephemeral key agreement group. PROJECT-DEFINED.
type KeyExchange uint8

const (
	KeyExchangeP256   KeyExchange = 1 // ECDH on NIST P-256, SEC 1 uncompressed points (65 octets)
	KeyExchangeX25519 KeyExchange = 2 // X25519 (RFC 7748), 32 octets
)

// SignatureAlgorithm names an identity signature algorithm. PROJECT-DEFINED.
type SignatureAlgorithm uint8

const (
	SignatureECDSAP256SHA256 SignatureAlgorithm = 1 // ECDSA P-256 over SHA-256, raw r‖s (64 octets)
	SignatureEd25519         SignatureAlgorithm = 2 // pure Ed25519 (RFC 8032), 64 octets
)

// Key share and signature sizes. PROJECT-DEFINED wire sizes of standard algorithms.
const (
	P256PublicKeyLen    = 65 // 0x04 ‖ X ‖ Y
	X25519PublicKeyLen  = 32
	SignatureLen        = 64   // both ECDSA P-256 raw r‖s and Ed25519
	MaxTokenLen         = 2048 // PROJECT-DEFINED bound on a token carried in Key_Est_Info
	p256UncompressedTag = 0x04
)

// TokenFormat says how the token in a Key_Est_Info payload is encoded. PROJECT-DEFINED.
type TokenFormat uint8

const (
	TokenCWT TokenFormat = 1 // COSE_Sign1 CWT (RFC 8392), the compact PC5 form
	TokenJWT TokenFormat = 2 // JWS compact JWT (RFC 9068 profile)
)

// String returns "CWT", "JWT" or "TokenFormat(n)".
func (f TokenFormat) String() string {
	switch f {
	case TokenCWT:
		return "CWT"
	case TokenJWT:
		return "JWT"
	}
	return fmt.Sprintf("TokenFormat(%d)", uint8(f))
}

// Known reports whether f is a defined token format.
func (f TokenFormat) Known() bool { return f == TokenCWT || f == TokenJWT }

// KeyExchange returns the suite's key agreement, or 0 for an unknown suite.
func (s Suite) KeyExchange() KeyExchange {
	switch s {
	case SuiteP256ECDSAP256, SuiteP256Ed25519:
		return KeyExchangeP256
	case SuiteX25519Ed25519, SuiteX25519ECDSAP256:
		return KeyExchangeX25519
	}
	return 0
}

// SignatureAlgorithm returns the suite's signature algorithm, or 0 for an unknown suite.
func (s Suite) SignatureAlgorithm() SignatureAlgorithm {
	switch s {
	case SuiteP256ECDSAP256, SuiteX25519ECDSAP256:
		return SignatureECDSAP256SHA256
	case SuiteX25519Ed25519, SuiteP256Ed25519:
		return SignatureEd25519
	}
	return 0
}

// Known reports whether s is a defined suite.
func (s Suite) Known() bool { return s.KeyExchange() != 0 }

// KeyShareLen returns the encoded ephemeral public key length, or 0 for an unknown suite.
func (s Suite) KeyShareLen() int { return s.KeyExchange().PublicKeyLen() }

// SignatureLen returns the encoded signature length, or 0 for an unknown suite.
func (s Suite) SignatureLen() int {
	if s.SignatureAlgorithm() != 0 {
		return SignatureLen
	}
	return 0
}

// String returns e.g. "P256+ECDSA-P256-SHA256".
func (s Suite) String() string {
	if !s.Known() {
		return fmt.Sprintf("Suite(0x%02x)", uint8(s))
	}
	return s.KeyExchange().String() + "+" + s.SignatureAlgorithm().String()
}

// PublicKeyLen returns the encoded public key length, or 0 if unknown.
func (k KeyExchange) PublicKeyLen() int {
	switch k {
	case KeyExchangeP256:
		return P256PublicKeyLen
	case KeyExchangeX25519:
		return X25519PublicKeyLen
	}
	return 0
}

// String returns "P256" or "X25519".
func (k KeyExchange) String() string {
	switch k {
	case KeyExchangeP256:
		return "P256"
	case KeyExchangeX25519:
		return "X25519"
	}
	return fmt.Sprintf("KeyExchange(%d)", uint8(k))
}

// String returns "ECDSA-P256-SHA256" or "Ed25519".
func (a SignatureAlgorithm) String() string {
	switch a {
	case SignatureECDSAP256SHA256:
		return "ECDSA-P256-SHA256"
	case SignatureEd25519:
		return "Ed25519"
	}
	return fmt.Sprintf("SignatureAlgorithm(%d)", uint8(a))
}
