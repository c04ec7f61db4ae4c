package msg

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// Fuzz properties: decoding never panics; every error is a *Error starting
// with "pc5/msg: "; anything that decodes re-encodes to octets that decode
// to the same value, and that re-encoding is a fixed point.

func checkErr(t *testing.T, err error) {
	var e *Error
	if !errors.As(err, &e) || !strings.HasPrefix(err.Error(), "pc5/msg: ") {
		t.Fatalf("error %q is not a pc5/msg *Error", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, c := range msgCases() {
		f.Add(c.wire)
	}
	for _, c := range sizeMessages() {
		b, _ := c.msg.Marshal()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			checkErr(t, err)
			return
		}
		b2, err := m.Marshal()
		if err != nil {
			t.Fatalf("parsed %x but Marshal failed: %v", b, err)
		}
		if m.MarshalLen() != len(b2) {
			t.Fatalf("MarshalLen %d != %d", m.MarshalLen(), len(b2))
		}
		m2, err := Parse(b2)
		if err != nil {
			t.Fatalf("re-encoding %x does not parse: %v", b2, err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("value changed:\n%#v\n%#v", m, m2)
		}
		b3, _ := m2.Marshal()
		if !bytes.Equal(b2, b3) {
			t.Fatalf("re-encoding is not a fixed point")
		}
	})
}

func fuzzPayload(f *testing.F, fresh func() payload) {
	for _, c := range keyEstCases() {
		f.Add(c.wire)
	}
	for _, p := range sizePayloads() {
		b, _ := p.Marshal()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v := fresh()
		if err := v.UnmarshalBinary(b); err != nil {
			checkErr(t, err)
			return
		}
		b2, err := v.Marshal()
		if err != nil {
			t.Fatalf("parsed %x but Marshal failed: %v", b, err)
		}
		// Key_Est_Info payloads have a single encoding.
		if !bytes.Equal(b, b2) {
			t.Fatalf("re-encoding differs:\n%x\n%x", b, b2)
		}
		v2 := fresh()
		if err := v2.UnmarshalBinary(b2); err != nil || !reflect.DeepEqual(v, v2) {
			t.Fatalf("value changed: %v", err)
		}
	})
}

func FuzzKeyEstInit(f *testing.F)     { fuzzPayload(f, newInit) }
func FuzzKeyEstResponse(f *testing.F) { fuzzPayload(f, newResponse) }
func FuzzKeyEstFinish(f *testing.F)   { fuzzPayload(f, newFinish) }
