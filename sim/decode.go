package sim

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/prosesec/prosesec/discovery"
	"github.com/prosesec/prosesec/pc5/link"
	"github.com/prosesec/prosesec/pc5/msg"
	"github.com/prosesec/prosesec/pc5/sec"
)

// The decoded fields of trace.jsonl. A radio observer sees the clear
// messages (SL-SRB0, discovery) and the PDCP headers; the simulator also
// names and decodes what a protected PDU carries, from the plaintext its
// sender's link reported (link.Config.TracePDU). Fields never hold key
// material, nor tokens or signatures: of those, only their format and size.

// pduLog keeps, per PDU octets, what the sender's link protected in it.
type pduLog struct {
	mu sync.Mutex
	m  map[string]decoded
}

// decoded is a protected PDU's content as the trace shows it.
type decoded struct {
	message  string
	fields   map[string]string
	rejected bool
}

func newPDULog() *pduLog { return &pduLog{m: map[string]decoded{}} }

// record is a link.Config.TracePDU function.
func (l *pduLog) record(p link.TracedPDU) {
	d := decodePlain(p.LCID, p.Plaintext)
	d.fields["protection"] = protection(p)
	l.mu.Lock()
	l.m[string(p.PDU)] = d
	l.mu.Unlock()
}

// protection says what the air saw of a PDU's content: "integrity,
// ciphering" (the usual), or which of the two was left out, naming a null
// algorithm as such.
func protection(p link.TracedPDU) string {
	var parts []string
	switch {
	case !p.Integrity:
		parts = append(parts, "no integrity")
	case p.IntegrityAlg == sec.NIA0:
		parts = append(parts, "integrity with 128-NIA0 (null)")
	default:
		parts = append(parts, "integrity")
	}
	switch {
	case !p.Ciphered:
		// the SMC, or a bearer without ciphering: plaintext on the air
	case p.CipherAlg == sec.NEA0:
		parts = append(parts, "ciphering with 128-NEA0 (null: plaintext on the air)")
	default:
		parts = append(parts, "ciphering")
	}
	return strings.Join(parts, ", ")
}

func (l *pduLog) lookup(pdu []byte) (decoded, bool) {
	if l == nil {
		return decoded{}, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	d, ok := l.m[string(pdu)]
	return d, ok
}

// decodePlain decodes the plaintext of a protected PDU: a PC5-S message on
// SL-SRB1/2, an IP packet on an SL-DRB.
func decodePlain(lcid uint8, plain []byte) decoded {
	if lcid < sec.LCIDDRBMin {
		m, err := msg.Parse(plain)
		if err != nil {
			return decoded{message: "undecodable PC5-S", fields: map[string]string{}}
		}
		return decoded{message: m.MessageType().String(), fields: messageFields(m), rejected: isReject(m)}
	}
	return decoded{message: "IP packet (PDCP)", fields: ipFields(plain)}
}

func isReject(m msg.Message) bool {
	switch m.(type) {
	case *msg.DirectLinkEstablishmentReject, *msg.DirectLinkSecurityModeReject, *msg.DirectLinkAuthenticationReject:
		return true
	}
	return false
}

// messageFields returns the fields of a PC5-S message worth reading in a
// trace: user infos, RSC, algorithms and policies, nonces, the KNRP-sess
// and KNRP ID parts, causes, addresses, and what the Key_Est_Info holds.
func messageFields(m msg.Message) map[string]string {
	f := map[string]string{"seq": strconv.Itoa(int(m.SequenceNumber()))}
	switch m := m.(type) {
	case *msg.DirectLinkEstablishmentRequest:
		f["source_user_info"] = string(m.SourceUserInfo)
		if m.TargetUserInfo != nil {
			f["target_user_info"] = string(m.TargetUserInfo)
		}
		if m.RelayServiceCode != nil {
			f["rsc"] = fmt.Sprintf("%06x", *m.RelayServiceCode)
		}
		f["ue_security_capabilities"] = m.UESecurityCapabilities.String()
		f["signalling_security_policy"] = m.SignallingSecurityPolicy.String()
		if m.Nonce1 != nil {
			f["nonce_1"] = hex.EncodeToString(m.Nonce1[:])
		}
		if m.KNRPSessIDMSB != nil {
			f["knrp_sess_id_msb"] = fmt.Sprintf("%02x", *m.KNRPSessIDMSB)
		}
		if m.KNRPID != nil {
			f["knrp_id"] = fmt.Sprintf("%08x", *m.KNRPID)
		}
		var k msg.KeyEstInit
		if m.KeyEstInfo != nil && k.UnmarshalBinary(m.KeyEstInfo) == nil {
			f["key_est_info"] = fmt.Sprintf("KeyEstInit: %v, ephemeral public key %d octets", k.Suite, len(k.EphemeralPublicKey))
		}
	case *msg.DirectLinkSecurityModeCommand:
		f["selected_algorithms"] = m.SelectedAlgorithms.String()
		f["nonce_2"] = hex.EncodeToString(m.Nonce2[:])
		f["knrp_sess_id_lsb"] = fmt.Sprintf("%02x", m.KNRPSessIDLSB)
		f["ue_security_capabilities"] = m.UESecurityCapabilities.String() + " (replayed)"
		f["signalling_security_policy"] = m.SignallingSecurityPolicy.String() + " (replayed)"
		if m.KNRPIDMSBs != nil {
			f["knrp_id_msbs"] = fmt.Sprintf("%04x", *m.KNRPIDMSBs)
		}
		var k msg.KeyEstResponse
		if m.KeyEstInfo != nil && k.UnmarshalBinary(m.KeyEstInfo) == nil {
			f["key_est_info"] = fmt.Sprintf("KeyEstResponse: %v, ephemeral public key %d octets, %v token %d octets, signature %d octets",
				k.Suite, len(k.EphemeralPublicKey), k.TokenFormat, len(k.Token), len(k.Signature))
		}
	case *msg.DirectLinkSecurityModeComplete:
		if m.UPSecurityPolicy != nil {
			f["up_security_policy"] = m.UPSecurityPolicy.String()
		}
		if m.KNRPIDLSBs != nil {
			f["knrp_id_lsbs"] = fmt.Sprintf("%04x", *m.KNRPIDLSBs)
		}
		var k msg.KeyEstFinish
		if m.KeyEstInfo != nil && k.UnmarshalBinary(m.KeyEstInfo) == nil {
			f["key_est_info"] = fmt.Sprintf("KeyEstFinish: %v, %v token %d octets, signature %d octets",
				k.Suite, k.TokenFormat, len(k.Token), len(k.Signature))
		}
	case *msg.DirectLinkEstablishmentAccept:
		f["source_user_info"] = string(m.SourceUserInfo)
		f["up_protection"] = m.UPProtectionConfig.String()
		if m.IPAddressConfig != nil {
			f["ip_address_config"] = m.IPAddressConfig.String()
		}
		addAddr(f, "link_local_ipv6", m.LinkLocalIPv6)
		addAddr(f, "target_ip_address", m.TargetIPAddress)
	case *msg.DirectLinkEstablishmentReject:
		f["cause"] = m.Cause.String()
	case *msg.DirectLinkSecurityModeReject:
		f["cause"] = m.Cause.String()
	case *msg.DirectLinkAuthenticationReject:
		f["cause"] = m.Cause.String()
	case *msg.DirectLinkReleaseRequest:
		f["cause"] = m.Cause.String()
	case *msg.DirectLinkRekeyingRequest:
		f["ue_security_capabilities"] = m.UESecurityCapabilities.String()
		f["nonce_1"] = hex.EncodeToString(m.Nonce1[:])
		f["knrp_sess_id_msb"] = fmt.Sprintf("%02x", m.KNRPSessIDMSB)
		if m.ReauthIndication != nil {
			f["reauth_indication"] = strconv.Itoa(int(*m.ReauthIndication))
		}
	case *msg.DirectLinkKeepaliveRequest:
		f["keepalive_counter"] = strconv.FormatUint(uint64(m.KeepaliveCounter), 10)
	case *msg.DirectLinkKeepaliveResponse:
		f["keepalive_counter"] = strconv.FormatUint(uint64(m.KeepaliveCounter), 10)
	}
	return f
}

func addAddr(f map[string]string, name string, a netip.Addr) {
	if a.IsValid() {
		f[name] = a.String()
	}
}

// ipFields reads the IPv6 header of a user-data payload.
func ipFields(p []byte) map[string]string {
	f := map[string]string{}
	if len(p) < 40 || p[0]>>4 != 6 {
		f["ip"] = fmt.Sprintf("not an IPv6 packet (%d octets)", len(p))
		return f
	}
	src, _ := netip.AddrFromSlice(p[8:24])
	dst, _ := netip.AddrFromSlice(p[24:40])
	f["ip_src"], f["ip_dst"] = src.String(), dst.String()
	f["ip_next_header"] = strconv.Itoa(int(p[6]))
	f["ip_payload_length"] = strconv.Itoa(int(p[4])<<8 | int(p[5]))
	return f
}

// pdcpFields reads the header of a PDCP data PDU (12-bit SN, the SN size
// of every bearer the links set up): what a radio observer sees of it.
func pdcpFields(f map[string]string, pdu []byte) {
	h, _, err := sec.ParsePDU(pdu, sec.SNSize12, false)
	if err != nil {
		return
	}
	f["pdcp_sn"] = strconv.FormatUint(uint64(h.SN), 10)
	f["knrp_sess_id"] = fmt.Sprintf("%04x", uint16(h.SessID))
}

// discoveryFields decodes a discovery message (sent in the clear).
func discoveryFields(m discovery.Message) map[string]string {
	f := map[string]string{}
	reach := func(r [][]byte) {
		if len(r) == 0 {
			return
		}
		s := ""
		for i, u := range r {
			if i > 0 {
				s += " "
			}
			s += string(u)
		}
		f["reachable_ues"] = s
	}
	switch m := m.(type) {
	case *discovery.Announcement:
		f["rsc"] = m.RSC.String()
		f["relay_user_info"] = string(m.RelayUserInfo)
		f["load"] = strconv.Itoa(int(m.Load))
		reach(m.ReachableUEs)
	case *discovery.Solicitation:
		f["rsc"] = m.RSC.String()
		f["discoverer_user_info"] = string(m.DiscovererUserInfo)
		if m.TargetUserInfo != nil {
			f["target_user_info"] = string(m.TargetUserInfo)
		}
		if m.SourceUserInfo != nil {
			f["source_user_info"] = string(m.SourceUserInfo)
		}
	case *discovery.Response:
		f["rsc"] = m.RSC.String()
		f["discoveree_user_info"] = string(m.DiscovereeUserInfo)
		if m.SourceUserInfo != nil {
			f["source_user_info"] = string(m.SourceUserInfo)
		}
		f["load"] = strconv.Itoa(int(m.Load))
		reach(m.ReachableUEs)
	}
	return f
}
