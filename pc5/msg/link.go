package msg

import "encoding/binary"

// DirectLinkRekeyingRequest is the PROSE DIRECT LINK REKEYING REQUEST
// (content per notes §3.3; formats [INFERRED] PROVISIONAL: Nonce_1 and the
// MSB of KNRP-sess ID are always needed when rekeying, so they are
// mandatory V fields here, without IEI).
//
//	type(1) seq(1) UESecurityCapabilities(LV) Nonce_1(V 16)
//	KNRPSessIDMSB(V 1) [0xB- type 1 Re-authentication indication]
//	[0x74 TLV-E KEIC]
type DirectLinkRekeyingRequest struct {
	Seq                    uint8
	UESecurityCapabilities UESecurityCapabilities
	Nonce1                 [NonceLen]byte
	KNRPSessIDMSB          uint8

	// Optional IEs.
	// ReauthIndication: the 4-bit value of the type-1 IE; 1 asks for a new
	// KNRP (PROJECT-DEFINED, PROVISIONAL). nil means absent.
	ReauthIndication *uint8
	KeyEstInfo       []byte // 0x74; carries a KeyEstInit when re-authenticating
	Unknown          []RawIE
}

var rekeyingRequestIEs = ieSet{IEIReauthIndication, IEIKeyEstInfo}

func (m *DirectLinkRekeyingRequest) MessageType() MessageType { return MsgRekeyingRequest }
func (m *DirectLinkRekeyingRequest) SequenceNumber() uint8    { return m.Seq }
func (m *DirectLinkRekeyingRequest) context() string          { return m.MessageType().short() }
func (m *DirectLinkRekeyingRequest) MarshalLen() int          { return marshalLen(m) }
func (m *DirectLinkRekeyingRequest) MarshalTo(b []byte) (int, error) {
	return marshalTo(m, b)
}
func (m *DirectLinkRekeyingRequest) Marshal() ([]byte, error) { return marshal(m) }

func (m *DirectLinkRekeyingRequest) build(b *builder) {
	b.addSeq(MsgRekeyingRequest, m.Seq)
	b.addSecCaps("UE security capabilities", m.UESecurityCapabilities)
	b.AddBytes(m.Nonce1[:])
	b.AddUint8(m.KNRPSessIDMSB)
	b.addOptType1(IEIReauthIndication, m.ReauthIndication)
	b.addOptBytes(IEIKeyEstInfo, m.KeyEstInfo)
	b.addUnknown(rekeyingRequestIEs, m.Unknown)
}

func (m *DirectLinkRekeyingRequest) UnmarshalBinary(b []byte) error {
	r, err := startParse(b, MsgRekeyingRequest)
	if err != nil {
		return err
	}
	var v DirectLinkRekeyingRequest
	if v.Seq, err = r.readSeq(); err != nil {
		return err
	}
	if v.UESecurityCapabilities, err = r.readSecCaps("UE security capabilities"); err != nil {
		return err
	}
	if err = r.ReadFixedInto("Nonce_1", v.Nonce1[:]); err != nil {
		return err
	}
	if v.KNRPSessIDMSB, err = r.ReadUint8("MSB of KNRP-sess ID"); err != nil {
		return err
	}
	v.Unknown, err = r.ReadOptionalIEs(rekeyingRequestIEs, func(iei IEI, o uint8, x []byte) error {
		switch iei {
		case IEIReauthIndication:
			v.ReauthIndication = ptr(o & 0x0F)
		case IEIKeyEstInfo:
			v.KeyEstInfo = clone(x)
		}
		return nil
	})
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// DirectLinkRekeyingResponse is the PROSE DIRECT LINK REKEYING RESPONSE:
// type(1) seq(1). [INFERRED] PROVISIONAL.
type DirectLinkRekeyingResponse struct {
	Seq     uint8
	Unknown []RawIE
}

func (m *DirectLinkRekeyingResponse) MessageType() MessageType { return MsgRekeyingResponse }
func (m *DirectLinkRekeyingResponse) SequenceNumber() uint8    { return m.Seq }
func (m *DirectLinkRekeyingResponse) context() string          { return m.MessageType().short() }
func (m *DirectLinkRekeyingResponse) MarshalLen() int          { return marshalLen(m) }
func (m *DirectLinkRekeyingResponse) MarshalTo(b []byte) (int, error) {
	return marshalTo(m, b)
}
func (m *DirectLinkRekeyingResponse) Marshal() ([]byte, error) { return marshal(m) }
func (m *DirectLinkRekeyingResponse) build(b *builder) {
	buildSeqOnly(b, m.MessageType(), m.Seq, m.Unknown)
}
func (m *DirectLinkRekeyingResponse) UnmarshalBinary(b []byte) error {
	seq, u, err := parseSeqOnly(b, m.MessageType())
	if err == nil {
		*m = DirectLinkRekeyingResponse{Seq: seq, Unknown: u}
	}
	return err
}

// DirectLinkReleaseRequest is the PROSE DIRECT LINK RELEASE REQUEST:
// type(1) seq(1) cause(V 1). [PARTIAL] NIST.
type DirectLinkReleaseRequest struct {
	Seq     uint8
	Cause   Cause
	Unknown []RawIE
}

func (m *DirectLinkReleaseRequest) MessageType() MessageType { return MsgReleaseRequest }
func (m *DirectLinkReleaseRequest) SequenceNumber() uint8    { return m.Seq }
func (m *DirectLinkReleaseRequest) context() string          { return m.MessageType().short() }
func (m *DirectLinkReleaseRequest) MarshalLen() int          { return marshalLen(m) }
func (m *DirectLinkReleaseRequest) MarshalTo(b []byte) (int, error) {
	return marshalTo(m, b)
}
func (m *DirectLinkReleaseRequest) Marshal() ([]byte, error) { return marshal(m) }
func (m *DirectLinkReleaseRequest) build(b *builder) {
	buildSeqCause(b, m.MessageType(), m.Seq, m.Cause, m.Unknown)
}
func (m *DirectLinkReleaseRequest) UnmarshalBinary(b []byte) error {
	seq, c, u, err := parseSeqCause(b, m.MessageType())
	if err == nil {
		*m = DirectLinkReleaseRequest{Seq: seq, Cause: c, Unknown: u}
	}
	return err
}

// DirectLinkReleaseAccept is the PROSE DIRECT LINK RELEASE ACCEPT:
// type(1) seq(1). [PARTIAL] NIST.
type DirectLinkReleaseAccept struct {
	Seq     uint8
	Unknown []RawIE
}

func (m *DirectLinkReleaseAccept) MessageType() MessageType { return MsgReleaseAccept }
func (m *DirectLinkReleaseAccept) SequenceNumber() uint8    { return m.Seq }
func (m *DirectLinkReleaseAccept) context() string          { return m.MessageType().short() }
func (m *DirectLinkReleaseAccept) MarshalLen() int          { return marshalLen(m) }
func (m *DirectLinkReleaseAccept) MarshalTo(b []byte) (int, error) {
	return marshalTo(m, b)
}
func (m *DirectLinkReleaseAccept) Marshal() ([]byte, error) { return marshal(m) }
func (m *DirectLinkReleaseAccept) build(b *builder) {
	buildSeqOnly(b, m.MessageType(), m.Seq, m.Unknown)
}
func (m *DirectLinkReleaseAccept) UnmarshalBinary(b []byte) error {
	seq, u, err := parseSeqOnly(b, m.MessageType())
	if err == nil {
		*m = DirectLinkReleaseAccept{Seq: seq, Unknown: u}
	}
	return err
}

// DirectLinkKeepaliveRequest is the PROSE DIRECT LINK KEEPALIVE REQUEST
// ([INFERRED] PROVISIONAL): type(1) seq(1) Keep-alive counter(V 4)
// [0x55 TV Maximum inactivity period].
type DirectLinkKeepaliveRequest struct {
	Seq              uint8
	KeepaliveCounter uint32

	// Optional IEs.
	MaxInactivityPeriod *uint32 // 0x55, seconds; PROJECT-DEFINED IEI and coding
	Unknown             []RawIE
}

var keepaliveRequestIEs = ieSet{IEIMaxInactivityPeriod}

func (m *DirectLinkKeepaliveRequest) MessageType() MessageType { return MsgKeepaliveRequest }
func (m *DirectLinkKeepaliveRequest) SequenceNumber() uint8    { return m.Seq }
func (m *DirectLinkKeepaliveRequest) context() string          { return m.MessageType().short() }
func (m *DirectLinkKeepaliveRequest) MarshalLen() int          { return marshalLen(m) }
func (m *DirectLinkKeepaliveRequest) MarshalTo(b []byte) (int, error) {
	return marshalTo(m, b)
}
func (m *DirectLinkKeepaliveRequest) Marshal() ([]byte, error) { return marshal(m) }

func (m *DirectLinkKeepaliveRequest) build(b *builder) {
	b.addSeq(MsgKeepaliveRequest, m.Seq)
	b.AddUint32(m.KeepaliveCounter)
	b.addOptUint32(IEIMaxInactivityPeriod, m.MaxInactivityPeriod)
	b.addUnknown(keepaliveRequestIEs, m.Unknown)
}

func (m *DirectLinkKeepaliveRequest) UnmarshalBinary(b []byte) error {
	r, err := startParse(b, MsgKeepaliveRequest)
	if err != nil {
		return err
	}
	var v DirectLinkKeepaliveRequest
	if v.Seq, err = r.readSeq(); err != nil {
		return err
	}
	if v.KeepaliveCounter, err = r.ReadUint32("Keep-alive counter"); err != nil {
		return err
	}
	v.Unknown, err = r.ReadOptionalIEs(keepaliveRequestIEs, func(iei IEI, _ uint8, x []byte) error {
		if iei == IEIMaxInactivityPeriod {
			v.MaxInactivityPeriod = ptr(binary.BigEndian.Uint32(x))
		}
		return nil
	})
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// DirectLinkKeepaliveResponse is the PROSE DIRECT LINK KEEPALIVE RESPONSE
// ([INFERRED] PROVISIONAL): type(1) seq(1) Keep-alive counter(V 4).
type DirectLinkKeepaliveResponse struct {
	Seq              uint8
	KeepaliveCounter uint32
	Unknown          []RawIE
}

func (m *DirectLinkKeepaliveResponse) MessageType() MessageType { return MsgKeepaliveResponse }
func (m *DirectLinkKeepaliveResponse) SequenceNumber() uint8    { return m.Seq }
func (m *DirectLinkKeepaliveResponse) context() string          { return m.MessageType().short() }
func (m *DirectLinkKeepaliveResponse) MarshalLen() int          { return marshalLen(m) }
func (m *DirectLinkKeepaliveResponse) MarshalTo(b []byte) (int, error) {
	return marshalTo(m, b)
}
func (m *DirectLinkKeepaliveResponse) Marshal() ([]byte, error) { return marshal(m) }

func (m *DirectLinkKeepaliveResponse) build(b *builder) {
	b.addSeq(MsgKeepaliveResponse, m.Seq)
	b.AddUint32(m.KeepaliveCounter)
	b.addUnknown(nil, m.Unknown)
}

func (m *DirectLinkKeepaliveResponse) UnmarshalBinary(b []byte) error {
	r, err := startParse(b, MsgKeepaliveResponse)
	if err != nil {
		return err
	}
	var v DirectLinkKeepaliveResponse
	if v.Seq, err = r.readSeq(); err != nil {
		return err
	}
	if v.KeepaliveCounter, err = r.ReadUint32("Keep-alive counter"); err != nil {
		return err
	}
	if v.Unknown, err = r.readOnlyUnknown(); err != nil {
		return err
	}
	*m = v
	return nil
}

// DirectLinkAuthenticationRequest is the PROSE DIRECT LINK AUTHENTICATION
// REQUEST ([INFERRED] PROVISIONAL): type(1) seq(1) Key_Est_Info(LV-E,
// 1..MaxKeyEstInfoLen). The handshake of docs/protocol.md does not use it;
// it is decoded so that a peer running a separate authentication step gets a
// precise answer.
type DirectLinkAuthenticationRequest struct {
	Seq        uint8
	KeyEstInfo []byte
	Unknown    []RawIE
}

func (m *DirectLinkAuthenticationRequest) MessageType() MessageType { return MsgAuthenticationRequest }
func (m *DirectLinkAuthenticationRequest) SequenceNumber() uint8    { return m.Seq }
func (m *DirectLinkAuthenticationRequest) context() string          { return m.MessageType().short() }
func (m *DirectLinkAuthenticationRequest) MarshalLen() int          { return marshalLen(m) }
func (m *DirectLinkAuthenticationRequest) MarshalTo(b []byte) (int, error) {
	return marshalTo(m, b)
}
func (m *DirectLinkAuthenticationRequest) Marshal() ([]byte, error) { return marshal(m) }
func (m *DirectLinkAuthenticationRequest) build(b *builder) {
	buildSeqKEIC(b, m.MessageType(), m.Seq, m.KeyEstInfo, m.Unknown)
}
func (m *DirectLinkAuthenticationRequest) UnmarshalBinary(b []byte) error {
	seq, k, u, err := parseSeqKEIC(b, m.MessageType())
	if err == nil {
		*m = DirectLinkAuthenticationRequest{Seq: seq, KeyEstInfo: k, Unknown: u}
	}
	return err
}

// DirectLinkAuthenticationResponse is the PROSE DIRECT LINK AUTHENTICATION
// RESPONSE ([INFERRED] PROVISIONAL): type(1) seq(1) Key_Est_Info(LV-E).
type DirectLinkAuthenticationResponse struct {
	Seq        uint8
	KeyEstInfo []byte
	Unknown    []RawIE
}

func (m *DirectLinkAuthenticationResponse) MessageType() MessageType {
	return MsgAuthenticationResponse
}
func (m *DirectLinkAuthenticationResponse) SequenceNumber() uint8 { return m.Seq }
func (m *DirectLinkAuthenticationResponse) context() string       { return m.MessageType().short() }
func (m *DirectLinkAuthenticationResponse) MarshalLen() int       { return marshalLen(m) }
func (m *DirectLinkAuthenticationResponse) MarshalTo(b []byte) (int, error) {
	return marshalTo(m, b)
}
func (m *DirectLinkAuthenticationResponse) Marshal() ([]byte, error) { return marshal(m) }
func (m *DirectLinkAuthenticationResponse) build(b *builder) {
	buildSeqKEIC(b, m.MessageType(), m.Seq, m.KeyEstInfo, m.Unknown)
}
func (m *DirectLinkAuthenticationResponse) UnmarshalBinary(b []byte) error {
	seq, k, u, err := parseSeqKEIC(b, m.MessageType())
	if err == nil {
		*m = DirectLinkAuthenticationResponse{Seq: seq, KeyEstInfo: k, Unknown: u}
	}
	return err
}

// DirectLinkAuthenticationReject is the PROSE DIRECT LINK AUTHENTICATION
// REJECT ([INFERRED] PROVISIONAL): type(1) seq(1) cause(V 1).
type DirectLinkAuthenticationReject struct {
	Seq     uint8
	Cause   Cause
	Unknown []RawIE
}

func (m *DirectLinkAuthenticationReject) MessageType() MessageType { return MsgAuthenticationReject }
func (m *DirectLinkAuthenticationReject) SequenceNumber() uint8    { return m.Seq }
func (m *DirectLinkAuthenticationReject) context() string          { return m.MessageType().short() }
func (m *DirectLinkAuthenticationReject) MarshalLen() int          { return marshalLen(m) }
func (m *DirectLinkAuthenticationReject) MarshalTo(b []byte) (int, error) {
	return marshalTo(m, b)
}
func (m *DirectLinkAuthenticationReject) Marshal() ([]byte, error) { return marshal(m) }
func (m *DirectLinkAuthenticationReject) build(b *builder) {
	buildSeqCause(b, m.MessageType(), m.Seq, m.Cause, m.Unknown)
}
func (m *DirectLinkAuthenticationReject) UnmarshalBinary(b []byte) error {
	seq, c, u, err := parseSeqCause(b, m.MessageType())
	if err == nil {
		*m = DirectLinkAuthenticationReject{Seq: seq, Cause: c, Unknown: u}
	}
	return err
}

const keicField = "Key establishment information container"

func buildSeqKEIC(b *builder, t MessageType, seq uint8, keic []byte, unknown []RawIE) {
	b.addSeq(t, seq)
	b.AddLVE(keicField, 1, MaxKeyEstInfoLen, bytesOf(keic))
	b.addUnknown(nil, unknown)
}

func parseSeqKEIC(b []byte, t MessageType) (uint8, []byte, []RawIE, error) {
	r, err := startParse(b, t)
	if err != nil {
		return 0, nil, nil, err
	}
	seq, err := r.readSeq()
	if err != nil {
		return 0, nil, nil, err
	}
	k, err := r.ReadLVE(keicField, 1, MaxKeyEstInfoLen)
	if err != nil {
		return 0, nil, nil, err
	}
	u, err := r.readOnlyUnknown()
	if err != nil {
		return 0, nil, nil, err
	}
	return seq, clone(k), u, nil
}
