package msg

import (
	"encoding/binary"
	"net/netip"
)

// DirectLinkEstablishmentRequest is the PROSE DIRECT LINK ESTABLISHMENT
// REQUEST (TS 24.554 §10.3.1; layout per notes §3.3, [PARTIAL]). It is sent
// unprotected on SL-SRB0.
//
//	type(1) seq(1) ProSeIdentifiers(LV) SourceUserInfo(LV)
//	UESecurityCapabilities(LV) SignallingSecurityPolicy(V 1)
//	[0x28 TLV Target user info] [0x74 TLV-E KEIC] [0x35 TV Nonce_1]
//	[0x36 TV MSB of KNRP-sess ID] [0x34 TV KNRP ID] [0x25 TV Relay service code]
type DirectLinkEstablishmentRequest struct {
	Seq uint8
	// ProSeIdentifiers: LV of 4-octet identifiers (0..63 of them). Mandatory
	// in the NIST draft-based layout [PARTIAL]; the TS 24.554 v19.1 TOC lists
	// "ProSe identifiers" among the optional IEs, so this position is
	// PROVISIONAL. An empty list encodes as the single octet 0x00.
	ProSeIdentifiers []uint32
	// SourceUserInfo: application layer ID of the sender, 1..253 octets.
	SourceUserInfo           []byte
	UESecurityCapabilities   UESecurityCapabilities
	SignallingSecurityPolicy UnicastSecurityPolicy

	// Optional IEs. nil / empty means absent.
	TargetUserInfo   []byte          // 0x28, 1..253 octets
	KeyEstInfo       []byte          // 0x74, 1..MaxKeyEstInfoLen octets; carries a KeyEstInit
	Nonce1           *[NonceLen]byte // 0x35
	KNRPSessIDMSB    *uint8          // 0x36
	KNRPID           *uint32         // 0x34
	RelayServiceCode *uint32         // 0x25, 24 bits
	Unknown          []RawIE
}

var establishmentRequestIEs = ieSet{IEITargetUserInfo, IEIKeyEstInfo, IEINonce1, IEIKNRPSessIDMSB, IEIKNRPID, IEIRelayServiceCode}

func (m *DirectLinkEstablishmentRequest) MessageType() MessageType { return MsgEstablishmentRequest }
func (m *DirectLinkEstablishmentRequest) SequenceNumber() uint8    { return m.Seq }
func (m *DirectLinkEstablishmentRequest) context() string          { return m.MessageType().short() }
func (m *DirectLinkEstablishmentRequest) MarshalLen() int          { return marshalLen(m) }
func (m *DirectLinkEstablishmentRequest) MarshalTo(b []byte) (int, error) {
	return marshalTo(m, b)
}
func (m *DirectLinkEstablishmentRequest) Marshal() ([]byte, error) { return marshal(m) }

func (m *DirectLinkEstablishmentRequest) build(b *builder) {
	b.addSeq(MsgEstablishmentRequest, m.Seq)
	b.addProSeIDs(m.ProSeIdentifiers)
	b.addUserInfo("Source user info", m.SourceUserInfo)
	b.addSecCaps("UE security capabilities", m.UESecurityCapabilities)
	b.AddUint8(uint8(m.SignallingSecurityPolicy))
	b.addOptBytes(IEITargetUserInfo, m.TargetUserInfo)
	b.addOptBytes(IEIKeyEstInfo, m.KeyEstInfo)
	b.addOptNonce(IEINonce1, m.Nonce1)
	b.addOptUint8(IEIKNRPSessIDMSB, m.KNRPSessIDMSB)
	b.addOptUint32(IEIKNRPID, m.KNRPID)
	if m.RelayServiceCode != nil {
		b.AddUint8(uint8(IEIRelayServiceCode))
		b.AddUint24("Relay service code", *m.RelayServiceCode)
	}
	b.addUnknown(establishmentRequestIEs, m.Unknown)
}

func (m *DirectLinkEstablishmentRequest) UnmarshalBinary(b []byte) error {
	r, err := startParse(b, MsgEstablishmentRequest)
	if err != nil {
		return err
	}
	var v DirectLinkEstablishmentRequest
	if v.Seq, err = r.readSeq(); err != nil {
		return err
	}
	if v.ProSeIdentifiers, err = r.readProSeIDs(); err != nil {
		return err
	}
	if v.SourceUserInfo, err = r.readUserInfo("Source user info"); err != nil {
		return err
	}
	if v.UESecurityCapabilities, err = r.readSecCaps("UE security capabilities"); err != nil {
		return err
	}
	p, err := r.ReadUint8("UE PC5 unicast signalling security policy")
	if err != nil {
		return err
	}
	v.SignallingSecurityPolicy = UnicastSecurityPolicy(p)
	v.Unknown, err = r.ReadOptionalIEs(establishmentRequestIEs, func(iei IEI, _ uint8, x []byte) error {
		switch iei {
		case IEITargetUserInfo:
			v.TargetUserInfo = clone(x)
		case IEIKeyEstInfo:
			v.KeyEstInfo = clone(x)
		case IEINonce1:
			v.Nonce1 = new([NonceLen]byte)
			copy(v.Nonce1[:], x)
		case IEIKNRPSessIDMSB:
			v.KNRPSessIDMSB = ptr(x[0])
		case IEIKNRPID:
			v.KNRPID = ptr(binary.BigEndian.Uint32(x))
		case IEIRelayServiceCode:
			v.RelayServiceCode = ptr(uint32(x[0])<<16 | uint32(x[1])<<8 | uint32(x[2]))
		}
		return nil
	})
	if err != nil {
		return err
	}
	*m = v
	return nil
}

func (b *builder) addProSeIDs(ids []uint32) {
	if len(ids) > MaxProSeIDs {
		b.fail("ProSe identifiers", ErrLength, "%d identifiers, at most %d fit", len(ids), MaxProSeIDs)
		return
	}
	b.AddLV("ProSe identifiers", 0, 4*MaxProSeIDs, func(b *builder) {
		for _, id := range ids {
			b.AddUint32(id)
		}
	})
}

func (r *reader) readProSeIDs() ([]uint32, error) {
	v, err := r.ReadLV("ProSe identifiers", 0, 4*MaxProSeIDs)
	if err != nil {
		return nil, err
	}
	if len(v)%4 != 0 {
		return nil, r.errf("ProSe identifiers", ErrLength, "need a multiple of 4 octets, have %d", len(v))
	}
	if len(v) == 0 {
		return nil, nil
	}
	ids := make([]uint32, len(v)/4)
	for i := range ids {
		ids[i] = binary.BigEndian.Uint32(v[4*i:])
	}
	return ids, nil
}

// DirectLinkEstablishmentAccept is the PROSE DIRECT LINK ESTABLISHMENT
// ACCEPT (layout per notes §3.3, [PARTIAL] NIST). Sent protected on SL-SRB2.
//
//	type(1) seq(1) SourceUserInfo(LV) QoSFlowDescriptions(LV-E)
//	UPProtectionConfig(V 1)
//	[0x53 TV IP address configuration] [0x54 TV Link local IPv6 address]
//	[0x56 TLV Target IP address (PROJECT-DEFINED)]
type DirectLinkEstablishmentAccept struct {
	Seq            uint8
	SourceUserInfo []byte // 1..253 octets
	// QoSFlowDescriptions: PC5 QoS flow descriptions, kept opaque
	// (0..MaxQoSFlowDescriptionsLen octets; empty encodes as 0x00 0x00).
	QoSFlowDescriptions []byte
	UPProtectionConfig  UPProtectionConfig

	// Optional IEs.
	IPAddressConfig *IPAddressConfig // 0x53
	// LinkLocalIPv6 (0x54): absent when the zero Addr; must be IPv6 without zone.
	LinkLocalIPv6 netip.Addr
	// TargetIPAddress (0x56, PROJECT-DEFINED): the peer end UE's address as
	// assigned by the L3 UE-to-UE relay; absent when the zero Addr. An IPv4
	// address encodes as 4 octets, anything else as 16.
	TargetIPAddress netip.Addr
	Unknown         []RawIE
}

var establishmentAcceptIEs = ieSet{IEIIPAddressConfig, IEILinkLocalIPv6, IEITargetIPAddress}

func (m *DirectLinkEstablishmentAccept) MessageType() MessageType { return MsgEstablishmentAccept }
func (m *DirectLinkEstablishmentAccept) SequenceNumber() uint8    { return m.Seq }
func (m *DirectLinkEstablishmentAccept) context() string          { return m.MessageType().short() }
func (m *DirectLinkEstablishmentAccept) MarshalLen() int          { return marshalLen(m) }
func (m *DirectLinkEstablishmentAccept) MarshalTo(b []byte) (int, error) {
	return marshalTo(m, b)
}
func (m *DirectLinkEstablishmentAccept) Marshal() ([]byte, error) { return marshal(m) }

func (m *DirectLinkEstablishmentAccept) build(b *builder) {
	b.addSeq(MsgEstablishmentAccept, m.Seq)
	b.addUserInfo("Source user info", m.SourceUserInfo)
	b.AddLVE("PC5 QoS flow descriptions", 0, MaxQoSFlowDescriptionsLen, bytesOf(m.QoSFlowDescriptions))
	b.AddUint8(uint8(m.UPProtectionConfig))
	if m.IPAddressConfig != nil {
		b.addIE(IEIIPAddressConfig, []byte{uint8(*m.IPAddressConfig)})
	}
	if a := m.LinkLocalIPv6; a.IsValid() {
		if !a.Is6() || a.Zone() != "" {
			b.fail("Link local IPv6 address", ErrInvalid, "need an IPv6 address without zone, have %v", a)
		}
		x := a.As16()
		b.addIE(IEILinkLocalIPv6, x[:])
	}
	if a := m.TargetIPAddress; a.IsValid() {
		if a.Zone() != "" {
			b.fail("Target IP address", ErrInvalid, "need an address without zone, have %v", a)
		}
		if a.Is4() {
			x := a.As4()
			b.addIE(IEITargetIPAddress, x[:])
		} else {
			x := a.As16()
			b.addIE(IEITargetIPAddress, x[:])
		}
	}
	b.addUnknown(establishmentAcceptIEs, m.Unknown)
}

func (m *DirectLinkEstablishmentAccept) UnmarshalBinary(b []byte) error {
	r, err := startParse(b, MsgEstablishmentAccept)
	if err != nil {
		return err
	}
	var v DirectLinkEstablishmentAccept
	if v.Seq, err = r.readSeq(); err != nil {
		return err
	}
	if v.SourceUserInfo, err = r.readUserInfo("Source user info"); err != nil {
		return err
	}
	q, err := r.ReadLVE("PC5 QoS flow descriptions", 0, MaxQoSFlowDescriptionsLen)
	if err != nil {
		return err
	}
	v.QoSFlowDescriptions = clone(q)
	c, err := r.ReadUint8("Configuration of UE PC5 unicast user plane security protection")
	if err != nil {
		return err
	}
	v.UPProtectionConfig = UPProtectionConfig(c)
	v.Unknown, err = r.ReadOptionalIEs(establishmentAcceptIEs, func(iei IEI, _ uint8, x []byte) error {
		switch iei {
		case IEIIPAddressConfig:
			v.IPAddressConfig = ptr(IPAddressConfig(x[0]))
		case IEILinkLocalIPv6:
			v.LinkLocalIPv6 = netip.AddrFrom16([16]byte(x))
		case IEITargetIPAddress:
			switch len(x) {
			case 4:
				v.TargetIPAddress = netip.AddrFrom4([4]byte(x))
			case 16:
				v.TargetIPAddress = netip.AddrFrom16([16]byte(x))
			default:
				return r.errf("Target IP address", ErrLength, "need 4 or 16 octets, have %d", len(x))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// DirectLinkEstablishmentReject is the PROSE DIRECT LINK ESTABLISHMENT
// REJECT: type(1) seq(1) cause(V 1). [PARTIAL] NIST.
type DirectLinkEstablishmentReject struct {
	Seq     uint8
	Cause   Cause
	Unknown []RawIE
}

func (m *DirectLinkEstablishmentReject) MessageType() MessageType { return MsgEstablishmentReject }
func (m *DirectLinkEstablishmentReject) SequenceNumber() uint8    { return m.Seq }
func (m *DirectLinkEstablishmentReject) context() string          { return m.MessageType().short() }
func (m *DirectLinkEstablishmentReject) MarshalLen() int          { return marshalLen(m) }
func (m *DirectLinkEstablishmentReject) MarshalTo(b []byte) (int, error) {
	return marshalTo(m, b)
}
func (m *DirectLinkEstablishmentReject) Marshal() ([]byte, error) { return marshal(m) }
func (m *DirectLinkEstablishmentReject) build(b *builder) {
	buildSeqCause(b, m.MessageType(), m.Seq, m.Cause, m.Unknown)
}
func (m *DirectLinkEstablishmentReject) UnmarshalBinary(b []byte) error {
	seq, c, u, err := parseSeqCause(b, m.MessageType())
	if err == nil {
		*m = DirectLinkEstablishmentReject{Seq: seq, Cause: c, Unknown: u}
	}
	return err
}

// buildSeqCause and parseSeqCause serve every "seq + cause" message.
func buildSeqCause(b *builder, t MessageType, seq uint8, c Cause, unknown []RawIE) {
	b.addSeq(t, seq)
	b.AddUint8(uint8(c))
	b.addUnknown(nil, unknown)
}

func parseSeqCause(b []byte, t MessageType) (uint8, Cause, []RawIE, error) {
	r, err := startParse(b, t)
	if err != nil {
		return 0, 0, nil, err
	}
	seq, err := r.readSeq()
	if err != nil {
		return 0, 0, nil, err
	}
	c, err := r.readCause()
	if err != nil {
		return 0, 0, nil, err
	}
	u, err := r.readOnlyUnknown()
	if err != nil {
		return 0, 0, nil, err
	}
	return seq, c, u, nil
}

// buildSeqOnly and parseSeqOnly serve every "seq only" message.
func buildSeqOnly(b *builder, t MessageType, seq uint8, unknown []RawIE) {
	b.addSeq(t, seq)
	b.addUnknown(nil, unknown)
}

func parseSeqOnly(b []byte, t MessageType) (uint8, []RawIE, error) {
	r, err := startParse(b, t)
	if err != nil {
		return 0, nil, err
	}
	seq, err := r.readSeq()
	if err != nil {
		return 0, nil, err
	}
	u, err := r.readOnlyUnknown()
	if err != nil {
		return 0, nil, err
	}
	return seq, u, nil
}
