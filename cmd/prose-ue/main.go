// Command prose-ue is the UE agent of TR 33.740 Solution #4 (docs/design.md §7): it
// makes or imports the UE's identity key (keygen), provisions the UE's credentials from
// the ProSe Application Server while in coverage (provision), shows what is
// cached (status), and runs a source UE, a target UE or an L3 UE-to-UE relay
// out of coverage on the UDP loopback PC5 medium (run), from the cache only.
//
// This package is the composition root of the UE agent: the only place that
// reads flags, files and the wall clock.
//
// Exit codes: 0 success, 1 failure, 2 usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"

	"github.com/prosesec/prosesec/internal/clihelp"
)

// commands lists the subcommands in the order of the root help.
var commands = []*command{keygenCmd, provisionCmd, statusCmd, runCmd}

const rootLong = "prose-ue is the ProSe UE agent of TR 33.740 Solution #4. In coverage it " +
	"holds the UE's identity key (keygen makes one or imports the private key made by " +
	"'prose-as keygen') and provisions the UE's token, trust anchors and status lists from " +
	"the ProSe Application Server (provision); out of coverage it runs a source UE, a target " +
	"UE or an L3 UE-to-UE relay on the UDP loopback PC5 medium from its cache only (run). " +
	"Exit codes: 0 success, 1 failure, 2 usage error."

var rootExamples = []string{
	"# a key registered at the AS with 'prose-as keygen --out ue-1.pem': import it\n" +
		"prose-ue keygen --cache-dir ue1 --from ue-1.pem",
	"# or make the key here and register its public key at the AS\n" +
		"prose-ue keygen --cache-dir ue1 --pub-out ue1.pub.pem\n" +
		"prose-as admin ue add --id ue-1 --public-key ue1.pub.pem --grant use:00002a",
	"# in coverage: fetch a token (private_key_jwt) from prose-as serve on its default address\n" +
		"prose-ue provision --cache-dir ue1 --issuer https://127.0.0.1:8443 \\\n" +
		"    --ca-file prose-as-data/tls.crt --client-id ue-1",
	"# out of coverage: a relay, a target and a source pinging the target\n" +
		"prose-ue run --cache-dir r1 --role relay  --l2 10 --listen 127.0.0.1:40010 \\\n" +
		"    --peer 1=127.0.0.1:40001 --peer 21=127.0.0.1:40021\n" +
		"prose-ue run --cache-dir t1 --role target --l2 21 --listen 127.0.0.1:40021 \\\n" +
		"    --peer 10=127.0.0.1:40010\n" +
		"prose-ue run --cache-dir s1 --role source --l2 1 --listen 127.0.0.1:40001 \\\n" +
		"    --peer 10=127.0.0.1:40010 --target ue-target-00001 --ping 3",
}

// errUsage marks a usage error (exit code 2).
var errUsage = errors.New("usage error")

// usageError is a bad invocation; cmd names the subcommand whose help to
// point to.
type usageError struct{ msg, cmd string }

func (e *usageError) Error() string   { return e.msg }
func (e *usageError) Is(t error) bool { return t == errUsage }

func usagef(format string, a ...any) error { return &usageError{msg: fmt.Sprintf(format, a...)} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

func exitCode(err error, stderr io.Writer) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		help := "prose-ue --help"
		if ue.cmd != "" {
			help = "prose-ue " + ue.cmd + " --help"
		}
		fmt.Fprintf(stderr, "prose-ue: %v\n(see %s)\n", err, help)
		return 2
	default:
		fmt.Fprintf(stderr, "prose-ue: %v\n", err)
		return 1
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		printRootHelp(stderr)
		return usagef("no command")
	}
	var err error
	switch args[0] {
	case "-h", "--help", "help", "-help":
		if args[0] == "help" && len(args) > 1 {
			return run(ctx, []string{args[1], "--help"}, stdout, stderr)
		}
		printRootHelp(stdout)
		return nil
	case "provision":
		err = cmdProvision(ctx, args[1:], stdout, stderr)
	case "status":
		err = cmdStatus(args[1:], stdout, stderr)
	case "keygen":
		err = cmdKeygen(args[1:], stdout, stderr)
	case "run":
		err = cmdRun(ctx, args[1:], stdout, stderr)
	default:
		return usagef("unknown command %q", args[0])
	}
	var ue *usageError
	if errors.As(err, &ue) && ue.cmd == "" {
		ue.cmd = args[0]
	}
	return err
}

// command is the help of a subcommand; its flags are the ones the
// subcommand defines on the flag set of newFlagSet.
type command struct {
	name     string
	synopsis string   // usage line, "prose-ue NAME ..."
	short    string   // one line for the root help
	long     string   // one paragraph
	examples []string // "# comment\ncommand" blocks
}

// newFlagSet returns a flag set that prints nothing itself: parse prints
// the help and reports errors as usage errors.
func newFlagSet(c *command) *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parse parses the flags of c; on --help it prints c's help (usage line,
// description, flags, examples) to stdout and returns flag.ErrHelp.
func parse(c *command, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printHelp(stdout, c, fs)
			return err
		}
		return usagef("%s: %v", c.name, err)
	}
	if fs.NArg() > 0 {
		return usagef("%s: unexpected argument %q (flags are written --name value)", c.name, fs.Arg(0))
	}
	return nil
}

func printRootHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage:\n  prose-ue COMMAND [flags]\n\n%s\n\nCommands:\n", clihelp.Wrap(rootLong, 78))
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.short)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nRun 'prose-ue COMMAND --help' for the flags and examples of a command.\n")
	clihelp.Examples(w, rootExamples)
}

// printHelp writes the usage line, description, flags (--name VALUE, with
// defaults) and examples of c.
func printHelp(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage:\n  %s\n\n%s\n", c.synopsis, clihelp.Wrap(c.long, 78))
	clihelp.Flags(w, "Flags", fs, nil, clihelp.DefaultNote)
	clihelp.Examples(w, c.examples)
}
