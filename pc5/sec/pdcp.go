package sec

import (
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
)

// PDCP-style protection of PC5 unicast PDUs (TS 38.323 §5.8, §5.9, with the
// inputs of TS 33.536):
//
//   - KEY: NRPEK for ciphering, NRPIK for integrity, derived from KNRP-sess
//     for the selected algorithms (keys.go).
//   - COUNT: 32 bits, HFN ‖ SN, per bearer and direction; HFN has 32 − SN
//     size bits; COUNT never wraps (TS 38.323 §5.2.3, §6.3.5).
//   - BEARER: the 5 least significant bits of the LCID, 1..19 on PC5 (TS
//     38.323 §5.8/§5.9); BEARER 1 is SL-SRB1 (DSMC, DSM Complete).
//   - DIRECTION: PROVISIONAL, DirectionInitiator for PDUs the link initiator
//     (UE_1) sends and DirectionResponder for PDUs the responder (UE_2)
//     sends (codepoints.go).
//
// PDU layout: PROVISIONAL, see PDCPHeaderLen12 in codepoints.go.
//
//	| D/C R R R SN(12) | KNRP-sess ID(16) | data … | MAC-I(32) |
//	| D/C R×5 SN(18)   | KNRP-sess ID(16) | data … | MAC-I(32) |
//
// Integrity (TS 38.323 §5.9) covers header and data before ciphering; MAC-I
// is present only on bearers with integrity configured (TS 38.323 §6.3.4).
// Ciphering (TS 38.323 §5.8) covers the data and MAC-I and never the header,
// so the receiver reads SN and KNRP-sess ID in clear. PROVISIONAL
// [INFERRED]: that MAC-I is ciphered with the data is the NR PDCP rule for
// Uu; the notes (§2.5) record which PC5 PDUs are ciphered, not this detail.
// PDUs carrying the Direct Security Mode Command are not ciphered (TS 38.323
// §5.8): use ProtectNoCipher and UnprotectNoCipher for them.
//
// Receiving (TS 38.323 §5.2.2.1, adapted): the receiver derives RCVD_COUNT
// from the received SN and its reference RX_NEXT (highest accepted COUNT + 1)
// with Window_Size = 2^(SN size − 1), exactly as TS 38.323 does with RX_DELIV.
// PROVISIONAL: this package delivers in any order and keeps no reordering
// buffer or t-Reordering, so RX_DELIV is taken as RX_NEXT. Duplicates are
// rejected by an RFC 6479 anti-replay window (replay.go) instead of the
// reordering buffer.

// DefaultRekeyThreshold is the COUNT from which a Context asks for rekeying:
// once a bearer has used 2^31 COUNT values in either direction, half of the
// 32-bit COUNT space. PROVISIONAL [INFERRED]: rekeying has to complete
// before COUNT would repeat under one key (notes §2.2, itself INFERRED), and
// no threshold was found; half the space leaves ample room for the
// rekeying signalling.
const DefaultRekeyThreshold uint64 = 1 << 31

// MaxBearer is the largest BEARER value: BEARER is a 5-bit input of the
// algorithms. PC5 uses 1..19 (TS 38.321 Table 6.2.4-1).
const MaxBearer = 31

// Errors of Protect and Unprotect. They are wrapped with details; match
// them with errors.Is. The link layer maps ErrIntegrity to PC5 signalling
// cause #7 "integrity failure" where the procedure calls for it; ErrReplay,
// ErrTooOld and ErrWrongKNRPSessID are silent discards in PDCP.
var (
	ErrMalformedPDU    = errors.New("pc5/sec: malformed PDCP PDU")
	ErrWrongKNRPSessID = errors.New("pc5/sec: wrong KNRP-sess ID")
	ErrIntegrity       = errors.New("pc5/sec: integrity check failed")
	ErrReplay          = errors.New("pc5/sec: replayed COUNT")
	ErrTooOld          = errors.New("pc5/sec: COUNT left of the receive window")
	ErrCountExhausted  = errors.New("pc5/sec: COUNT space exhausted")
	ErrBearer          = errors.New("pc5/sec: invalid bearer")
	ErrContextWiped    = errors.New("pc5/sec: security context wiped")
)

// BearerConfig is the PDCP configuration of one bearer. The zero value is a
// 12-bit SN with integrity and ciphering.
type BearerConfig struct {
	// SNSize is SNSize12 or SNSize18; 0 means SNSize12.
	SNSize int
	// NoIntegrity leaves out integrity protection and the MAC-I field
	// (an SL-DRB whose user-plane policy does not ask for it).
	NoIntegrity bool
	// NoCiphering leaves out ciphering.
	NoCiphering bool
}

// Config configures a Context.
type Config struct {
	// Sess is the KNRP-sess of the context. NewContext derives NRPEK and
	// NRPIK from it for the selected algorithms; it does not keep Sess.
	Sess *KNRPSess
	// SessID is the KNRP-sess ID placed in and expected in PDU headers. It
	// must not be KNRPSessIDUnprotected.
	SessID KNRPSessID
	// CipherAlg and IntegrityAlg are the selected algorithms.
	CipherAlg    CipherAlg
	IntegrityAlg IntegrityAlg
	// Initiator is true on UE_1, the UE that sent the establishment (or
	// rekeying) request; it selects DIRECTION (PROVISIONAL).
	Initiator bool
	// Default applies to every BEARER 1..MaxBearer not listed in Bearers.
	Default BearerConfig
	// Bearers overrides Default per BEARER value.
	Bearers map[uint8]BearerConfig
	// WindowBits is the anti-replay window per bearer in COUNT values, a
	// multiple of 64; 0 means DefaultWindowBits.
	WindowBits int
	// RekeyThreshold is the COUNT from which NeedsRekey reports true,
	// 1..2^32; 0 means DefaultRekeyThreshold.
	RekeyThreshold uint64
}

// Validate checks the configuration without deriving keys.
func (cfg *Config) Validate() error {
	if cfg.Sess == nil {
		return errors.New("pc5/sec: expected a KNRP-sess in Config.Sess, found nil")
	}
	if uint16(cfg.SessID) == KNRPSessIDUnprotected {
		return fmt.Errorf("pc5/sec: expected a non-zero KNRP-sess ID, found %v (reserved for unprotected bearers)", cfg.SessID)
	}
	if cfg.WindowBits != 0 {
		if err := validWindowBits(cfg.WindowBits); err != nil {
			return err
		}
	}
	if cfg.RekeyThreshold > MaxCount+1 {
		return fmt.Errorf("pc5/sec: expected a rekey threshold of at most 2^32, found %d", cfg.RekeyThreshold)
	}
	if err := cfg.Default.validate(); err != nil {
		return fmt.Errorf("%w (default bearer)", err)
	}
	for id, bc := range cfg.Bearers {
		if id == 0 || id > MaxBearer {
			return fmt.Errorf("%w: expected BEARER 1..%d in Config.Bearers, found %d", ErrBearer, MaxBearer, id)
		}
		if err := bc.validate(); err != nil {
			return fmt.Errorf("%w (BEARER %d)", err, id)
		}
	}
	return nil
}

func (bc BearerConfig) validate() error {
	switch bc.SNSize {
	case 0, SNSize12, SNSize18:
		return nil
	}
	return fmt.Errorf("pc5/sec: expected PDCP SN size %d or %d, found %d", SNSize12, SNSize18, bc.SNSize)
}

// Context is the PDCP security state of one PC5 unicast link under one
// KNRP-sess: the keyed algorithms, the KNRP-sess ID, and per bearer the
// transmit COUNT and the receive window. A rekey makes a new Context; the
// old one is wiped once the new one is in use.
//
// A Context is not safe for concurrent use.
type Context struct {
	id      KNRPSessID
	ea      CipherAlg
	ia      IntegrityAlg
	txDir   Direction
	rxDir   Direction
	cipher  Cipher
	integ   Integrity
	rekeyAt uint64
	rekey   bool
	wiped   bool
	bearers [MaxBearer + 1]bearerState
}

// bearerState is one PDCP entity's security state: TX_NEXT and the receive
// side (RX_NEXT and its anti-replay window).
type bearerState struct {
	snBits    uint8
	hdrLen    uint8
	integrity bool
	ciphering bool
	txNext    uint64       // COUNT of the next PDU to send; MaxCount+1 when exhausted
	rx        replayWindow // rx.next is RX_NEXT
}

// NewContext derives NRPEK and NRPIK from cfg.Sess for the selected
// algorithms (TS 33.536 Annex A), keys them with NewCipher and NewIntegrity,
// and wipes the derived keys. Every bearer starts at COUNT 0 in both
// directions, as after a PDCP (re-)establishment (TS 38.331 §5.8.1).
func NewContext(cfg Config) (*Context, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ek := cfg.Sess.NRPEK(cfg.CipherAlg)
	defer ek.Wipe()
	ik := cfg.Sess.NRPIK(cfg.IntegrityAlg)
	defer ik.Wipe()
	ciph, err := NewCipher(cfg.CipherAlg, ek[:])
	if err != nil {
		return nil, err
	}
	integ, err := NewIntegrity(cfg.IntegrityAlg, ik[:])
	if err != nil {
		return nil, err
	}
	c := &Context{
		id:      cfg.SessID,
		ea:      cfg.CipherAlg,
		ia:      cfg.IntegrityAlg,
		txDir:   DirectionResponder,
		rxDir:   DirectionInitiator,
		cipher:  ciph,
		integ:   integ,
		rekeyAt: cfg.RekeyThreshold,
	}
	if cfg.Initiator {
		c.txDir, c.rxDir = DirectionInitiator, DirectionResponder
	}
	if c.rekeyAt == 0 {
		c.rekeyAt = DefaultRekeyThreshold
	}
	winBits := cfg.WindowBits
	if winBits == 0 {
		winBits = DefaultWindowBits
	}
	words := winBits/64 + 1
	backing := make([]uint64, MaxBearer*words)
	for i := 1; i <= MaxBearer; i++ {
		bc, ok := cfg.Bearers[uint8(i)]
		if !ok {
			bc = cfg.Default
		}
		b := &c.bearers[i]
		b.snBits, b.hdrLen = SNSize12, PDCPHeaderLen12
		if bc.SNSize == SNSize18 {
			b.snBits, b.hdrLen = SNSize18, PDCPHeaderLen18
		}
		b.integrity = !bc.NoIntegrity
		b.ciphering = !bc.NoCiphering
		off := (i - 1) * words
		b.rx = replayWindow{words: backing[off : off+words : off+words], size: uint64(winBits)}
	}
	return c, nil
}

// KNRPSessID returns the KNRP-sess ID of the context.
func (c *Context) KNRPSessID() KNRPSessID { return c.id }

// Protection says what Protect applies on bearer: the ciphering
// algorithm, or ok false when the bearer is not ciphered, and the
// integrity algorithm, or ok false without integrity protection (a bearer
// out of range reports neither). For traces; ProtectNoCipher never
// ciphers.
func (c *Context) Protection(bearer uint8) (ea CipherAlg, ciphered bool, ia IntegrityAlg, integrity bool) {
	if bearer == 0 || bearer > MaxBearer {
		return 0, false, 0, false
	}
	b := &c.bearers[bearer]
	return c.ea, b.ciphering, c.ia, b.integrity
}

// NeedsRekey reports whether some bearer has used RekeyThreshold COUNT
// values (COUNT 0..RekeyThreshold−1) in either direction. The link layer
// then starts rekeying (TS 33.536, PROSE DIRECT LINK REKEYING REQUEST) so
// that a new KNRP-sess is in use before COUNT runs out; Protect keeps
// working until the COUNT space is exhausted and then fails with
// ErrCountExhausted.
func (c *Context) NeedsRekey() bool { return c.rekey }

// TxNext returns the COUNT the next PDU on bearer will use (TX_NEXT), or
// MaxCount+1 when the COUNT space is exhausted; 0 for an invalid bearer.
func (c *Context) TxNext(bearer uint8) uint64 {
	if bearer == 0 || bearer > MaxBearer {
		return 0
	}
	return c.bearers[bearer].txNext
}

// RxNext returns the highest COUNT accepted on bearer + 1 (RX_NEXT), 0
// before the first PDU or for an invalid bearer.
func (c *Context) RxNext(bearer uint8) uint64 {
	if bearer == 0 || bearer > MaxBearer {
		return 0
	}
	return c.bearers[bearer].rx.next
}

// Wipe drops the keyed algorithms, calling their Wipe method when they have
// one, and makes every later Protect or Unprotect fail with
// ErrContextWiped. The NRPEK and NRPIK derived by NewContext were already
// zeroed; key schedules held inside the algorithm instances are zeroed only
// as far as those instances support it.
func (c *Context) Wipe() {
	type wiper interface{ Wipe() }
	if w, ok := c.cipher.(wiper); ok {
		w.Wipe()
	}
	if w, ok := c.integ.(wiper); ok {
		w.Wipe()
	}
	c.cipher, c.integ = nil, nil
	c.wiped = true
}

// Protect appends to dst the protected PDCP data PDU carrying payload on
// bearer and advances the bearer's TX COUNT. With room in cap(dst) for the
// PDU (PDCPHeaderLen12 or PDCPHeaderLen18 + len(payload) + MACLen) it does
// not allocate. dst and payload must
// not overlap. It fails with ErrCountExhausted rather than reuse a COUNT.
func (c *Context) Protect(dst []byte, bearer uint8, payload []byte) ([]byte, error) {
	return c.protect(dst, bearer, payload, true)
}

// ProtectNoCipher is Protect without ciphering, for the PDU carrying the
// PROSE DIRECT LINK SECURITY MODE COMMAND, which is integrity-protected but
// not ciphered (TS 38.323 §5.8; TS 33.536 §5.3.3.1.4). The bearer must have
// integrity configured.
func (c *Context) ProtectNoCipher(dst []byte, bearer uint8, payload []byte) ([]byte, error) {
	return c.protect(dst, bearer, payload, false)
}

// Unprotect checks a PDCP data PDU received on bearer and appends its
// payload to dst: KNRP-sess ID, RCVD_COUNT from the SN, the replay window,
// deciphering, then MAC-I in constant time. Only a PDU that passes every
// check advances the receive state; on failure the state is unchanged and
// dst is returned as passed (its spare capacity may have been overwritten
// with zeros). With len(dst)+len(pdu) ≤ cap(dst) it does not allocate. To
// decrypt in place, pass pdu[:0] as dst; other overlaps are not allowed.
func (c *Context) Unprotect(dst []byte, bearer uint8, pdu []byte) ([]byte, error) {
	return c.unprotect(dst, bearer, pdu, true)
}

// UnprotectNoCipher is Unprotect for a PDU that was protected with
// ProtectNoCipher (the Security Mode Command).
func (c *Context) UnprotectNoCipher(dst []byte, bearer uint8, pdu []byte) ([]byte, error) {
	return c.unprotect(dst, bearer, pdu, false)
}

func (c *Context) bearerState(bearer uint8, cipherOn bool) (*bearerState, error) {
	if c.wiped {
		return nil, ErrContextWiped
	}
	if bearer == 0 || bearer > MaxBearer {
		return nil, fmt.Errorf("%w: expected BEARER 1..%d, found %d", ErrBearer, MaxBearer, bearer)
	}
	b := &c.bearers[bearer]
	if !cipherOn && !b.integrity {
		return nil, fmt.Errorf("%w: a PDU without ciphering needs integrity, found none configured on BEARER %d", ErrBearer, bearer)
	}
	return b, nil
}

// headerID is the KNRP-sess ID of the header: 0 on a bearer with neither
// integrity nor ciphering (TS 38.323 §6.3.13).
func (c *Context) headerID(b *bearerState) KNRPSessID {
	if !b.integrity && !b.ciphering {
		return KNRPSessID(KNRPSessIDUnprotected)
	}
	return c.id
}

func (c *Context) protect(dst []byte, bearer uint8, payload []byte, cipherOn bool) ([]byte, error) {
	b, err := c.bearerState(bearer, cipherOn)
	if err != nil {
		return dst, err
	}
	count := b.txNext
	if count > MaxCount {
		return dst, fmt.Errorf("%w: expected a free COUNT on BEARER %d, found all 2^32 used under KNRP-sess ID %v", ErrCountExhausted, bearer, c.id)
	}
	hdr, n, macLen := int(b.hdrLen), len(payload), 0
	if b.integrity {
		macLen = MACLen
	}
	ret, pdu := sliceForAppend(dst, hdr+n+macLen)
	sn := uint32(count) & (1<<b.snBits - 1)
	if b.snBits == SNSize12 {
		pdu[0] = PDCPDataPDUBit | byte(sn>>8)
		pdu[1] = byte(sn)
	} else {
		pdu[0] = PDCPDataPDUBit | byte(sn>>16)
		pdu[1] = byte(sn >> 8)
		pdu[2] = byte(sn)
	}
	binary.BigEndian.PutUint16(pdu[hdr-2:], uint16(c.headerID(b)))
	copy(pdu[hdr:], payload)
	if b.integrity {
		mac, err := c.integ.MAC(uint32(count), bearer, c.txDir, pdu[:hdr+n], 8*(hdr+n))
		if err != nil {
			clear(pdu)
			return dst, fmt.Errorf("pc5/sec: computing MAC-I on BEARER %d: %w", bearer, err)
		}
		copy(pdu[hdr+n:], mac[:])
	}
	if b.ciphering && cipherOn {
		if err := c.cipher.XORKeyStream(uint32(count), bearer, c.txDir, pdu[hdr:], pdu[hdr:], 8*(n+macLen)); err != nil {
			clear(pdu)
			return dst, fmt.Errorf("pc5/sec: ciphering on BEARER %d: %w", bearer, err)
		}
	}
	b.txNext = count + 1
	if b.txNext >= c.rekeyAt {
		c.rekey = true
	}
	return ret, nil
}

func (c *Context) unprotect(dst []byte, bearer uint8, pdu []byte, cipherOn bool) ([]byte, error) {
	b, err := c.bearerState(bearer, cipherOn)
	if err != nil {
		return dst, err
	}
	hdr, macLen := int(b.hdrLen), 0
	if b.integrity {
		macLen = MACLen
	}
	h, err := parseHeader(pdu, b.snBits, macLen)
	if err != nil {
		return dst, err
	}
	if want := c.headerID(b); h.SessID != want {
		return dst, fmt.Errorf("%w: expected %v on BEARER %d, found %v", ErrWrongKNRPSessID, want, bearer, h.SessID)
	}
	count, err := b.rxCount(h.SN, bearer)
	if err != nil {
		return dst, err
	}
	switch b.rx.check(count) {
	case replayTooOld:
		return dst, fmt.Errorf("%w: expected COUNT ≥ %#x on BEARER %d, found %#x", ErrTooOld, b.rx.next-b.rx.size, bearer, count)
	case replayDup:
		return dst, fmt.Errorf("%w: COUNT %#x on BEARER %d was already received", ErrReplay, count, bearer)
	}

	n := len(pdu) - hdr - macLen
	ret, buf := sliceForAppend(dst, len(pdu))
	copy(buf[:hdr], pdu[:hdr])
	if b.ciphering && cipherOn {
		if err := c.cipher.XORKeyStream(uint32(count), bearer, c.rxDir, buf[hdr:], pdu[hdr:], 8*(n+macLen)); err != nil {
			clear(buf)
			return dst, fmt.Errorf("pc5/sec: deciphering on BEARER %d: %w", bearer, err)
		}
	} else {
		copy(buf[hdr:], pdu[hdr:])
	}
	if b.integrity {
		mac, err := c.integ.MAC(uint32(count), bearer, c.rxDir, buf[:hdr+n], 8*(hdr+n))
		if err != nil {
			clear(buf)
			return dst, fmt.Errorf("pc5/sec: computing MAC-I on BEARER %d: %w", bearer, err)
		}
		if subtle.ConstantTimeCompare(mac[:], buf[hdr+n:]) != 1 {
			clear(buf)
			return dst, fmt.Errorf("%w: expected the MAC-I computed with NRPIK on BEARER %d at COUNT %#x, found a different one", ErrIntegrity, bearer, count)
		}
	}
	copy(buf, buf[hdr:hdr+n])
	clear(buf[n:])

	b.rx.accept(count)
	if b.rx.next >= c.rekeyAt {
		c.rekey = true
	}
	return ret[:len(dst)+n], nil
}

// rxCount derives RCVD_COUNT from the received SN as TS 38.323 §5.2.2.1
// does, with RX_NEXT in place of RX_DELIV (PROVISIONAL, see above):
//
//	if RCVD_SN < SN(RX_NEXT) − Window_Size:  RCVD_HFN = HFN(RX_NEXT) + 1
//	else if RCVD_SN ≥ SN(RX_NEXT) + Window_Size: RCVD_HFN = HFN(RX_NEXT) − 1
//	else RCVD_HFN = HFN(RX_NEXT)
//
// A COUNT below 0 fails with ErrTooOld and one above MaxCount with
// ErrCountExhausted: COUNT never wraps.
func (b *bearerState) rxCount(sn uint32, bearer uint8) (uint64, error) {
	bits := uint(b.snBits)
	w := uint64(1) << (bits - 1)
	ref := b.rx.next
	refSN := ref & (1<<bits - 1)
	hfn := ref >> bits
	s := uint64(sn)
	switch {
	case s+w < refSN:
		hfn++
	case s >= refSN+w:
		if hfn == 0 {
			return 0, fmt.Errorf("%w: SN %d on BEARER %d maps below COUNT 0 (RX_NEXT %#x)", ErrTooOld, sn, bearer, ref)
		}
		hfn--
	}
	count := hfn<<bits | s
	if count > MaxCount {
		return 0, fmt.Errorf("%w: SN %d on BEARER %d maps to COUNT %#x beyond 2^32−1; expected a rekey", ErrCountExhausted, sn, bearer, count)
	}
	return count, nil
}

// PDUHeader is the clear part of a PC5 PDCP data PDU header.
type PDUHeader struct {
	SN     uint32
	SessID KNRPSessID
}

// ParsePDU splits a PDCP data PDU with the given SN size (SNSize12 or
// SNSize18) into its header and its data part, leaving out a trailing MAC-I
// when withMAC is set. Nothing is verified and the data may be ciphered: it
// serves to pick the Context by KNRP-sess ID, and to read the Security Mode
// Command (never ciphered) before its keys exist, since KNRP-sess depends on
// the Nonce_2 it carries; Unprotect the PDU afterwards.
func ParsePDU(pdu []byte, snSize int, withMAC bool) (PDUHeader, []byte, error) {
	if snSize != SNSize12 && snSize != SNSize18 {
		return PDUHeader{}, nil, fmt.Errorf("pc5/sec: expected PDCP SN size %d or %d, found %d", SNSize12, SNSize18, snSize)
	}
	macLen := 0
	if withMAC {
		macLen = MACLen
	}
	h, err := parseHeader(pdu, uint8(snSize), macLen)
	if err != nil {
		return PDUHeader{}, nil, err
	}
	hdr := PDCPHeaderLen12
	if snSize == SNSize18 {
		hdr = PDCPHeaderLen18
	}
	return h, pdu[hdr : len(pdu)-macLen], nil
}

func parseHeader(pdu []byte, snBits uint8, macLen int) (PDUHeader, error) {
	hdr := PDCPHeaderLen12
	if snBits == SNSize18 {
		hdr = PDCPHeaderLen18
	}
	if len(pdu) < hdr+macLen {
		return PDUHeader{}, fmt.Errorf("%w: expected at least %d octets (header %d, MAC-I %d), found %d", ErrMalformedPDU, hdr+macLen, hdr, macLen, len(pdu))
	}
	if pdu[0]&PDCPDataPDUBit == 0 {
		return PDUHeader{}, fmt.Errorf("%w: expected a data PDU (D/C = 1), found a control PDU", ErrMalformedPDU)
	}
	var h PDUHeader
	if snBits == SNSize12 {
		h.SN = uint32(pdu[0]&0x0F)<<8 | uint32(pdu[1])
	} else {
		h.SN = uint32(pdu[0]&0x03)<<16 | uint32(pdu[1])<<8 | uint32(pdu[2])
	}
	h.SessID = KNRPSessID(binary.BigEndian.Uint16(pdu[hdr-2:]))
	return h, nil
}

// sliceForAppend extends in by n octets, reusing its capacity when it can
// (the pattern of crypto/cipher's AEADs), and returns the whole slice and
// the new tail.
func sliceForAppend(in []byte, n int) (head, tail []byte) {
	if total := len(in) + n; cap(in) >= total {
		head = in[:total]
	} else {
		head = make([]byte, total)
		copy(head, in)
	}
	tail = head[len(in):]
	return head, tail
}
