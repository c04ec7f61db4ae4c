package main

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at link time: go build -ldflags "-X main.version=v1.2.3".
// Without it, the module version from the build information is used.
var version = ""

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		v := bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		return v
	}
	return "(devel)"
}

func versionCommand() *command {
	return &command{
		name:     "version",
		synopsis: "prose-as version",
		short:    "print the version",
		long:     "Prints the program version, the Go version and the platform.",
		examples: []string{"prose-as version"},
		setup: func(fs *flag.FlagSet) action {
			return func(ctx context.Context, e *env, fs *flag.FlagSet) error {
				fmt.Fprintf(e.stdout, "prose-as %s %s %s/%s\n", versionString(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
				return nil
			}
		},
	}
}

func rootCommand() *command {
	return &command{
		name:     "prose-as",
		synopsis: "prose-as COMMAND [flags]",
		long: "prose-as is the ProSe Application Server of 3GPP TR 33.740 Solution #4: it registers UEs " +
			"and UE-to-UE relays with their PC5 identity keys and service grants, and issues them " +
			"signed OAuth 2.0-style tokens (JWT or CWT, bound to the identity key) that the UEs verify " +
			"offline when they set up PC5 links out of coverage, together with the signing keys (JWKS) " +
			"and revocation status lists. See docs/prose-as.md for the operator guide.",
		examples: []string{
			"# Start the server (creates ./prose-as-data on first start)\nprose-as serve",
			"# Register a UE allowed to use relay service 0x00002a, with a client secret\n" +
				"prose-as keygen --out ue-1.pem\n" +
				"prose-as admin ue add --id ue-1 --public-key ue-1.pem.pub.jwk --secret --grant use:00002a",
			"# Help on a command\nprose-as admin ue add --help",
		},
		subs: []*command{
			serveCommand(),
			adminCommand(),
			backupCommand(),
			keygenCommand(),
			assertionCommand(),
			versionCommand(),
			{
				name:     "help",
				synopsis: "prose-as help [COMMAND...]",
				short:    "show help for a command",
				long:     "Shows the help of a command; 'prose-as COMMAND --help' does the same.",
			},
		},
	}
}
