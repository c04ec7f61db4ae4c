//go:build linux

package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

// Bounds of every run: a load generator that can be pointed at a server
// must not be able to run away.
const (
	maxDuration      = 10 * time.Minute
	maxRequests      = 10_000_000
	maxWarmup        = time.Minute
	maxConcurrency   = 1024
	maxConcLevels    = 8
	maxClients       = 100_000
	maxAssertions    = 2_000_000
	maxAssertionRate = 100_000
	// assertionTTL is the longest lifetime of a prepared client assertion
	// (exp - the time it was signed). The AS refuses assertions whose exp is
	// more than its AssertionMaxAge (5m by default) ahead. The exp values
	// are spread over up to assertionSpread below it, increasing in the
	// order of use, as those of clients signing just in time would be; so
	// every assertion is valid at least assertionTTL - assertionSpread after
	// signing, which bounds the warmup and timed part of a private_key_jwt
	// run (with some time left for the signing itself).
	assertionTTL    = 5*time.Minute - 10*time.Second
	assertionSpread = 30 * time.Second
	maxJWTRunLength = 3*time.Minute + 30*time.Second
)

// loadSettings are the flags shared by token and ceiling.
type loadSettings struct {
	format      string
	concurrency string
	levels      []int
	duration    time.Duration
	requests    int64
	warmup      time.Duration
	json        bool
	cpuprofile  string
	client      string
}

func (s *loadSettings) define(fs *flag.FlagSet) {
	fs.StringVar(&s.format, "format", "jwt", "token `FORMAT` requested: jwt or cwt")
	fs.StringVar(&s.concurrency, "concurrency", "32", "concurrent requests (`N`), or a comma-separated list such as 8,32 to run each level in turn (1 to 1024)")
	fs.DurationVar(&s.duration, "duration", 10*time.Second, "timed part of each run (`DURATION`, at most 10m); the run stops at --duration or --requests, whichever comes first")
	fs.Int64Var(&s.requests, "requests", 0, "cap on the timed requests of each run (`N`, at most 10000000); 0: no cap")
	fs.DurationVar(&s.warmup, "warmup", 2*time.Second, "load before each timed part, not counted (`DURATION`, at most 1m)")
	fs.BoolVar(&s.json, "json", false, "print the report as JSON instead of a Markdown table")
	fs.StringVar(&s.client, "client", "raw", "HTTP `CLIENT` of the load generator: raw (the lean HTTP/1.1 keep-alive client of prose-bench: requests serialised before the run, one write and a minimal response reader; less than half the CPU per request of http, most of it the loopback write and read system calls) or http (Go's net/http client)")
	fs.StringVar(&s.cpuprofile, "cpuprofile", "", "write a CPU profile of prose-bench itself (the load generator) to `FILE`")
}

// startProfile starts the load generator's CPU profile, if asked for, and
// returns the function that stops it.
func (s *loadSettings) startProfile() (func(), error) {
	if s.cpuprofile == "" {
		return func() {}, nil
	}
	f, err := os.Create(s.cpuprofile)
	if err != nil {
		return nil, fmt.Errorf("prose-bench: --cpuprofile: %v", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("prose-bench: --cpuprofile: %v", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// httpClient returns c for --client http and nil (the raw client) for
// --client raw.
func (s *loadSettings) httpClient(c *http.Client) *http.Client {
	if s.client == "http" {
		return c
	}
	return nil
}

// check validates the settings and parses the concurrency list.
func (s *loadSettings) check() error {
	switch s.format {
	case "jwt", "cwt":
	default:
		return usagef("--format %q: use jwt or cwt", s.format)
	}
	if s.duration <= 0 || s.duration > maxDuration {
		return usagef("--duration %v: want more than 0 and at most %v", s.duration, maxDuration)
	}
	if s.requests < 0 || s.requests > maxRequests {
		return usagef("--requests %d: want 0 (no cap) to %d", s.requests, maxRequests)
	}
	if s.warmup < 0 || s.warmup > maxWarmup {
		return usagef("--warmup %v: want 0 to %v", s.warmup, maxWarmup)
	}
	if s.client != "raw" && s.client != "http" {
		return usagef("--client %q: use raw or http", s.client)
	}
	levels, err := parseLevels(s.concurrency)
	if err != nil {
		return err
	}
	s.levels = levels
	return nil
}

func parseLevels(v string) ([]int, error) {
	parts := strings.Split(v, ",")
	if len(parts) > maxConcLevels {
		return nil, usagef("--concurrency %q: at most %d levels", v, maxConcLevels)
	}
	out := make([]int, 0, len(parts))
	for _, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 || n > maxConcurrency {
			return nil, usagef("--concurrency %q: want integers from 1 to %d, such as 32 or 8,32", v, maxConcurrency)
		}
		out = append(out, n)
	}
	return out, nil
}

// flagValues returns every flag of fs with its value, for the report.
func flagValues(fs *flag.FlagSet) map[string]string {
	m := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) { m[f.Name] = f.Value.String() })
	return m
}
