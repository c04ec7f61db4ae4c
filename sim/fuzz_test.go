package sim

import (
	"context"
	"encoding/hex"
	"testing"
	"unicode/utf8"

	"github.com/prosesec/prosesec/pc5/link"
	"github.com/prosesec/prosesec/pc5/medium"
)

// FuzzDescribeFrame: whatever a frame on the medium holds (an attacker's
// scenarios inject their own), describing it for the trace never panics
// and yields printable fields; decoding a traced plaintext likewise. Seeds:
// every frame of the default run, and the same payloads as plaintexts.
func FuzzDescribeFrame(f *testing.F) {
	res, err := Run(context.Background(), Options{Seed: 1, DebugKeys: true})
	if err != nil {
		f.Fatal(err)
	}
	for _, fr := range res.Frames {
		if fr.Proto != ProtoPC5 {
			continue
		}
		b, err := hex.DecodeString(fr.Octets)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(fr.LCID, b)
	}
	f.Add(uint8(1), []byte{0x0e})
	f.Add(uint8(4), []byte{0x80, 0, 0, 1})
	f.Fuzz(func(t *testing.T, lcid uint8, payload []byte) {
		logs := newPDULog()
		logs.record(link.TracedPDU{LCID: lcid, PDU: payload, Plaintext: payload, Ciphered: true, Integrity: true})
		for _, l := range []*pduLog{nil, logs} {
			m, fields, _ := describeWith(l, medium.Frame{LCID: lcid, Payload: payload})
			if m == "" {
				t.Fatal("no message name")
			}
			for k, v := range fields {
				if k == "" || !utf8.ValidString(k) {
					t.Fatalf("field name %q", k)
				}
				_ = v // user infos are octets from the air, written as JSON strings (escaped)
			}
		}
	})
}
