package discovery

import (
	"fmt"
	"time"
)

// This file is the one table of code points used by package discovery. Each
// value names its source and its evidence label from
// docs/spec/3gpp-notes.md (§3.7, §1.4):
//
//	[SOLID]    seen in a primary or near-primary source
//	[INFERRED] not found in any reachable source
//
// Values labelled INFERRED or PROJECT-DEFINED are PROVISIONAL: a reader
// holding TS 24.554 Rel-18 checks and corrects them here, in one place.

// DiscoveryType is bits 8..7 of the ProSe direct discovery PC5 message type
// octet. Source: TS 24.554 Rel-17 §11.2.1. [SOLID]
type DiscoveryType uint8

const (
	DiscoveryOpen       DiscoveryType = 0b01 // [SOLID]
	DiscoveryRestricted DiscoveryType = 0b10 // [SOLID]
)

func (d DiscoveryType) String() string {
	switch d {
	case DiscoveryOpen:
		return "open"
	case DiscoveryRestricted:
		return "restricted"
	}
	return fmt.Sprintf("DiscoveryType(%d)", uint8(d))
}

// ContentType is bits 6..3 of the message type octet. Source: TS 24.554
// Rel-17 §11.2.1. [SOLID] except ContentExtension.
type ContentType uint8

const (
	ContentAnnounceResponse             ContentType = 0b0000 // [SOLID]
	ContentSolicitation                 ContentType = 0b0001 // [SOLID]
	ContentU2NRelayAnnounceResponse     ContentType = 0b0100 // [SOLID]
	ContentU2NRelaySolicitation         ContentType = 0b0101 // [SOLID]
	ContentGroupMemberAnnounceResponse  ContentType = 0b0110 // [SOLID]
	ContentGroupMemberSolicitation      ContentType = 0b0111 // [SOLID]
	ContentRelayDiscoveryAdditionalInfo ContentType = 0b1000 // [SOLID]
	// ContentExtension says that a content type extension octet
	// (ContentTypeExt) follows the message type octet. Rel-18 adds "ProSe
	// direct discovery PC5 message content type extensions" (TS 24.554
	// §11.2.1a, name only [SOLID]) for UE-to-UE relay discovery; how they
	// are signalled was NOT FOUND. PROJECT-DEFINED, PROVISIONAL: the value
	// 0b1111 (reserved in Rel-17) and the extension octet.
	ContentExtension ContentType = 0b1111
)

var contentNames = map[ContentType]string{
	ContentAnnounceResponse:             "announce/response",
	ContentSolicitation:                 "solicitation",
	ContentU2NRelayAnnounceResponse:     "U2N relay announcement/response",
	ContentU2NRelaySolicitation:         "U2N relay solicitation",
	ContentGroupMemberAnnounceResponse:  "group member announcement/response",
	ContentGroupMemberSolicitation:      "group member solicitation",
	ContentRelayDiscoveryAdditionalInfo: "relay discovery additional information",
	ContentExtension:                    "extension",
}

func (c ContentType) String() string {
	if s, ok := contentNames[c]; ok {
		return s
	}
	return fmt.Sprintf("ContentType(%04b)", uint8(c))
}

// Model is bits 2..1 of the message type octet. Source: TS 24.554 Rel-17
// §11.2.1. [SOLID]
type Model uint8

const (
	ModelA Model = 0b01 // [SOLID] announcements
	ModelB Model = 0b10 // [SOLID] solicitation and response
)

func (m Model) String() string {
	switch m {
	case ModelA:
		return "Model A"
	case ModelB:
		return "Model B"
	}
	return fmt.Sprintf("Model(%d)", uint8(m))
}

// MessageType is the ProSe direct discovery PC5 message type octet, a
// type-1 IE: discovery type (bits 8..7), content type (bits 6..3),
// discovery model (bits 2..1). Source: TS 24.554 Rel-17 §11.2.1. [SOLID]
type MessageType uint8

// NewMessageType assembles the octet.
func NewMessageType(d DiscoveryType, c ContentType, m Model) MessageType {
	return MessageType(uint8(d&0b11)<<6 | uint8(c&0b1111)<<2 | uint8(m&0b11))
}

func (t MessageType) Discovery() DiscoveryType { return DiscoveryType(t >> 6) }
func (t MessageType) Content() ContentType     { return ContentType(t >> 2 & 0b1111) }
func (t MessageType) Model() Model             { return Model(t & 0b11) }

func (t MessageType) String() string {
	return fmt.Sprintf("%s %s %s (0x%02x)", t.Discovery(), t.Content(), t.Model(), uint8(t))
}

// ContentTypeExt is the content type extension octet that follows a
// message type octet with ContentExtension. PROJECT-DEFINED, PROVISIONAL:
// the Rel-18 values (TS 24.554 §11.2.1a) were NOT FOUND. As for U2N relay
// discovery (one content type for "announcement/response", the model bits
// telling them apart), one value covers the UE-to-UE relay announcement
// (Model A) and response (Model B).
type ContentTypeExt uint8

const (
	ExtU2URelayAnnounceResponse ContentTypeExt = 0x01 // PROJECT-DEFINED, PROVISIONAL
	ExtU2URelaySolicitation     ContentTypeExt = 0x02 // PROJECT-DEFINED, PROVISIONAL
)

func (e ContentTypeExt) String() string {
	switch e {
	case ExtU2URelayAnnounceResponse:
		return "U2U relay announcement/response"
	case ExtU2URelaySolicitation:
		return "U2U relay solicitation"
	}
	return fmt.Sprintf("ContentTypeExt(0x%02x)", uint8(e))
}

// Field sizes and limits.
const (
	// RSCLen: the relay service code is 3 octets (TS 24.554 §11.2.x,
	// notes §3.7). [SOLID]
	RSCLen = 3
	// MICLen: the MIC of a discovery message is 4 octets (TS 33.503
	// 6.1.3.2.2 via notes §3.7). [INFERRED]
	MICLen = 4
	// MaxUserInfoLen bounds a user info (application layer ID), as the
	// PC5-S Target user info of pc5/msg (1..253 octets). PROVISIONAL: U2N
	// relay discovery carries a 6-octet User Info ID instead; this project
	// uses the application layer ID that tokens name (sub), so that a
	// discoverer can compare it with the token met in the PC5 handshake.
	MaxUserInfoLen = 253
	// MaxReachableUEs bounds the UE-to-UE relay UE info list of one
	// message, so that an announcement stays below the medium's frame cap.
	// PROJECT-DEFINED.
	MaxReachableUEs = 32
	// MaxMessageLen is the largest encoding of any message of this package.
	MaxMessageLen = 2 + RSCLen + 1 + MaxUserInfoLen + 1 + MaxUserInfoLen + 2 + MaxReachableUEs*(1+MaxUserInfoLen) + 1 + 1 + MICLen
)

// LCIDDiscovery is the sidelink logical channel that carries discovery
// messages on the medium. Rel-17 carries NR sidelink discovery on SL-SRB4
// (TS 38.331); its LCID was NOT FOUND. PROJECT-DEFINED, PROVISIONAL: 20,
// the first LCID after the SL-DRB range 4..19 of pc5/sec.
const LCIDDiscovery uint8 = 20

// UTCCounterLSB returns the UTC-based counter LSB carried in a discovery
// message: the low octet of the UTC time in seconds. PROVISIONAL
// [INFERRED]: TS 33.503 derives the counter from UTC time for the MIC and
// the confidentiality keystream; this package computes no MIC, so the
// field is informative only and receivers do not check it.
func UTCCounterLSB(now time.Time) uint8 { return uint8(now.Unix()) }
