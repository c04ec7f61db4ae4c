//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Report is the output of one prose-bench invocation (--json prints it as is).
type Report struct {
	Tool        string            `json:"tool"`
	Command     string            `json:"command"`
	Args        []string          `json:"args"`
	Flags       map[string]string `json:"flags"`
	Environment Environment       `json:"environment"`
	Runs        []*RunResult      `json:"runs"`
}

func (r *Report) print(w io.Writer, asJSON bool) {
	if asJSON {
		b, _ := json.MarshalIndent(r, "", "  ")
		fmt.Fprintf(w, "%s\n", b)
		return
	}
	pg := false
	for _, x := range r.Runs {
		pg = pg || x.PostgresCPUPerToken != nil
	}
	pgHead, pgSep := "", ""
	if pg {
		pgHead, pgSep = " postgres CPU µs/token |", "---:|"
	}
	fmt.Fprintf(w, "| server | auth | format | concurrency | instances | client | tokens/s | p50 ms | p90 ms | p99 ms | max ms | tokens | errors | server CPU µs/token |%s load-gen CPU µs/token |\n", pgHead)
	fmt.Fprintf(w, "|---|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|%s---:|\n", pgSep)
	opt := func(v *float64) string {
		if v == nil {
			return "n/a"
		}
		return fmt.Sprintf("%.0f", *v)
	}
	for _, x := range r.Runs {
		pgCell := ""
		if pg {
			pgCell = " " + opt(x.PostgresCPUPerToken) + " |"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %d | %d | %s | %.0f | %.2f | %.2f | %.2f | %.2f | %d | %d | %s |%s %.0f |\n",
			x.Server, x.Auth, x.Format, x.Concurrency, x.Instances, x.Client, x.TokensPerSecond,
			x.LatencyMs.P50, x.LatencyMs.P90, x.LatencyMs.P99, x.LatencyMs.Max,
			x.Tokens, x.ErrorCount, opt(x.ServerCPUPerToken), pgCell, x.LoadGenCPUPerToken)
	}
	fmt.Fprintln(w)
	for _, x := range r.Runs {
		var notes []string
		if x.StopReason != stopDuration && x.StopReason != stopRequests {
			notes = append(notes, "stopped: "+x.StopReason)
		}
		if x.SampleToken != "verified" {
			notes = append(notes, "sample token: "+x.SampleToken)
		}
		if x.OtherCPUSeconds != nil && *x.OtherCPUSeconds > 0.1*x.WindowSeconds {
			notes = append(notes, fmt.Sprintf("other CPU use during the run: %.1f s in %.1f s (interrupts, other processes); machine busy %.0f%%", *x.OtherCPUSeconds, x.WindowSeconds, x.MachineBusyPercent))
		}
		keys := make([]string, 0, len(x.Errors))
		for k := range x.Errors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			notes = append(notes, fmt.Sprintf("%d × %s", x.Errors[k], k))
		}
		if len(x.Processes) > 2 {
			var per []string
			for _, p := range x.Processes {
				per = append(per, fmt.Sprintf("%s %s µs/token (%.2f s)", p.Process, opt(p.CPUPerToken), p.CPUSeconds))
			}
			notes = append(notes, "CPU by process: "+strings.Join(per, ", "))
		}
		if len(notes) > 0 {
			fmt.Fprintf(w, "- %s %s/%s c=%d: %s\n", x.Server, x.Auth, x.Format, x.Concurrency, strings.Join(notes, "; "))
		}
	}
	e := r.Environment
	fmt.Fprintf(w, "Measured %s on %s (%d CPUs, GOMAXPROCS %d), Linux %s, %s, commit %s; load average at start %s.\n",
		e.Date, e.CPUModel, e.NumCPU, e.GOMAXPROCS, e.Kernel, e.GoVersion, e.Commit, e.LoadAverage)
	fmt.Fprintf(w, "Window: each run's timed part (tokens/s = successful tokens / window). Server CPU: utime+stime of the server processes (summed over the instances) from /proc/PID/stat over the window, %d ticks/s (%s). Load-generator CPU: getrusage(RUSAGE_SELF) over the window.\n",
		e.ClockTicks, e.ClockTicksSrc)
	if pg {
		fmt.Fprintf(w, "PostgreSQL CPU is system-wide: utime+stime over the window of every process on the machine whose comm is postgres (postmaster, background workers, the backends of every client, not only this run's; a backend that exits during the window loses its time).\n")
	}
	fmt.Fprintf(w, "Command: prose-bench %s\n", strings.Join(r.Args, " "))
}

// verdict is nil when every run completed cleanly: no errors, the sample
// token verified, and the run stopped at --duration or --requests.
func (r *Report) verdict() error {
	bad := 0
	for _, x := range r.Runs {
		if x.ErrorCount > 0 || x.SampleToken != "verified" || (x.StopReason != stopDuration && x.StopReason != stopRequests) {
			bad++
		}
	}
	if bad > 0 {
		return fmt.Errorf("prose-bench: %d of %d runs had errors or stopped early; see the report", bad, len(r.Runs))
	}
	return nil
}
