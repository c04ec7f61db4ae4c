package discovery

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// Fuzz properties: decoding never panics; every error is an *Error
// starting with "discovery: "; whatever decodes re-encodes to the same
// octets (the encoding is canonical) and decodes to the same value.

func seedCorpus(f *testing.F) {
	for _, c := range codecCases() {
		f.Add(unhex(f, c.wire))
	}
	r := rand.New(rand.NewPCG(5, 6))
	for range 20 {
		b, _ := randMessage(r).Marshal()
		f.Add(b)
	}
}

func checkDecoded(t *testing.T, in []byte, m Message, err error) {
	if err != nil {
		var e *Error
		if !errors.As(err, &e) || !strings.HasPrefix(err.Error(), "discovery: ") {
			t.Fatalf("error %q is not a discovery *Error", err)
		}
		return
	}
	out, err := m.Marshal()
	if err != nil {
		t.Fatalf("decoded %x but Marshal failed: %v", in, err)
	}
	if !bytes.Equal(in, out) {
		t.Fatalf("re-encoding differs:\n in %x\nout %x", in, out)
	}
	if m.MarshalLen() != len(out) {
		t.Fatalf("MarshalLen %d != %d", m.MarshalLen(), len(out))
	}
	m2, err := Parse(out)
	if err != nil || !reflect.DeepEqual(m, m2) {
		t.Fatalf("re-parse: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	seedCorpus(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		checkDecoded(t, b, m, err)
	})
}

func fuzzOne(f *testing.F, fresh func() Message) {
	seedCorpus(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		m := fresh()
		err := m.UnmarshalBinary(b)
		checkDecoded(t, b, m, err)
	})
}

func FuzzAnnouncement(f *testing.F) { fuzzOne(f, func() Message { return new(Announcement) }) }
func FuzzResponse(f *testing.F)     { fuzzOne(f, func() Message { return new(Response) }) }
func FuzzSolicitation(f *testing.F) { fuzzOne(f, func() Message { return new(Solicitation) }) }
