package msg

import "encoding/binary"

// Message is a decoded PC5 signalling message. Every message type of this
// package is a pointer to a plain struct implementing it.
//
// Encodings include the message type octet. Marshal is deterministic:
// mandatory fields in order, then the message's own optional IEs in the
// order of its ieSet, then Unknown IEs as kept. A sender can therefore hash
// exactly what it sends, and a receiver hashes the octets it received.
type Message interface {
	// MessageType returns the message type octet value.
	MessageType() MessageType
	// SequenceNumber returns the PC5 signalling sequence number.
	SequenceNumber() uint8
	// MarshalLen returns the encoded length. It is meaningful only for a
	// message that Marshal accepts.
	MarshalLen() int
	// MarshalTo encodes into b and returns the number of octets written.
	// It fails with ErrShortBuffer if len(b) < MarshalLen(); on error the
	// contents of b are unspecified.
	MarshalTo(b []byte) (int, error)
	// Marshal returns the encoding in a new slice of exactly MarshalLen octets.
	Marshal() ([]byte, error)
	// UnmarshalBinary decodes a whole message (type octet included). On
	// error the receiver is left unchanged. Decoded values never alias b.
	UnmarshalBinary(b []byte) error
}

// encoder is what the shared marshal helpers need from a message or a
// Key_Est_Info payload.
type encoder interface {
	context() string
	build(b *builder)
}

func marshalLen(m encoder) int {
	b := newCounter(m.context())
	m.build(b)
	return b.Len()
}

func marshalTo(m encoder, p []byte) (int, error) {
	b := newWriter(m.context(), p)
	m.build(b)
	return b.Finish()
}

func marshal(m encoder) ([]byte, error) {
	c := newCounter(m.context())
	m.build(c)
	n, err := c.Finish()
	if err != nil {
		return nil, err
	}
	p := make([]byte, n)
	if _, err := marshalTo(m, p); err != nil {
		return nil, err
	}
	return p, nil
}

// Parse decodes one PC5 signalling message, dispatching on the type octet.
// Known types without a codec here (MODIFICATION, IDENTIFIER UPDATE) fail
// with ErrUnsupportedMessageType; other values with ErrUnknownMessageType.
func Parse(b []byte) (Message, error) {
	if len(b) == 0 {
		return nil, newError("PC5-S message", "message type", ErrTruncated, "need 1 octet, have 0")
	}
	m, err := newMessage(MessageType(b[0]))
	if err != nil {
		return nil, err
	}
	if err := m.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	return m, nil
}

func newMessage(t MessageType) (Message, error) {
	switch t {
	case MsgEstablishmentRequest:
		return new(DirectLinkEstablishmentRequest), nil
	case MsgEstablishmentAccept:
		return new(DirectLinkEstablishmentAccept), nil
	case MsgEstablishmentReject:
		return new(DirectLinkEstablishmentReject), nil
	case MsgReleaseRequest:
		return new(DirectLinkReleaseRequest), nil
	case MsgReleaseAccept:
		return new(DirectLinkReleaseAccept), nil
	case MsgAuthenticationRequest:
		return new(DirectLinkAuthenticationRequest), nil
	case MsgAuthenticationResponse:
		return new(DirectLinkAuthenticationResponse), nil
	case MsgAuthenticationReject:
		return new(DirectLinkAuthenticationReject), nil
	case MsgSecurityModeCommand:
		return new(DirectLinkSecurityModeCommand), nil
	case MsgSecurityModeComplete:
		return new(DirectLinkSecurityModeComplete), nil
	case MsgSecurityModeReject:
		return new(DirectLinkSecurityModeReject), nil
	case MsgKeepaliveRequest:
		return new(DirectLinkKeepaliveRequest), nil
	case MsgKeepaliveResponse:
		return new(DirectLinkKeepaliveResponse), nil
	case MsgRekeyingRequest:
		return new(DirectLinkRekeyingRequest), nil
	case MsgRekeyingResponse:
		return new(DirectLinkRekeyingResponse), nil
	case MsgModificationRequest, MsgModificationAccept, MsgModificationReject,
		MsgIdentifierUpdateRequest, MsgIdentifierUpdateAccept, MsgIdentifierUpdateAck, MsgIdentifierUpdateReject:
		return nil, newError(t.short(), "", ErrUnsupportedMessageType, "no codec for %v (type 0x%02x)", t, uint8(t))
	}
	return nil, newError("PC5-S message", "message type", ErrUnknownMessageType, "unknown value 0x%02x", uint8(t))
}

// startParse checks the type octet and returns a reader positioned after it.
func startParse(b []byte, t MessageType) (*reader, error) {
	r := newReader(t.short(), b)
	got, err := r.ReadUint8("message type")
	if err != nil {
		return nil, err
	}
	if MessageType(got) != t {
		return nil, r.errf("message type", ErrWrongMessageType, "need 0x%02x, have 0x%02x", uint8(t), got)
	}
	return r, nil
}

// Helpers for optional IEs: the registry supplies format and bounds.

// addIE writes optional IE iei with value v according to the registry.
func (b *builder) addIE(iei IEI, v []byte) {
	d := ieTable[iei]
	switch d.format {
	case FormatTV:
		if len(v) != d.min {
			b.fail(d.name, ErrLength, "need %d %s, have %d", d.min, octets(d.min), len(v))
			return
		}
		b.AddUint8(uint8(iei))
		b.AddBytes(v)
	case FormatTLV:
		b.AddTLV(iei, d.name, d.min, d.max, bytesOf(v))
	case FormatTLVE:
		b.AddTLVE(iei, d.name, d.min, d.max, bytesOf(v))
	}
}

func (b *builder) addOptBytes(iei IEI, v []byte) {
	if len(v) > 0 {
		b.addIE(iei, v)
	}
}

func (b *builder) addOptUint8(iei IEI, v *uint8) {
	if v != nil {
		b.addIE(iei, []byte{*v})
	}
}

func (b *builder) addOptUint16(iei IEI, v *uint16) {
	if v != nil {
		var x [2]byte
		binary.BigEndian.PutUint16(x[:], *v)
		b.addIE(iei, x[:])
	}
}

func (b *builder) addOptUint32(iei IEI, v *uint32) {
	if v != nil {
		var x [4]byte
		binary.BigEndian.PutUint32(x[:], *v)
		b.addIE(iei, x[:])
	}
}

func (b *builder) addOptNonce(iei IEI, v *[NonceLen]byte) {
	if v != nil {
		b.addIE(iei, v[:])
	}
}

// addOptType1 writes a type-1 IE with a 4-bit value, if present.
func (b *builder) addOptType1(iei IEI, v *uint8) {
	if v == nil {
		return
	}
	if *v > 0x0F {
		b.fail(iei.String(), ErrInvalid, "value %d does not fit in 4 bits", *v)
		return
	}
	b.AddUint8(uint8(iei) | *v)
}

func ptr[T any](v T) *T { return &v }

// The user info, ProSe identifiers and KEIC bounds, shared by several messages.

func (b *builder) addUserInfo(field string, v []byte) {
	b.AddLV(field, MinUserInfoLen, MaxUserInfoLen, bytesOf(v))
}

func (r *reader) readUserInfo(field string) ([]byte, error) {
	v, err := r.ReadLV(field, MinUserInfoLen, MaxUserInfoLen)
	return clone(v), err
}

func (b *builder) addSeq(t MessageType, seq uint8) {
	b.AddUint8(uint8(t))
	b.AddUint8(seq)
}

func (r *reader) readSeq() (uint8, error) { return r.ReadUint8("Sequence number") }

func (r *reader) readCause() (Cause, error) {
	c, err := r.ReadUint8("PC5 signalling protocol cause")
	return Cause(c), err
}

// readOnlyUnknown reads the optional part of a message that defines no
// optional IE.
func (r *reader) readOnlyUnknown() ([]RawIE, error) {
	return r.ReadOptionalIEs(nil, func(IEI, uint8, []byte) error { return nil })
}
