package msg

import (
	"bytes"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestMessageTable(t *testing.T) {
	seen := map[MessageType]bool{}
	for _, c := range msgCases() {
		t.Run(c.name, func(t *testing.T) {
			seen[c.msg.MessageType()] = true
			// structured → serialized
			got, err := c.msg.Marshal()
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if !bytes.Equal(got, c.wire) {
				t.Fatalf("Marshal:\n got %x\nwant %x", got, c.wire)
			}
			if n := c.msg.MarshalLen(); n != len(c.wire) {
				t.Fatalf("MarshalLen = %d, want %d", n, len(c.wire))
			}
			// serialized → structured
			m, err := Parse(c.wire)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(m, c.msg) {
				t.Fatalf("Parse:\n got %#v\nwant %#v", m, c.msg)
			}
			if m.MessageType() != MessageType(c.wire[0]) || m.SequenceNumber() != c.wire[1] {
				t.Fatalf("MessageType/SequenceNumber = %v/%d", m.MessageType(), m.SequenceNumber())
			}
			// Decoded values must not alias the input.
			wire := bytes.Clone(c.wire)
			m2, _ := Parse(wire)
			for i := range wire {
				wire[i] ^= 0xff
			}
			if !reflect.DeepEqual(m2, c.msg) {
				t.Fatalf("decoded value aliases its input")
			}
		})
	}
	for _, mt := range []MessageType{
		MsgEstablishmentRequest, MsgEstablishmentAccept, MsgEstablishmentReject,
		MsgReleaseRequest, MsgReleaseAccept,
		MsgAuthenticationRequest, MsgAuthenticationResponse, MsgAuthenticationReject,
		MsgSecurityModeCommand, MsgSecurityModeComplete, MsgSecurityModeReject,
		MsgKeepaliveRequest, MsgKeepaliveResponse, MsgRekeyingRequest, MsgRekeyingResponse,
	} {
		if !seen[mt] {
			t.Errorf("no table case for %v", mt)
		}
	}
}

func TestKeyEstTable(t *testing.T) {
	for _, c := range keyEstCases() {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.val.Marshal()
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if !bytes.Equal(got, c.wire) {
				t.Fatalf("Marshal:\n got %x\nwant %x", got, c.wire)
			}
			if n := c.val.MarshalLen(); n != len(c.wire) {
				t.Fatalf("MarshalLen = %d, want %d", n, len(c.wire))
			}
			v := c.fresh()
			if err := v.UnmarshalBinary(c.wire); err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			if !reflect.DeepEqual(v, c.val) {
				t.Fatalf("UnmarshalBinary:\n got %#v\nwant %#v", v, c.val)
			}
		})
	}
}

// TestGoldenRequest checks the ESTABLISHMENT REQUEST against the shape of
// TS 38.508-1 Table 4.7.4-7 (TS 24.587, notes §3.3):
//
//	01 SS 04 00000001 04 00000100 02 8080 00 28 04 00001100
//
// In TS 24.587 the first LV is "V2X service identifiers"; TS 24.554 has
// "ProSe identifiers" in its place ([INFERRED]). With the same content the
// octets are identical.
func TestGoldenRequest(t *testing.T) {
	for _, ss := range []uint8{0x00, 0x01, 0xff} {
		m := &DirectLinkEstablishmentRequest{
			Seq:                    ss,
			ProSeIdentifiers:       []uint32{0x00000001},
			SourceUserInfo:         []byte{0x00, 0x00, 0x01, 0x00},
			UESecurityCapabilities: UESecurityCapabilities{EA: SecCapEA0, IA: SecCapIA0},
			SignallingSecurityPolicy: NewUnicastSecurityPolicy(
				PolicyNotNeeded, PolicyNotNeeded),
			TargetUserInfo: []byte{0x00, 0x00, 0x11, 0x00},
		}
		want := h("01 00 04 00 00 00 01 04 00 00 01 00 02 80 80 00 28 04 00 00 11 00")
		want[1] = ss
		got, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("SS=%02x:\n got % x\nwant % x", ss, got, want)
		}
		back, err := Parse(want)
		if err != nil || !reflect.DeepEqual(back, m) {
			t.Fatalf("Parse(golden) = %#v, %v", back, err)
		}
	}
}

// TestStrictPrefixes: a strict prefix of a valid encoding fails to parse,
// except where it ends exactly on an optional IE boundary (PC5-S messages
// have no overall length, so "the same message without its last optional
// IEs" is itself valid). Such a prefix must parse to a different value that
// re-encodes to exactly the prefix, and there must be exactly one per
// optional IE.
func TestStrictPrefixes(t *testing.T) {
	for _, c := range msgCases() {
		t.Run(c.name, func(t *testing.T) {
			checkPrefixes(t, c.wire, c.msg, c.optional)
		})
	}
	for _, c := range keyEstCases() {
		t.Run(c.name, func(t *testing.T) {
			for i := 0; i < len(c.wire); i++ {
				v := c.fresh()
				if err := v.UnmarshalBinary(c.wire[:i]); err == nil {
					t.Fatalf("prefix of %d/%d octets parsed", i, len(c.wire))
				} else if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrLength) {
					t.Fatalf("prefix %d: unexpected error kind: %v", i, err)
				}
			}
		})
	}
}

// checkPrefixes returns the number of strict prefixes that parse.
func checkPrefixes(t *testing.T, wire []byte, orig Message, wantParsed int) {
	t.Helper()
	parsed := 0
	for i := 0; i < len(wire); i++ {
		m, err := Parse(wire[:i])
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || !strings.HasPrefix(err.Error(), "pc5/msg: ") {
				t.Fatalf("prefix %d: error %v is not a *Error", i, err)
			}
			continue
		}
		parsed++
		if reflect.DeepEqual(m, orig) {
			t.Fatalf("prefix of %d/%d octets parsed to the original message", i, len(wire))
		}
		re, err := m.Marshal()
		if err != nil || !bytes.Equal(re, wire[:i]) {
			t.Fatalf("prefix %d parsed but re-encodes to %x, %v", i, re, err)
		}
	}
	if wantParsed >= 0 && parsed != wantParsed {
		t.Fatalf("%d strict prefixes parsed, want %d (one per optional IE)", parsed, wantParsed)
	}
}

func TestMarshalToShortBuffer(t *testing.T) {
	check := func(t *testing.T, v interface {
		MarshalLen() int
		MarshalTo([]byte) (int, error)
	}, wire []byte) {
		n := len(wire)
		for _, size := range []int{0, n / 2, n - 1} {
			buf := make([]byte, size)
			_, err := v.MarshalTo(buf)
			if !errors.Is(err, ErrShortBuffer) {
				t.Fatalf("MarshalTo(%d octets) = %v, want ErrShortBuffer", size, err)
			}
			if want := "need " + strconv.Itoa(n) + " octets, have " + strconv.Itoa(size); !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not say %q", err, want)
			}
		}
		if _, err := v.MarshalTo(nil); !errors.Is(err, ErrShortBuffer) {
			t.Fatalf("MarshalTo(nil) = %v", err)
		}
		buf := bytes.Repeat([]byte{0xee}, n+3)
		k, err := v.MarshalTo(buf)
		if err != nil || k != n || !bytes.Equal(buf[:n], wire) || !bytes.Equal(buf[n:], []byte{0xee, 0xee, 0xee}) {
			t.Fatalf("MarshalTo(large) = %d, %v, %x", k, err, buf)
		}
	}
	for _, c := range msgCases() {
		t.Run(c.name, func(t *testing.T) { check(t, c.msg, c.wire) })
	}
	for _, c := range keyEstCases() {
		t.Run(c.name, func(t *testing.T) { check(t, c.val, c.wire) })
	}
}

type errCase struct {
	name string
	wire []byte
	kind error
	text string // exact error text when non-empty
}

func TestParseErrors(t *testing.T) {
	reqHead := h("01 01 00 01 41 02 8080 00")
	cases := []errCase{
		{"empty", nil, ErrTruncated, "pc5/msg: PC5-S message: message type: need 1 octet, have 0"},
		{"unknown type", h("7f 00"), ErrUnknownMessageType, "pc5/msg: PC5-S message: message type: unknown value 0x7f"},
		{"unsupported type", h("04 00"), ErrUnsupportedMessageType, ""},
		{"no sequence number", h("08"), ErrTruncated, "pc5/msg: RELEASE ACCEPT: Sequence number: need 1 octet, have 0"},
		{"short Nonce_2", cat(h("0c 09 02 3030"), seq(0, 9)), ErrTruncated,
			"pc5/msg: SECURITY MODE COMMAND: Nonce_2: need 16 octets, have 9"},
		{"duplicate MSB of KNRP-sess ID", cat(reqHead, h("36 01 36 02")), ErrDuplicateIE,
			"pc5/msg: ESTABLISHMENT REQUEST: MSB of KNRP-sess ID: IEI 0x36 appears twice"},
		{"duplicate KEIC", cat(reqHead, h("74 0001 00 28 01 41 74 0001 00")), ErrDuplicateIE, ""},
		{"duplicate type-1", cat(h("15 0d 02 8080"), seq(0, 16), h("42 b1 b0")), ErrDuplicateIE, ""},
		{"source user info empty", h("01 01 00 00 02 8080 00"), ErrLength,
			"pc5/msg: ESTABLISHMENT REQUEST: Source user info: length 0 out of range 1..253"},
		{"source user info 254", cat(h("01 01 00 fe"), seq(0, 254), h("02 8080 00")), ErrLength, ""},
		{"source user info truncated", h("01 01 00 05 4142"), ErrTruncated,
			"pc5/msg: ESTABLISHMENT REQUEST: Source user info: need 5 octets, have 2"},
		{"security capabilities 1 octet", h("01 01 00 01 41 01 80 00"), ErrLength, ""},
		{"security capabilities 9 octets", cat(h("01 01 00 01 41 09"), seq(0, 9), h("00")), ErrLength, ""},
		{"ProSe identifiers not a multiple of 4", h("01 01 03 000000 01 41 02 8080 00"), ErrLength,
			"pc5/msg: ESTABLISHMENT REQUEST: ProSe identifiers: need a multiple of 4 octets, have 3"},
		{"missing policy", h("01 01 00 01 41 02 8080"), ErrTruncated, ""},
		{"KEIC over the bound", cat(reqHead, h("74 1001")), ErrLength,
			"pc5/msg: ESTABLISHMENT REQUEST: Key establishment information container: length 4097 out of range 1..4096"},
		{"KEIC empty", cat(reqHead, h("74 0000")), ErrLength, ""},
		{"KEIC length past the end", cat(reqHead, h("74 0010 0102")), ErrTruncated,
			"pc5/msg: ESTABLISHMENT REQUEST: Key establishment information container: need 16 octets, have 2"},
		{"target user info length 0", cat(reqHead, h("28 00")), ErrLength, ""},
		{"TV IE truncated", cat(reqHead, h("35 0001")), ErrTruncated, ""},
		{"KEIC length octet missing", cat(reqHead, h("74 00")), ErrTruncated,
			"pc5/msg: ESTABLISHMENT REQUEST: Key establishment information container: need 2 octets for the length, have 1"},
		{"comprehension required", cat(reqHead, h("05 01 00")), ErrComprehensionRequired, ""},
		{"unknown TLV truncated", cat(reqHead, h("40 05 aa")), ErrTruncated, ""},
		{"unknown TLV-E truncated", cat(reqHead, h("7b ffff aa")), ErrTruncated, ""},
		{"trailing lone IEI", cat(reqHead, h("40")), ErrTruncated, ""},
		{"target IP address 5 octets", h("02 04 01 41 0000 00 56 05 0102030405"), ErrLength,
			"pc5/msg: ESTABLISHMENT ACCEPT: Target IP address: need 4 or 16 octets, have 5"},
		{"target IP address 17 octets", cat(h("02 04 01 41 0000 00 56 11"), seq(0, 17)), ErrLength, ""},
		{"QoS flow descriptions over the bound", h("02 04 01 41 1001"), ErrLength, ""},
		{"auth request empty KEIC", h("09 01 0000"), ErrLength, ""},
		{"keep-alive counter short", h("14 01 0000"), ErrTruncated,
			"pc5/msg: KEEPALIVE RESPONSE: Keep-alive counter: need 4 octets, have 2"},
		{"reject without cause", h("0e 01"), ErrTruncated, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := Parse(c.wire)
			if err == nil {
				t.Fatalf("Parse succeeded: %#v", m)
			}
			if !errors.Is(err, c.kind) {
				t.Fatalf("error %v, want kind %v", err, c.kind)
			}
			if c.text != "" && err.Error() != c.text {
				t.Fatalf("error text\n got %q\nwant %q", err.Error(), c.text)
			}
		})
	}
}

func TestUnmarshalWrongType(t *testing.T) {
	var smc DirectLinkSecurityModeCommand
	err := smc.UnmarshalBinary(h("08 01"))
	if !errors.Is(err, ErrWrongMessageType) {
		t.Fatalf("err = %v", err)
	}
	if want := "pc5/msg: SECURITY MODE COMMAND: message type: need 0x0c, have 0x08"; err.Error() != want {
		t.Fatalf("got %q want %q", err, want)
	}
}

func TestUnmarshalLeavesReceiverOnError(t *testing.T) {
	m := DirectLinkSecurityModeComplete{Seq: 9, KNRPIDLSBs: ptr[uint16](7)}
	before := m
	if err := m.UnmarshalBinary(h("0d 01 51 12")); err == nil {
		t.Fatal("expected error")
	}
	if !reflect.DeepEqual(m, before) {
		t.Fatalf("receiver changed on error: %#v", m)
	}
}

// TestUnknownIEs: unknown IEs are kept and re-encoded after the message's
// own IEs; the canonical re-encoding parses back to the same value.
func TestUnknownIEs(t *testing.T) {
	// Unknown IEs interleaved before known ones.
	wire := h("0d 05 40 01 aa 51 1234 b3 7c 0000 52 21")
	m, err := Parse(wire)
	if err != nil {
		t.Fatal(err)
	}
	want := &DirectLinkSecurityModeComplete{
		Seq:              5,
		UPSecurityPolicy: ptr(UnicastSecurityPolicy(0x21)),
		KNRPIDLSBs:       ptr[uint16](0x1234),
		Unknown: []RawIE{
			{IEI: 0x40, Format: FormatTLV, Value: h("aa")},
			{IEI: 0xb3, Format: FormatType1}, // re-auth indication: known, but not a COMPLETE IE
			{IEI: 0x7c, Format: FormatTLVE},
		},
	}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("got %#v\nwant %#v", m, want)
	}
	re, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if canon := h("0d 05 52 21 51 1234 40 01 aa b3 7c 0000"); !bytes.Equal(re, canon) {
		t.Fatalf("re-encoding %x, want %x", re, canon)
	}
	m2, err := Parse(re)
	if err != nil || !reflect.DeepEqual(m2, m) {
		t.Fatalf("re-parse: %#v, %v", m2, err)
	}
	// Repeated unknown IEs are all kept (their repetition rules are unknown).
	m3, err := Parse(h("08 01 60 00 60 00"))
	if err != nil || len(m3.(*DirectLinkReleaseAccept).Unknown) != 2 {
		t.Fatalf("repeated unknown IEs: %#v, %v", m3, err)
	}
}

func TestMarshalErrors(t *testing.T) {
	base := func() *DirectLinkEstablishmentRequest {
		return &DirectLinkEstablishmentRequest{
			SourceUserInfo:         []byte("A"),
			UESecurityCapabilities: UESecurityCapabilities{EA: 0x80, IA: 0x80},
		}
	}
	big := make([]byte, MaxKeyEstInfoLen+1)
	cases := []struct {
		name string
		m    Message
		kind error
		text string
	}{
		{"empty source user info", func() Message { m := base(); m.SourceUserInfo = nil; return m }(), ErrLength,
			"pc5/msg: ESTABLISHMENT REQUEST: Source user info: length 0 out of range 1..253"},
		{"source user info 254", func() Message { m := base(); m.SourceUserInfo = make([]byte, 254); return m }(), ErrLength, ""},
		{"security capabilities 9", func() Message {
			m := base()
			m.UESecurityCapabilities.Extra = make([]byte, 7)
			return m
		}(), ErrLength, ""},
		{"relay service code 25 bits", func() Message { m := base(); m.RelayServiceCode = ptr[uint32](1 << 24); return m }(), ErrInvalid, ""},
		{"KEIC too long", func() Message { m := base(); m.KeyEstInfo = big; return m }(), ErrLength, ""},
		{"64 ProSe identifiers", func() Message { m := base(); m.ProSeIdentifiers = make([]uint32, 64); return m }(), ErrLength, ""},
		{"target user info 254", func() Message { m := base(); m.TargetUserInfo = make([]byte, 254); return m }(), ErrLength, ""},
		{"unknown uses a REQUEST IEI", func() Message {
			m := base()
			m.Unknown = []RawIE{{IEI: 0x28, Format: FormatTLV, Value: []byte("x")}}
			return m
		}(), ErrInvalid, ""},
		{"unknown in comprehension-required range", func() Message {
			m := base()
			m.Unknown = []RawIE{{IEI: 0x01, Format: FormatTLV}}
			return m
		}(), ErrInvalid, ""},
		{"unknown with the wrong format", func() Message {
			m := base()
			m.Unknown = []RawIE{{IEI: 0x7a, Format: FormatTLV}}
			return m
		}(), ErrInvalid, ""},
		{"foreign TV with the wrong length", func() Message {
			m := base()
			m.Unknown = []RawIE{{IEI: 0x50, Format: FormatTV, Value: []byte{1}}}
			return m
		}(), ErrLength, ""},
		{"type-1 unknown with a value", func() Message {
			m := base()
			m.Unknown = []RawIE{{IEI: 0x91, Format: FormatType1, Value: []byte{1}}}
			return m
		}(), ErrInvalid, ""},
		{"re-auth indication 16", &DirectLinkRekeyingRequest{
			UESecurityCapabilities: UESecurityCapabilities{EA: 0x80, IA: 0x80},
			ReauthIndication:       ptr[uint8](16),
		}, ErrInvalid, ""},
		{"link-local IPv4", &DirectLinkEstablishmentAccept{
			SourceUserInfo: []byte("A"), LinkLocalIPv6: mustAddr("192.0.2.1"),
		}, ErrInvalid, ""},
		{"link-local with zone", &DirectLinkEstablishmentAccept{
			SourceUserInfo: []byte("A"), LinkLocalIPv6: mustAddr("fe80::1%eth0"),
		}, ErrInvalid, ""},
		{"target address with zone", &DirectLinkEstablishmentAccept{
			SourceUserInfo: []byte("A"), TargetIPAddress: mustAddr("fe80::1%eth0"),
		}, ErrInvalid, ""},
		{"auth request without KEIC", &DirectLinkAuthenticationRequest{}, ErrLength, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.m.Marshal()
			if !errors.Is(err, c.kind) {
				t.Fatalf("Marshal error %v, want kind %v", err, c.kind)
			}
			if c.text != "" && err.Error() != c.text {
				t.Fatalf("error text\n got %q\nwant %q", err, c.text)
			}
			if _, err := c.m.MarshalTo(make([]byte, 10000)); !errors.Is(err, c.kind) {
				t.Fatalf("MarshalTo error %v, want kind %v", err, c.kind)
			}
		})
	}
}

func TestKeyEstErrors(t *testing.T) {
	init := func(b []byte) error { return new(KeyEstInit).UnmarshalBinary(b) }
	resp := func(b []byte) error { return new(KeyEstResponse).UnmarshalBinary(b) }
	fin := func(b []byte) error { return new(KeyEstFinish).UnmarshalBinary(b) }
	goodResp := cat(h("01 01 0041"), p256Key(1), h("01 0003 d28443 0040"), seq(0xa0, 64))
	cases := []struct {
		name  string
		parse func([]byte) error
		wire  []byte
		kind  error
		text  string
	}{
		{"version 2", init, cat(h("02 01 0041"), p256Key(0)), ErrVersion, "pc5/msg: KeyEstInit: version: need 1, have 2"},
		{"version 0", fin, h("00"), ErrVersion, ""},
		{"suite 0", init, h("01 00 0020"), ErrUnknownSuite, "pc5/msg: KeyEstInit: suite: suite 0x00 is not defined"},
		{"suite 9", resp, h("01 09"), ErrUnknownSuite, ""},
		{"X25519 length for P-256", init, cat(h("01 01 0020"), seq(0, 32)), ErrLength,
			"pc5/msg: KeyEstInit: ephemeral public key: length 32, need exactly 65"},
		{"P-256 length for X25519", init, cat(h("01 02 0041"), p256Key(0)), ErrLength, ""},
		{"compressed P-256 point", init, cat(h("01 01 0041 02"), seq(0, 64)), ErrInvalid, ""},
		{"trailing octet", init, cat(h("01 02 0020"), seq(0, 32), h("00")), ErrTrailingData,
			"pc5/msg: KeyEstInit: 1 unexpected trailing octet"},
		{"token format 3", fin, h("01 01 03 0001 00"), ErrUnknownTokenFormat, ""},
		{"token format 0", resp, cat(h("01 02 0020"), seq(0, 32), h("00")), ErrUnknownTokenFormat, ""},
		{"empty token", fin, h("01 01 01 0000"), ErrLength, ""},
		{"token over 2048", fin, h("01 01 01 0801"), ErrLength, "pc5/msg: KeyEstFinish: token: length 2049 out of range 1..2048"},
		{"signature 63", fin, cat(h("01 01 01 0001 00 003f"), seq(0, 63)), ErrLength, ""},
		{"signature 65", fin, cat(h("01 01 01 0001 00 0041"), seq(0, 65)), ErrLength, ""},
		{"signature truncated", resp, goodResp[:len(goodResp)-1], ErrTruncated,
			"pc5/msg: KeyEstResponse: signature: need 64 octets, have 63"},
		{"response trailing", resp, cat(goodResp, h("00")), ErrTrailingData, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.parse(c.wire)
			if !errors.Is(err, c.kind) {
				t.Fatalf("error %v, want kind %v", err, c.kind)
			}
			if c.text != "" && err.Error() != c.text {
				t.Fatalf("error text\n got %q\nwant %q", err, c.text)
			}
		})
	}

	marshalCases := []struct {
		name string
		v    payload
		kind error
	}{
		{"unknown suite", &KeyEstInit{Suite: 7, EphemeralPublicKey: seq(0, 32)}, ErrUnknownSuite},
		{"short key", &KeyEstInit{Suite: SuiteX25519Ed25519, EphemeralPublicKey: seq(0, 31)}, ErrLength},
		{"compressed P-256", &KeyEstInit{Suite: SuiteP256ECDSAP256, EphemeralPublicKey: cat([]byte{3}, seq(0, 64))}, ErrInvalid},
		{"token format 0", &KeyEstFinish{Suite: SuiteX25519Ed25519, Token: []byte{1}, Signature: seq(0, 64)}, ErrUnknownTokenFormat},
		{"no token", &KeyEstFinish{Suite: SuiteX25519Ed25519, TokenFormat: TokenCWT, Signature: seq(0, 64)}, ErrLength},
		{"token 2049", &KeyEstFinish{Suite: SuiteX25519Ed25519, TokenFormat: TokenCWT, Token: make([]byte, 2049), Signature: seq(0, 64)}, ErrLength},
		{"signature 70", &KeyEstResponse{Suite: SuiteX25519Ed25519, EphemeralPublicKey: seq(0, 32), TokenFormat: TokenCWT, Token: []byte{1}, Signature: seq(0, 70)}, ErrLength},
	}
	for _, c := range marshalCases {
		t.Run("marshal "+c.name, func(t *testing.T) {
			if _, err := c.v.Marshal(); !errors.Is(err, c.kind) {
				t.Fatalf("Marshal error %v, want kind %v", err, c.kind)
			}
		})
	}
}

func TestStrings(t *testing.T) {
	checks := map[string]string{
		MsgSecurityModeCommand.String():        "PROSE DIRECT LINK SECURITY MODE COMMAND",
		MessageType(0x7f).String():             "MessageType(0x7f)",
		CauseAuthenticationFailure.String():    "#6 authentication failure",
		CauseProtocolErrorUnspecified.String(): "#111 protocol error, unspecified",
		Cause(200).String():                    "#200 (unknown cause)",
		T5080.String():                         "T5080",
		PolicyRequired.String():                "REQUIRED",
		SecurityPolicy(5).String():             "reserved(5)",
		NewUnicastSecurityPolicy(PolicyRequired, PolicyNotNeeded).String(): "integrity REQUIRED, ciphering NOT NEEDED",
		NewSelectedAlgorithms(2, 1).String():                               "NEA2/NIA1",
		SuiteP256ECDSAP256.String():                                        "P256+ECDSA-P256-SHA256",
		SuiteX25519Ed25519.String():                                        "X25519+Ed25519",
		Suite(9).String():                                                  "Suite(0x09)",
		TokenCWT.String():                                                  "CWT",
		IEIKeyEstInfo.String():                                             "Key establishment information container",
		IEI(0xb5).String():                                                 "Re-authentication indication",
		IEI(0x42).String():                                                 "IEI(0x42)",
		FormatTLVE.String():                                                "TLV-E",
		IPConfigIPv6Router.String():                                        "IPv6 router",
		UPProtectionConfig(0x10).String():                                  "UP integrity on, UP ciphering off",
		NewUESecurityCapabilities([]uint8{0, 2}, []uint8{2}).String():      "EA{ 0 2 } IA{ 2 }",
	}
	for got, want := range checks {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	for c := range causeNames {
		if strings.HasPrefix(c.String(), "#") && strings.Contains(c.String(), "unknown") {
			t.Errorf("cause %d has no name", c)
		}
	}
	if len(causeNames) != 16 {
		t.Errorf("%d cause values, want 16 (#1..#15 and #111)", len(causeNames))
	}
}

func TestCodePoints(t *testing.T) {
	// Values straight from the notes.
	if MsgEstablishmentRequest != 0x01 || MsgRekeyingResponse != 0x16 || MsgSecurityModeCommand != 0x0c {
		t.Error("message type values drifted from notes §3.2")
	}
	if IEITargetUserInfo != 0x28 || IEIKeyEstInfo != 0x74 || IEINonce1 != 0x35 || IEIKNRPSessIDMSB != 0x36 || IEIKNRPID != 0x34 {
		t.Error("IEI values drifted from notes §3.3")
	}
	if MaxDirectLinks != 8 {
		t.Error("MaxDirectLinks")
	}
	for _, c := range []struct {
		t     Timer
		d     string
		retry int
	}{{T5080, "8s", 3}, {T5084, "5s", 0}, {T5085, "5s", 3}, {T5087, "5s", 3}} {
		if c.t.Default().String() != c.d || c.t.MaxRetransmissions() != c.retry {
			t.Errorf("%v: %v/%d", c.t, c.t.Default(), c.t.MaxRetransmissions())
		}
	}
	// Every registered IE agrees with the range rule where it must: TLV-E
	// IEs in 0x70..0x7F, type-1 IEs at 0x80 and above, nothing in the
	// comprehension-required range; no two IEs share a value.
	seen := map[IEI]bool{}
	for _, d := range ieDefs {
		if seen[d.iei] {
			t.Errorf("IEI 0x%02x registered twice", uint8(d.iei))
		}
		seen[d.iei] = true
		switch {
		case uint8(d.iei) <= ieiComprehensionRequiredMax:
			t.Errorf("%s: IEI in the comprehension-required range", d.name)
		case d.format == FormatTLVE && (d.iei < ieiTLVEMin || d.iei > ieiTLVEMax):
			t.Errorf("%s: TLV-E outside 0x70..0x7f", d.name)
		case d.format == FormatType1 && d.iei < ieiType1Min:
			t.Errorf("%s: type 1 below 0x80", d.name)
		case d.format != FormatType1 && d.iei >= ieiType1Min:
			t.Errorf("%s: non-type-1 IE at 0x80 or above", d.name)
		}
	}
	// Policy octet: 0x00 = both NOT NEEDED [SOLID].
	if NewUnicastSecurityPolicy(PolicyNotNeeded, PolicyNotNeeded) != 0 {
		t.Error("policy 0x00")
	}
	p := UnicastSecurityPolicy(0x21)
	if p.Integrity() != PolicyRequired || p.Ciphering() != PolicyPreferred {
		t.Errorf("policy 0x21 = %v", p)
	}
	c := UESecurityCapabilities{EA: 0x80 | 0x20, IA: 0x20}
	if !c.SupportsCiphering(0) || !c.SupportsCiphering(2) || c.SupportsCiphering(1) || !c.SupportsIntegrity(2) || c.SupportsIntegrity(0) || c.SupportsIntegrity(9) {
		t.Errorf("capability bits: %v", c)
	}
	if NewUESecurityCapabilities([]uint8{0, 2}, []uint8{2}).EA != 0xa0 {
		t.Error("NewUESecurityCapabilities")
	}
	if a := NewSelectedAlgorithms(3, 2); uint8(a) != 0x32 || a.Ciphering() != 3 || a.Integrity() != 2 {
		t.Errorf("selected algorithms %02x", uint8(a))
	}
	for _, s := range []Suite{SuiteP256ECDSAP256, SuiteX25519Ed25519, SuiteX25519ECDSAP256, SuiteP256Ed25519} {
		if !s.Known() || s.SignatureLen() != 64 || (s.KeyShareLen() != 65 && s.KeyShareLen() != 32) {
			t.Errorf("suite %v", s)
		}
	}
	if Suite(0).Known() || Suite(5).KeyShareLen() != 0 || Suite(5).SignatureLen() != 0 {
		t.Error("unknown suites")
	}
}
