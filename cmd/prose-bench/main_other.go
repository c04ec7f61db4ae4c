//go:build !linux

// Command prose-bench is the load and performance harness of prosesec. It
// reads per-process CPU time from /proc and is built for Linux only.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "prose-bench: this harness needs Linux (/proc, process groups)")
	os.Exit(1)
}
