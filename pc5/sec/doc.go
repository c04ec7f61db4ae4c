// Package sec owns the PC5 unicast security primitives of TS 33.536: the
// generic 3GPP KDF (TS 33.220 Annex B.2), the key hierarchy
// KNRP → KNRP-sess → NRPEK/NRPIK with its identifiers, the 128-bit
// ciphering and integrity algorithms 128-NEA0..3 / 128-NIA0..3 with the 3GPP
// inputs (COUNT, BEARER, DIRECTION, LENGTH in bits), and PDCP-style protection
// of PC5 PDUs (TS 38.323) with COUNT tracking, an anti-replay window and a
// rekey signal.
//
// Every 3GPP code point used here is defined once, in codepoints.go, with its
// source and its evidence label (SOLID, PARTIAL, INFERRED).
package sec
