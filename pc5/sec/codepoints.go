package sec

// This file is the one table of 3GPP code points used by package sec. Each
// value names its source and its evidence label from
// docs/spec/3gpp-notes.md (SOLID, PARTIAL, INFERRED). INFERRED values are
// provisional: a reader holding the specification checks and corrects them
// here, in one place.

// Ciphering algorithm identities, 4 bits in the low nibble of an octet.
// Source: TS 33.501 §5.11.1.1, applied to PC5 by TS 33.536 and TS 38.323 §5.8. [SOLID]
const (
	NEA0 CipherAlg = 0 // null ciphering
	NEA1 CipherAlg = 1 // 128-NEA1, SNOW 3G
	NEA2 CipherAlg = 2 // 128-NEA2, AES-128-CTR
	NEA3 CipherAlg = 3 // 128-NEA3, ZUC-128
)

// Integrity algorithm identities. Source: TS 33.501 §5.11.1.1. [SOLID]
const (
	NIA0 IntegrityAlg = 0 // null integrity
	NIA1 IntegrityAlg = 1 // 128-NIA1, SNOW 3G
	NIA2 IntegrityAlg = 2 // 128-NIA2, AES-128-CMAC
	NIA3 IntegrityAlg = 3 // 128-NIA3, ZUC-128
)

// KDF function codes (FC). Source: TS 33.536 Annex A. [SOLID]
const (
	FCKNRPSess   byte = 0x7F // KNRP-sess from KNRP, P0 = Nonce_1, P1 = Nonce_2
	FCNRPEKNRPIK byte = 0x7E // NRPEK/NRPIK from KNRP-sess, P0 = distinguisher, P1 = algorithm identity
)

// Algorithm type distinguishers for FC 0x7E. Source: TS 33.536 Annex A. [SOLID]
// Note: these are not the TS 33.501 A.8 values (0x01..0x06 under FC 0x69).
const (
	DistinguisherNRPEK byte = 0x00
	DistinguisherNRPIK byte = 0x01
)

// Nonce length of Nonce_1 and Nonce_2 in octets. Source: TS 33.536 Annex A (L0 = L1 = 0x0010). [SOLID]
const NonceLen = 16

// Sidelink radio bearers and their BEARER input: the 5 least significant bits
// of the LCID (TS 38.323 §5.8/§5.9 [SOLID]) with LCID 0..3 from TS 38.321
// Table 6.2.4-1 [SOLID]. So BEARER 1 carries the Direct Security Mode
// Command/Complete, 2 the other protected PC5-S messages, 3 PC5-RRC.
const (
	LCIDSLSRB0 uint8 = 0 // unprotected PC5-S
	LCIDSLSRB1 uint8 = 1 // PC5-S establishing security (DSMC, DSM Complete)
	LCIDSLSRB2 uint8 = 2 // protected PC5-S after security establishment
	LCIDSLSRB3 uint8 = 3 // PC5-RRC
	LCIDDRBMin uint8 = 4 // first LCID of a sidelink DRB
	LCIDDRBMax uint8 = 19
)

// DIRECTION for PC5 unicast. TS 38.323 defers to TS 33.536, whose rule was
// NOT FOUND. PROVISIONAL [INFERRED]: both UEs share NRPEK/NRPIK, so the two
// transmit directions must differ in an algorithm input to avoid keystream
// reuse. This project sets DIRECTION = 0 for PDUs sent by the link
// initiator (UE_1) and 1 for PDUs sent by the responder (UE_2).
const (
	DirectionInitiator Direction = 0 // PROVISIONAL [INFERRED]
	DirectionResponder Direction = 1 // PROVISIONAL [INFERRED]
)

// KNRPSessIDUnprotected is the KNRP-sess ID value carried in the PDCP header
// of SLRBs with neither integrity nor ciphering. Source: TS 38.323 §6.3.13. [SOLID]
// Real security contexts never use it [INFERRED].
const KNRPSessIDUnprotected uint16 = 0x0000

// PDCP SN sizes for sidelink. Source: TS 38.323 §6.3.2, sl-PDCP-SN-Size. [SOLID]
const (
	SNSize12 = 12
	SNSize18 = 18
)

// COUNT is 32 bits, HFN ‖ SN, and does not wrap. Source: TS 38.323 §6.3.5,
// §5.2.3 (notes §2.5). [SOLID]
const MaxCount uint64 = 1<<32 - 1

// PDCP data PDU layout on PC5 unicast SLRBs. TS 38.323 §6.3.13 puts a 16-bit
// KNRP-sess ID in the header [SOLID], but the layout figures (6.2.2.5-1,
// 6.2.2.6-1) were not readable. PROVISIONAL [INFERRED], one layout for all
// bearers: octet 1 starts with the D/C bit (1 = data PDU, as TS 38.323
// §6.3.7 for Uu DRBs), then reserved bits (set to 0, ignored on receipt) and
// the SN (12 bits: 3 R bits, 2 octets; 18 bits: 5 R bits, 3 octets); then
// the KNRP-sess ID (2 octets, big endian); then the data; then MAC-I
// (4 octets) when integrity is configured. Note that Uu SRB PDUs carry R
// instead of D/C in the first bit; this project uses D/C for every SLRB.
const (
	PDCPDataPDUBit  byte = 0x80 // D/C = 1: data PDU [INFERRED]
	PDCPHeaderLen12      = 4    // 12-bit SN (2 octets) + KNRP-sess ID (2 octets) [INFERRED]
	PDCPHeaderLen18      = 5    // 18-bit SN (3 octets) + KNRP-sess ID (2 octets) [INFERRED]
)
