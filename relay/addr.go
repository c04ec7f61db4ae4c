package relay

import (
	"net/netip"

	"github.com/prosesec/prosesec/pc5/medium"
)

// Addressing (PROJECT-DEFINED, not 3GPP). Each relay owns one IPv6
// unique-local /64 (RFC 4193) derived from its Layer-2 ID:
//
//	fd50:43RR:RRRR:0000::/64          RR RRRR = the relay's Layer-2 ID
//	fd50:43RR:RRRR:0000::UU:UUUU      the end UE with Layer-2 ID UU UUUU
//
// The 40-bit global ID is 0x5043 ("PC") followed by the relay's 24-bit
// Layer-2 ID, the subnet ID is 0. An end UE's interface ID is its own
// Layer-2 ID, so every party computes every address from the two Layer-2
// IDs it already knows: the source learns the target's address in the
// ESTABLISHMENT ACCEPT (target IP address) and its own with Addr(relay,
// self); the target computes its own from the relay's Layer-2 ID, the
// sender of the hop-2 REQUEST. The relay assigns the address of an end UE
// when that UE's link is established and routes to it by destination.

// Prefix returns the /64 of the relay with Layer-2 ID relay.
func Prefix(relay medium.L2ID) netip.Prefix {
	var b [16]byte
	b[0], b[1], b[2] = 0xfd, 0x50, 0x43
	b[3], b[4], b[5] = byte(relay>>16), byte(relay>>8), byte(relay)
	return netip.PrefixFrom(netip.AddrFrom16(b), 64)
}

// Addr returns the address of end UE ue behind relay.
func Addr(relay, ue medium.L2ID) netip.Addr {
	b := Prefix(relay).Addr().As16()
	b[13], b[14], b[15] = byte(ue>>16), byte(ue>>8), byte(ue)
	return netip.AddrFrom16(b)
}

// IPv6 header fields read by the relay (RFC 8200 §3).
const (
	ipv6HeaderLen = 40
	ipv6SrcOff    = 8
	ipv6DstOff    = 24
)

// ipv6Addrs returns the source and destination of an IPv6 packet, or false
// if pkt is not one.
func ipv6Addrs(pkt []byte) (src, dst netip.Addr, ok bool) {
	if len(pkt) < ipv6HeaderLen || pkt[0]>>4 != 6 {
		return src, dst, false
	}
	src = netip.AddrFrom16([16]byte(pkt[ipv6SrcOff : ipv6SrcOff+16]))
	dst = netip.AddrFrom16([16]byte(pkt[ipv6DstOff : ipv6DstOff+16]))
	return src, dst, true
}
