// Package clihelp owns the --help layout shared by the project's commands
// (prose-as, prose-bench, prose-ue): paragraphs wrapped at a width, flags
// listed GNU-style as "--name VALUE" with their usage indented below and
// notes such as the default in parentheses, and examples in indented
// blocks separated by a blank line.
package clihelp

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Wrap breaks s into lines of at most width characters at spaces (a word
// longer than width gets a line of its own); each newline in s starts a
// new line, so paragraphs and lists keep their breaks.
func Wrap(s string, width int) string {
	var b strings.Builder
	for pi, para := range strings.Split(s, "\n") {
		if pi > 0 {
			b.WriteByte('\n')
		}
		n := 0
		for i, word := range strings.Fields(para) {
			if i > 0 && n+1+len(word) > width {
				b.WriteByte('\n')
				n = 0
			} else if i > 0 {
				b.WriteByte(' ')
				n++
			}
			b.WriteString(word)
			n += len(word)
		}
	}
	return b.String()
}

// Indent puts prefix before every line of s.
func Indent(s, prefix string) string {
	lines := strings.Split(s, "\n")
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n")
}

// Flags writes the section title ("\nFlags:\n") and, sorted by name, each
// flag of fs that keep accepts (every flag when keep is nil): a line
// "  --name VALUE", then its usage wrapped at 70 columns and indented 8
// spaces, followed by the notes of the flag in parentheses, joined by "; ".
// A nil note adds none. It writes nothing when no flag is kept.
func Flags(w io.Writer, title string, fs *flag.FlagSet, keep func(*flag.Flag) bool, note func(*flag.Flag) []string) {
	var fl []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if keep == nil || keep(f) {
			fl = append(fl, f)
		}
	})
	if len(fl) == 0 {
		return
	}
	sort.Slice(fl, func(i, j int) bool { return fl[i].Name < fl[j].Name })
	fmt.Fprintf(w, "\n%s:\n", title)
	for _, f := range fl {
		typ, usage := flag.UnquoteUsage(f)
		head := "  --" + f.Name
		if typ != "" {
			head += " " + typ
		}
		if note != nil {
			if notes := note(f); len(notes) > 0 {
				usage += " (" + strings.Join(notes, "; ") + ")"
			}
		}
		fmt.Fprintf(w, "%s\n%s\n", head, Indent(Wrap(usage, 70), "        "))
	}
}

// DefaultNote is a note for Flags: "default X", unless the default of f
// is a zero value ("", "false", "0", "0s", "[]" or "map[]"), which says
// nothing worth a note.
func DefaultNote(f *flag.Flag) []string {
	switch f.DefValue {
	case "", "false", "0", "0s", "[]", "map[]":
		return nil
	}
	return []string{"default " + f.DefValue}
}

// Examples writes an "Examples:" section: each example a block of lines
// ("# comment\ncommand"), indented 2 spaces, with a blank line between
// blocks. It writes nothing when there are no examples.
func Examples(w io.Writer, examples []string) {
	if len(examples) == 0 {
		return
	}
	fmt.Fprintf(w, "\nExamples:\n")
	for i, ex := range examples {
		if i > 0 {
			fmt.Fprintln(w)
		}
		for _, line := range strings.Split(ex, "\n") {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
}
