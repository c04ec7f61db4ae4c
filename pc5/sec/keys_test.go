package sec

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// The self-computed chain of 3gpp-notes.md §2.4: not published test data,
// a guard against encoding slips in the typed API.
const (
	chainKNRPSess = "06d73aa996ea4b686f5f74b87960eb3ffc202350d0d18614cef02268539d4133"
	chainNRPEK2   = "128dc2fb6542faddeaea9dcfed6f4bd7"
	chainNRPIK2   = "06860490222b52e2634552c458e107bc"
)

func chainInputs() (KNRP, [NonceLen]byte, [NonceLen]byte) {
	var k KNRP
	var n1, n2 [NonceLen]byte
	for i := range k {
		k[i] = byte(i)
	}
	for i := range n1 {
		n1[i] = 0xa0 + byte(i)
		n2[i] = 0xb0 + byte(i)
	}
	return k, n1, n2
}

func TestKeyChainNotes(t *testing.T) {
	knrp, n1, n2 := chainInputs()
	sess := knrp.DeriveSess(&n1, &n2)
	if got := hex.EncodeToString(sess[:]); got != chainKNRPSess {
		t.Fatalf("KNRP-sess = %s, want %s", got, chainKNRPSess)
	}
	ek := sess.NRPEK(NEA2)
	if got := hex.EncodeToString(ek[:]); got != chainNRPEK2 {
		t.Errorf("NRPEK(NEA2) = %s, want %s", got, chainNRPEK2)
	}
	ik := sess.NRPIK(NIA2)
	if got := hex.EncodeToString(ik[:]); got != chainNRPIK2 {
		t.Errorf("NRPIK(NIA2) = %s, want %s", got, chainNRPIK2)
	}
	// The nonces are ordered: swapping them gives another key.
	if swapped := knrp.DeriveSess(&n2, &n1); swapped == sess {
		t.Error("DeriveSess(Nonce_2, Nonce_1) equals DeriveSess(Nonce_1, Nonce_2)")
	}
	// NRPEK and NRPIK for the same algorithm identity differ
	// (distinguisher 0x00 vs 0x01).
	if ek2, ik2 := sess.NRPEK(NEA1), sess.NRPIK(NIA1); [KeyLen]byte(ek2) == [KeyLen]byte(ik2) {
		t.Error("NRPEK(1) equals NRPIK(1)")
	}
}

// kdfVectorFile is the shared vector file, as far as this package's tests
// can find it: the copy in testdata/, else the shared directory of the
// project workspace.
func kdfVectorFile(t *testing.T) []byte {
	t.Helper()
	for _, p := range []string{
		filepath.Join("testdata", "3gpp-algorithms.json"),
		filepath.Join("..", "..", "..", "shared", "vectors", "3gpp-algorithms.json"),
	} {
		if b, err := os.ReadFile(p); err == nil {
			return b
		}
	}
	t.Fatal("3gpp-algorithms.json not found in testdata/ or the shared vectors directory")
	return nil
}

type kdfVector struct {
	ID     string `json:"id"`
	Key    string `json:"key"`
	FC     string `json:"fc"`
	Params []struct {
		P string `json:"P"`
		L string `json:"L"`
	} `json:"params"`
	Expected string `json:"expected_output"`
}

// TestKeyChainVectors checks the typed API against every kdf_vectors entry
// of the shared file under FC 0x7F or 0x7E (the SELF-* PC5 derivations).
// The generic KDF vectors are tested with the algorithm vectors.
func TestKeyChainVectors(t *testing.T) {
	var file struct {
		KDF []kdfVector `json:"kdf_vectors"`
	}
	if err := json.Unmarshal(kdfVectorFile(t), &file); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, v := range file.KDF {
		fc := mustHex(t, v.FC)
		if len(fc) != 1 || (fc[0] != FCKNRPSess && fc[0] != FCNRPEKNRPIK) {
			continue
		}
		seen++
		t.Run(v.ID, func(t *testing.T) {
			key := mustHex(t, v.Key)
			want := v.Expected
			if len(v.Params) != 2 {
				t.Fatalf("expected 2 parameters, found %d", len(v.Params))
			}
			p0, p1 := mustHex(t, v.Params[0].P), mustHex(t, v.Params[1].P)
			var got []byte
			switch fc[0] {
			case FCKNRPSess:
				if len(key) != 32 || len(p0) != NonceLen || len(p1) != NonceLen {
					t.Fatalf("expected a 32-octet key and two %d-octet nonces, found %d, %d, %d", NonceLen, len(key), len(p0), len(p1))
				}
				knrp := KNRP(key)
				s := knrp.DeriveSess((*[NonceLen]byte)(p0), (*[NonceLen]byte)(p1))
				got = s[:]
			case FCNRPEKNRPIK:
				if len(key) != 32 || len(p0) != 1 || len(p1) != 1 {
					t.Fatalf("expected a 32-octet key and 1-octet P0, P1, found %d, %d, %d", len(key), len(p0), len(p1))
				}
				sess := KNRPSess(key)
				switch p0[0] {
				case DistinguisherNRPEK:
					k := sess.NRPEK(CipherAlg(p1[0]))
					got = k[:]
				case DistinguisherNRPIK:
					k := sess.NRPIK(IntegrityAlg(p1[0]))
					got = k[:]
				default:
					t.Fatalf("unknown distinguisher %#x", p0[0])
				}
			}
			if hex.EncodeToString(got) != want {
				t.Errorf("got %x, want %s", got, want)
			}
		})
	}
	if seen < 7 {
		t.Errorf("found %d kdf_vectors under FC 0x7F/0x7E, expected at least 7 (SELF-*)", seen)
	}
}

func TestKeyWipe(t *testing.T) {
	knrp, n1, n2 := chainInputs()
	sess := knrp.DeriveSess(&n1, &n2)
	ek, ik := sess.NRPEK(NEA2), sess.NRPIK(NIA2)
	knrp.Wipe()
	sess.Wipe()
	ek.Wipe()
	ik.Wipe()
	if knrp != (KNRP{}) || sess != (KNRPSess{}) || ek != (NRPEK{}) || ik != (NRPIK{}) {
		t.Error("Wipe left non-zero key bytes")
	}
	b := []byte{1, 2, 3}
	WipeBytes(b)
	if !bytes.Equal(b, []byte{0, 0, 0}) {
		t.Errorf("WipeBytes left %x", b)
	}
}

// TestKeyRedaction checks that fmt, log/slog and encoding/json never print
// key bytes, whatever the verb, for values and pointers.
func TestKeyRedaction(t *testing.T) {
	var knrp KNRP
	var sess KNRPSess
	var ek NRPEK
	var ik NRPIK
	for i := range knrp {
		knrp[i], sess[i] = 0xc3, 0xc3
	}
	for i := range ek {
		ek[i], ik[i] = 0xc3, 0xc3
	}
	keys := []struct {
		name string
		v, p any
	}{
		{"KNRP", knrp, &knrp},
		{"KNRP-sess", sess, &sess},
		{"NRPEK", ek, &ek},
		{"NRPIK", ik, &ik},
	}
	leaks := func(s string) bool {
		low := strings.ToLower(s)
		for _, pat := range []string{"c3c3", "c3 c3", "0xc3", "195 195", "195,195", "303 303", "11000011"} {
			if strings.Contains(low, pat) {
				return true
			}
		}
		return false
	}
	for _, k := range keys {
		placeholder := k.name + "(redacted)"
		for _, x := range []any{k.v, k.p} {
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "% x", "%o", "%b", "%10v", "%-20x"} {
				out := fmt.Sprintf(verb, x)
				if leaks(out) || !strings.Contains(out, placeholder) {
					t.Errorf("Sprintf(%q, %T) = %q, want only %q", verb, x, out, placeholder)
				}
			}
			for _, out := range []string{fmt.Sprint(x), fmt.Sprintln(x), fmt.Sprint([]any{x}), fmt.Sprintf("%v", struct{ K any }{x})} {
				if leaks(out) {
					t.Errorf("fmt printed %T as %q", x, out)
				}
			}
			var buf bytes.Buffer
			slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "key", x, slog.Any("any", x), slog.Group("g", "k", x))
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "key", x, slog.Any("any", x))
			if out := buf.String(); leaks(out) || !strings.Contains(out, placeholder) {
				t.Errorf("slog printed %T as %q", x, out)
			}
			j, err := json.Marshal(struct{ K any }{x})
			if err != nil || leaks(string(j)) {
				t.Errorf("json.Marshal(%T) = %s, %v", x, j, err)
			}
		}
	}
}

func TestKNRPSessID(t *testing.T) {
	id := NewKNRPSessID(0x12, 0xab)
	if uint16(id) != 0x12ab || id.MSB() != 0x12 || id.LSB() != 0xab || id.String() != "0x12ab" {
		t.Errorf("NewKNRPSessID(0x12, 0xab) = %v, MSB %#x, LSB %#x", id, id.MSB(), id.LSB())
	}
	if s := NewKNRPSessID(0, 1).String(); s != "0x0001" {
		t.Errorf("String() = %q, want 0x0001", s)
	}
	kid := NewKNRPID(0x1234, 0xabcd)
	if uint32(kid) != 0x1234abcd || kid.MSBs() != 0x1234 || kid.LSBs() != 0xabcd || kid.String() != "0x1234abcd" {
		t.Errorf("NewKNRPID(0x1234, 0xabcd) = %v, MSBs %#x, LSBs %#x", kid, kid.MSBs(), kid.LSBs())
	}
}

type idSet map[KNRPSessID]bool

func (s idSet) has(id KNRPSessID) bool { return s[id] }

func TestPickKNRPSessLSB(t *testing.T) {
	// The reader proposes 0x00 (reserved with MSB 0), then 0x05 (in use),
	// then 0x06.
	inUse := idSet{0x0005: true}
	lsb, err := PickKNRPSessLSB(bytes.NewReader([]byte{0x00, 0x05, 0x06}), 0x00, inUse.has)
	if err != nil || lsb != 0x06 {
		t.Fatalf("PickKNRPSessLSB = %#x, %v, want 0x06", lsb, err)
	}
	// LSB 0 is fine when the MSB is not 0.
	lsb, err = PickKNRPSessLSB(bytes.NewReader([]byte{0x00}), 0x01, inUse.has)
	if err != nil || lsb != 0 {
		t.Fatalf("PickKNRPSessLSB(MSB 1) = %#x, %v, want 0", lsb, err)
	}
	// After pickTries collisions it scans from the last draw.
	for l := 0; l < 256; l++ {
		if l != 0x42 {
			inUse[NewKNRPSessID(0x07, uint8(l))] = true
		}
	}
	lsb, err = PickKNRPSessLSB(bytes.NewReader(bytes.Repeat([]byte{0x10}, pickTries)), 0x07, inUse.has)
	if err != nil || lsb != 0x42 {
		t.Fatalf("PickKNRPSessLSB with one free value = %#x, %v, want 0x42", lsb, err)
	}
	inUse[NewKNRPSessID(0x07, 0x42)] = true
	if _, err := PickKNRPSessLSB(bytes.NewReader(make([]byte, 64)), 0x07, inUse.has); !errors.Is(err, ErrNoFreeKNRPSessID) {
		t.Fatalf("PickKNRPSessLSB with none free: err = %v, want ErrNoFreeKNRPSessID", err)
	}
	if _, err := PickKNRPSessLSB(iotest.ErrReader(errors.New("boom")), 0x01, inUse.has); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("PickKNRPSessLSB with a failing reader: err = %v", err)
	}
	if _, err := PickKNRPSessLSB(nil, 0x01, inUse.has); err == nil {
		t.Fatal("PickKNRPSessLSB with a nil reader: no error")
	}
}

func TestPickKNRPSessMSB(t *testing.T) {
	inUse := idSet{NewKNRPSessID(0x10, 0x99): true}
	msb, err := PickKNRPSessMSB(bytes.NewReader([]byte{0x10, 0x11}), inUse.has)
	if err != nil || msb != 0x11 {
		t.Fatalf("PickKNRPSessMSB = %#x, %v, want 0x11 (0x10 is taken by 0x1099)", msb, err)
	}
	all := idSet{}
	for m := 0; m < 256; m++ {
		all[NewKNRPSessID(uint8(m), 1)] = true
	}
	if _, err := PickKNRPSessMSB(bytes.NewReader(make([]byte, 64)), all.has); !errors.Is(err, ErrNoFreeKNRPSessID) {
		t.Fatalf("PickKNRPSessMSB with none free: err = %v, want ErrNoFreeKNRPSessID", err)
	}
}

func TestCheckKNRPSessID(t *testing.T) {
	inUse := idSet{0x1234: true}
	if err := CheckKNRPSessID(0x1235, inUse.has); err != nil {
		t.Errorf("CheckKNRPSessID(free) = %v", err)
	}
	for _, id := range []KNRPSessID{0x1234, 0x0000} {
		if err := CheckKNRPSessID(id, inUse.has); !errors.Is(err, ErrKNRPSessIDConflict) {
			t.Errorf("CheckKNRPSessID(%v) = %v, want ErrKNRPSessIDConflict", id, err)
		}
	}
}
