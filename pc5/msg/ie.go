package msg

import (
	"fmt"
	"strings"
)

// ieDef describes one optional IE known to this package. For TV IEs min and
// max are the fixed value length; for TLV / TLV-E they bound the contents;
// type-1 IEs have no value octets beyond the IEI octet.
type ieDef struct {
	iei      IEI
	name     string
	format   IEFormat
	min, max int
}

// ieDefs is the package-wide registry: an IEI means the same thing, with the
// same format, in every message. The values are in codepoints.go.
var ieDefs = []ieDef{
	{IEITargetUserInfo, "Target user info", FormatTLV, MinUserInfoLen, MaxUserInfoLen},
	{IEIKeyEstInfo, "Key establishment information container", FormatTLVE, 1, MaxKeyEstInfoLen},
	{IEINonce1, "Nonce_1", FormatTV, NonceLen, NonceLen},
	{IEIKNRPSessIDMSB, "MSB of KNRP-sess ID", FormatTV, 1, 1},
	{IEIKNRPID, "KNRP ID", FormatTV, 4, 4},
	{IEIRelayServiceCode, "Relay service code", FormatTV, 3, 3},
	{IEIKNRPIDMSBs, "MSBs of KNRP ID", FormatTV, 2, 2},
	{IEIKNRPIDLSBs, "LSBs of KNRP ID", FormatTV, 2, 2},
	{IEIUPSecurityPolicy, "UE PC5 unicast user plane security policy", FormatTV, 1, 1},
	{IEIIPAddressConfig, "IP address configuration", FormatTV, 1, 1},
	{IEILinkLocalIPv6, "Link local IPv6 address", FormatTV, linkLocalIPv6Len, linkLocalIPv6Len},
	{IEIMaxInactivityPeriod, "Maximum inactivity period", FormatTV, 4, 4},
	{IEITargetIPAddress, "Target IP address", FormatTLV, 4, 16},
	{IEIReauthIndication, "Re-authentication indication", FormatType1, 0, 0},
}

var ieTable = func() (t [256]*ieDef) {
	for i := range ieDefs {
		d := &ieDefs[i]
		if t[d.iei] != nil {
			panic("pc5/msg: duplicate IEI in registry: " + d.name)
		}
		if d.format == FormatType1 && uint8(d.iei)&0x0F != 0 {
			panic("pc5/msg: type-1 IEI must have a zero low nibble: " + d.name)
		}
		t[d.iei] = d
	}
	return t
}()

// ieKey maps an IEI octet to its registry key: type-1 IEs (0x80..0xFF) are
// identified by their high nibble.
func ieKey(o uint8) uint8 {
	if o >= ieiType1Min {
		return o & 0xF0
	}
	return o
}

func lookupIE(o uint8) *ieDef { return ieTable[ieKey(o)] }

// formatOf returns the framing of IEI octet o: the registry's for a known IE,
// else the range rule of codepoints.go. ok is false in the
// comprehension-required range.
func formatOf(o uint8) (f IEFormat, min, max int, name string, ok bool) {
	if d := lookupIE(o); d != nil {
		return d.format, d.min, d.max, d.name, true
	}
	name = fmt.Sprintf("unknown IE 0x%02x", o)
	switch {
	case o <= ieiComprehensionRequiredMax:
		return 0, 0, 0, name, false
	case o >= ieiType1Min:
		return FormatType1, 0, 0, name, true
	case o >= ieiTLVEMin && o <= ieiTLVEMax:
		return FormatTLVE, 0, 0xFFFF, name, true
	default:
		return FormatTLV, 0, 0xFF, name, true
	}
}

// RawIE is an optional IE that the message being decoded does not define:
// either an IEI unknown to this package, or a known IE that does not belong
// to this message. Such IEs are kept, in order of appearance, and written
// back after the message's own optional IEs on marshal, so nothing is
// silently lost.
type RawIE struct {
	// IEI is the IEI octet. For a type-1 IE it is the whole IE (IEI nibble
	// and value nibble).
	IEI uint8
	// Format is the framing: the registry's for a known IEI, otherwise the
	// range rule (0x10..0x6F TLV, 0x70..0x7F TLV-E, 0x80..0xFF type 1).
	Format IEFormat
	// Value is the contents without IEI and length; nil for type 1.
	Value []byte
}

// ieSet lists the optional IEs of one message, in the order they are
// written on marshal.
type ieSet []IEI

func (s ieSet) index(i IEI) int {
	for k, v := range s {
		if v == i {
			return k
		}
	}
	return -1
}

// ReadOptionalIEs reads the non-imperative part of a message up to the end
// of the input. For each IE defined by the message (in allowed) it calls set
// with the IEI, the IEI octet and the value (a sub-slice of the input);
// every other IE is returned as a RawIE. Any IE present twice is an error;
// so is an unknown IE in the comprehension-required range.
func (r *reader) ReadOptionalIEs(allowed ieSet, set func(iei IEI, octet uint8, v []byte) error) ([]RawIE, error) {
	var seen uint64
	var unknown []RawIE
	for !r.Empty() {
		o, err := r.ReadUint8("IEI") // cannot fail: not Empty
		if err != nil {
			return nil, err
		}
		f, min, max, name, ok := formatOf(o)
		if !ok {
			return nil, r.errf(name, ErrComprehensionRequired, "IEI 0x%02x is in the comprehension-required range 0x00..0x0f", o)
		}
		var v []byte
		switch f {
		case FormatTV:
			v, err = r.ReadFixed(name, min)
		case FormatTLV:
			v, err = r.ReadLV(name, min, max)
		case FormatTLVE:
			v, err = r.ReadLVE(name, min, max)
		}
		if err != nil {
			return nil, err
		}
		if k := allowed.index(IEI(ieKey(o))); k >= 0 && lookupIE(o) != nil {
			if seen&(1<<k) != 0 {
				return nil, r.errf(name, ErrDuplicateIE, "IEI 0x%02x appears twice", ieKey(o))
			}
			seen |= 1 << k
			if err := set(IEI(ieKey(o)), o, v); err != nil {
				return nil, err
			}
			continue
		}
		unknown = append(unknown, RawIE{IEI: o, Format: f, Value: clone(v)})
	}
	return unknown, nil
}

// addUnknown writes the kept RawIEs back, checking that each one re-parses
// as the same RawIE (right format, right length, not an IE the message
// defines).
func (b *builder) addUnknown(allowed ieSet, unknown []RawIE) {
	for _, u := range unknown {
		f, min, max, name, ok := formatOf(u.IEI)
		switch {
		case !ok:
			b.fail(name, ErrInvalid, "IEI 0x%02x is in the comprehension-required range", u.IEI)
		case lookupIE(u.IEI) != nil && allowed.index(IEI(ieKey(u.IEI))) >= 0:
			b.fail(name, ErrInvalid, "IEI 0x%02x is defined by this message; use its field, not Unknown", u.IEI)
		case u.Format != f:
			b.fail(name, ErrInvalid, "IEI 0x%02x must be %v, have %v", u.IEI, f, u.Format)
		}
		switch f {
		case FormatType1:
			if len(u.Value) != 0 {
				b.fail(name, ErrInvalid, "type-1 IE carries no value octets, have %d", len(u.Value))
			}
			b.AddUint8(u.IEI)
		case FormatTV:
			if len(u.Value) != min {
				b.fail(name, ErrLength, "need %d %s, have %d", min, octets(min), len(u.Value))
			}
			b.AddUint8(u.IEI)
			b.AddBytes(u.Value)
		case FormatTLV:
			b.AddTLV(IEI(u.IEI), name, min, max, bytesOf(u.Value))
		case FormatTLVE:
			b.AddTLVE(IEI(u.IEI), name, min, max, bytesOf(u.Value))
		}
	}
}

// ---------------------------------------------------------------------------
// IE value types
// ---------------------------------------------------------------------------

// UESecurityCapabilities is the contents of the UE security capabilities IE
// (notes §3.4): octet 1 lists the 5G-EA algorithms (bit 8 = EA0 ... bit 1 =
// EA7), octet 2 the 5G-IA algorithms, octets 3..8 are optional and kept
// verbatim in Extra (nil when absent).
type UESecurityCapabilities struct {
	EA    uint8
	IA    uint8
	Extra []byte
}

// NewUESecurityCapabilities returns capabilities listing the given 4-bit
// ciphering and integrity algorithm identities (0..7).
func NewUESecurityCapabilities(ciphering, integrity []uint8) UESecurityCapabilities {
	var c UESecurityCapabilities
	for _, a := range ciphering {
		c.EA |= algBit(a)
	}
	for _, a := range integrity {
		c.IA |= algBit(a)
	}
	return c
}

func algBit(id uint8) uint8 {
	if id > 7 {
		return 0
	}
	return 0x80 >> id
}

// SupportsCiphering reports whether 5G-EA<id> is listed.
func (c UESecurityCapabilities) SupportsCiphering(id uint8) bool {
	return id <= 7 && c.EA&algBit(id) != 0
}

// SupportsIntegrity reports whether 5G-IA<id> is listed.
func (c UESecurityCapabilities) SupportsIntegrity(id uint8) bool {
	return id <= 7 && c.IA&algBit(id) != 0
}

// Equal reports whether c and d encode to the same octets (the replay check
// of the SECURITY MODE COMMAND uses it).
func (c UESecurityCapabilities) Equal(d UESecurityCapabilities) bool {
	return c.EA == d.EA && c.IA == d.IA && string(c.Extra) == string(d.Extra)
}

func (c UESecurityCapabilities) String() string {
	var s strings.Builder
	s.WriteString("EA{")
	for i := uint8(0); i < 8; i++ {
		if c.SupportsCiphering(i) {
			fmt.Fprintf(&s, " %d", i)
		}
	}
	s.WriteString(" } IA{")
	for i := uint8(0); i < 8; i++ {
		if c.SupportsIntegrity(i) {
			fmt.Fprintf(&s, " %d", i)
		}
	}
	s.WriteString(" }")
	if len(c.Extra) > 0 {
		fmt.Fprintf(&s, " extra=%x", c.Extra)
	}
	return s.String()
}

func (b *builder) addSecCaps(field string, c UESecurityCapabilities) {
	b.AddLV(field, MinSecCapLen, MaxSecCapLen, func(b *builder) {
		b.AddUint8(c.EA)
		b.AddUint8(c.IA)
		b.AddBytes(c.Extra)
	})
}

func (r *reader) readSecCaps(field string) (UESecurityCapabilities, error) {
	v, err := r.ReadLV(field, MinSecCapLen, MaxSecCapLen)
	if err != nil {
		return UESecurityCapabilities{}, err
	}
	return UESecurityCapabilities{EA: v[0], IA: v[1], Extra: clone(v[2:])}, nil
}

// UnicastSecurityPolicy is the 1-octet UE PC5 unicast signalling security
// policy (and, PROVISIONALLY, user plane security policy): bits 7..5
// integrity policy, bits 3..1 ciphering policy, bits 8 and 4 spare. The
// octet is kept verbatim, spare bits and reserved values included; judging
// the policy is the link layer's job.
type UnicastSecurityPolicy uint8

// NewUnicastSecurityPolicy builds the octet from the two 3-bit policies.
func NewUnicastSecurityPolicy(integrity, ciphering SecurityPolicy) UnicastSecurityPolicy {
	return UnicastSecurityPolicy((uint8(integrity)&policyFieldMask)<<policyIntegrityShift |
		(uint8(ciphering)&policyFieldMask)<<policyCipheringShift)
}

// Integrity returns the integrity policy (bits 7..5).
func (p UnicastSecurityPolicy) Integrity() SecurityPolicy {
	return SecurityPolicy(uint8(p) >> policyIntegrityShift & policyFieldMask)
}

// Ciphering returns the ciphering policy (bits 3..1).
func (p UnicastSecurityPolicy) Ciphering() SecurityPolicy {
	return SecurityPolicy(uint8(p) >> policyCipheringShift & policyFieldMask)
}

func (p UnicastSecurityPolicy) String() string {
	return fmt.Sprintf("integrity %v, ciphering %v", p.Integrity(), p.Ciphering())
}

// SelectedAlgorithms is the Selected security algorithms octet: bits 8..5
// ciphering algorithm identity, bits 4..1 integrity algorithm identity.
type SelectedAlgorithms uint8

// NewSelectedAlgorithms builds the octet from two 4-bit identities (higher
// bits are dropped).
func NewSelectedAlgorithms(ciphering, integrity uint8) SelectedAlgorithms {
	return SelectedAlgorithms((ciphering&0x0F)<<selAlgCipheringShift | integrity&selAlgIntegrityMask)
}

// Ciphering returns the NEA identity (0 = NEA0 ... 3 = NEA3).
func (a SelectedAlgorithms) Ciphering() uint8 { return uint8(a) >> selAlgCipheringShift }

// Integrity returns the NIA identity (0 = NIA0 ... 3 = NIA3).
func (a SelectedAlgorithms) Integrity() uint8 { return uint8(a) & selAlgIntegrityMask }

func (a SelectedAlgorithms) String() string {
	return fmt.Sprintf("NEA%d/NIA%d", a.Ciphering(), a.Integrity())
}

// UPProtectionConfig is the Configuration of UE PC5 unicast user plane
// security protection octet (PROJECT-DEFINED coding, see codepoints.go).
type UPProtectionConfig uint8

// Ciphering reports whether user plane ciphering is activated.
func (c UPProtectionConfig) Ciphering() bool { return uint8(c)&UPProtectionCiphering != 0 }

// Integrity reports whether user plane integrity protection is activated.
func (c UPProtectionConfig) Integrity() bool { return uint8(c)&UPProtectionIntegrity != 0 }

func (c UPProtectionConfig) String() string {
	return fmt.Sprintf("UP integrity %v, UP ciphering %v", onOff(c.Integrity()), onOff(c.Ciphering()))
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
