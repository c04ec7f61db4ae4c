package discovery

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/prosesec/prosesec/token"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "\n", "", "\t", "").Replace(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type codecCase struct {
	name string
	msg  Message
	wire string
}

func codecCases() []codecCase {
	return []codecCase{
		{"announcement", &Announcement{
			RSC: 0x00002a, RelayUserInfo: []byte("relay-1"),
			ReachableUEs: [][]byte{[]byte("ue-2"), []byte("ue-3")},
			Load:         3, UTCCounterLSB: 0x7f,
		},
			// 0x7d = 01 1111 01: open, extension, Model A
			"7d 01 00002a 07 72656c61792d31 000a 04 75652d32 04 75652d33 03 7f 00000000"},
		{"announcement restricted, nobody reachable", &Announcement{
			Restricted: true, RSC: 0xffffff, RelayUserInfo: []byte("r"), MIC: [4]byte{1, 2, 3, 4},
		},
			"bd 01 ffffff 01 72 0000 00 00 01020304"},
		{"response relay to source", &Response{
			RSC: 0x00002a, DiscovereeUserInfo: []byte("relay-1"), ReachableUEs: [][]byte{[]byte("ue-2")}, Load: 1, UTCCounterLSB: 9,
		},
			// 0x7e = 01 1111 10: open, extension, Model B
			"7e 01 00002a 07 72656c61792d31 00 0005 04 75652d32 01 09 00000000"},
		{"response target to relay", &Response{
			RSC: 0x00002a, DiscovereeUserInfo: []byte("ue-2"), SourceUserInfo: []byte("ue-1"),
		},
			"7e 01 00002a 04 75652d32 04 75652d31 0000 00 00 00000000"},
		{"solicitation from source", &Solicitation{
			RSC: 0x00002a, DiscovererUserInfo: []byte("ue-1"), TargetUserInfo: []byte("ue-2"), UTCCounterLSB: 5,
		},
			"7e 02 00002a 04 75652d31 04 75652d32 00 05 00000000"},
		{"solicitation forwarded", &Solicitation{
			RSC: 0x00002a, DiscovererUserInfo: []byte("relay-1"), TargetUserInfo: []byte("ue-2"), SourceUserInfo: []byte("ue-1"),
		},
			"7e 02 00002a 07 72656c61792d31 04 75652d32 04 75652d31 00 00000000"},
	}
}

func TestCodecTable(t *testing.T) {
	for _, c := range codecCases() {
		want := unhex(t, c.wire)
		got, err := c.msg.Marshal()
		if err != nil {
			t.Fatalf("%s: Marshal: %v", c.name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: Marshal\n got %x\nwant %x", c.name, got, want)
		}
		if n := c.msg.MarshalLen(); n != len(want) {
			t.Errorf("%s: MarshalLen %d, want %d", c.name, n, len(want))
		}
		m, err := Parse(want)
		if err != nil {
			t.Fatalf("%s: Parse: %v", c.name, err)
		}
		if !reflect.DeepEqual(m, c.msg) {
			t.Errorf("%s: Parse\n got %#v\nwant %#v", c.name, m, c.msg)
		}
		// MarshalTo: exact buffer, short buffer.
		buf := make([]byte, len(want))
		if n, err := c.msg.MarshalTo(buf); err != nil || n != len(want) || !bytes.Equal(buf, want) {
			t.Errorf("%s: MarshalTo: %d %v", c.name, n, err)
		}
		if _, err := c.msg.MarshalTo(buf[:len(buf)-1]); !errors.Is(err, ErrShortBuffer) {
			t.Errorf("%s: MarshalTo short: %v", c.name, err)
		}
	}
}

func TestMessageTypeOctet(t *testing.T) {
	mt := NewMessageType(DiscoveryOpen, ContentU2NRelayAnnounceResponse, ModelA)
	if mt != 0x51 || mt.Discovery() != DiscoveryOpen || mt.Content() != ContentU2NRelayAnnounceResponse || mt.Model() != ModelA {
		t.Fatalf("U2N relay announcement: %s", mt)
	}
	if s := MessageType(0x7e).String(); s != "open extension Model B (0x7e)" {
		t.Fatal(s)
	}
}

func randUserInfo(r *rand.Rand, min int) []byte {
	n := min + r.IntN(12)
	if r.IntN(20) == 0 {
		n = MaxUserInfoLen
	}
	if n == 0 {
		return nil
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func randList(r *rand.Rand) [][]byte {
	n := r.IntN(4)
	if r.IntN(10) == 0 {
		n = MaxReachableUEs
	}
	var out [][]byte
	for range n {
		out = append(out, randUserInfo(r, 1))
	}
	return out
}

func randMessage(r *rand.Rand) Message {
	rsc := token.RSC(r.IntN(1 << 24))
	var mic [MICLen]byte
	for i := range mic {
		mic[i] = byte(r.Uint32())
	}
	switch r.IntN(3) {
	case 0:
		return &Announcement{Restricted: r.IntN(2) == 0, RSC: rsc, RelayUserInfo: randUserInfo(r, 1), ReachableUEs: randList(r),
			Load: uint8(r.Uint32()), UTCCounterLSB: uint8(r.Uint32()), MIC: mic}
	case 1:
		return &Response{Restricted: r.IntN(2) == 0, RSC: rsc, DiscovereeUserInfo: randUserInfo(r, 1), SourceUserInfo: randUserInfo(r, 0),
			ReachableUEs: randList(r), Load: uint8(r.Uint32()), UTCCounterLSB: uint8(r.Uint32()), MIC: mic}
	}
	return &Solicitation{Restricted: r.IntN(2) == 0, RSC: rsc, DiscovererUserInfo: randUserInfo(r, 1), TargetUserInfo: randUserInfo(r, 1),
		SourceUserInfo: randUserInfo(r, 0), UTCCounterLSB: uint8(r.Uint32()), MIC: mic}
}

// TestRoundTripAndNoTruncation: random messages round-trip, and no proper
// prefix of an encoding parses (every message ends with fixed fields, and
// every length is checked).
func TestRoundTripAndNoTruncation(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 300 {
		m := randMessage(r)
		b, err := m.Marshal()
		if err != nil {
			t.Fatalf("Marshal %#v: %v", m, err)
		}
		if len(b) != m.MarshalLen() || len(b) > MaxMessageLen {
			t.Fatalf("length %d, MarshalLen %d, max %d", len(b), m.MarshalLen(), MaxMessageLen)
		}
		got, err := Parse(b)
		if err != nil {
			t.Fatalf("Parse(%x): %v", b, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("round trip\n got %#v\nwant %#v", got, m)
		}
		for i := range len(b) {
			if _, err := Parse(b[:i]); err == nil {
				t.Fatalf("prefix of %d of %d octets parsed: %x", i, len(b), b[:i])
			}
		}
		if _, err := Parse(append(bytes.Clone(b), 0)); !errors.Is(err, ErrTrailingData) {
			t.Fatalf("trailing octet: %v", err)
		}
		// Decoded values do not alias the input.
		got2, _ := Parse(b)
		for i := range b {
			b[i] ^= 0xff
		}
		if !reflect.DeepEqual(got2, m) {
			t.Fatal("decoded message aliases its input")
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, c := range []struct {
		name, wire string
		kind       error
		want       string
	}{
		{"empty", "", ErrTruncated, "need 2 octets"},
		{"not U2U", "51 01", ErrUnknownType, "U2N relay announcement/response"},
		{"ext unknown", "7d 09", ErrUnknownType, "ContentTypeExt(0x09) with Model A"},
		{"solicitation model A", "7d 02", ErrUnknownType, "U2U relay solicitation with Model A"},
		{"discovery type 00", "3d 01 00002a 01 72 0000 00 00 00000000", ErrInvalid, "discovery type 00"},
		{"discovery type 11", "fd 01 00002a 01 72 0000 00 00 00000000", ErrInvalid, "discovery type 11"},
		{"empty relay info", "7d 01 00002a 00 0000 00 00 00000000", ErrLength, "Relay user info: length 0 out of range 1..253"},
		{"user info 254", "7d 01 00002a fe", ErrLength, "length 254 out of range 1..253"},
		{"list entry empty", "7d 01 00002a 01 72 0001 00 00 00 00000000", ErrLength, "UE-to-UE relay UE info entry: length 0"},
		{"list entry overruns list", "7d 01 00002a 01 72 0001 02 6161 00 00 00000000", ErrTruncated, "need 2 octets, have 0"},
		{"list length huge", "7d 01 00002a 01 72 ffff", ErrLength, "length 65535 out of range 0..8128"},
		{"truncated MIC", "7e 02 00002a 01 61 01 62 00 00 000000", ErrTruncated, "MIC: need 4 octets, have 3"},
		{"trailing", "7e 02 00002a 01 61 01 62 00 00 00000000 00", ErrTrailingData, "1 unexpected trailing octets"},
		{"empty target", "7e 02 00002a 01 61 00 00 00 00000000", ErrLength, "Target user info: length 0"},
	} {
		_, err := Parse(unhex(t, c.wire))
		var e *Error
		if !errors.Is(err, c.kind) || !errors.As(err, &e) || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "discovery: ") {
			t.Errorf("%s: %v, want %v containing %q", c.name, err, c.kind, c.want)
		}
	}
	// 33 list entries.
	var list []byte
	for range MaxReachableUEs + 1 {
		list = append(list, 1, 'x')
	}
	wire := append(unhex(t, "7d 01 00002a 01 72 0042"), list...)
	wire = append(wire, 0, 0, 0, 0, 0, 0)
	if _, err := Parse(wire); !errors.Is(err, ErrLength) || !strings.Contains(err.Error(), "more than 32 entries") {
		t.Errorf("33 entries: %v", err)
	}
}

func TestEncodeErrors(t *testing.T) {
	long := bytes.Repeat([]byte("x"), MaxUserInfoLen+1)
	many := make([][]byte, MaxReachableUEs+1)
	for i := range many {
		many[i] = []byte("u")
	}
	for _, c := range []struct {
		name string
		msg  Message
		want string
	}{
		{"RSC 25 bits", &Announcement{RSC: 1 << 24, RelayUserInfo: []byte("r")}, "RSC: value 0x1000000 does not fit in 24 bits"},
		{"no relay info", &Announcement{RSC: 1}, "Relay user info: length 0"},
		{"long info", &Solicitation{RSC: 1, DiscovererUserInfo: []byte("a"), TargetUserInfo: long}, "Target user info: length 254"},
		{"empty list entry", &Response{RSC: 1, DiscovereeUserInfo: []byte("a"), ReachableUEs: [][]byte{nil}}, "entry: length 0"},
		{"too many", &Announcement{RSC: 1, RelayUserInfo: []byte("r"), ReachableUEs: many}, "33 entries, at most 32"},
	} {
		_, err := c.msg.Marshal()
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "discovery: ") {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
		if c.msg.MarshalLen() != 0 {
			t.Errorf("%s: MarshalLen of an invalid message is not 0", c.name)
		}
		if _, err := c.msg.MarshalTo(make([]byte, 10000)); err == nil {
			t.Errorf("%s: MarshalTo accepted it", c.name)
		}
	}
}
