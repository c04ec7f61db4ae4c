package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prosesec/prosesec/internal/clihelp"
)

// env is what a command may use of the outside world. run builds it from
// the process; nothing else in this package reads os.Args, os.Environ, the
// standard streams, the wall clock or crypto/rand directly.
type env struct {
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)
	now            func() time.Time
	rand           io.Reader
}

// action runs a leaf command after its flags are parsed.
type action func(ctx context.Context, e *env, fs *flag.FlagSet) error

// command is one node of the command tree: a group (subs) or a leaf (setup).
type command struct {
	name     string   // the word that selects it
	synopsis string   // usage line after "prose-as …"
	short    string   // one line for the parent's listing
	long     string   // one paragraph
	examples []string // "# comment\ncommand" blocks
	// setup defines the leaf's flags on fs and returns what to run once
	// they are parsed. Flag values live in the closure: no global state.
	setup func(fs *flag.FlagSet) action
	subs  []*command
	// envNames maps a flag to the environment variable it reads when not
	// given on the command line (only serve and admin flags have one).
	envNames func(fs *flag.FlagSet) map[string]string
	// sharedFlags are listed apart, under "Connection flags".
	sharedFlags []string
	// hiddenFlags are accepted but not listed (developer tools).
	hiddenFlags []string
}

// errUsage marks an error whose message and usage have been printed; the
// process exits with status 2.
var errUsage = errors.New("prose-as: usage error")

// usageError is returned by actions for a bad invocation (missing or
// inconsistent flags); run prints it with the command's usage, exit 2.
type usageError struct{ msg string }

func (u *usageError) Error() string { return "prose-as: " + u.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// run executes the command line args (without the program name).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	e := &env{
		stdout:    stdout,
		stderr:    stderr,
		lookupEnv: os.LookupEnv,
		now:       time.Now,
		rand:      rand.Reader,
	}
	return e.dispatch(ctx, rootCommand(), nil, args)
}

// exitCode maps run's result to the process exit status, printing a
// runtime error to stderr: 0 ok, 1 runtime error, 2 usage error.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		msg := err.Error()
		if !strings.HasPrefix(msg, "prose-as: ") {
			msg = "prose-as: " + msg
		}
		fmt.Fprintln(stderr, msg)
		return 1
	}
}

func isHelpArg(a string) bool {
	return a == "-h" || a == "-help" || a == "--help" || a == "help"
}

// dispatch walks the command tree. path holds the parents of c.
func (e *env) dispatch(ctx context.Context, c *command, path []*command, args []string) error {
	path = append(path, c)
	if c.setup == nil { // group
		if len(args) == 0 {
			fmt.Fprintf(e.stderr, "%smissing command\n\n", msgPrefix(path))
			printHelp(e.stderr, path)
			return errUsage
		}
		if isHelpArg(args[0]) {
			if args[0] == "help" && len(args) > 1 {
				return e.help(c, path, args[1:])
			}
			printHelp(e.stdout, path)
			return nil
		}
		for _, s := range c.subs {
			if s.name == args[0] {
				return e.dispatch(ctx, s, path, args[1:])
			}
		}
		if strings.HasPrefix(args[0], "-") {
			fmt.Fprintf(e.stderr, "%sflag %s must follow a command\n\n", msgPrefix(path), args[0])
		} else {
			fmt.Fprintf(e.stderr, "%sunknown command %q\n\n", msgPrefix(path), args[0])
		}
		printHelp(e.stderr, path)
		return errUsage
	}
	fs := newFlagSet(path)
	act := c.setup(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printHelp(e.stdout, path)
			return nil
		}
		fmt.Fprintf(e.stderr, "%s%v\n\n", msgPrefix(path), err)
		printHelp(e.stderr, path)
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "%sunexpected argument %q (flags are written --name value)\n\n", msgPrefix(path), fs.Arg(0))
		printHelp(e.stderr, path)
		return errUsage
	}
	err := act(ctx, e, fs)
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(e.stderr, "%s\n\n", ue.Error())
		printHelp(e.stderr, path)
		return fmt.Errorf("%w: %s", errUsage, ue.msg)
	}
	return err
}

// help prints the help of the command named by args below c.
func (e *env) help(c *command, path []*command, args []string) error {
	for _, a := range args {
		if isHelpArg(a) {
			break
		}
		var next *command
		for _, s := range c.subs {
			if s.name == a {
				next = s
			}
		}
		if next == nil {
			fmt.Fprintf(e.stderr, "prose-as: help: %q has no command %q\n\n", fullName(path), a)
			printHelp(e.stderr, path)
			return errUsage
		}
		c = next
		path = append(path, c)
	}
	printHelp(e.stdout, path)
	return nil
}

// msgPrefix starts an error message about the last command of path:
// "prose-as: " for the root, "prose-as: admin ue: " below it.
func msgPrefix(path []*command) string {
	if len(path) <= 1 {
		return "prose-as: "
	}
	return "prose-as: " + fullName(path[1:]) + ": "
}

func fullName(path []*command) string {
	names := make([]string, 0, len(path))
	for _, c := range path {
		names = append(names, c.name)
	}
	return strings.Join(names, " ")
}

func newFlagSet(path []*command) *flag.FlagSet {
	fs := flag.NewFlagSet(fullName(path), flag.ContinueOnError)
	fs.SetOutput(io.Discard) // run prints errors and usage itself
	fs.Usage = func() {}
	return fs
}

// printHelp writes the usage line, description, subcommands or flags, and
// examples of the last command of path.
func printHelp(w io.Writer, path []*command) {
	c := path[len(path)-1]
	fmt.Fprintf(w, "Usage:\n  %s\n\n", c.synopsis)
	fmt.Fprintf(w, "%s\n", clihelp.Wrap(c.long, 78))
	if len(c.subs) > 0 {
		fmt.Fprintf(w, "\nCommands:\n")
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		for _, s := range c.subs {
			fmt.Fprintf(tw, "  %s\t%s\n", s.name, s.short)
		}
		tw.Flush()
		fmt.Fprintf(w, "\nRun '%s COMMAND --help' for the flags of a command.\n", fullName(path))
	}
	if c.setup != nil {
		fs := newFlagSet(path)
		c.setup(fs)
		var envNames map[string]string
		if c.envNames != nil {
			envNames = c.envNames(fs)
		}
		// The notes of a flag: its default and the environment variable it reads.
		note := func(f *flag.Flag) []string {
			n := clihelp.DefaultNote(f)
			if name := envNames[f.Name]; name != "" {
				n = append(n, "env "+name)
			}
			return n
		}
		clihelp.Flags(w, "Flags", fs, func(f *flag.Flag) bool {
			return !slices.Contains(c.sharedFlags, f.Name) && !slices.Contains(c.hiddenFlags, f.Name)
		}, note)
		clihelp.Flags(w, "Connection flags", fs, func(f *flag.Flag) bool { return slices.Contains(c.sharedFlags, f.Name) }, note)
	}
	clihelp.Examples(w, c.examples)
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// isSet reports whether the flag name was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}
