// Command prose-ue is the UE agent of TR 33.740 Solution #4 (DESIGN §7): it
// makes the UE's identity key (keygen), provisions the UE's credentials from
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
)

const usage = `prose-ue — the ProSe UE agent (TR 33.740 Solution #4)

Usage:
  prose-ue keygen    --cache-dir DIR [--pub-out FILE]
  prose-ue provision --cache-dir DIR --issuer URL --client-id ID [--ca-file FILE] [flags]
  prose-ue status    --cache-dir DIR
  prose-ue run       --cache-dir DIR --role source|target|relay --l2 ID
                     (--listen 127.0.0.1:PORT --peer ID=ADDR ... | --topology FILE) [flags]

Examples:
  # make the identity key and register its public key at the AS
  prose-ue keygen --cache-dir ue1 --pub-out ue1.pub.pem
  prose-as admin ue add --id ue-source-00001 --public-key ue1.pub.pem --grant use:00002a

  # in coverage: make an identity key and fetch a token (private_key_jwt)
  prose-ue provision --cache-dir ue1 --issuer https://127.0.0.1:8443 \
      --ca-file as-ca.pem --client-id ue-source-00001

  # out of coverage: a relay, a target and a source pinging the target
  prose-ue run --cache-dir r1 --role relay  --l2 10 --listen 127.0.0.1:40010 \
      --peer 1=127.0.0.1:40001 --peer 21=127.0.0.1:40021
  prose-ue run --cache-dir t1 --role target --l2 21 --listen 127.0.0.1:40021 \
      --peer 10=127.0.0.1:40010
  prose-ue run --cache-dir s1 --role source --l2 1 --listen 127.0.0.1:40001 \
      --peer 10=127.0.0.1:40010 --target ue-target-00001 --ping 3

Run "prose-ue COMMAND --help" for the flags of a command.
Exit codes: 0 success, 1 failure, 2 usage error.
`

// errUsage marks a usage error (exit code 2).
var errUsage = errors.New("usage error")

type usageError struct{ msg string }

func (e *usageError) Error() string   { return e.msg }
func (e *usageError) Is(t error) bool { return t == errUsage }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "prose-ue: %v\n(see prose-ue --help)\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "prose-ue: %v\n", err)
		return 1
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usagef("no command")
	}
	switch args[0] {
	case "-h", "--help", "help", "-help":
		fmt.Fprint(stdout, usage)
		return nil
	case "provision":
		return cmdProvision(ctx, args[1:], stdout, stderr)
	case "status":
		return cmdStatus(args[1:], stdout, stderr)
	case "keygen":
		return cmdKeygen(args[1:], stdout, stderr)
	case "run":
		return cmdRun(ctx, args[1:], stdout, stderr)
	}
	return usagef("unknown command %q", args[0])
}

// newFlagSet returns a flag set that reports errors as usage errors.
func newFlagSet(name, help string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), help)
		fs.PrintDefaults()
	}
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}
