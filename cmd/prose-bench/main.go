//go:build linux

// Command prose-bench is the load and performance harness of prosesec
// (docs/design.md §7). It measures the ProSe Application Server's token endpoint
// over loopback HTTP and the reference ceiling next to it, and the PC5
// side in-process:
//
//	prose-bench token           load on POST /oauth2/token of spawned (or running) prose-as instances
//	prose-bench ceiling         the same load on a server that only signs an ES256 JWT per request
//	prose-bench ceiling-server  that reference server (spawned by ceiling as a separate process)
//	prose-bench handshake       PC5 link security handshakes per second (pc5/link, both sides)
//	prose-bench relay           IP packets forwarded by a real relay between two established hops
//
// Every run is bounded in time and in requests, sends traffic to loopback
// addresses only, and reports throughput, latency percentiles, errors, and
// the CPU time per operation of each process involved. See
// docs/performance.md.
//
// This package is the composition root of the harness: the only place that
// reads flags, the environment, /proc and the wall clock.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/prosesec/prosesec/internal/clihelp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // runtime error, or a run with errors
	exitUsage   = 2 // bad command line
)

// usageError is a bad invocation: run prints it with the command's usage
// and exits with status 2.
type usageError struct{ msg string }

func (u *usageError) Error() string { return "prose-bench: " + u.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// command is one subcommand.
type command struct {
	name     string
	synopsis string
	short    string
	long     string
	examples []string
	// setup defines the flags on fs and returns what runs once they are parsed.
	setup func(fs *flag.FlagSet) func(ctx context.Context, e *env) error
}

// env is what a command may use of the process.
type env struct {
	stdout, stderr io.Writer
	fs             *flag.FlagSet
	args           []string // the full command line, for the report
}

func commands() []*command {
	return []*command{tokenCommand(), ceilingCommand(), ceilingServerCommand(), handshakeCommand(), relayCommand()}
}

const rootLong = "prose-bench is the load and performance harness of prosesec. It drives the " +
	"ProSe Application Server's token endpoint over loopback HTTP (never anything else) and reports " +
	"tokens/s, latency percentiles, errors and the CPU time per token of the server and of " +
	"itself; it also measures PC5 handshakes and relay forwarding in-process (or over UDP on " +
	"loopback). Reports are Markdown tables or JSON. Every run is bounded: at most 10m and 10M " +
	"requests, handshakes or packets. " +
	"Exit status: 0 success, 1 runtime error or a run with errors, 2 usage error."

// run executes the command line and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "prose-bench: missing command\n\n")
		printRootHelp(stderr)
		return exitUsage
	}
	if isHelpArg(args[0]) {
		if args[0] == "help" && len(args) > 1 {
			for _, c := range commands() {
				if c.name == args[1] {
					printHelp(stdout, c)
					return exitOK
				}
			}
			fmt.Fprintf(stderr, "prose-bench: help: unknown command %q\n\n", args[1])
			printRootHelp(stderr)
			return exitUsage
		}
		printRootHelp(stdout)
		return exitOK
	}
	var c *command
	for _, x := range commands() {
		if x.name == args[0] {
			c = x
		}
	}
	if c == nil {
		fmt.Fprintf(stderr, "prose-bench: unknown command %q\n\n", args[0])
		printRootHelp(stderr)
		return exitUsage
	}
	fs := newFlagSet(c.name)
	act := c.setup(fs)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printHelp(stdout, c)
			return exitOK
		}
		fmt.Fprintf(stderr, "prose-bench: %s: %v\n\n", c.name, err)
		printHelp(stderr, c)
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "prose-bench: %s: unexpected argument %q (flags are written --name value)\n\n", c.name, fs.Arg(0))
		printHelp(stderr, c)
		return exitUsage
	}
	err := act(ctx, &env{stdout: stdout, stderr: stderr, fs: fs, args: args})
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "%s\n\n", ue.Error())
		printHelp(stderr, c)
		return exitUsage
	default:
		msg := err.Error()
		if !strings.HasPrefix(msg, "prose-bench: ") {
			msg = "prose-bench: " + msg
		}
		fmt.Fprintln(stderr, msg)
		return exitFailure
	}
}

func isHelpArg(a string) bool {
	return a == "-h" || a == "-help" || a == "--help" || a == "help"
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // run prints errors and usage itself
	fs.Usage = func() {}
	return fs
}

func printRootHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage:\n  prose-bench COMMAND [flags]\n\n%s\n\nCommands:\n", clihelp.Wrap(rootLong, 78))
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.short)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nRun 'prose-bench COMMAND --help' for the flags and examples of a command.\n")
	var examples []string // the first example of each command
	for _, c := range commands() {
		if len(c.examples) > 0 {
			examples = append(examples, c.examples[0])
		}
	}
	clihelp.Examples(w, examples)
}

// printHelp writes the usage line, description, flags and examples of c.
func printHelp(w io.Writer, c *command) {
	fmt.Fprintf(w, "Usage:\n  %s\n\n%s\n", c.synopsis, clihelp.Wrap(c.long, 78))
	fs := newFlagSet(c.name)
	c.setup(fs)
	clihelp.Flags(w, "Flags", fs, nil, clihelp.DefaultNote)
	clihelp.Examples(w, c.examples)
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, " ") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}
