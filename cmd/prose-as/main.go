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
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}
