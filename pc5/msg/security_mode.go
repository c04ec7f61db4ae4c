package msg

import "encoding/binary"

// DirectLinkSecurityModeCommand is the PROSE DIRECT LINK SECURITY MODE
// COMMAND (layout [INFERRED] PROVISIONAL, notes §3.3). Sent on SL-SRB1,
// integrity-protected with the new NRPIK, not ciphered.
//
//	type(1) seq(1) UESecurityCapabilities(LV, replayed) Nonce_2(V 16)
//	SelectedAlgorithms(V 1) SignallingSecurityPolicy(V 1, replayed)
//	KNRPSessIDLSB(V 1)
//	[0x74 TLV-E KEIC] [0x50 TV MSBs of KNRP ID]
type DirectLinkSecurityModeCommand struct {
	Seq                      uint8
	UESecurityCapabilities   UESecurityCapabilities // UE_1's, replayed
	Nonce2                   [NonceLen]byte
	SelectedAlgorithms       SelectedAlgorithms
	SignallingSecurityPolicy UnicastSecurityPolicy // UE_1's, replayed
	KNRPSessIDLSB            uint8

	// Optional IEs.
	KeyEstInfo []byte  // 0x74; carries a KeyEstResponse
	KNRPIDMSBs *uint16 // 0x50, PROJECT-DEFINED IEI
	Unknown    []RawIE
}

var securityModeCommandIEs = ieSet{IEIKeyEstInfo, IEIKNRPIDMSBs}

func (m *DirectLinkSecurityModeCommand) MessageType() MessageType { return MsgSecurityModeCommand }
func (m *DirectLinkSecurityModeCommand) SequenceNumber() uint8    { return m.Seq }
func (m *DirectLinkSecurityModeCommand) context() string          { return m.MessageType().short() }
func (m *DirectLinkSecurityModeCommand) MarshalLen() int          { return marshalLen(m) }
func (m *DirectLinkSecurityModeCommand) MarshalTo(b []byte) (int, error) {
	return marshalTo(m, b)
}
func (m *DirectLinkSecurityModeCommand) Marshal() ([]byte, error) { return marshal(m) }

func (m *DirectLinkSecurityModeCommand) build(b *builder) {
	b.addSeq(MsgSecurityModeCommand, m.Seq)
	b.addSecCaps("UE security capabilities", m.UESecurityCapabilities)
	b.AddBytes(m.Nonce2[:])
	b.AddUint8(uint8(m.SelectedAlgorithms))
	b.AddUint8(uint8(m.SignallingSecurityPolicy))
	b.AddUint8(m.KNRPSessIDLSB)
	b.addOptBytes(IEIKeyEstInfo, m.KeyEstInfo)
	b.addOptUint16(IEIKNRPIDMSBs, m.KNRPIDMSBs)
	b.addUnknown(securityModeCommandIEs, m.Unknown)
}

func (m *DirectLinkSecurityModeCommand) UnmarshalBinary(b []byte) error {
	r, err := startParse(b, MsgSecurityModeCommand)
	if err != nil {
		return err
	}
	var v DirectLinkSecurityModeCommand
	if v.Seq, err = r.readSeq(); err != nil {
		return err
	}
	if v.UESecurityCapabilities, err = r.readSecCaps("UE security capabilities"); err != nil {
		return err
	}
	if err = r.ReadFixedInto("Nonce_2", v.Nonce2[:]); err != nil {
		return err
	}
	a, err := r.ReadUint8("Selected security algorithms")
	if err != nil {
		return err
	}
	v.SelectedAlgorithms = SelectedAlgorithms(a)
	p, err := r.ReadUint8("UE PC5 unicast signalling security policy")
	if err != nil {
		return err
	}
	v.SignallingSecurityPolicy = UnicastSecurityPolicy(p)
	if v.KNRPSessIDLSB, err = r.ReadUint8("LSB of KNRP-sess ID"); err != nil {
		return err
	}
	v.Unknown, err = r.ReadOptionalIEs(securityModeCommandIEs, func(iei IEI, _ uint8, x []byte) error {
		switch iei {
		case IEIKeyEstInfo:
			v.KeyEstInfo = clone(x)
		case IEIKNRPIDMSBs:
			v.KNRPIDMSBs = ptr(binary.BigEndian.Uint16(x))
		}
		return nil
	})
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// DirectLinkSecurityModeComplete is the PROSE DIRECT LINK SECURITY MODE
// COMPLETE (layout [INFERRED] PROVISIONAL). Sent on SL-SRB1,
// integrity-protected and ciphered.
//
//	type(1) seq(1) [0x52 TV UP security policy] [0x51 TV LSBs of KNRP ID]
//	[0x74 TLV-E KEIC]
type DirectLinkSecurityModeComplete struct {
	Seq uint8

	// Optional IEs.
	UPSecurityPolicy *UnicastSecurityPolicy // 0x52, PROJECT-DEFINED IEI and coding
	KNRPIDLSBs       *uint16                // 0x51, PROJECT-DEFINED IEI
	KeyEstInfo       []byte                 // 0x74; carries a KeyEstFinish
	Unknown          []RawIE
}

var securityModeCompleteIEs = ieSet{IEIUPSecurityPolicy, IEIKNRPIDLSBs, IEIKeyEstInfo}

func (m *DirectLinkSecurityModeComplete) MessageType() MessageType { return MsgSecurityModeComplete }
func (m *DirectLinkSecurityModeComplete) SequenceNumber() uint8    { return m.Seq }
func (m *DirectLinkSecurityModeComplete) context() string          { return m.MessageType().short() }
func (m *DirectLinkSecurityModeComplete) MarshalLen() int          { return marshalLen(m) }
func (m *DirectLinkSecurityModeComplete) MarshalTo(b []byte) (int, error) {
	return marshalTo(m, b)
}
func (m *DirectLinkSecurityModeComplete) Marshal() ([]byte, error) { return marshal(m) }

func (m *DirectLinkSecurityModeComplete) build(b *builder) {
	b.addSeq(MsgSecurityModeComplete, m.Seq)
	if m.UPSecurityPolicy != nil {
		b.addIE(IEIUPSecurityPolicy, []byte{uint8(*m.UPSecurityPolicy)})
	}
	b.addOptUint16(IEIKNRPIDLSBs, m.KNRPIDLSBs)
	b.addOptBytes(IEIKeyEstInfo, m.KeyEstInfo)
	b.addUnknown(securityModeCompleteIEs, m.Unknown)
}

func (m *DirectLinkSecurityModeComplete) UnmarshalBinary(b []byte) error {
	r, err := startParse(b, MsgSecurityModeComplete)
	if err != nil {
		return err
	}
	var v DirectLinkSecurityModeComplete
	if v.Seq, err = r.readSeq(); err != nil {
		return err
	}
	v.Unknown, err = r.ReadOptionalIEs(securityModeCompleteIEs, func(iei IEI, _ uint8, x []byte) error {
		switch iei {
		case IEIUPSecurityPolicy:
			v.UPSecurityPolicy = ptr(UnicastSecurityPolicy(x[0]))
		case IEIKNRPIDLSBs:
			v.KNRPIDLSBs = ptr(binary.BigEndian.Uint16(x))
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

// DirectLinkSecurityModeReject is the PROSE DIRECT LINK SECURITY MODE
// REJECT: type(1) seq(1) cause(V 1). [PARTIAL] for the cause pattern.
type DirectLinkSecurityModeReject struct {
	Seq     uint8
	Cause   Cause
	Unknown []RawIE
}

func (m *DirectLinkSecurityModeReject) MessageType() MessageType { return MsgSecurityModeReject }
func (m *DirectLinkSecurityModeReject) SequenceNumber() uint8    { return m.Seq }
func (m *DirectLinkSecurityModeReject) context() string          { return m.MessageType().short() }
func (m *DirectLinkSecurityModeReject) MarshalLen() int          { return marshalLen(m) }
func (m *DirectLinkSecurityModeReject) MarshalTo(b []byte) (int, error) {
	return marshalTo(m, b)
}
func (m *DirectLinkSecurityModeReject) Marshal() ([]byte, error) { return marshal(m) }
func (m *DirectLinkSecurityModeReject) build(b *builder) {
	buildSeqCause(b, m.MessageType(), m.Seq, m.Cause, m.Unknown)
}
func (m *DirectLinkSecurityModeReject) UnmarshalBinary(b []byte) error {
	seq, c, u, err := parseSeqCause(b, m.MessageType())
	if err == nil {
		*m = DirectLinkSecurityModeReject{Seq: seq, Cause: c, Unknown: u}
	}
	return err
}
