package sec

import (
	"errors"
	"fmt"
)

// CipherAlg is a 4-bit NR PC5 ciphering algorithm identifier (TS 33.501 §5.11.1.1,
// as used for PC5 by TS 33.536). Values: see the code-point table in codepoints.go.
type CipherAlg uint8

// IntegrityAlg is a 4-bit NR PC5 integrity algorithm identifier (TS 33.501 §5.11.1.1).
type IntegrityAlg uint8

// Direction is the 1-bit DIRECTION input of the 3GPP algorithms.
type Direction uint8

// KeyLen is the length in octets of NRPEK and NRPIK (128 bits).
const KeyLen = 16

// MACLen is the length in octets of MAC-I.
const MACLen = 4

// Cipher is a keyed 128-NEA instance. It keeps no per-message state and is
// safe for use by one goroutine at a time.
type Cipher interface {
	// Alg reports the algorithm identity.
	Alg() CipherAlg
	// XORKeyStream writes to dst the first lengthBits bits of src XORed with
	// the keystream for (COUNT, BEARER, DIRECTION), and zeroes the bits of the
	// final octet beyond lengthBits. dst and src may overlap exactly. It
	// returns an error if the inputs are out of range (BEARER > 31,
	// DIRECTION > 1, len(src) or len(dst) < ceil(lengthBits/8), lengthBits < 0).
	XORKeyStream(count uint32, bearer uint8, dir Direction, dst, src []byte, lengthBits int) error
}

// Integrity is a keyed 128-NIA instance.
type Integrity interface {
	// Alg reports the algorithm identity.
	Alg() IntegrityAlg
	// MAC computes the 32-bit MAC-I over the first lengthBits bits of msg.
	// Errors as for Cipher.XORKeyStream.
	MAC(count uint32, bearer uint8, dir Direction, msg []byte, lengthBits int) ([MACLen]byte, error)
}

// Errors returned by the algorithm constructors and instances.
var (
	ErrUnsupportedAlgorithm = errors.New("pc5/sec: unsupported algorithm")
	ErrInvalidInput         = errors.New("pc5/sec: invalid algorithm input")
)

func checkInput(bearer uint8, dir Direction, n, lengthBits int) error {
	switch {
	case bearer > 31:
		return fmt.Errorf("%w: BEARER %d exceeds 5 bits", ErrInvalidInput, bearer)
	case dir > 1:
		return fmt.Errorf("%w: DIRECTION %d exceeds 1 bit", ErrInvalidInput, dir)
	case lengthBits < 0:
		return fmt.Errorf("%w: negative LENGTH %d", ErrInvalidInput, lengthBits)
	case n < (lengthBits+7)/8:
		return fmt.Errorf("%w: LENGTH %d bits needs %d octets, have %d", ErrInvalidInput, lengthBits, (lengthBits+7)/8, n)
	}
	return nil
}
