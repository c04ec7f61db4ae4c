package medium

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func TestFrameCodecTable(t *testing.T) {
	for _, c := range []struct {
		f    Frame
		wire string
	}{
		{Frame{Src: 1, Dst: 2, LCID: 0, Payload: []byte{0xaa}}, "01" + "000001" + "000002" + "00" + "0001" + "aa"},
		{Frame{Src: 0xabcdef, Dst: Broadcast, LCID: 63}, "01" + "abcdef" + "ffffff" + "3f" + "0000"},
	} {
		b, err := AppendFrame(nil, c.f)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(b); got != c.wire {
			t.Errorf("encode %+v = %s, want %s", c.f, got, c.wire)
		}
		w, _ := hex.DecodeString(c.wire)
		f, err := DecodeFrame(w)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(f, c.f) {
			t.Errorf("decode %s = %+v, want %+v", c.wire, f, c.f)
		}
	}
}

func TestFrameRoundTripAndTruncation(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		f := Frame{
			Src:  L2ID(r.IntN(int(Broadcast)-1) + 1),
			Dst:  L2ID(r.IntN(int(Broadcast)) + 1),
			LCID: uint8(r.IntN(MaxLCID + 1)),
		}
		if n := r.IntN(64); n > 0 {
			f.Payload = make([]byte, n)
			for i := range f.Payload {
				f.Payload[i] = byte(r.Uint32())
			}
		}
		b, err := AppendFrame([]byte("prefix"), f)
		if err != nil {
			t.Fatal(err)
		}
		b = b[len("prefix"):]
		got, err := DecodeFrame(b)
		if err != nil || !reflect.DeepEqual(got, f) {
			t.Fatalf("round trip %+v: %+v, %v", f, got, err)
		}
		for i := range len(b) {
			if _, err := DecodeFrame(b[:i]); err == nil {
				t.Fatalf("truncated frame (%d of %d octets) decoded", i, len(b))
			}
		}
		if _, err := DecodeFrame(append(bytes.Clone(b), 0)); err == nil {
			t.Fatal("frame with a trailing octet decoded")
		}
	}
}

func TestFrameDecodeErrors(t *testing.T) {
	for _, c := range []struct{ name, wire, want string }{
		{"empty", "", "0 octets"},
		{"version", "02000001000002000000", "version 2"},
		{"src zero", "01000000000002000000", "source"},
		{"src broadcast", "01ffffff000002000000", "source"},
		{"dst zero", "01000001000000000000", "destination"},
		{"lcid", "01000001000002400000", "LCID 64"},
		{"length short", "010000010000020000 02aa", "2, but 1"},
		{"length long", "01000001000002000000aa", "0, but 1"},
		{"length cap", "01000001000002002329", "9001 exceeds 9000"},
	} {
		w, _ := hex.DecodeString(strings.ReplaceAll(c.wire, " ", ""))
		_, err := DecodeFrame(w)
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "pc5/medium: ") {
			t.Errorf("%s: %v, want ErrMalformed containing %q", c.name, err, c.want)
		}
	}
	if _, err := AppendFrame(nil, Frame{Src: 1, Dst: 2, Payload: make([]byte, MaxPayload+1)}); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("encode oversize: %v", err)
	}
	if _, err := AppendFrame(nil, Frame{Src: 0, Dst: 2}); !errors.Is(err, ErrInvalidL2ID) {
		t.Fatalf("encode src 0: %v", err)
	}
}

func FuzzDecodeFrame(f *testing.F) {
	for _, s := range []string{"01000001000002000001aa", "01abcdefffffff3f0000", "", "01", "0200000100000200000"} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := DecodeFrame(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) || !strings.HasPrefix(err.Error(), "pc5/medium: ") {
				t.Fatalf("error %q", err)
			}
			return
		}
		if len(fr.Payload) > 0 && &fr.Payload[0] == &b[FrameHeaderLen] {
			t.Fatal("payload aliases the input")
		}
		b2, err := AppendFrame(nil, fr)
		if err != nil {
			t.Fatalf("decoded %x but cannot encode %+v: %v", b, fr, err)
		}
		if !bytes.Equal(b, b2) {
			t.Fatalf("re-encoding differs:\n%x\n%x", b, b2)
		}
	})
}
