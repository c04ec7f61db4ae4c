package medium

import (
	"encoding/binary"
	"fmt"
)

// The UDP frame header. PROJECT-DEFINED (no 3GPP coding: on a real radio
// the Layer-2 IDs and the LCID travel in the SCI and the MAC subheaders of
// TS 38.212/38.321). All fields big-endian:
//
//	octet 0      version (FrameVersion)
//	octets 1..3  source Layer-2 ID (24 bits, unicast)
//	octets 4..6  destination Layer-2 ID (24 bits, unicast or Broadcast)
//	octet 7      LCID (0..MaxLCID)
//	octets 8..9  payload length (0..MaxPayload), equal to what follows
//	octets 10..  payload
const (
	FrameVersion    = 1
	FrameHeaderLen  = 10
	MaxFrameLen     = FrameHeaderLen + MaxPayload
	frameLenOffset  = 8
	frameDstOffset  = 4
	frameLCIDOffset = 7
)

// AppendFrame appends the encoding of f to dst. The RSSI is not encoded.
func AppendFrame(dst []byte, f Frame) ([]byte, error) {
	if !f.Src.Valid() {
		return dst, fmt.Errorf("%w: source %s", ErrInvalidL2ID, f.Src)
	}
	if err := f.check(); err != nil {
		return dst, err
	}
	var h [FrameHeaderLen]byte
	h[0] = FrameVersion
	put24(h[1:], uint32(f.Src))
	put24(h[frameDstOffset:], uint32(f.Dst))
	h[frameLCIDOffset] = f.LCID
	binary.BigEndian.PutUint16(h[frameLenOffset:], uint16(len(f.Payload)))
	dst = append(dst, h[:]...)
	return append(dst, f.Payload...), nil
}

// DecodeFrame decodes one datagram. Every field is checked: the version,
// a unicast source, a unicast or broadcast destination, the LCID range, and
// a length field equal to the octets that follow and at most MaxPayload.
// The payload is copied. Errors wrap ErrMalformed.
func DecodeFrame(b []byte) (Frame, error) {
	if len(b) < FrameHeaderLen {
		return Frame{}, fmt.Errorf("%w: %d octets, need at least the %d-octet header", ErrMalformed, len(b), FrameHeaderLen)
	}
	if b[0] != FrameVersion {
		return Frame{}, fmt.Errorf("%w: version %d, want %d", ErrMalformed, b[0], FrameVersion)
	}
	f := Frame{
		Src:  L2ID(get24(b[1:])),
		Dst:  L2ID(get24(b[frameDstOffset:])),
		LCID: b[frameLCIDOffset],
	}
	if !f.Src.Valid() {
		return Frame{}, fmt.Errorf("%w: source Layer-2 ID %s is not a unicast ID", ErrMalformed, f.Src)
	}
	if f.Dst == 0 {
		return Frame{}, fmt.Errorf("%w: destination Layer-2 ID 000000", ErrMalformed)
	}
	if f.LCID > MaxLCID {
		return Frame{}, fmt.Errorf("%w: LCID %d, want 0..%d", ErrMalformed, f.LCID, MaxLCID)
	}
	n := int(binary.BigEndian.Uint16(b[frameLenOffset:]))
	if n > MaxPayload {
		return Frame{}, fmt.Errorf("%w: payload length %d exceeds %d", ErrMalformed, n, MaxPayload)
	}
	if rest := len(b) - FrameHeaderLen; rest != n {
		return Frame{}, fmt.Errorf("%w: payload length field %d, but %d octets follow the header", ErrMalformed, n, rest)
	}
	if n > 0 {
		f.Payload = append([]byte(nil), b[FrameHeaderLen:]...)
	}
	return f, nil
}

func put24(b []byte, v uint32) { b[0], b[1], b[2] = byte(v>>16), byte(v>>8), byte(v) }

func get24(b []byte) uint32 { return uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]) }
