package sec

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

var (
	allCipherAlgs    = []CipherAlg{NEA0, NEA1, NEA2, NEA3}
	allIntegrityAlgs = []IntegrityAlg{NIA0, NIA1, NIA2, NIA3}
)

const testSessID = KNRPSessID(0x5a3c)

func testSess() *KNRPSess {
	knrp, n1, n2 := chainInputs()
	s := knrp.DeriveSess(&n1, &n2)
	return &s
}

// newPair returns the two ends of one link: ue1 the initiator, ue2 the
// responder, with the same KNRP-sess, algorithms and configuration.
func newPair(t testing.TB, ea CipherAlg, ia IntegrityAlg, mod func(*Config)) (ue1, ue2 *Context) {
	t.Helper()
	for _, init := range []bool{true, false} {
		cfg := Config{Sess: testSess(), SessID: testSessID, CipherAlg: ea, IntegrityAlg: ia, Initiator: init}
		if mod != nil {
			mod(&cfg)
		}
		c, err := NewContext(cfg)
		if err != nil {
			t.Fatalf("NewContext(%v/%v, initiator %v): %v", ea, ia, init, err)
		}
		if init {
			ue1 = c
		} else {
			ue2 = c
		}
	}
	return ue1, ue2
}

func withSN18(cfg *Config) { cfg.Default.SNSize = SNSize18 }

// bearerSnapshot is a deep copy of a bearer's mutable state.
type bearerSnapshot struct {
	txNext, rxNext uint64
	words          []uint64
	rekey          bool
}

func snapshot(c *Context, bearer uint8) bearerSnapshot {
	b := &c.bearers[bearer]
	return bearerSnapshot{b.txNext, b.rx.next, slices.Clone(b.rx.words), c.rekey}
}

func (s bearerSnapshot) equal(o bearerSnapshot) bool {
	return s.txNext == o.txNext && s.rxNext == o.rxNext && s.rekey == o.rekey && slices.Equal(s.words, o.words)
}

// setCounts is the test hook for starting a bearer's COUNTs away from 0:
// TX_NEXT on tx and RX_NEXT on rx, consistently.
func setCounts(tx, rx *Context, bearer uint8, count uint64) {
	tx.bearers[bearer].txNext = count
	rx.bearers[bearer].rx.next = count
}

func payloadOf(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = seed + byte(i*7)
	}
	return p
}

func algName(ea CipherAlg, ia IntegrityAlg) string { return fmt.Sprintf("NEA%d-NIA%d", ea, ia) }

// TestRoundTripAllAlgorithms: every NEA×NIA pair, SN sizes 12 and 18, every
// PC5 BEARER 1..19, both directions, several payload lengths.
func TestRoundTripAllAlgorithms(t *testing.T) {
	for _, ea := range allCipherAlgs {
		for _, ia := range allIntegrityAlgs {
			for _, sn := range []int{SNSize12, SNSize18} {
				t.Run(fmt.Sprintf("%s/SN%d", algName(ea, ia), sn), func(t *testing.T) {
					ue1, ue2 := newPair(t, ea, ia, func(c *Config) { c.Default.SNSize = sn })
					hdr := PDCPHeaderLen12
					if sn == SNSize18 {
						hdr = PDCPHeaderLen18
					}
					for bearer := uint8(1); bearer <= LCIDDRBMax; bearer++ {
						for i, n := range []int{0, 1, 5, 100, 1400} {
							for _, dir := range []struct{ tx, rx *Context }{{ue1, ue2}, {ue2, ue1}} {
								p := payloadOf(n, bearer+byte(i))
								pdu, err := dir.tx.Protect(nil, bearer, p)
								if err != nil {
									t.Fatalf("Protect: %v", err)
								}
								if len(pdu) != hdr+n+MACLen {
									t.Fatalf("PDU length %d, want %d", len(pdu), hdr+n+MACLen)
								}
								if pdu[0]&PDCPDataPDUBit == 0 {
									t.Fatal("D/C bit not set")
								}
								if ea != NEA0 && n >= 8 && bytes.Equal(pdu[hdr:hdr+n], p) {
									t.Fatal("payload not ciphered")
								}
								h, _, err := ParsePDU(pdu, sn, true)
								if err != nil || h.SessID != testSessID || h.SN != uint32(i) {
									t.Fatalf("ParsePDU = %+v, %v; want SN %d, ID %v", h, err, i, testSessID)
								}
								got, err := dir.rx.Unprotect(nil, bearer, pdu)
								if err != nil {
									t.Fatalf("BEARER %d, %d octets: Unprotect: %v", bearer, n, err)
								}
								if !bytes.Equal(got, p) {
									t.Fatalf("BEARER %d: round trip changed the payload", bearer)
								}
							}
						}
					}
				})
			}
		}
	}
}

// TestDirectionsDiffer: a PDU reflected to its sender does not verify, and
// the two directions use different keystreams at the same COUNT.
func TestDirectionsDiffer(t *testing.T) {
	ue1, ue2 := newPair(t, NEA2, NIA2, nil)
	p := payloadOf(64, 1)
	a, _ := ue1.Protect(nil, 2, p)
	b, _ := ue2.Protect(nil, 2, p)
	if bytes.Equal(a, b) {
		t.Fatal("initiator and responder produce the same PDU at the same COUNT")
	}
	if _, err := ue1.Unprotect(nil, 2, a); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("reflected PDU: err = %v, want ErrIntegrity", err)
	}
}

// TestTamperEveryBit flips every bit of header, payload and MAC-I of a
// protected PDU; every variant is rejected, the state is unchanged, and the
// genuine PDU still verifies afterwards.
func TestTamperEveryBit(t *testing.T) {
	for _, ea := range allCipherAlgs {
		for _, ia := range []IntegrityAlg{NIA1, NIA2, NIA3} {
			for _, sn := range []int{SNSize12, SNSize18} {
				t.Run(fmt.Sprintf("%s/SN%d", algName(ea, ia), sn), func(t *testing.T) {
					ue1, ue2 := newPair(t, ea, ia, func(c *Config) { c.Default.SNSize = sn })
					for range 3 { // tamper at COUNT 3, with history in the window
						pdu, _ := ue1.Protect(nil, 4, payloadOf(40, 9))
						if _, err := ue2.Unprotect(nil, 4, pdu); err != nil {
							t.Fatal(err)
						}
					}
					pdu, _ := ue1.Protect(nil, 4, payloadOf(40, 3))
					before := snapshot(ue2, 4)
					buf := make([]byte, 0, len(pdu))
					for bit := 0; bit < 8*len(pdu); bit++ {
						bad := slices.Clone(pdu)
						bad[bit/8] ^= 0x80 >> (bit % 8)
						out, err := ue2.Unprotect(buf, 4, bad)
						if err == nil {
							t.Fatalf("bit %d flipped: Unprotect succeeded", bit)
						}
						if len(out) != 0 {
							t.Fatalf("bit %d flipped: Unprotect returned %d octets with %v", bit, len(out), err)
						}
						if after := snapshot(ue2, 4); !after.equal(before) {
							t.Fatalf("bit %d flipped (%v): receive state changed", bit, err)
						}
						if got := buf[:cap(buf)]; !bytes.Equal(got, make([]byte, len(got))) {
							t.Fatalf("bit %d flipped: unverified plaintext left in dst's spare capacity", bit)
						}
					}
					if got, err := ue2.Unprotect(nil, 4, pdu); err != nil || !bytes.Equal(got, payloadOf(40, 3)) {
						t.Fatalf("genuine PDU after tampering: %v", err)
					}
				})
			}
		}
	}
}

func TestReplayRejected(t *testing.T) {
	ue1, ue2 := newPair(t, NEA2, NIA2, nil)
	pdu, _ := ue1.Protect(nil, 2, []byte("hello"))
	if _, err := ue2.Unprotect(nil, 2, pdu); err != nil {
		t.Fatal(err)
	}
	before := snapshot(ue2, 2)
	if _, err := ue2.Unprotect(nil, 2, pdu); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay: err = %v, want ErrReplay", err)
	}
	if !snapshot(ue2, 2).equal(before) {
		t.Fatal("replay changed state")
	}
}

func TestOutOfOrderWithinWindow(t *testing.T) {
	for _, sn := range []int{SNSize12, SNSize18} {
		ue1, ue2 := newPair(t, NEA3, NIA3, func(c *Config) { c.Default.SNSize = sn })
		const n = 1500
		pdus := make([][]byte, n)
		for i := range pdus {
			pdus[i], _ = ue1.Protect(nil, 5, payloadOf(20, byte(i)))
		}
		order := rand.New(rand.NewPCG(3, uint64(sn))).Perm(n)
		for _, i := range order {
			got, err := ue2.Unprotect(nil, 5, pdus[i])
			if err != nil || !bytes.Equal(got, payloadOf(20, byte(i))) {
				t.Fatalf("SN %d, PDU %d out of order: %v", sn, i, err)
			}
		}
		for _, i := range order[:100] {
			if _, err := ue2.Unprotect(nil, 5, pdus[i]); !errors.Is(err, ErrReplay) {
				t.Fatalf("SN %d, PDU %d a second time: err = %v, want ErrReplay", sn, i, err)
			}
		}
	}
}

func TestTooOld(t *testing.T) {
	// 12-bit SN with a 1024-COUNT window: PDUs 1024..2047 behind RX_NEXT
	// still map to the right COUNT (Window_Size 2048) but are left of the
	// replay window.
	ue1, ue2 := newPair(t, NEA2, NIA2, func(c *Config) { c.WindowBits = 1024 })
	var pdus [][]byte
	for i := 0; i <= 1500; i++ {
		p, _ := ue1.Protect(nil, 3, []byte{byte(i)})
		pdus = append(pdus, p)
	}
	if _, err := ue2.Unprotect(nil, 3, pdus[1500]); err != nil {
		t.Fatal(err)
	}
	// RX_NEXT = 1501: COUNT 477 is the oldest inside the window.
	if _, err := ue2.Unprotect(nil, 3, pdus[477]); err != nil {
		t.Fatalf("COUNT 477: %v", err)
	}
	before := snapshot(ue2, 3)
	for _, i := range []int{476, 100, 0} {
		if _, err := ue2.Unprotect(nil, 3, pdus[i]); !errors.Is(err, ErrTooOld) {
			t.Fatalf("COUNT %d: err = %v, want ErrTooOld", i, err)
		}
	}
	if !snapshot(ue2, 3).equal(before) {
		t.Fatal("rejected old PDUs changed state")
	}

	// 18-bit SN, default window of 2048.
	ue1, ue2 = newPair(t, NEA2, NIA2, withSN18)
	pdus = pdus[:0]
	for i := 0; i <= 3000; i++ {
		p, _ := ue1.Protect(nil, 3, []byte{byte(i)})
		pdus = append(pdus, p)
	}
	if _, err := ue2.Unprotect(nil, 3, pdus[3000]); err != nil {
		t.Fatal(err)
	}
	if _, err := ue2.Unprotect(nil, 3, pdus[3001-DefaultWindowBits]); err != nil {
		t.Fatalf("oldest COUNT in the window: %v", err)
	}
	if _, err := ue2.Unprotect(nil, 3, pdus[3000-DefaultWindowBits]); !errors.Is(err, ErrTooOld) {
		t.Fatalf("one left of the window: err = %v, want ErrTooOld", err)
	}

	// An SN that maps below COUNT 0 (HFN −1 at the start).
	ue1, ue2 = newPair(t, NEA2, NIA2, nil)
	ue1.bearers[3].txNext = 3000 // sender ahead of RX_NEXT 0 by more than Window_Size
	p, _ := ue1.Protect(nil, 3, []byte("x"))
	if _, err := ue2.Unprotect(nil, 3, p); !errors.Is(err, ErrTooOld) {
		t.Fatalf("SN 3000 with RX_NEXT 0: err = %v, want ErrTooOld", err)
	}
}

func TestWrongKNRPSessID(t *testing.T) {
	ue1, _ := newPair(t, NEA2, NIA2, nil)
	_, other := newPair(t, NEA2, NIA2, func(c *Config) { c.SessID = testSessID + 1 })
	pdu, _ := ue1.Protect(nil, 2, []byte("hello"))
	before := snapshot(other, 2)
	if _, err := other.Unprotect(nil, 2, pdu); !errors.Is(err, ErrWrongKNRPSessID) {
		t.Fatalf("err = %v, want ErrWrongKNRPSessID", err)
	}
	if !snapshot(other, 2).equal(before) {
		t.Fatal("state changed")
	}
}

// TestHFNRollover: the SN wraps many times, with losses and reordering
// shorter than Window_Size, and both sides keep the same COUNT.
func TestHFNRollover(t *testing.T) {
	for _, sn := range []int{SNSize12, SNSize18} {
		t.Run(fmt.Sprintf("SN%d", sn), func(t *testing.T) {
			ue1, ue2 := newPair(t, NEA2, NIA2, func(c *Config) { c.Default.SNSize = sn })
			window := uint64(1) << (sn - 1)
			snSpace := uint64(1) << sn
			// Start a few PDUs before an HFN boundary (HFN 5 → 6) for 18
			// bits, where running through whole SN cycles would be slow.
			start := uint64(0)
			if sn == SNSize18 {
				start = 6*snSpace - 500
			}
			setCounts(ue1, ue2, 6, start)
			rng := rand.New(rand.NewPCG(11, uint64(sn)))
			end := start + 3*4096 + 77
			received := 0
			var held [][]byte // delayed PDUs, delivered late
			var heldCount []uint64
			for ue1.TxNext(6) < end {
				count := ue1.TxNext(6)
				// Lose a run of PDUs, shorter than Window_Size minus the
				// reordering slack.
				if rng.IntN(200) == 0 {
					loss := uint64(rng.IntN(int(min(window, 2048)) - 64))
					for range loss {
						if _, err := ue1.Protect(nil, 6, nil); err != nil {
							t.Fatal(err)
						}
					}
					continue
				}
				pdu, err := ue1.Protect(nil, 6, payloadOf(8, byte(count)))
				if err != nil {
					t.Fatal(err)
				}
				if rng.IntN(20) == 0 {
					held, heldCount = append(held, pdu), append(heldCount, count)
					continue
				}
				got, err := ue2.Unprotect(nil, 6, pdu)
				if err != nil || !bytes.Equal(got, payloadOf(8, byte(count))) {
					t.Fatalf("COUNT %#x (SN %d): %v", count, count%snSpace, err)
				}
				if ue2.RxNext(6) < count+1 {
					t.Fatalf("COUNT %#x: RX_NEXT %#x behind", count, ue2.RxNext(6))
				}
				received++
				if len(held) > 0 && rng.IntN(4) == 0 {
					got, err := ue2.Unprotect(nil, 6, held[0])
					if err != nil || !bytes.Equal(got, payloadOf(8, byte(heldCount[0]))) {
						t.Fatalf("late COUNT %#x: %v", heldCount[0], err)
					}
					held, heldCount = held[1:], heldCount[1:]
				}
			}
			if hfn := ue2.RxNext(6) >> sn; hfn <= start>>sn {
				t.Fatalf("HFN did not advance: RX_NEXT %#x", ue2.RxNext(6))
			}
			if received < 1000 {
				t.Fatalf("only %d PDUs received", received)
			}
		})
	}
}

func TestRekeySignal(t *testing.T) {
	ue1, ue2 := newPair(t, NEA2, NIA2, func(c *Config) { c.RekeyThreshold = 10 })
	for i := 0; i < 10; i++ {
		if ue1.NeedsRekey() || ue2.NeedsRekey() {
			t.Fatalf("NeedsRekey before COUNT %d was used", i)
		}
		pdu, err := ue1.Protect(nil, 7, []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		if i < 9 && ue1.NeedsRekey() {
			t.Fatalf("NeedsRekey after %d PDUs, threshold 10", i+1)
		}
		if _, err := ue2.Unprotect(nil, 7, pdu); err != nil {
			t.Fatal(err)
		}
	}
	if !ue1.NeedsRekey() {
		t.Error("sender: no NeedsRekey after 10 PDUs")
	}
	if !ue2.NeedsRekey() {
		t.Error("receiver: no NeedsRekey after COUNT 9")
	}
	// The signal does not stop traffic.
	if _, err := ue1.Protect(nil, 7, []byte("x")); err != nil {
		t.Fatal(err)
	}
	// Default threshold.
	a, _ := newPair(t, NEA0, NIA0, nil)
	setCounts(a, a, 8, DefaultRekeyThreshold-1)
	a.Protect(nil, 8, nil)
	if !a.NeedsRekey() {
		t.Error("no NeedsRekey at the default threshold 2^31")
	}
}

func TestCountExhaustion(t *testing.T) {
	for _, sn := range []int{SNSize12, SNSize18} {
		ue1, ue2 := newPair(t, NEA2, NIA2, func(c *Config) { c.Default.SNSize = sn })
		setCounts(ue1, ue2, 9, MaxCount-1)
		for _, want := range []uint64{MaxCount - 1, MaxCount} {
			pdu, err := ue1.Protect(nil, 9, []byte("last"))
			if err != nil {
				t.Fatalf("SN %d, COUNT %#x: %v", sn, want, err)
			}
			if _, err := ue2.Unprotect(nil, 9, pdu); err != nil {
				t.Fatalf("SN %d, receiving COUNT %#x: %v", sn, want, err)
			}
			if ue2.RxNext(9) != want+1 {
				t.Fatalf("RX_NEXT %#x, want %#x", ue2.RxNext(9), want+1)
			}
		}
		for range 3 {
			out, err := ue1.Protect(make([]byte, 0, 64), 9, []byte("one too many"))
			if !errors.Is(err, ErrCountExhausted) || len(out) != 0 {
				t.Fatalf("SN %d: Protect after COUNT 2^32−1: %d octets, err = %v, want ErrCountExhausted", sn, len(out), err)
			}
		}
		if ue1.TxNext(9) != MaxCount+1 {
			t.Fatalf("TX_NEXT %#x after exhaustion", ue1.TxNext(9))
		}
		// The receiver refuses any SN that would map past 2^32−1 (COUNT
		// wrap): forge the PDU that COUNT 2^32 would be, by protecting it
		// with a context whose COUNT is allowed to wrap to 0 in uint32.
		forged := forgeWrap(t, ue1, 9, sn)
		before := snapshot(ue2, 9)
		if _, err := ue2.Unprotect(nil, 9, forged); !errors.Is(err, ErrCountExhausted) {
			t.Fatalf("SN %d: wrapped COUNT: err = %v, want ErrCountExhausted", sn, err)
		}
		if !snapshot(ue2, 9).equal(before) {
			t.Fatal("state changed")
		}
		// RX also refuses the wrap when RX_NEXT is still below 2^32: an SN
		// that would need HFN+1 beyond the last HFN.
		_, rx := newPair(t, NEA2, NIA2, func(c *Config) { c.Default.SNSize = sn })
		rx.bearers[9].rx.next = MaxCount - 10 // SN(RX_NEXT) near the top of the SN space
		if _, err := rx.bearers[9].rxCount(5, 9); !errors.Is(err, ErrCountExhausted) {
			t.Fatalf("SN %d: rxCount(5) at RX_NEXT 2^32−11: err = %v, want ErrCountExhausted", sn, err)
		}
	}
}

// forgeWrap builds the PDU a sender would emit if its COUNT wrapped from
// 2^32−1 to 0 with the same SN layout: header SN = 0.
func forgeWrap(t *testing.T, tx *Context, bearer uint8, sn int) []byte {
	t.Helper()
	tx.bearers[bearer].txNext = 0 // the wrap this package forbids
	pdu, err := tx.Protect(nil, bearer, []byte("wrapped"))
	tx.bearers[bearer].txNext = MaxCount + 1
	if err != nil {
		t.Fatal(err)
	}
	if h, _, _ := ParsePDU(pdu, sn, true); h.SN != 0 {
		t.Fatalf("forged SN %d, want 0", h.SN)
	}
	return pdu
}

func TestNoCipherForDSMC(t *testing.T) {
	for _, ea := range []CipherAlg{NEA1, NEA2, NEA3} {
		ue1, ue2 := newPair(t, ea, NIA2, nil)
		dsmc := []byte("PROSE DIRECT LINK SECURITY MODE COMMAND, Nonce_2 ...")
		pdu, err := ue2.ProtectNoCipher(nil, LCIDSLSRB1, dsmc)
		if err != nil {
			t.Fatal(err)
		}
		h, data, err := ParsePDU(pdu, SNSize12, true)
		if err != nil || !bytes.Equal(data, dsmc) || h.SessID != testSessID {
			t.Fatalf("DSMC PDU is not readable in clear: %+v, %q, %v", h, data, err)
		}
		// Deciphering a PDU that was not ciphered garbles it: MAC fails.
		if _, err := ue1.Unprotect(nil, LCIDSLSRB1, pdu); !errors.Is(err, ErrIntegrity) {
			t.Fatalf("Unprotect of a non-ciphered PDU: err = %v, want ErrIntegrity", err)
		}
		got, err := ue1.UnprotectNoCipher(nil, LCIDSLSRB1, pdu)
		if err != nil || !bytes.Equal(got, dsmc) {
			t.Fatalf("UnprotectNoCipher: %q, %v", got, err)
		}
		// Tampering is still detected.
		pdu2, _ := ue2.ProtectNoCipher(nil, LCIDSLSRB1, dsmc)
		pdu2[PDCPHeaderLen12] ^= 1
		if _, err := ue1.UnprotectNoCipher(nil, LCIDSLSRB1, pdu2); !errors.Is(err, ErrIntegrity) {
			t.Fatalf("tampered DSMC: err = %v, want ErrIntegrity", err)
		}
		// Then the Security Mode Complete goes back ciphered on SL-SRB1.
		smc, _ := ue1.Protect(nil, LCIDSLSRB1, []byte("SECURITY MODE COMPLETE"))
		if got, err := ue2.Unprotect(nil, LCIDSLSRB1, smc); err != nil || string(got) != "SECURITY MODE COMPLETE" {
			t.Fatalf("SM Complete: %v", err)
		}
	}
	// No integrity, no NoCipher.
	ue1, _ := newPair(t, NEA2, NIA2, func(c *Config) { c.Bearers = map[uint8]BearerConfig{4: {NoIntegrity: true}} })
	if _, err := ue1.ProtectNoCipher(nil, 4, []byte("x")); !errors.Is(err, ErrBearer) {
		t.Fatalf("ProtectNoCipher without integrity: err = %v, want ErrBearer", err)
	}
}

func TestBearerConfigs(t *testing.T) {
	ue1, ue2 := newPair(t, NEA2, NIA2, func(c *Config) {
		c.Bearers = map[uint8]BearerConfig{
			4: {NoIntegrity: true},                    // ciphered DRB without MAC-I
			5: {NoCiphering: true},                    // integrity only
			6: {NoIntegrity: true, NoCiphering: true}, // unprotected: KNRP-sess ID 0
			7: {SNSize: SNSize18},
		}
	})
	p := payloadOf(50, 1)
	cases := []struct {
		bearer       uint8
		len          int
		id           KNRPSessID
		clear, hasMA bool
	}{
		{4, PDCPHeaderLen12 + 50, testSessID, false, false},
		{5, PDCPHeaderLen12 + 50 + MACLen, testSessID, true, true},
		{6, PDCPHeaderLen12 + 50, 0, true, false},
		{7, PDCPHeaderLen18 + 50 + MACLen, testSessID, false, true},
	}
	for _, c := range cases {
		pdu, err := ue1.Protect(nil, c.bearer, p)
		if err != nil || len(pdu) != c.len {
			t.Fatalf("BEARER %d: %d octets, %v; want %d", c.bearer, len(pdu), err, c.len)
		}
		sn := SNSize12
		if c.bearer == 7 {
			sn = SNSize18
		}
		h, data, err := ParsePDU(pdu, sn, c.hasMA)
		if err != nil || h.SessID != c.id || bytes.Equal(data, p) != c.clear {
			t.Fatalf("BEARER %d: header %+v, clear %v, %v", c.bearer, h, bytes.Equal(data, p), err)
		}
		got, err := ue2.Unprotect(nil, c.bearer, pdu)
		if err != nil || !bytes.Equal(got, p) {
			t.Fatalf("BEARER %d: round trip: %v", c.bearer, err)
		}
	}
	// An unprotected bearer expects KNRP-sess ID 0.
	pdu, _ := ue1.Protect(nil, 6, p)
	pdu[PDCPHeaderLen12-1] = 1
	if _, err := ue2.Unprotect(nil, 6, pdu); !errors.Is(err, ErrWrongKNRPSessID) {
		t.Fatalf("unprotected bearer with a non-zero ID: err = %v", err)
	}
}

func TestMalformed(t *testing.T) {
	ue1, ue2 := newPair(t, NEA2, NIA2, nil)
	pdu, _ := ue1.Protect(nil, 2, nil)
	for n := 0; n < len(pdu); n++ {
		if _, err := ue2.Unprotect(nil, 2, pdu[:n]); !errors.Is(err, ErrMalformedPDU) {
			t.Fatalf("%d-octet PDU: err = %v, want ErrMalformedPDU", n, err)
		}
		if _, _, err := ParsePDU(pdu[:n], SNSize12, true); !errors.Is(err, ErrMalformedPDU) {
			t.Fatalf("ParsePDU of %d octets: err = %v", n, err)
		}
	}
	ctrl := slices.Clone(pdu)
	ctrl[0] &^= PDCPDataPDUBit
	if _, err := ue2.Unprotect(nil, 2, ctrl); !errors.Is(err, ErrMalformedPDU) {
		t.Fatalf("control PDU: err = %v, want ErrMalformedPDU", err)
	}
	for _, b := range []uint8{0, MaxBearer + 1, 255} {
		if _, err := ue1.Protect(nil, b, nil); !errors.Is(err, ErrBearer) {
			t.Errorf("Protect on BEARER %d: err = %v, want ErrBearer", b, err)
		}
		if _, err := ue2.Unprotect(nil, b, pdu); !errors.Is(err, ErrBearer) {
			t.Errorf("Unprotect on BEARER %d: err = %v, want ErrBearer", b, err)
		}
	}
	if _, _, err := ParsePDU(pdu, 7, true); err == nil {
		t.Error("ParsePDU with SN size 7: no error")
	}
	if _, err := ue2.Unprotect(nil, 2, pdu); err != nil {
		t.Fatalf("genuine PDU after the malformed ones: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	sess := testSess()
	bad := []Config{
		{SessID: 1},
		{Sess: sess, SessID: 0},
		{Sess: sess, SessID: 1, WindowBits: 100},
		{Sess: sess, SessID: 1, RekeyThreshold: MaxCount + 2},
		{Sess: sess, SessID: 1, Default: BearerConfig{SNSize: 7}},
		{Sess: sess, SessID: 1, Bearers: map[uint8]BearerConfig{0: {}}},
		{Sess: sess, SessID: 1, Bearers: map[uint8]BearerConfig{32: {}}},
		{Sess: sess, SessID: 1, Bearers: map[uint8]BearerConfig{3: {SNSize: 16}}},
		{Sess: sess, SessID: 1, CipherAlg: 4},
		{Sess: sess, SessID: 1, IntegrityAlg: 9},
	}
	for i, cfg := range bad {
		if _, err := NewContext(cfg); err == nil {
			t.Errorf("config %d: NewContext accepted %+v", i, cfg)
		}
	}
}

func TestWipe(t *testing.T) {
	ue1, _ := newPair(t, NEA2, NIA2, nil)
	ue1.Wipe()
	if _, err := ue1.Protect(nil, 1, nil); !errors.Is(err, ErrContextWiped) {
		t.Fatalf("Protect after Wipe: err = %v", err)
	}
	if _, err := ue1.Unprotect(nil, 1, make([]byte, 10)); !errors.Is(err, ErrContextWiped) {
		t.Fatalf("Unprotect after Wipe: err = %v", err)
	}
	if ue1.cipher != nil || ue1.integ != nil {
		t.Fatal("Wipe kept the keyed algorithms")
	}
}

func TestInPlaceAndAppend(t *testing.T) {
	ue1, ue2 := newPair(t, NEA1, NIA1, nil)
	p := payloadOf(300, 4)
	prefix := []byte("prefix")
	pdu, err := ue1.Protect(slices.Clone(prefix), 2, p)
	if err != nil || !bytes.HasPrefix(pdu, prefix) {
		t.Fatalf("Protect did not append: %v", err)
	}
	pdu = pdu[len(prefix):]
	got, err := ue2.Unprotect(pdu[:0], 2, pdu)
	if err != nil || !bytes.Equal(got, p) {
		t.Fatalf("in-place Unprotect: %v", err)
	}
	pdu2, _ := ue1.Protect(nil, 2, p)
	got, err = ue2.Unprotect(slices.Clone(prefix), 2, pdu2)
	if err != nil || !bytes.Equal(got, append(slices.Clone(prefix), p...)) {
		t.Fatalf("appending Unprotect: %v", err)
	}
}

// TestZeroAllocs: Protect and Unprotect with enough capacity in dst do not
// allocate, for each real algorithm pair.
func TestZeroAllocs(t *testing.T) {
	for _, ea := range allCipherAlgs {
		for _, ia := range allIntegrityAlgs {
			ue1, ue2 := newPair(t, ea, ia, nil)
			p := payloadOf(1400, 1)
			pbuf := make([]byte, 0, 1500)
			ubuf := make([]byte, 0, 1500)
			allocs := testing.AllocsPerRun(200, func() {
				pdu, err := ue1.Protect(pbuf, 2, p)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := ue2.Unprotect(ubuf, 2, pdu); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("%s: %v allocations per Protect+Unprotect, want 0", algName(ea, ia), allocs)
			}
		}
	}
}

// TestProtection: Protection reports the selected algorithms and each
// bearer's configured protection.
func TestProtection(t *testing.T) {
	c, _ := newPair(t, NEA3, NIA2, func(cfg *Config) {
		cfg.Bearers = map[uint8]BearerConfig{4: {NoCiphering: true}, 5: {NoIntegrity: true}}
	})
	for _, tc := range []struct {
		bearer          uint8
		ciphered, integ bool
	}{{1, true, true}, {4, false, true}, {5, true, false}} {
		ea, ciphered, ia, integ := c.Protection(tc.bearer)
		if ea != NEA3 || ia != NIA2 || ciphered != tc.ciphered || integ != tc.integ {
			t.Errorf("bearer %d: %v %v %v %v", tc.bearer, ea, ciphered, ia, integ)
		}
	}
	if _, ciphered, _, integ := c.Protection(0); ciphered || integ {
		t.Error("bearer 0 reports protection")
	}
}
