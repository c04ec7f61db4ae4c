package sim

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
)

// WriteDir writes summary.json, trace.jsonl and sequence.html into dir
// (made if missing).
func (res *Result) WriteDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	pc5, https := res.counts()
	summary := struct {
		Seed   uint64   `json:"seed"`
		Passed bool     `json:"passed"`
		Checks []Check  `json:"checks"`
		Runs   []string `json:"runs"`
		Frames int      `json:"frames"` // entries of trace.jsonl
		PC5    int      `json:"pc5_frames"`
		HTTPS  int      `json:"https_messages"`
	}{res.Seed, !res.Failed(), res.Checks, res.Runs, len(res.Frames), pc5, https}
	b, err := json.MarshalIndent(summary, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "summary.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	var tr strings.Builder
	enc := json.NewEncoder(&tr)
	for _, f := range res.Frames {
		if err := enc.Encode(f); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "trace.jsonl"), []byte(tr.String()), 0o644); err != nil {
		return err
	}
	if err := res.writeKeys(filepath.Join(dir, "keys.jsonl")); err != nil {
		return err
	}
	return res.writeHTML(filepath.Join(dir, "sequence.html"))
}

// writeKeys writes res.Keys into a new file at path, readable by its owner
// only. An older file there is removed first, whatever its mode or owner,
// so no key lands in a file others can read and no stale keys stay next
// to a trace without them.
func (res *Result) writeKeys(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if len(res.Keys) == 0 {
		return nil
	}
	var kl strings.Builder
	enc := json.NewEncoder(&kl)
	for _, k := range res.Keys {
		if err := enc.Encode(k); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(kl.String()); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// counts returns the number of PC5 frames and of HTTPS messages.
func (res *Result) counts() (pc5, https int) {
	for _, f := range res.Frames {
		if f.Proto == ProtoHTTPS {
			https++
		} else {
			pc5++
		}
	}
	return pc5, https
}

// writeHTML draws one message sequence chart per run as inline SVG; the
// page fetches nothing. Each chart is an <svg data-run="RUN">; each lane a
// <g class="lane" data-lane="NAME">; each trace entry one <g> with
// data-seq (its line in trace.jsonl, from 1), data-from, data-to and
// data-msg (its from, to and message), the classes of frameClasses, a
// <title> tooltip (tooltip), its time, its arrow and its label.
func (res *Result) writeHTML(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	fmt.Fprint(w, `<!DOCTYPE html><html><head><meta charset="utf-8"><title>prose-sim sequence</title>
<style>body{font-family:sans-serif;margin:1em}svg text{font-size:11px;font-family:monospace}
g.rej line{stroke:#c00;stroke-width:2}g.rej circle,g.rej text{fill:#c00}
g.atk line{stroke:#d60;stroke-width:3}g.atk circle,g.atk text,g.lane.atk text{fill:#d60;font-weight:bold}g.lane.atk line{stroke:#d60;stroke-dasharray:2}
g.disc line{stroke:#c00;stroke-dasharray:6 3}g.disc circle{fill:#fff;stroke:#c00;stroke-width:2}g.disc text{fill:#c00}
g.drop line{stroke:#999;stroke-dasharray:4}g.drop circle{fill:#fff;stroke:#999}
.pass{color:#070}.fail{color:#c00;font-weight:bold}
.legend span{margin-right:1.5em;padding-bottom:1px}.k-msg{border-bottom:2px solid #036}.k-rej{border-bottom:2px solid #c00;color:#c00}
.k-atk{border-bottom:3px solid #d60;color:#d60;font-weight:bold}.k-disc{border-bottom:2px dashed #c00;color:#c00}.k-drop{border-bottom:2px dashed #999;color:#777}
summary h2{display:inline}summary{cursor:pointer;margin:1em 0}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px}</style></head><body>
<h1>prose-sim message sequence</h1>
<p class="legend"><span class="k-msg">message</span><span class="k-rej">REJECT or refusal</span><span class="k-atk">rewritten in flight by an attacker</span><span class="k-disc">discarded by its receiver</span><span class="k-drop">lost on the air</span>hover a message for its decoded fields and why</p>
`)
	fmt.Fprintf(w, "<p>seed %d</p><table><tr><th>phase</th><th>check</th><th>expected</th><th>observed</th><th>result</th></tr>\n", res.Seed)
	for _, c := range res.Checks {
		cls, r := "pass", "pass"
		if !c.Pass {
			cls, r = "fail", "FAIL"
		}
		fmt.Fprintf(w, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td class=%q>%s</td></tr>\n",
			html.EscapeString(c.Phase), html.EscapeString(c.Name), html.EscapeString(c.Expected), html.EscapeString(c.Observed), cls, r)
	}
	fmt.Fprint(w, "</table>\n")
	for _, run := range res.Runs {
		var frames []Frame
		var seqs []int // lines of trace.jsonl
		var lanes []string
		seen := map[string]bool{}
		for i, fr := range res.Frames {
			if fr.Run != run {
				continue
			}
			frames = append(frames, fr)
			seqs = append(seqs, i+1)
			for _, n := range []string{fr.From, fr.To} {
				if !seen[n] {
					seen[n] = true
					lanes = append(lanes, n)
				}
			}
		}
		https := run == httpRunName
		if https {
			// Long and the same for every UE: folded, the PC5 runs first
			// in view.
			fmt.Fprintf(w, "<details><summary><h2>%s</h2> %d messages, click to unfold</summary>\n", html.EscapeString(run), len(frames))
		} else {
			fmt.Fprintf(w, "<h2>%s</h2>\n", html.EscapeString(run))
		}
		for _, c := range res.Checks {
			if c.Name == run {
				cls := "pass"
				if !c.Pass {
					cls = "fail"
				}
				fmt.Fprintf(w, "<p class=%q>expected: %s; observed: %s</p>\n", cls, html.EscapeString(c.Expected), html.EscapeString(c.Observed))
			}
		}
		if len(frames) == 0 {
			fmt.Fprint(w, "<p>no frames</p>\n")
			if https {
				fmt.Fprint(w, "</details>\n")
			}
			continue
		}
		dx := 260
		if https {
			// The AS on the left, the UEs in the order they came, closer
			// together: labels start at the AS's lane instead of centring.
			dx = 170
			slices.SortStableFunc(lanes, func(a, b string) int {
				return cmpBool(b == ASName, a == ASName)
			})
		} else {
			orderLanes(lanes, res.lanes[run])
		}
		x := map[string]int{}
		const top, dy = 40, 22
		for i, n := range lanes {
			x[n] = 120 + i*dx
		}
		width, height := 120+len(lanes)*dx, top+dy*(len(frames)+1)
		fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" data-run="%s">`+"\n", width, height, html.EscapeString(run))
		for _, n := range lanes {
			cls := "lane"
			if n == attackerOnAir {
				cls += " atk"
			}
			fmt.Fprintf(w, `<g class=%q data-lane="%s"><text x="%d" y="20" text-anchor="middle">%s</text><line x1="%d" y1="28" x2="%d" y2="%d" stroke="#444"/></g>`+"\n",
				cls, html.EscapeString(n), x[n], html.EscapeString(n), x[n], x[n], height)
		}
		for i, fr := range frames {
			y := top + dy*(i+1)
			x1, x2 := x[fr.From], x[fr.To]
			// The dot marks delivery; a lost frame's line stops short of
			// the receiver at a hollow dot, a discarded one's reaches it at
			// a hollow dot.
			off := 6
			if fr.Dropped != "" {
				off = 24
			}
			head := x2 - off
			if x2 < x1 {
				head = x2 + off
			}
			x2 = head
			// PC5-S names without their common prefix, to fit between
			// lanes (the tooltip has the full name).
			label := fmt.Sprintf("%s (LCID %d, %d B)", strings.TrimPrefix(fr.Message, "PROSE DIRECT LINK "), fr.LCID, fr.Size)
			if fr.Proto == ProtoHTTPS {
				label = fmt.Sprintf("%s (%d B)", fr.Message, fr.Size)
			}
			if fr.Dropped != "" {
				label += " dropped: " + fr.Dropped
			}
			if fr.Fields["discarded"] != "" {
				label += " discarded" // by whom and why: the tooltip
			}
			lx, anchor := (x1+x2)/2, "middle"
			if https {
				lx, anchor = min(x1, x2)+8, "start"
			}
			fmt.Fprintf(w, `<g class=%q data-seq="%d" data-from="%s" data-to="%s" data-msg="%s"><title>%s</title><text x="4" y="%d">t=%.3fs</text><line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#036"/><circle cx="%d" cy="%d" r="3" fill="#036"/><text x="%d" y="%d" text-anchor="%s">%s</text></g>`+"\n",
				frameClasses(fr), seqs[i], html.EscapeString(fr.From), html.EscapeString(fr.To), html.EscapeString(fr.Message),
				html.EscapeString(tooltip(fr)), y, fr.T, x1, y, x2, y, head, y, lx, y-4, anchor, html.EscapeString(label))
		}
		fmt.Fprint(w, "</svg>\n")
		if https {
			fmt.Fprint(w, "</details>\n")
		}
	}
	fmt.Fprint(w, "</body></html>\n")
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// frameClasses are the classes of a message in the chart: "msg", then
// "atk" if an attacker rewrote it in flight (its sender is attackerOnAir,
// its fields name rewritten_from), "rej" if it is a REJECT or a refusing
// HTTP error (Frame.Rejected), "disc" if its receiver discarded it (the
// field "discarded", discardedSMCs), "drop" if the medium lost it.
func frameClasses(fr Frame) string {
	c := "msg"
	if fr.From == attackerOnAir || fr.Fields["rewritten_from"] != "" {
		c += " atk"
	}
	if fr.Rejected {
		c += " rej"
	}
	if fr.Fields["discarded"] != "" {
		c += " disc"
	}
	if fr.Dropped != "" {
		c += " drop"
	}
	return c
}

// cmpBool orders false before true.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// tooltip is the text shown over a message: its decoded fields, one per
// line, sorted by name.
func tooltip(fr Frame) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s -> %s", fr.Message, fr.From, fr.To)
	for _, k := range slices.Sorted(maps.Keys(fr.Fields)) {
		fmt.Fprintf(&b, "\n%s: %s", k, fr.Fields[k])
	}
	return b.String()
}

// orderLanes puts sources left, relays in the middle, targets right: by
// the roles a run declared (known), else by the names. An attacker on the
// air goes between the sources and the relays, where it acts.
func orderLanes(l []string, known map[string]int) {
	rank := func(n string) int {
		if n == "broadcast" {
			return 1 << 20 // rightmost: arrows to it leave every lane the same way
		}
		if n == attackerOnAir {
			return 1
		}
		if r, ok := known[n]; ok {
			return 2 * r
		}
		switch {
		case strings.Contains(n, "source"):
			return 0
		case strings.Contains(n, "relay"):
			return 2
		case strings.Contains(n, "target"):
			return 4
		}
		return 6
	}
	for i := 1; i < len(l); i++ {
		for j := i; j > 0 && rank(l[j]) < rank(l[j-1]); j-- {
			l[j], l[j-1] = l[j-1], l[j]
		}
	}
}

// WriteTable writes the summary table: one row per check, then a count.
func (res *Result) WriteTable(w io.Writer) {
	fmt.Fprintln(w)
	fmt.Fprintln(w, "== Summary")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PHASE\tCHECK\tEXPECTED\tOBSERVED\tRESULT")
	pass := 0
	for _, c := range res.Checks {
		r := "FAIL"
		if c.Pass {
			r, pass = "pass", pass+1
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Phase, c.Name, c.Expected, c.Observed, r)
	}
	tw.Flush()
	pc5, https := res.counts()
	fmt.Fprintf(w, "%d/%d checks passed, %d PC5 frames and %d HTTPS messages in %d runs, %v wall time\n",
		pass, len(res.Checks), pc5, https, len(res.Runs), res.Duration.Round(1e6))
}
