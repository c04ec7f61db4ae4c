package discovery

import (
	"fmt"
	"slices"

	"github.com/prosesec/prosesec/pc5/medium"
	"github.com/prosesec/prosesec/token"
)

// Incoming is a discovery message received from the medium.
type Incoming struct {
	From      medium.L2ID // the sender's Layer-2 ID (frame source)
	RSSI      int16       // as attached by the medium
	Broadcast bool        // the frame was broadcast
	Msg       Message
}

// Decode parses a frame received on LCIDDiscovery. Errors are codec
// errors (*Error) or a wrong LCID.
func Decode(f medium.Frame) (Incoming, error) {
	if f.LCID != LCIDDiscovery {
		return Incoming{}, fmt.Errorf("discovery: frame on LCID %d, want %d", f.LCID, LCIDDiscovery)
	}
	m, err := Parse(f.Payload)
	if err != nil {
		return Incoming{}, err
	}
	return Incoming{From: f.Src, RSSI: f.RSSI, Broadcast: f.IsBroadcast(), Msg: m}, nil
}

// Outgoing is a discovery message a core wants sent.
type Outgoing struct {
	To  medium.L2ID // a unicast Layer-2 ID or medium.Broadcast
	Msg Message
}

// Frame encodes o as a frame on LCIDDiscovery.
func (o Outgoing) Frame() (medium.Frame, error) {
	b, err := o.Msg.Marshal()
	if err != nil {
		return medium.Frame{}, err
	}
	return medium.Frame{Dst: o.To, LCID: LCIDDiscovery, Payload: b}, nil
}

// ServeRSCs returns the RSCs of the u2u:serve scopes, sorted, without
// duplicates: what a relay may announce (RelayConfig.RSCs), taken from the
// scopes of its own token.
func ServeRSCs(scopes []token.Scope) []token.RSC { return rscsOf(scopes, token.RoleServe) }

// UseRSCs returns the RSCs of the u2u:use scopes, sorted, without
// duplicates: what an end UE uses (DiscovererConfig.UseRSCs).
func UseRSCs(scopes []token.Scope) []token.RSC { return rscsOf(scopes, token.RoleUse) }

func rscsOf(scopes []token.Scope, role token.Role) []token.RSC {
	var out []token.RSC
	for _, s := range scopes {
		if s.Role == role {
			out = append(out, s.RSC)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func checkUserInfo(what string, ui []byte) error {
	if len(ui) < 1 || len(ui) > MaxUserInfoLen {
		return fmt.Errorf("discovery: %s of %d octets, want 1..%d", what, len(ui), MaxUserInfoLen)
	}
	return nil
}

func checkRSCs(rscs []token.RSC) error {
	for _, r := range rscs {
		if !r.Valid() {
			return fmt.Errorf("discovery: RSC %s does not fit in 24 bits", r)
		}
	}
	return nil
}
