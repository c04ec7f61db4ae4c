// Command prose-as is the ProSe Application Server of TR 33.740 Solution #4
// and its operator tools: it serves the OAuth 2.0 token, JWKS, metadata,
// revocation, introspection and status-list endpoints (serve), manages
// registered UEs, issued tokens and signing keys over the admin API (admin),
// and helps with demos (keygen, assertion).
//
// This package is the composition root of the AS: the only place that reads
// flags, the environment, files and the wall clock. See docs/prose-as.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// gcPercent is the garbage collector's target (GOGC) unless the environment
// sets GOGC. The server's live heap is small (a few MB: the UE cache, keys,
// status lists), so at Go's default of 100 it collects every few
// milliseconds under load; 300 trades about 8 MB of RSS for about 3 % more
// tokens per second (docs/performance.md).
const gcPercent = 300

func main() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}
