package link

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/prosesec/prosesec/pc5/msg"
	"github.com/prosesec/prosesec/pc5/sec"
)

// The project-defined key establishment carried in Key_Est_Info
// (docs/protocol.md §8). NOT 3GPP: TS 33.536 leaves it to the application.
//
//	TH_REQ    = SHA-256(REQ)           REQ: the request octets as sent/received
//	TH_SMC    = SHA-256(SMC)           SMC: the SECURITY MODE COMMAND octets
//	SMCFIELDS = E_P ‖ Nonce_2 ‖ LSB ‖ SelectedAlgorithms ‖ E_I
//	σ_P  = Sign_P("prosesec PC5 v1 responder signature" ‖ TH_REQ ‖ SMCFIELDS)
//	KNRP = HKDF-SHA-256(IKM = ECDH(e, E), salt = Nonce_1,
//	                    info = "prosesec PC5 v1 KNRP" ‖ TH_REQ ‖ SMCFIELDS, 32)
//	σ_I  = Sign_I("prosesec PC5 v1 initiator signature" ‖ TH_REQ ‖ TH_SMC)

// ephemeral is one side's ephemeral ECDH key for one handshake.
type ephemeral struct {
	priv *ecdh.PrivateKey
	raw  [32]byte // the private scalar as read from the random source
	pub  []byte
}

// maxKeyTries bounds the draws for a P-256 scalar (each succeeds with
// probability > 1 − 2^-32).
const maxKeyTries = 16

func curveOf(s msg.Suite) ecdh.Curve {
	if s.KeyExchange() == msg.KeyExchangeX25519 {
		return ecdh.X25519()
	}
	return ecdh.P256()
}

// newEphemeral reads 32 octets from r and makes the suite's private key
// from them (retrying for P-256 until the scalar is in [1, n−1]), so that
// a seeded r gives byte-stable handshakes. crypto/ecdh's GenerateKey would
// ignore r since Go 1.26.
func newEphemeral(s msg.Suite, r io.Reader) (*ephemeral, error) {
	c := curveOf(s)
	e := new(ephemeral)
	for range maxKeyTries {
		if _, err := io.ReadFull(r, e.raw[:]); err != nil {
			return nil, fmt.Errorf("pc5/link: reading randomness for an ephemeral key: %w", err)
		}
		k, err := c.NewPrivateKey(e.raw[:])
		if err != nil {
			continue
		}
		e.priv = k
		e.pub = k.PublicKey().Bytes()
		return e, nil
	}
	clear(e.raw[:])
	return nil, errors.New("pc5/link: expected a valid ephemeral private key, found none in 16 draws")
}

// shared returns ECDH(e, peer). The peer key must be a valid point (P-256)
// and the X25519 output must not be all zero; crypto/ecdh checks both.
func (e *ephemeral) shared(s msg.Suite, peer []byte) ([]byte, error) {
	pk, err := curveOf(s).NewPublicKey(peer)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyShare, err)
	}
	z, err := e.priv.ECDH(pk)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyShare, err)
	}
	return z, nil
}

// wipe zeroes the private scalar this package holds and drops the key.
// crypto/ecdh offers no way to zero its own copy.
func (e *ephemeral) wipe() {
	if e == nil {
		return
	}
	clear(e.raw[:])
	e.priv = nil
}

// smcFields returns SMCFIELDS.
func smcFields(eP []byte, nonce2 *[msg.NonceLen]byte, lsb uint8, sel msg.SelectedAlgorithms, eI []byte) []byte {
	b := make([]byte, 0, len(eP)+msg.NonceLen+2+len(eI))
	b = append(b, eP...)
	b = append(b, nonce2[:]...)
	b = append(b, lsb, uint8(sel))
	return append(b, eI...)
}

func responderSigInput(thReq *[32]byte, fields []byte) []byte {
	b := make([]byte, 0, len(labelResponderSignature)+32+len(fields))
	b = append(b, labelResponderSignature...)
	b = append(b, thReq[:]...)
	return append(b, fields...)
}

func initiatorSigInput(thReq, thSMC *[32]byte) []byte {
	b := make([]byte, 0, len(labelInitiatorSignature)+64)
	b = append(b, labelInitiatorSignature...)
	b = append(b, thReq[:]...)
	return append(b, thSMC[:]...)
}

// deriveKNRP computes KNRP from the ECDH secret z and wipes z.
func deriveKNRP(z []byte, nonce1 *[msg.NonceLen]byte, thReq *[32]byte, fields []byte) (sec.KNRP, error) {
	defer clear(z)
	info := make([]byte, 0, len(labelKNRP)+32+len(fields))
	info = append(info, labelKNRP...)
	info = append(info, thReq[:]...)
	info = append(info, fields...)
	out, err := hkdf.Key(sha256.New, z, nonce1[:], string(info), len(sec.KNRP{}))
	if err != nil {
		return sec.KNRP{}, fmt.Errorf("pc5/link: deriving KNRP: %w", err)
	}
	k := sec.KNRP(out)
	clear(out)
	return k, nil
}

// sign signs input with the identity key for the suite's algorithm:
// ECDSA P-256 over SHA-256(input) with the raw r‖s output, or pure
// Ed25519. An *ecdsa.PrivateKey signs deterministically (RFC 6979), other
// signers get rand.
func sign(key crypto.Signer, alg msg.SignatureAlgorithm, rand io.Reader, input []byte) ([]byte, error) {
	switch alg {
	case msg.SignatureECDSAP256SHA256:
		h := sha256.Sum256(input)
		var der []byte
		var err error
		if k, ok := key.(*ecdsa.PrivateKey); ok {
			der, err = k.Sign(nil, h[:], crypto.SHA256)
		} else {
			der, err = key.Sign(rand, h[:], crypto.SHA256)
		}
		if err != nil {
			return nil, fmt.Errorf("pc5/link: ECDSA transcript signature: %w", err)
		}
		var rs struct{ R, S *big.Int }
		rest, err := asn1.Unmarshal(der, &rs)
		if err != nil || len(rest) != 0 || rs.R.Sign() <= 0 || rs.S.Sign() <= 0 || rs.R.BitLen() > 256 || rs.S.BitLen() > 256 {
			return nil, errors.New("pc5/link: ECDSA signer returned a malformed signature")
		}
		out := make([]byte, msg.SignatureLen)
		rs.R.FillBytes(out[:32])
		rs.S.FillBytes(out[32:])
		return out, nil
	case msg.SignatureEd25519:
		sig, err := key.Sign(rand, input, crypto.Hash(0))
		if err != nil {
			return nil, fmt.Errorf("pc5/link: Ed25519 transcript signature: %w", err)
		}
		if len(sig) != msg.SignatureLen {
			return nil, fmt.Errorf("pc5/link: Ed25519 signer returned %d octets, expected %d", len(sig), msg.SignatureLen)
		}
		return sig, nil
	}
	return nil, fmt.Errorf("pc5/link: signature algorithm %v not supported", alg)
}

// verify checks a transcript signature with the peer's cnf key. A key of
// the wrong type for the suite is ErrUnboundToken, a bad signature
// ErrTranscriptSignature.
func verify(pub any, alg msg.SignatureAlgorithm, input, sig []byte) error {
	if got := identityAlg(pub); got != alg {
		return fmt.Errorf("%w: suite needs a %v key, token's cnf is %T", ErrUnboundToken, alg, pub)
	}
	ok := false
	switch alg {
	case msg.SignatureECDSAP256SHA256:
		k := pub.(*ecdsa.PublicKey)
		if len(sig) == msg.SignatureLen && k.Curve == elliptic.P256() {
			h := sha256.Sum256(input)
			r := new(big.Int).SetBytes(sig[:32])
			s := new(big.Int).SetBytes(sig[32:])
			ok = ecdsa.Verify(k, h[:], r, s)
		}
	case msg.SignatureEd25519:
		ok = len(sig) == ed25519.SignatureSize && ed25519.Verify(pub.(ed25519.PublicKey), input, sig)
	}
	if !ok {
		return fmt.Errorf("%w (%v)", ErrTranscriptSignature, alg)
	}
	return nil
}
