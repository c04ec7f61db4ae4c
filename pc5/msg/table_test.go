package msg

import (
	"encoding/hex"
	"net/netip"
	"strings"
)

// h decodes hex with optional spaces and newlines; it panics on bad input
// (test tables only).
func h(s string) []byte {
	s = strings.Join(strings.Fields(s), "")
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// seq returns n octets counting up from start (test patterns).
func seq(start byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func nonce(start byte) *[NonceLen]byte {
	var n [NonceLen]byte
	copy(n[:], seq(start, NonceLen))
	return &n
}

// p256Key is a syntactically valid (0x04-prefixed) 65-octet key share.
func p256Key(start byte) []byte { return cat([]byte{0x04}, seq(start, 64)) }

type msgCase struct {
	name string
	msg  Message
	wire []byte
	// optional is the number of optional IEs in wire: exactly that many
	// strict prefixes parse (one per IE boundary).
	optional int
}

// msgCases is the {structured, serialized} table for PC5-S messages. The
// hex is written by hand from the layouts in docs/protocol.md.
func msgCases() []msgCase {
	return []msgCase{
		{
			name: "REQUEST golden (TS 24.587 analogue shape)",
			msg: &DirectLinkEstablishmentRequest{
				Seq:                    0x05,
				ProSeIdentifiers:       []uint32{1},
				SourceUserInfo:         h("00000100"),
				UESecurityCapabilities: UESecurityCapabilities{EA: SecCapEA0, IA: SecCapIA0},
				TargetUserInfo:         h("00001100"),
			},
			wire:     h("01 05 04 00000001 04 00000100 02 8080 00 28 04 00001100"),
			optional: 1,
		},
		{
			name: "REQUEST all IEs",
			msg: &DirectLinkEstablishmentRequest{
				Seq:                      0x2a,
				ProSeIdentifiers:         []uint32{0x01020304, 0x0a0b0c0d},
				SourceUserInfo:           []byte("UE-S"),
				UESecurityCapabilities:   UESecurityCapabilities{EA: 0xf0, IA: 0x70, Extra: []byte{0x01}},
				SignallingSecurityPolicy: NewUnicastSecurityPolicy(PolicyRequired, PolicyPreferred),
				TargetUserInfo:           []byte("UE-T"),
				KeyEstInfo:               h("dead"),
				Nonce1:                   nonce(0x00),
				KNRPSessIDMSB:            ptr[uint8](0x9c),
				KNRPID:                   ptr[uint32](0xdeadbeef),
				RelayServiceCode:         ptr[uint32](0x123456),
			},
			wire: h(`01 2a 08 01020304 0a0b0c0d 04 55452d53 03 f07001 21
				28 04 55452d54 74 0002 dead 35 000102030405060708090a0b0c0d0e0f
				36 9c 34 deadbeef 25 123456`),
			optional: 6,
		},
		{
			name: "REQUEST with unknown and foreign IEs",
			msg: &DirectLinkEstablishmentRequest{
				Seq:                    0x01,
				SourceUserInfo:         []byte("A"),
				UESecurityCapabilities: UESecurityCapabilities{EA: 0x80, IA: 0x80},
				Unknown: []RawIE{
					{IEI: 0x40, Format: FormatTLV, Value: h("abcd")},
					{IEI: 0x91, Format: FormatType1},
					{IEI: 0x7a, Format: FormatTLVE, Value: h("ee")},
					{IEI: 0x50, Format: FormatTV, Value: h("1234")}, // MSBs of KNRP ID: known, not a REQUEST IE
					{IEI: 0x41, Format: FormatTLV},                  // empty TLV
				},
			},
			wire:     h("01 01 00 01 41 02 8080 00 40 02 abcd 91 7a 0001 ee 50 1234 41 00"),
			optional: 5,
		},
		{
			name: "ACCEPT all IEs",
			msg: &DirectLinkEstablishmentAccept{
				Seq:                 0x03,
				SourceUserInfo:      []byte("UE-S"),
				QoSFlowDescriptions: h("0102"),
				UPProtectionConfig:  UPProtectionConfig(UPProtectionCiphering | UPProtectionIntegrity),
				IPAddressConfig:     ptr(IPConfigIPv6Router),
				LinkLocalIPv6:       netip.MustParseAddr("fe80::1"),
				TargetIPAddress:     netip.MustParseAddr("10.0.0.2"),
			},
			wire: h(`02 03 04 55452d53 0002 0102 11 53 00
				54 fe800000000000000000000000000001 56 04 0a000002`),
			optional: 3,
		},
		{
			name: "ACCEPT minimal, IPv6 target",
			msg: &DirectLinkEstablishmentAccept{
				Seq:             0x04,
				SourceUserInfo:  []byte("A"),
				TargetIPAddress: netip.MustParseAddr("2001:db8::2"),
			},
			wire:     h("02 04 01 41 0000 00 56 10 20010db8000000000000000000000002"),
			optional: 1,
		},
		{
			name: "ESTABLISHMENT REJECT",
			msg:  &DirectLinkEstablishmentReject{Seq: 0x07, Cause: CauseRequiredServiceNotAllowed},
			wire: h("03 07 0b"),
		},
		{
			name: "SECURITY MODE COMMAND all IEs",
			msg: &DirectLinkSecurityModeCommand{
				Seq:                      0x09,
				UESecurityCapabilities:   UESecurityCapabilities{EA: SecCapEA2 | SecCapEA3, IA: SecCapIA2 | SecCapIA3},
				Nonce2:                   *nonce(0x10),
				SelectedAlgorithms:       NewSelectedAlgorithms(2, 2),
				SignallingSecurityPolicy: NewUnicastSecurityPolicy(PolicyRequired, PolicyRequired),
				KNRPSessIDLSB:            0x7e,
				KeyEstInfo:               h("010203"),
				KNRPIDMSBs:               ptr[uint16](0xabcd),
			},
			wire: h(`0c 09 02 3030 101112131415161718191a1b1c1d1e1f 22 22 7e
				74 0003 010203 50 abcd`),
			optional: 2,
		},
		{
			name: "SECURITY MODE COMPLETE all IEs",
			msg: &DirectLinkSecurityModeComplete{
				Seq:              0x0a,
				UPSecurityPolicy: ptr(NewUnicastSecurityPolicy(PolicyPreferred, PolicyPreferred)),
				KNRPIDLSBs:       ptr[uint16](0x1234),
				KeyEstInfo:       h("ff"),
			},
			wire:     h("0d 0a 52 11 51 1234 74 0001 ff"),
			optional: 3,
		},
		{
			name: "SECURITY MODE COMPLETE minimal",
			msg:  &DirectLinkSecurityModeComplete{Seq: 0x0b},
			wire: h("0d 0b"),
		},
		{
			name: "SECURITY MODE REJECT",
			msg:  &DirectLinkSecurityModeReject{Seq: 0x0c, Cause: CauseLSBOfKNRPSessIDConflict},
			wire: h("0e 0c 09"),
		},
		{
			name: "REKEYING REQUEST all IEs",
			msg: &DirectLinkRekeyingRequest{
				Seq:                    0x0d,
				UESecurityCapabilities: UESecurityCapabilities{EA: 0x80, IA: 0x80},
				Nonce1:                 *nonce(0x20),
				KNRPSessIDMSB:          0x42,
				ReauthIndication:       ptr[uint8](1),
				KeyEstInfo:             h("01"),
			},
			wire:     h("15 0d 02 8080 202122232425262728292a2b2c2d2e2f 42 b1 74 0001 01"),
			optional: 2,
		},
		{
			name: "REKEYING RESPONSE",
			msg:  &DirectLinkRekeyingResponse{Seq: 0x0e},
			wire: h("16 0e"),
		},
		{
			name: "RELEASE REQUEST",
			msg:  &DirectLinkReleaseRequest{Seq: 0x0f, Cause: CauseDirectCommunicationNotNeeded},
			wire: h("07 0f 02"),
		},
		{
			name: "RELEASE ACCEPT",
			msg:  &DirectLinkReleaseAccept{Seq: 0x10},
			wire: h("08 10"),
		},
		{
			name: "KEEPALIVE REQUEST with maximum inactivity period",
			msg:  &DirectLinkKeepaliveRequest{Seq: 0x11, KeepaliveCounter: 5, MaxInactivityPeriod: ptr[uint32](300)},
			wire: h("13 11 00000005 55 0000012c"),

			optional: 1,
		},
		{
			name: "KEEPALIVE RESPONSE",
			msg:  &DirectLinkKeepaliveResponse{Seq: 0x12, KeepaliveCounter: 5},
			wire: h("14 12 00000005"),
		},
		{
			name: "AUTHENTICATION REQUEST",
			msg:  &DirectLinkAuthenticationRequest{Seq: 0x13, KeyEstInfo: h("aabb")},
			wire: h("09 13 0002 aabb"),
		},
		{
			name: "AUTHENTICATION RESPONSE",
			msg:  &DirectLinkAuthenticationResponse{Seq: 0x14, KeyEstInfo: h("cc")},
			wire: h("0a 14 0001 cc"),
		},
		{
			name: "AUTHENTICATION REJECT",
			msg:  &DirectLinkAuthenticationReject{Seq: 0x15, Cause: CauseAuthenticationFailure},
			wire: h("0b 15 06"),
		},
		{
			name: "RELEASE ACCEPT with an unknown IE",
			msg:  &DirectLinkReleaseAccept{Seq: 0x16, Unknown: []RawIE{{IEI: 0x60, Format: FormatTLV, Value: h("01")}}},
			wire: h("08 16 60 01 01"),

			optional: 1,
		},
	}
}

// payload is the common method set of the Key_Est_Info payloads.
type payload interface {
	MarshalLen() int
	MarshalTo(b []byte) (int, error)
	Marshal() ([]byte, error)
	UnmarshalBinary(b []byte) error
}

type keyEstCase struct {
	name string
	val  payload
	wire []byte
	// fresh returns a new zero value of the same type for decoding.
	fresh func() payload
}

func newInit() payload     { return new(KeyEstInit) }
func newResponse() payload { return new(KeyEstResponse) }
func newFinish() payload   { return new(KeyEstFinish) }

func keyEstCases() []keyEstCase {
	return []keyEstCase{
		{
			name:  "KeyEstInit P-256",
			val:   &KeyEstInit{Suite: SuiteP256ECDSAP256, EphemeralPublicKey: p256Key(0x40)},
			wire:  cat(h("01 01 0041"), p256Key(0x40)),
			fresh: newInit,
		},
		{
			name:  "KeyEstInit X25519",
			val:   &KeyEstInit{Suite: SuiteX25519Ed25519, EphemeralPublicKey: seq(0x80, 32)},
			wire:  cat(h("01 02 0020"), seq(0x80, 32)),
			fresh: newInit,
		},
		{
			name: "KeyEstResponse P-256 + ECDSA, CWT",
			val: &KeyEstResponse{
				Suite:              SuiteP256ECDSAP256,
				EphemeralPublicKey: p256Key(0x01),
				TokenFormat:        TokenCWT,
				Token:              h("d28443"),
				Signature:          seq(0xa0, 64),
			},
			wire:  cat(h("01 01 0041"), p256Key(0x01), h("01 0003 d28443 0040"), seq(0xa0, 64)),
			fresh: newResponse,
		},
		{
			name: "KeyEstResponse X25519 + ECDSA, JWT",
			val: &KeyEstResponse{
				Suite:              SuiteX25519ECDSAP256,
				EphemeralPublicKey: seq(0x11, 32),
				TokenFormat:        TokenJWT,
				Token:              []byte("eyJ"),
				Signature:          seq(0x22, 64),
			},
			wire:  cat(h("01 03 0020"), seq(0x11, 32), h("02 0003 65794a 0040"), seq(0x22, 64)),
			fresh: newResponse,
		},
		{
			name: "KeyEstFinish X25519 + Ed25519, CWT",
			val: &KeyEstFinish{
				Suite:       SuiteX25519Ed25519,
				TokenFormat: TokenCWT,
				Token:       h("d2844301"),
				Signature:   seq(0x30, 64),
			},
			wire:  cat(h("01 02 01 0004 d2844301 0040"), seq(0x30, 64)),
			fresh: newFinish,
		},
		{
			name: "KeyEstFinish P-256 + Ed25519, JWT",
			val: &KeyEstFinish{
				Suite:       SuiteP256Ed25519,
				TokenFormat: TokenJWT,
				Token:       []byte("e"),
				Signature:   seq(0x00, 64),
			},
			wire:  cat(h("01 04 02 0001 65 0040"), seq(0x00, 64)),
			fresh: newFinish,
		},
	}
}
