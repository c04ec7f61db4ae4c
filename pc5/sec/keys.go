package sec

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
)

// The PC5 unicast key hierarchy of TS 33.536 §5.3.3.1.2.1:
//
//	long-term credential → KNRP (256 bits) → KNRP-sess (256 bits) → NRPEK, NRPIK (128 bits)
//
// Each stage is its own type and offers only the derivation the
// specification allows from it (the pattern of Go's TLS 1.3 key schedule):
// a KNRP yields a KNRP-sess from the two nonces, a KNRP-sess yields NRPEK
// and NRPIK for a chosen algorithm, and the algorithm keys derive nothing.
// How KNRP comes from the long-term credential is application-specific
// (Key_Est_Info) and lives outside this package.
//
// Key types never print their bytes: String, Format, LogValue and
// MarshalText all return a redacted placeholder, so fmt, log/slog and
// encoding/json cannot leak them. Wipe zeroes a key in place.

// KNRP is the 256-bit root key shared by the two UEs of a PC5 unicast link
// (TS 33.536 §5.3.3.1.2.1).
type KNRP [32]byte

// KNRPSess is the 256-bit key of the security context in use, derived from
// KNRP and the two nonces (TS 33.536 Annex A, FC 0x7F).
type KNRPSess [32]byte

// NRPEK is the 128-bit PC5 confidentiality key (TS 33.536 Annex A, FC 0x7E,
// distinguisher 0x00).
type NRPEK [KeyLen]byte

// NRPIK is the 128-bit PC5 integrity key (TS 33.536 Annex A, FC 0x7E,
// distinguisher 0x01).
type NRPIK [KeyLen]byte

// DeriveSess derives KNRP-sess = KDF(KNRP, FC = 0x7F, P0 = Nonce_1,
// L0 = 0x0010, P1 = Nonce_2, L1 = 0x0010) (TS 33.536 Annex A; generic KDF
// of TS 33.220 Annex B.2). Nonce_1 comes from the initiator UE_1 in the
// PROSE DIRECT LINK ESTABLISHMENT (or REKEYING) REQUEST, Nonce_2 from the
// responder UE_2 in the SECURITY MODE COMMAND.
func (k *KNRP) DeriveSess(nonce1, nonce2 *[NonceLen]byte) KNRPSess {
	return KNRPSess(KDF(k[:], FCKNRPSess, nonce1[:], nonce2[:]))
}

// NRPEK derives the confidentiality key for ciphering algorithm alg: the 128
// least significant bits of KDF(KNRP-sess, FC = 0x7E, P0 = 0x00, L0 =
// 0x0001, P1 = algorithm identity, L1 = 0x0001) (TS 33.536 Annex A). The
// algorithm identity is the 4-bit value of TS 33.501 §5.11.1.1 in the low
// nibble of one octet.
func (k *KNRPSess) NRPEK(alg CipherAlg) NRPEK {
	var out NRPEK
	k.deriveAlgKey(out[:], DistinguisherNRPEK, byte(alg))
	return out
}

// NRPIK derives the integrity key for integrity algorithm alg: the 128 least
// significant bits of KDF(KNRP-sess, FC = 0x7E, P0 = 0x01, L0 = 0x0001,
// P1 = algorithm identity, L1 = 0x0001) (TS 33.536 Annex A).
func (k *KNRPSess) NRPIK(alg IntegrityAlg) NRPIK {
	var out NRPIK
	k.deriveAlgKey(out[:], DistinguisherNRPIK, byte(alg))
	return out
}

func (k *KNRPSess) deriveAlgKey(dst []byte, distinguisher, alg byte) {
	p0 := [1]byte{distinguisher}
	p1 := [1]byte{alg}
	full := KDF(k[:], FCNRPEKNRPIK, p0[:], p1[:])
	copy(dst, full[KDFLen-KeyLen:])
	clear(full[:])
}

// Wipe zeroes the key.
func (k *KNRP) Wipe() { clear(k[:]) }

// Wipe zeroes the key.
func (k *KNRPSess) Wipe() { clear(k[:]) }

// Wipe zeroes the key.
func (k *NRPEK) Wipe() { clear(k[:]) }

// Wipe zeroes the key.
func (k *NRPIK) Wipe() { clear(k[:]) }

// WipeBytes zeroes b, for key material held in byte slices (for example a
// KNRP before it is copied into its type).
func WipeBytes(b []byte) { clear(b) }

const (
	redactedKNRP     = "KNRP(redacted)"
	redactedKNRPSess = "KNRP-sess(redacted)"
	redactedNRPEK    = "NRPEK(redacted)"
	redactedNRPIK    = "NRPIK(redacted)"
)

// String returns a redacted placeholder, never the key bytes.
func (KNRP) String() string { return redactedKNRP }

// Format writes a redacted placeholder for every verb (%v, %x, %d, %#v…).
func (KNRP) Format(f fmt.State, _ rune) { io.WriteString(f, redactedKNRP) }

// LogValue makes log/slog print a redacted placeholder.
func (KNRP) LogValue() slog.Value { return slog.StringValue(redactedKNRP) }

// MarshalText makes text and JSON encoders write a redacted placeholder.
func (KNRP) MarshalText() ([]byte, error) { return []byte(redactedKNRP), nil }

// String returns a redacted placeholder, never the key bytes.
func (KNRPSess) String() string { return redactedKNRPSess }

// Format writes a redacted placeholder for every verb.
func (KNRPSess) Format(f fmt.State, _ rune) { io.WriteString(f, redactedKNRPSess) }

// LogValue makes log/slog print a redacted placeholder.
func (KNRPSess) LogValue() slog.Value { return slog.StringValue(redactedKNRPSess) }

// MarshalText makes text and JSON encoders write a redacted placeholder.
func (KNRPSess) MarshalText() ([]byte, error) { return []byte(redactedKNRPSess), nil }

// String returns a redacted placeholder, never the key bytes.
func (NRPEK) String() string { return redactedNRPEK }

// Format writes a redacted placeholder for every verb.
func (NRPEK) Format(f fmt.State, _ rune) { io.WriteString(f, redactedNRPEK) }

// LogValue makes log/slog print a redacted placeholder.
func (NRPEK) LogValue() slog.Value { return slog.StringValue(redactedNRPEK) }

// MarshalText makes text and JSON encoders write a redacted placeholder.
func (NRPEK) MarshalText() ([]byte, error) { return []byte(redactedNRPEK), nil }

// String returns a redacted placeholder, never the key bytes.
func (NRPIK) String() string { return redactedNRPIK }

// Format writes a redacted placeholder for every verb.
func (NRPIK) Format(f fmt.State, _ rune) { io.WriteString(f, redactedNRPIK) }

// LogValue makes log/slog print a redacted placeholder.
func (NRPIK) LogValue() slog.Value { return slog.StringValue(redactedNRPIK) }

// MarshalText makes text and JSON encoders write a redacted placeholder.
func (NRPIK) MarshalText() ([]byte, error) { return []byte(redactedNRPIK), nil }

// KNRPSessID identifies a KNRP-sess (TS 33.536 §5.3.3.1.2.1). It is 16 bits:
// the 8 most significant bits are chosen by the initiator UE_1 and sent in
// the PROSE DIRECT LINK ESTABLISHMENT (or REKEYING) REQUEST, the 8 least
// significant bits are chosen by the responder UE_2 and sent in the SECURITY
// MODE COMMAND (TS 33.536 §5.3.3.1.4; TS 38.323 §6.3.13 gives the 16-bit
// header field). [SOLID, notes §2.3]
//
// The value KNRPSessIDUnprotected (0x0000) marks PDUs of bearers with
// neither integrity nor ciphering (TS 38.323 §6.3.13) and is never the ID of
// a security context.
type KNRPSessID uint16

// NewKNRPSessID composes a KNRP-sess ID from its MSB (UE_1) and LSB (UE_2).
func NewKNRPSessID(msb, lsb uint8) KNRPSessID { return KNRPSessID(msb)<<8 | KNRPSessID(lsb) }

// MSB returns the 8 most significant bits, chosen by the initiator.
func (id KNRPSessID) MSB() uint8 { return uint8(id >> 8) }

// LSB returns the 8 least significant bits, chosen by the responder.
func (id KNRPSessID) LSB() uint8 { return uint8(id) }

// String formats the ID as 4 hex digits, e.g. "0x12ab".
func (id KNRPSessID) String() string { return fmt.Sprintf("%#04x", uint16(id)) }

// KNRPID identifies a KNRP (TS 33.536 §5.3.3.1.2.1). It is 32 bits [PARTIAL].
// PROVISIONAL [INFERRED]: the 16 most significant bits come from the
// responder UE_2 in the SECURITY MODE COMMAND ("MSBs of KNRP ID", TS 24.554
// §11.3.16) and the 16 least significant bits from the initiator UE_1 in the
// SECURITY MODE COMPLETE ("LSBs of KNRP ID", §11.3.17); the split is read
// from the IE names only (notes §2.3).
type KNRPID uint32

// NewKNRPID composes a KNRP ID from its MSBs (UE_2) and LSBs (UE_1).
func NewKNRPID(msbs, lsbs uint16) KNRPID { return KNRPID(msbs)<<16 | KNRPID(lsbs) }

// MSBs returns the 16 most significant bits (responder's part, PROVISIONAL).
func (id KNRPID) MSBs() uint16 { return uint16(id >> 16) }

// LSBs returns the 16 least significant bits (initiator's part, PROVISIONAL).
func (id KNRPID) LSBs() uint16 { return uint16(id) }

// String formats the ID as 8 hex digits.
func (id KNRPID) String() string { return fmt.Sprintf("%#08x", uint32(id)) }

// Errors of the KNRP-sess ID helpers.
var (
	// ErrNoFreeKNRPSessID: every candidate MSB or LSB is taken locally.
	ErrNoFreeKNRPSessID = errors.New("pc5/sec: no free KNRP-sess ID part")
	// ErrKNRPSessIDConflict: the composed KNRP-sess ID is already in use
	// locally or is the reserved value 0. The link layer answers it with
	// PC5 signalling cause #9 "LSB of KNRP-sess ID conflict".
	ErrKNRPSessIDConflict = errors.New("pc5/sec: KNRP-sess ID conflict")
)

// pickTries is how many random draws PickKNRPSessMSB/LSB make before
// scanning from a random start for a free value.
const pickTries = 16

// PickKNRPSessMSB chooses the initiator's MSB of a new KNRP-sess ID, using
// randomness from rand. inUse reports the KNRP-sess IDs of the security
// contexts UE_1 holds (established or being established). The MSB is chosen
// so that UE_1 can identify the new context locally before it knows the LSB
// (TS 33.536 §5.3.3.1.4, step 1): no ID in use may have the same MSB.
func PickKNRPSessMSB(rand io.Reader, inUse func(KNRPSessID) bool) (uint8, error) {
	free := func(msb uint8) bool {
		for lsb := 0; lsb < 256; lsb++ {
			if inUse(NewKNRPSessID(msb, uint8(lsb))) {
				return false
			}
		}
		return true
	}
	return pickOctet(rand, free, "MSB")
}

// PickKNRPSessLSB chooses the responder's LSB of a new KNRP-sess ID given
// the initiator's msb, using randomness from rand, so that the 16-bit ID is
// not in use locally (inUse) and is not the reserved value 0 (TS 33.536
// §5.3.3.1.4, step 3; TS 38.323 §6.3.13).
func PickKNRPSessLSB(rand io.Reader, msb uint8, inUse func(KNRPSessID) bool) (uint8, error) {
	free := func(lsb uint8) bool {
		id := NewKNRPSessID(msb, lsb)
		return uint16(id) != KNRPSessIDUnprotected && !inUse(id)
	}
	return pickOctet(rand, free, "LSB")
}

// CheckKNRPSessID is the initiator's check on the ID completed by the
// responder's LSB in the SECURITY MODE COMMAND: it fails with
// ErrKNRPSessIDConflict if the ID is 0 or already in use locally.
func CheckKNRPSessID(id KNRPSessID, inUse func(KNRPSessID) bool) error {
	if uint16(id) == KNRPSessIDUnprotected {
		return fmt.Errorf("%w: expected a non-zero KNRP-sess ID, found %v (reserved for unprotected bearers)", ErrKNRPSessIDConflict, id)
	}
	if inUse(id) {
		return fmt.Errorf("%w: expected a KNRP-sess ID not in use locally, found %v in use", ErrKNRPSessIDConflict, id)
	}
	return nil
}

// pickOctet draws random octets until free accepts one, then falls back to
// scanning all 256 values from a random start.
func pickOctet(rand io.Reader, free func(uint8) bool, what string) (uint8, error) {
	if rand == nil {
		return 0, fmt.Errorf("pc5/sec: picking the %s of a KNRP-sess ID: expected a random source, found nil", what)
	}
	var b [1]byte
	for range pickTries {
		if _, err := io.ReadFull(rand, b[:]); err != nil {
			return 0, fmt.Errorf("pc5/sec: picking the %s of a KNRP-sess ID: reading randomness: %w", what, err)
		}
		if free(b[0]) {
			return b[0], nil
		}
	}
	for i := 0; i < 256; i++ {
		if v := b[0] + uint8(i); free(v) {
			return v, nil
		}
	}
	return 0, fmt.Errorf("%w: expected a free %s, found all 256 values in use", ErrNoFreeKNRPSessID, what)
}
