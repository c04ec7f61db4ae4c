package msg

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// gen draws random valid field values from a fixed-seed source.
type gen struct{ r *rand.Rand }

func (g gen) bytes(min, max int) []byte {
	n := min + g.r.IntN(max-min+1)
	if n == 0 {
		return nil
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.r.UintN(256))
	}
	return b
}

// sizes skewed to small values with an occasional maximum.
func (g gen) size(min, max int) (int, int) {
	switch g.r.IntN(8) {
	case 0:
		return max, max
	case 1:
		return min, min
	}
	return min, min2(max, min+20)
}

func (g gen) sized(min, max int) []byte { return g.bytes(g.size(min, max)) }

func (g gen) coin() bool { return g.r.IntN(2) == 0 }

func (g gen) u8() uint8   { return uint8(g.r.UintN(256)) }
func (g gen) u16() uint16 { return uint16(g.r.UintN(1 << 16)) }
func (g gen) u32() uint32 { return g.r.Uint32() }

func (g gen) optBytes(min, max int) []byte {
	if g.coin() {
		return nil
	}
	return g.sized(min, max)
}

func optU8(g gen) *uint8 {
	if g.coin() {
		return nil
	}
	return ptr(g.u8())
}

func optU16(g gen) *uint16 {
	if g.coin() {
		return nil
	}
	return ptr(g.u16())
}

func optU32(g gen) *uint32 {
	if g.coin() {
		return nil
	}
	return ptr(g.u32())
}

func (g gen) nonce() [NonceLen]byte {
	var n [NonceLen]byte
	copy(n[:], g.bytes(NonceLen, NonceLen))
	return n
}

func (g gen) caps() UESecurityCapabilities {
	return UESecurityCapabilities{EA: g.u8(), IA: g.u8(), Extra: g.bytes(0, MaxSecCapLen-2)}
}

// unknown returns IEs that a message with optional set allowed treats as
// unknown: unregistered IEIs of every range, and registered IEIs that are
// foreign to the message.
func (g gen) unknown(allowed ieSet) []RawIE {
	var out []RawIE
	for n := g.r.IntN(4); n > 0; n-- {
		o := uint8(0x10 + g.r.IntN(0xf0))
		f, min, max, _, _ := formatOf(o)
		if lookupIE(o) != nil && allowed.index(IEI(ieKey(o))) >= 0 {
			continue
		}
		ie := RawIE{IEI: o, Format: f}
		switch f {
		case FormatTV:
			ie.Value = g.bytes(min, max)
		case FormatTLV, FormatTLVE:
			ie.Value = g.bytes(min, min2(max, min+40))
		}
		out = append(out, ie)
	}
	return out
}

func (g gen) addr(v6only bool) netip.Addr {
	if g.coin() {
		return netip.Addr{}
	}
	if !v6only && g.coin() {
		return netip.AddrFrom4([4]byte(g.bytes(4, 4)))
	}
	return netip.AddrFrom16([16]byte(g.bytes(16, 16)))
}

func (g gen) message() Message {
	switch g.r.IntN(15) {
	case 0:
		var ids []uint32
		for n := g.r.IntN(4); n > 0; n-- {
			ids = append(ids, g.u32())
		}
		if g.r.IntN(20) == 0 {
			ids = make([]uint32, MaxProSeIDs)
		}
		m := &DirectLinkEstablishmentRequest{
			Seq: g.u8(), ProSeIdentifiers: ids, SourceUserInfo: g.sized(MinUserInfoLen, MaxUserInfoLen),
			UESecurityCapabilities: g.caps(), SignallingSecurityPolicy: UnicastSecurityPolicy(g.u8()),
			TargetUserInfo: g.optBytes(MinUserInfoLen, MaxUserInfoLen),
			KeyEstInfo:     g.optBytes(1, MaxKeyEstInfoLen),
			KNRPSessIDMSB:  optU8(g), KNRPID: optU32(g),
			Unknown: g.unknown(establishmentRequestIEs),
		}
		if g.coin() {
			n := g.nonce()
			m.Nonce1 = &n
		}
		if g.coin() {
			m.RelayServiceCode = ptr(g.u32() & MaxRelayServiceCode)
		}
		return m
	case 1:
		m := &DirectLinkEstablishmentAccept{
			Seq: g.u8(), SourceUserInfo: g.sized(MinUserInfoLen, MaxUserInfoLen),
			QoSFlowDescriptions: g.sized(0, MaxQoSFlowDescriptionsLen),
			UPProtectionConfig:  UPProtectionConfig(g.u8()),
			LinkLocalIPv6:       g.addr(true), TargetIPAddress: g.addr(false),
			Unknown: g.unknown(establishmentAcceptIEs),
		}
		if g.coin() {
			m.IPAddressConfig = ptr(IPAddressConfig(g.u8()))
		}
		return m
	case 2:
		return &DirectLinkEstablishmentReject{Seq: g.u8(), Cause: Cause(g.u8()), Unknown: g.unknown(nil)}
	case 3:
		return &DirectLinkSecurityModeCommand{
			Seq: g.u8(), UESecurityCapabilities: g.caps(), Nonce2: g.nonce(),
			SelectedAlgorithms: SelectedAlgorithms(g.u8()), SignallingSecurityPolicy: UnicastSecurityPolicy(g.u8()),
			KNRPSessIDLSB: g.u8(), KeyEstInfo: g.optBytes(1, MaxKeyEstInfoLen), KNRPIDMSBs: optU16(g),
			Unknown: g.unknown(securityModeCommandIEs),
		}
	case 4:
		m := &DirectLinkSecurityModeComplete{
			Seq: g.u8(), KNRPIDLSBs: optU16(g), KeyEstInfo: g.optBytes(1, MaxKeyEstInfoLen),
			Unknown: g.unknown(securityModeCompleteIEs),
		}
		if g.coin() {
			m.UPSecurityPolicy = ptr(UnicastSecurityPolicy(g.u8()))
		}
		return m
	case 5:
		return &DirectLinkSecurityModeReject{Seq: g.u8(), Cause: Cause(g.u8())}
	case 6:
		m := &DirectLinkRekeyingRequest{
			Seq: g.u8(), UESecurityCapabilities: g.caps(), Nonce1: g.nonce(), KNRPSessIDMSB: g.u8(),
			KeyEstInfo: g.optBytes(1, MaxKeyEstInfoLen), Unknown: g.unknown(rekeyingRequestIEs),
		}
		if g.coin() {
			m.ReauthIndication = ptr(g.u8() & 0x0F)
		}
		return m
	case 7:
		return &DirectLinkRekeyingResponse{Seq: g.u8(), Unknown: g.unknown(nil)}
	case 8:
		return &DirectLinkReleaseRequest{Seq: g.u8(), Cause: Cause(g.u8()), Unknown: g.unknown(nil)}
	case 9:
		return &DirectLinkReleaseAccept{Seq: g.u8(), Unknown: g.unknown(nil)}
	case 10:
		return &DirectLinkKeepaliveRequest{Seq: g.u8(), KeepaliveCounter: g.u32(), MaxInactivityPeriod: optU32(g), Unknown: g.unknown(keepaliveRequestIEs)}
	case 11:
		return &DirectLinkKeepaliveResponse{Seq: g.u8(), KeepaliveCounter: g.u32(), Unknown: g.unknown(nil)}
	case 12:
		return &DirectLinkAuthenticationRequest{Seq: g.u8(), KeyEstInfo: g.sized(1, MaxKeyEstInfoLen), Unknown: g.unknown(nil)}
	case 13:
		return &DirectLinkAuthenticationResponse{Seq: g.u8(), KeyEstInfo: g.sized(1, MaxKeyEstInfoLen)}
	default:
		return &DirectLinkAuthenticationReject{Seq: g.u8(), Cause: Cause(g.u8())}
	}
}

var allSuites = []Suite{SuiteP256ECDSAP256, SuiteX25519Ed25519, SuiteX25519ECDSAP256, SuiteP256Ed25519}

func (g gen) keyShare(s Suite) []byte {
	k := g.bytes(s.KeyShareLen(), s.KeyShareLen())
	if s.KeyExchange() == KeyExchangeP256 {
		k[0] = 0x04
	}
	return k
}

func (g gen) tokenFormat() TokenFormat { return TokenFormat(1 + g.r.IntN(2)) }

func (g gen) payload() (payload, func() payload) {
	s := allSuites[g.r.IntN(len(allSuites))]
	switch g.r.IntN(3) {
	case 0:
		return &KeyEstInit{Suite: s, EphemeralPublicKey: g.keyShare(s)}, newInit
	case 1:
		return &KeyEstResponse{
			Suite: s, EphemeralPublicKey: g.keyShare(s), TokenFormat: g.tokenFormat(),
			Token: g.sized(1, MaxTokenLen), Signature: g.bytes(SignatureLen, SignatureLen),
		}, newResponse
	default:
		return &KeyEstFinish{
			Suite: s, TokenFormat: g.tokenFormat(),
			Token: g.sized(1, MaxTokenLen), Signature: g.bytes(SignatureLen, SignatureLen),
		}, newFinish
	}
}

func TestRandomRoundTrip(t *testing.T) {
	g := gen{rand.New(rand.NewPCG(0x70c5, 33740))}
	counts := map[MessageType]int{}
	for i := 0; i < 5000; i++ {
		m := g.message()
		counts[m.MessageType()]++
		b, err := m.Marshal()
		if err != nil {
			t.Fatalf("#%d Marshal(%#v): %v", i, m, err)
		}
		if m.MarshalLen() != len(b) {
			t.Fatalf("#%d MarshalLen %d != %d", i, m.MarshalLen(), len(b))
		}
		p, err := Parse(b)
		if err != nil {
			t.Fatalf("#%d Parse(%x): %v", i, b, err)
		}
		if !reflect.DeepEqual(p, m) {
			t.Fatalf("#%d round trip:\n got %#v\nwant %#v", i, p, m)
		}
		b2, err := p.Marshal()
		if err != nil || !bytes.Equal(b2, b) {
			t.Fatalf("#%d re-marshal differs: %v", i, err)
		}
		if i%10 == 0 && len(b) < 600 {
			checkPrefixes(t, b, m, -1)
		}
	}
	if len(counts) != 15 {
		t.Fatalf("generator covered %d message types, want 15", len(counts))
	}
}

func TestRandomKeyEstRoundTrip(t *testing.T) {
	g := gen{rand.New(rand.NewPCG(0x4b45, 1))}
	for i := 0; i < 3000; i++ {
		v, fresh := g.payload()
		b, err := v.Marshal()
		if err != nil {
			t.Fatalf("#%d Marshal(%#v): %v", i, v, err)
		}
		if v.MarshalLen() != len(b) {
			t.Fatalf("#%d MarshalLen", i)
		}
		p := fresh()
		if err := p.UnmarshalBinary(b); err != nil {
			t.Fatalf("#%d UnmarshalBinary: %v", i, err)
		}
		if !reflect.DeepEqual(p, v) {
			t.Fatalf("#%d round trip:\n got %#v\nwant %#v", i, p, v)
		}
		b2, err := p.Marshal()
		if err != nil || !bytes.Equal(b2, b) {
			t.Fatalf("#%d re-marshal differs", i)
		}
		if i%10 == 0 {
			for k := 0; k < len(b); k++ {
				if fresh().UnmarshalBinary(b[:k]) == nil {
					t.Fatalf("#%d prefix %d/%d parsed", i, k, len(b))
				}
			}
		}
	}
}
