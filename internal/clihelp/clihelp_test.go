package clihelp

import (
	"flag"
	"strings"
	"testing"
)

func TestWrap(t *testing.T) {
	tests := []struct {
		in    string
		width int
		want  string
	}{
		{"aaa bbb ccc ddd", 7, "aaa bbb\nccc ddd"},
		{"aaa bbb ccc ddd", 8, "aaa bbb\nccc ddd"},
		{"aaa bbb ccc", 11, "aaa bbb ccc"},
		{"  aaa   bbb  ", 80, "aaa bbb"},
		{"toolongword a", 4, "toolongword\na"},
		// A newline starts a new line; each paragraph wraps on its own.
		{"aaa bbb ccc\nddd eee", 7, "aaa bbb\nccc\nddd eee"},
		{"one\n\ntwo", 80, "one\n\ntwo"},
		{"", 10, ""},
	}
	for _, tt := range tests {
		if got := Wrap(tt.in, tt.width); got != tt.want {
			t.Errorf("Wrap(%q, %d) = %q, want %q", tt.in, tt.width, got, tt.want)
		}
	}
}

func TestIndent(t *testing.T) {
	if got, want := Indent("a\nb", "  "), "  a\n  b"; got != want {
		t.Errorf("Indent = %q, want %q", got, want)
	}
}

func TestFlags(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.String("listen", "127.0.0.1:8080", "`ADDR`ess to listen on")
	fs.Bool("verbose", false, "log every request")
	fs.Int("count", 0, "number of `N` things to do, a usage long enough that it has to be wrapped at seventy columns")
	fs.Duration("timeout", 0, "give up after `D`")
	fs.String("hidden", "", "not listed")
	note := func(f *flag.Flag) []string {
		n := DefaultNote(f)
		if f.Name == "listen" {
			n = append(n, "env X_LISTEN")
		}
		return n
	}
	var b strings.Builder
	Flags(&b, "Flags", fs, func(f *flag.Flag) bool { return f.Name != "hidden" }, note)
	want := `
Flags:
  --count N
        number of N things to do, a usage long enough that it has to be
        wrapped at seventy columns
  --listen ADDR
        ADDRess to listen on (default 127.0.0.1:8080; env X_LISTEN)
  --timeout D
        give up after D
  --verbose
        log every request
`
	if got := b.String(); got != want {
		t.Errorf("Flags wrote\n%s\nwant\n%s", got, want)
	}

	b.Reset()
	Flags(&b, "Flags", fs, func(*flag.Flag) bool { return false }, note)
	if b.Len() != 0 {
		t.Errorf("Flags with no flag kept wrote %q, want nothing", b.String())
	}
}

func TestDefaultNote(t *testing.T) {
	for def, want := range map[string]string{
		"": "", "false": "", "0": "", "0s": "", "[]": "", "map[]": "",
		"true": "default true", "10": "default 10", "[a]": "default [a]",
	} {
		got := strings.Join(DefaultNote(&flag.Flag{DefValue: def}), "|")
		if got != want {
			t.Errorf("DefaultNote(%q) = %q, want %q", def, got, want)
		}
	}
}

func TestExamples(t *testing.T) {
	var b strings.Builder
	Examples(&b, []string{"# one\ncmd one", "# two\ncmd two"})
	want := "\nExamples:\n  # one\n  cmd one\n\n  # two\n  cmd two\n"
	if got := b.String(); got != want {
		t.Errorf("Examples wrote %q, want %q", got, want)
	}
	b.Reset()
	Examples(&b, nil)
	if b.Len() != 0 {
		t.Errorf("Examples(nil) wrote %q, want nothing", b.String())
	}
}
