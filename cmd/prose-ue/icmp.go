package main

import (
	"encoding/binary"
	"net/netip"
)

// ICMPv6 echo (RFC 4443 §4) in an IPv6 packet (RFC 8200).
const (
	nextHeaderICMPv6 = 58
	icmpEchoRequest  = 128
	icmpEchoReply    = 129
)

// echoRequest builds an IPv6 packet with an ICMPv6 echo request carrying n
// octets of data.
func echoRequest(src, dst netip.Addr, id, seq uint16, n int) []byte {
	p := make([]byte, 40+8+n)
	p[0] = 0x60
	binary.BigEndian.PutUint16(p[4:], uint16(8+n))
	p[6], p[7] = nextHeaderICMPv6, 64
	s, d := src.As16(), dst.As16()
	copy(p[8:24], s[:])
	copy(p[24:40], d[:])
	p[40] = icmpEchoRequest
	binary.BigEndian.PutUint16(p[44:], id)
	binary.BigEndian.PutUint16(p[46:], seq)
	for i := range n {
		p[48+i] = byte(i)
	}
	binary.BigEndian.PutUint16(p[42:], icmpChecksum(p))
	return p
}

func isICMPEcho(pkt []byte, typ byte) (uint16, bool) {
	if len(pkt) < 48 || pkt[0]>>4 != 6 || pkt[6] != nextHeaderICMPv6 || pkt[40] != typ ||
		int(binary.BigEndian.Uint16(pkt[4:])) != len(pkt)-40 || icmpChecksum(pkt) != binary.BigEndian.Uint16(pkt[42:]) {
		return 0, false
	}
	return binary.BigEndian.Uint16(pkt[46:]), true
}

func isEchoReply(pkt []byte) (uint16, bool) { return isICMPEcho(pkt, icmpEchoReply) }

// echoReply answers an echo request: addresses swapped, type 129, new
// checksum.
func echoReply(pkt []byte) ([]byte, uint16, bool) {
	seq, ok := isICMPEcho(pkt, icmpEchoRequest)
	if !ok {
		return nil, 0, false
	}
	r := append([]byte(nil), pkt...)
	copy(r[8:24], pkt[24:40])
	copy(r[24:40], pkt[8:24])
	r[40] = icmpEchoReply
	binary.BigEndian.PutUint16(r[42:], icmpChecksum(r))
	return r, seq, true
}

// icmpChecksum computes the ICMPv6 checksum over the pseudo-header and the
// message, with the checksum field taken as zero.
func icmpChecksum(p []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	add(p[8:40])
	sum += uint32(len(p) - 40)
	sum += nextHeaderICMPv6
	msg := p[40:]
	add(msg[:2])
	add(msg[4:])
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
