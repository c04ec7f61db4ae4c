package discovery

import (
	"github.com/prosesec/prosesec/token"
)

// Message is one discovery message. Every message has the method set of
// pc5/msg (MarshalLen, MarshalTo, Marshal, UnmarshalBinary). Marshal is
// deterministic; decoded values never alias the input.
type Message interface {
	MessageType() MessageType
	// MarshalLen returns the encoded length (0 if the message is invalid).
	MarshalLen() int
	// MarshalTo writes the encoding into b and returns its length, or an
	// error (ErrShortBuffer if b is too small).
	MarshalTo(b []byte) (int, error)
	Marshal() ([]byte, error)
	UnmarshalBinary(b []byte) error

	name() string
	build(b *builder)
}

// Layouts (PROJECT-DEFINED, PROVISIONAL, modelled on the U2N relay
// discovery messages as the notes §3.7 infer them). Every message starts
// with the message type octet (discovery type, ContentExtension, model) and
// the content type extension octet; then, in order, with LV = 1-octet length
// and contents, and the UE list = 2-octet length, then one LV per user info:
//
//	Announcement (ext 0x01, Model A):
//	  RSC(3) RelayUserInfo(LV 1..253) ReachableUEs(list) Load(1) UTCCounterLSB(1) MIC(4)
//	Response (ext 0x01, Model B):
//	  RSC(3) DiscovereeUserInfo(LV 1..253) SourceUserInfo(LV 0..253)
//	  ReachableUEs(list) Load(1) UTCCounterLSB(1) MIC(4)
//	Solicitation (ext 0x02, Model B):
//	  RSC(3) DiscovererUserInfo(LV 1..253) TargetUserInfo(LV 1..253)
//	  SourceUserInfo(LV 0..253) UTCCounterLSB(1) MIC(4)
//
// ReachableUEs is the UE-to-UE relay UE info (TS 24.554 §10.2.9, name
// [SOLID], coding INFERRED): the end UEs reachable through the relay, at
// most MaxReachableUEs. Load is PROJECT-DEFINED (no 3GPP field): the
// relay's number of active PC5 links, capped at 255, for relay selection.
// The MIC is carried but NOT COMPUTED: it is zero on send and not checked
// on receipt (see the package documentation).

// Announcement is a UE-to-UE relay's Model A announcement: the RSC it
// serves and the end UEs reachable through it.
type Announcement struct {
	Restricted    bool // discovery type restricted (else open)
	RSC           token.RSC
	RelayUserInfo []byte
	ReachableUEs  [][]byte
	Load          uint8
	UTCCounterLSB uint8
	MIC           [MICLen]byte
}

// Response is a Model B response: from a relay to the end UE that
// solicited it (DiscovereeUserInfo = the relay, ReachableUEs = the target),
// or from a target end UE to the relay that forwarded a solicitation
// (DiscovereeUserInfo = the target, SourceUserInfo = the end UE that
// solicited, no ReachableUEs).
type Response struct {
	Restricted         bool
	RSC                token.RSC
	DiscovereeUserInfo []byte
	SourceUserInfo     []byte // optional
	ReachableUEs       [][]byte
	Load               uint8
	UTCCounterLSB      uint8
	MIC                [MICLen]byte
}

// Solicitation is a Model B solicitation for a target end UE through a
// UE-to-UE relay: from the source end UE (no SourceUserInfo), or forwarded
// by a relay to its neighbours (DiscovererUserInfo = the relay,
// SourceUserInfo = the source end UE).
type Solicitation struct {
	Restricted         bool
	RSC                token.RSC
	DiscovererUserInfo []byte
	TargetUserInfo     []byte
	SourceUserInfo     []byte // optional
	UTCCounterLSB      uint8
	MIC                [MICLen]byte
}

func discoveryType(restricted bool) DiscoveryType {
	if restricted {
		return DiscoveryRestricted
	}
	return DiscoveryOpen
}

func (m *Announcement) name() string { return "ANNOUNCEMENT" }
func (m *Response) name() string     { return "RESPONSE" }
func (m *Solicitation) name() string { return "SOLICITATION" }

func (m *Announcement) MessageType() MessageType {
	return NewMessageType(discoveryType(m.Restricted), ContentExtension, ModelA)
}
func (m *Response) MessageType() MessageType {
	return NewMessageType(discoveryType(m.Restricted), ContentExtension, ModelB)
}
func (m *Solicitation) MessageType() MessageType {
	return NewMessageType(discoveryType(m.Restricted), ContentExtension, ModelB)
}

func (m *Announcement) build(b *builder) {
	b.AddUint8(uint8(m.MessageType()))
	b.AddUint8(uint8(ExtU2URelayAnnounceResponse))
	b.AddUint24("RSC", uint32(m.RSC))
	b.addLV("Relay user info", 1, MaxUserInfoLen, m.RelayUserInfo)
	b.addUserInfoList("UE-to-UE relay UE info", m.ReachableUEs)
	b.AddUint8(m.Load)
	b.AddUint8(m.UTCCounterLSB)
	b.AddBytes(m.MIC[:])
}

func (m *Response) build(b *builder) {
	b.AddUint8(uint8(m.MessageType()))
	b.AddUint8(uint8(ExtU2URelayAnnounceResponse))
	b.AddUint24("RSC", uint32(m.RSC))
	b.addLV("Discoveree user info", 1, MaxUserInfoLen, m.DiscovereeUserInfo)
	b.addLV("Source user info", 0, MaxUserInfoLen, m.SourceUserInfo)
	b.addUserInfoList("UE-to-UE relay UE info", m.ReachableUEs)
	b.AddUint8(m.Load)
	b.AddUint8(m.UTCCounterLSB)
	b.AddBytes(m.MIC[:])
}

func (m *Solicitation) build(b *builder) {
	b.AddUint8(uint8(m.MessageType()))
	b.AddUint8(uint8(ExtU2URelaySolicitation))
	b.AddUint24("RSC", uint32(m.RSC))
	b.addLV("Discoverer user info", 1, MaxUserInfoLen, m.DiscovererUserInfo)
	b.addLV("Target user info", 1, MaxUserInfoLen, m.TargetUserInfo)
	b.addLV("Source user info", 0, MaxUserInfoLen, m.SourceUserInfo)
	b.AddUint8(m.UTCCounterLSB)
	b.AddBytes(m.MIC[:])
}

func marshalLen(m Message) int {
	b := newCounter(m.name())
	m.build(b)
	n, err := b.Finish()
	if err != nil {
		return 0
	}
	return n
}

func marshalTo(m Message, buf []byte) (int, error) {
	b := newCounter(m.name())
	m.build(b)
	if _, err := b.Finish(); err != nil {
		return 0, err
	}
	b = newWriter(m.name(), buf)
	m.build(b)
	return b.Finish()
}

func marshal(m Message) ([]byte, error) {
	b := newCounter(m.name())
	m.build(b)
	n, err := b.Finish()
	if err != nil {
		return nil, err
	}
	out := make([]byte, n)
	b = newWriter(m.name(), out)
	m.build(b)
	if _, err := b.Finish(); err != nil {
		return nil, err
	}
	return out, nil
}

func (m *Announcement) MarshalLen() int                 { return marshalLen(m) }
func (m *Announcement) MarshalTo(b []byte) (int, error) { return marshalTo(m, b) }
func (m *Announcement) Marshal() ([]byte, error)        { return marshal(m) }
func (m *Response) MarshalLen() int                     { return marshalLen(m) }
func (m *Response) MarshalTo(b []byte) (int, error)     { return marshalTo(m, b) }
func (m *Response) Marshal() ([]byte, error)            { return marshal(m) }
func (m *Solicitation) MarshalLen() int                 { return marshalLen(m) }
func (m *Solicitation) MarshalTo(b []byte) (int, error) { return marshalTo(m, b) }
func (m *Solicitation) Marshal() ([]byte, error)        { return marshal(m) }

// header reads and checks the message type octet and the extension octet
// against what the message expects, and returns the discovery type.
func header(r *reader, ext ContentTypeExt, model Model) (restricted bool, err error) {
	t, err := r.ReadUint8("message type")
	if err != nil {
		return false, err
	}
	mt := MessageType(t)
	switch mt.Discovery() {
	case DiscoveryOpen:
	case DiscoveryRestricted:
		restricted = true
	default:
		return false, r.errf("message type", ErrInvalid, "discovery type %02b, want 01 (open) or 10 (restricted)", uint8(mt.Discovery()))
	}
	if mt.Content() != ContentExtension {
		return false, r.errf("message type", ErrUnknownType, "content type %s, want %s", mt.Content(), ContentExtension)
	}
	if mt.Model() != model {
		return false, r.errf("message type", ErrUnknownType, "discovery model %02b, want %s", uint8(mt.Model()), model)
	}
	e, err := r.ReadUint8("content type extension")
	if err != nil {
		return false, err
	}
	if ContentTypeExt(e) != ext {
		return false, r.errf("content type extension", ErrUnknownType, "0x%02x, want %s (0x%02x)", e, ext, uint8(ext))
	}
	return restricted, nil
}

func (r *reader) rsc() (token.RSC, error) {
	v, err := r.ReadUint24("RSC")
	return token.RSC(v), err
}

func (r *reader) mic(dst *[MICLen]byte) error {
	s, err := r.ReadFixed("MIC", MICLen)
	if err != nil {
		return err
	}
	copy(dst[:], s)
	return nil
}

// UnmarshalBinary decodes an Announcement; the input must hold exactly one.
func (m *Announcement) UnmarshalBinary(b []byte) error {
	r := newReader(m.name(), b)
	var v Announcement
	var err error
	if v.Restricted, err = header(r, ExtU2URelayAnnounceResponse, ModelA); err != nil {
		return err
	}
	if v.RSC, err = r.rsc(); err != nil {
		return err
	}
	if v.RelayUserInfo, err = r.lv("Relay user info", 1, MaxUserInfoLen); err != nil {
		return err
	}
	if v.ReachableUEs, err = r.userInfoList("UE-to-UE relay UE info"); err != nil {
		return err
	}
	if v.Load, err = r.ReadUint8("Load"); err != nil {
		return err
	}
	if v.UTCCounterLSB, err = r.ReadUint8("UTC-based counter LSB"); err != nil {
		return err
	}
	if err = r.mic(&v.MIC); err != nil {
		return err
	}
	if err = r.ExpectEnd(); err != nil {
		return err
	}
	*m = v
	return nil
}

// UnmarshalBinary decodes a Response; the input must hold exactly one.
func (m *Response) UnmarshalBinary(b []byte) error {
	r := newReader(m.name(), b)
	var v Response
	var err error
	if v.Restricted, err = header(r, ExtU2URelayAnnounceResponse, ModelB); err != nil {
		return err
	}
	if v.RSC, err = r.rsc(); err != nil {
		return err
	}
	if v.DiscovereeUserInfo, err = r.lv("Discoveree user info", 1, MaxUserInfoLen); err != nil {
		return err
	}
	if v.SourceUserInfo, err = r.lv("Source user info", 0, MaxUserInfoLen); err != nil {
		return err
	}
	if v.ReachableUEs, err = r.userInfoList("UE-to-UE relay UE info"); err != nil {
		return err
	}
	if v.Load, err = r.ReadUint8("Load"); err != nil {
		return err
	}
	if v.UTCCounterLSB, err = r.ReadUint8("UTC-based counter LSB"); err != nil {
		return err
	}
	if err = r.mic(&v.MIC); err != nil {
		return err
	}
	if err = r.ExpectEnd(); err != nil {
		return err
	}
	*m = v
	return nil
}

// UnmarshalBinary decodes a Solicitation; the input must hold exactly one.
func (m *Solicitation) UnmarshalBinary(b []byte) error {
	r := newReader(m.name(), b)
	var v Solicitation
	var err error
	if v.Restricted, err = header(r, ExtU2URelaySolicitation, ModelB); err != nil {
		return err
	}
	if v.RSC, err = r.rsc(); err != nil {
		return err
	}
	if v.DiscovererUserInfo, err = r.lv("Discoverer user info", 1, MaxUserInfoLen); err != nil {
		return err
	}
	if v.TargetUserInfo, err = r.lv("Target user info", 1, MaxUserInfoLen); err != nil {
		return err
	}
	if v.SourceUserInfo, err = r.lv("Source user info", 0, MaxUserInfoLen); err != nil {
		return err
	}
	if v.UTCCounterLSB, err = r.ReadUint8("UTC-based counter LSB"); err != nil {
		return err
	}
	if err = r.mic(&v.MIC); err != nil {
		return err
	}
	if err = r.ExpectEnd(); err != nil {
		return err
	}
	*m = v
	return nil
}

// Parse decodes one discovery message of any type this package knows, by
// its message type and content type extension octets.
func Parse(b []byte) (Message, error) {
	if len(b) < 2 {
		return nil, newError("message", "message type", ErrTruncated, "need 2 octets, have %d", len(b))
	}
	mt := MessageType(b[0])
	if mt.Content() != ContentExtension {
		return nil, newError("message", "message type", ErrUnknownType, "content type %s (0x%02x) is not UE-to-UE relay discovery", mt.Content(), b[0])
	}
	var m Message
	switch ext := ContentTypeExt(b[1]); {
	case ext == ExtU2URelayAnnounceResponse && mt.Model() == ModelA:
		m = new(Announcement)
	case ext == ExtU2URelayAnnounceResponse && mt.Model() == ModelB:
		m = new(Response)
	case ext == ExtU2URelaySolicitation && mt.Model() == ModelB:
		m = new(Solicitation)
	default:
		return nil, newError("message", "content type extension", ErrUnknownType, "%s with %s", ext, mt.Model())
	}
	if err := m.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	return m, nil
}
