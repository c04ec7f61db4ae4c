package sec

import "fmt"

// DefaultWindowBits is the default anti-replay window: 2048 COUNT values,
// the PDCP reordering window Window_Size of a 12-bit SN (TS 38.323 §7.2).
// PROVISIONAL [INFERRED]: TS 33.536 and TS 38.323 set no replay window
// size; 38.323 only discards duplicates inside its reordering window.
const DefaultWindowBits = 2048

// MaxWindowBits bounds the configurable window (1 Mibit = 128 KiB per bearer).
const MaxWindowBits = 1 << 20

// replayWindow is an RFC 6479 sliding-window bitmap over 64-bit COUNT-space
// positions: a ring of size/64+1 words, so that advancing the window clears
// whole words and never shifts. It accepts a COUNT c iff it was not accepted
// before and next-c <= size, where next is the highest accepted COUNT + 1.
//
// check and accept are split so that a caller can verify a PDU between them
// and leave the window untouched when verification fails.
type replayWindow struct {
	words []uint64
	size  uint64 // window in COUNT values, a multiple of 64
	next  uint64 // highest accepted COUNT + 1; 0 before the first
}

func validWindowBits(bits int) error {
	if bits < 64 || bits > MaxWindowBits || bits%64 != 0 {
		return fmt.Errorf("pc5/sec: expected a replay window of 64..%d bits in multiples of 64, found %d", MaxWindowBits, bits)
	}
	return nil
}

func newReplayWindow(bits int) replayWindow {
	return replayWindow{words: make([]uint64, bits/64+1), size: uint64(bits)}
}

// replayVerdict is the outcome of replayWindow.check.
type replayVerdict uint8

const (
	replayFresh  replayVerdict = iota // not seen, inside or ahead of the window
	replayTooOld                      // left of the window
	replayDup                         // already accepted
)

// check classifies c without changing the window.
func (w *replayWindow) check(c uint64) replayVerdict {
	if c >= w.next {
		return replayFresh
	}
	if w.next-c > w.size {
		return replayTooOld
	}
	n := uint64(len(w.words))
	if w.words[(c>>6)%n]&(1<<(c&63)) != 0 {
		return replayDup
	}
	return replayFresh
}

// accept records c, which check classified as replayFresh.
func (w *replayWindow) accept(c uint64) {
	n := uint64(len(w.words))
	if c >= w.next {
		if w.next > 0 {
			// Clear the words between the old top word and c's word; their
			// bits belong to COUNTs one ring turn back.
			diff := c>>6 - (w.next-1)>>6
			if diff > n {
				diff = n
			}
			top := (w.next - 1) >> 6
			for i := uint64(1); i <= diff; i++ {
				w.words[(top+i)%n] = 0
			}
		}
		w.next = c + 1
	}
	w.words[(c>>6)%n] |= 1 << (c & 63)
}
