package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Progress display of scale mode, on stderr. On a terminal: one line
// redrawn every tick (phase, bar, done/total, rate in the phase's unit,
// ETA), ended with a newline when the phase changes. Elsewhere (a file, a pipe, CI): a plain
// line every plainEvery and one when a phase ends.
const (
	ttyEvery   = 200 * time.Millisecond
	plainEvery = 5 * time.Second
	barWidth   = 30
)

// phaseUnit is what the items of a phase of sim.Scale are, for the rates
// shown: the link phase counts source/target pairs (two PC5 links each),
// so its rate is pairs/s, half the links/s of the report.
var phaseUnit = map[string]string{"register": "UEs", "provision": "UEs", "link": "pairs"}

// unit is " UEs" for a known phase, "" for another.
func unit(phase string) string {
	if u, ok := phaseUnit[phase]; ok {
		return " " + u
	}
	return ""
}

// snapshotter is what the display reads (sim.ScaleProgress).
type snapshotter interface {
	Snapshot() (phase string, seq, done, total int64)
}

type progressPrinter struct {
	w   io.Writer
	tty bool
	src snapshotter
	now func() time.Time

	stop chan struct{}
	wg   sync.WaitGroup

	mu         sync.Mutex // the phase being shown
	phase      string
	done       int64
	total      int64
	start      time.Time
	lastPlain  time.Time
	drawnWidth int
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// startProgress shows src on w until finish; phase changes come from
// onPhase (sim.ScaleProgress.OnPhase), so that a phase shorter than a
// tick is still reported.
func startProgress(w io.Writer, tty bool, src snapshotter, now func() time.Time) *progressPrinter {
	p := &progressPrinter{w: w, tty: tty, src: src, now: now, stop: make(chan struct{})}
	every := ttyEvery
	if !tty {
		every = time.Second // poll; print every plainEvery
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.tick()
			}
		}
	}()
	return p
}

// onPhase ends the phase shown (every item of it was handled) and starts
// showing the next, if phase is not "".
func (p *progressPrinter) onPhase(phase string, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if p.phase != "" {
		if phase == "" { // the end of the phase: the counts are final
			if ph, _, done, total := p.src.Snapshot(); ph == p.phase {
				p.done, p.total = done, total
			}
		} else { // a new phase without an end: the last one completed
			p.done = p.total
		}
		p.end(now)
	}
	if phase == "" {
		return
	}
	p.phase, p.done, p.total, p.start, p.lastPlain = phase, 0, int64(total), now, now
	if p.tty {
		p.draw(p.line(now))
	} else {
		fmt.Fprintf(p.w, "prose-sim: %s: started, %d%s to do\n", phase, total, unit(phase))
	}
}

// finish stops the display after a last update and reports the last
// phase as ended where it got to.
func (p *progressPrinter) finish() {
	close(p.stop)
	p.wg.Wait()
	p.tick()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.phase != "" {
		p.end(p.now())
	}
}

// tick reads the source and draws.
func (p *progressPrinter) tick() {
	phase, _, done, total := p.src.Snapshot()
	p.mu.Lock()
	defer p.mu.Unlock()
	if phase != p.phase || p.phase == "" {
		return // between phases
	}
	now := p.now()
	p.done, p.total = done, total
	if p.tty {
		p.draw(p.line(now))
		return
	}
	if now.Sub(p.lastPlain) >= plainEvery {
		p.lastPlain = now
		fmt.Fprintf(p.w, "prose-sim: %s\n", p.line(now))
	}
}

// end reports the current phase as ended.
func (p *progressPrinter) end(now time.Time) {
	el := now.Sub(p.start)
	msg := fmt.Sprintf("%s: done, %d/%d%s in %v (%s)", p.phase, p.done, p.total, unit(p.phase), el.Round(time.Millisecond), perSecond(p.done, el, p.phase))
	if p.tty {
		p.draw(msg)
		fmt.Fprintln(p.w)
		p.drawnWidth = 0
	} else {
		fmt.Fprintf(p.w, "prose-sim: %s\n", msg)
	}
	p.phase = ""
}

// line is "phase [####....] done/total (pct) rate ETA", the rate in the
// phase's unit ("510 pairs/s").
func (p *progressPrinter) line(now time.Time) string {
	el := now.Sub(p.start)
	frac := 0.0
	if p.total > 0 {
		frac = float64(p.done) / float64(p.total)
	}
	n := int(frac * barWidth)
	bar := strings.Repeat("#", n) + strings.Repeat(".", barWidth-n)
	eta := "ETA --"
	if p.done > 0 && p.done < p.total {
		left := time.Duration(float64(el) * float64(p.total-p.done) / float64(p.done))
		eta = "ETA " + left.Round(time.Second).String()
	} else if p.done >= p.total {
		eta = "ETA 0s"
	}
	return fmt.Sprintf("%-9s [%s] %d/%d (%3.0f%%) %s %s", p.phase, bar, p.done, p.total, 100*frac, perSecond(p.done, el, p.phase), eta)
}

// perSecond is n items of phase in d as "510 pairs/s".
func perSecond(n int64, d time.Duration, phase string) string {
	if d <= 0 {
		return "--" + unit(phase) + "/s"
	}
	return fmt.Sprintf("%.0f%s/s", float64(n)/d.Seconds(), unit(phase))
}

// draw rewrites the terminal line.
func (p *progressPrinter) draw(s string) {
	pad := ""
	if w := len(s); w < p.drawnWidth {
		pad = strings.Repeat(" ", p.drawnWidth-w)
	}
	fmt.Fprintf(p.w, "\r%s%s", s, pad)
	p.drawnWidth = len(s)
}
