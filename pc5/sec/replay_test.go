package sec

import (
	"math/rand/v2"
	"testing"
)

// naiveWindow is the replay window's specification: a set of every COUNT
// ever accepted and the highest one.
type naiveWindow struct {
	seen map[uint64]bool
	next uint64
	size uint64
}

func (w *naiveWindow) check(c uint64) replayVerdict {
	switch {
	case c >= w.next:
		return replayFresh
	case w.next-c > w.size:
		return replayTooOld
	case w.seen[c]:
		return replayDup
	}
	return replayFresh
}

func (w *naiveWindow) accept(c uint64) {
	w.seen[c] = true
	if c >= w.next {
		w.next = c + 1
	}
}

func TestReplayWindowMatchesModel(t *testing.T) {
	for _, bits := range []int{64, 128, 1024, 2048} {
		rng := rand.New(rand.NewPCG(uint64(bits), 7))
		w := newReplayWindow(bits)
		m := naiveWindow{seen: map[uint64]bool{}, size: uint64(bits)}
		var top uint64
		for i := 0; i < 200000; i++ {
			var c uint64
			switch r := rng.IntN(10); {
			case r < 4: // mostly ahead, sometimes far ahead
				top += uint64(rng.IntN(8))
				if rng.IntN(100) == 0 {
					top += uint64(rng.IntN(5 * bits))
				}
				c = top
			default: // around and left of the window edge
				back := uint64(rng.IntN(bits + 130))
				if back > top {
					back = top
				}
				c = top - back
			}
			got, want := w.check(c), m.check(c)
			if got != want {
				t.Fatalf("window %d, step %d, COUNT %d (next %d): check = %d, model says %d", bits, i, c, m.next, got, want)
			}
			if got == replayFresh {
				w.accept(c)
				m.accept(c)
			}
			if w.next != m.next {
				t.Fatalf("window %d: next = %d, model %d", bits, w.next, m.next)
			}
		}
	}
}

func TestReplayWindowEdges(t *testing.T) {
	w := newReplayWindow(1024)
	if w.check(0) != replayFresh {
		t.Fatal("COUNT 0 on an empty window is not fresh")
	}
	w.accept(0)
	if w.check(0) != replayDup {
		t.Fatal("COUNT 0 accepted twice")
	}
	w.accept(2000)
	// next = 2001: COUNT 977 is exactly 1024 behind next, 976 one more.
	if v := w.check(977); v != replayFresh {
		t.Errorf("COUNT 977 with next 2001 and window 1024: %d, want fresh", v)
	}
	if v := w.check(976); v != replayTooOld {
		t.Errorf("COUNT 976 with next 2001 and window 1024: %d, want too old", v)
	}
	// Near the end of the COUNT space.
	w.accept(MaxCount)
	if w.next != MaxCount+1 || w.check(MaxCount) != replayDup || w.check(MaxCount-1) != replayFresh {
		t.Error("window at COUNT 2^32−1 misbehaves")
	}
	for _, bad := range []int{0, 63, 65, 100, MaxWindowBits + 64} {
		if validWindowBits(bad) == nil {
			t.Errorf("validWindowBits(%d) = nil", bad)
		}
	}
}
