//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// child is a subprocess in its own process group, so that stopping it
// stops everything it started.
type child struct {
	cmd  *exec.Cmd
	pid  int
	done chan struct{} // closed when the process has been waited for
	err  error         // Wait's result, set before done is closed
}

// startChild starts path with args in a new process group. The child gets
// SIGKILL if prose-bench dies first (Linux parent-death signal).
func startChild(path string, args, env []string, stdout, stderr io.Writer) (*child, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("prose-bench: starting %s: %v", path, err)
	}
	c := &child{cmd: cmd, pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group, waits up to grace for the child
// to exit (a graceful shutdown writes profiles and closes the database),
// then kills the group. It is safe to call more than once.
func (c *child) stop(grace time.Duration) {
	if c == nil {
		return
	}
	if !c.exited() {
		_ = syscall.Kill(-c.pid, syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(grace):
		}
	}
	// Whatever the leader did, nothing of its group survives.
	_ = syscall.Kill(-c.pid, syscall.SIGKILL)
	<-c.done
}

// childEnv is the environment of a spawned server: ours without
// PROSE_AS_* variables, so that the command line alone configures it.
func childEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PROSE_AS_") {
			out = append(out, kv)
		}
	}
	return out
}

// procCPU returns the user+system CPU time of process pid (all its
// threads) from /proc/<pid>/stat, in clock ticks.
func procCPU(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("prose-bench: reading CPU time of process %d: %v", pid, err)
	}
	// Fields after "(comm)": state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("prose-bench: /proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("prose-bench: /proc/%d/stat: %d fields after comm, want at least 13", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("prose-bench: /proc/%d/stat: %v", pid, err)
	}
	return ut + st, nil
}

// clockTicks returns the kernel's USER_HZ (sysconf(_SC_CLK_TCK)), which
// /proc/<pid>/stat counts in. Go has no sysconf, so it is read from the
// auxiliary vector (AT_CLKTCK); if that fails, 100 is assumed and the
// source says so.
func clockTicks() (int64, string) {
	const atClkTck = 17
	b, err := os.ReadFile("/proc/self/auxv")
	if err == nil {
		w := int(unsafe.Sizeof(uintptr(0)))
		for i := 0; i+2*w <= len(b); i += 2 * w {
			var k, v uint64
			if w == 8 {
				k, v = binary.NativeEndian.Uint64(b[i:]), binary.NativeEndian.Uint64(b[i+w:])
			} else {
				k, v = uint64(binary.NativeEndian.Uint32(b[i:])), uint64(binary.NativeEndian.Uint32(b[i+w:]))
			}
			if k == atClkTck && v > 0 {
				return int64(v), "AT_CLKTCK from /proc/self/auxv"
			}
			if k == 0 {
				break
			}
		}
	}
	return 100, "assumed 100 (AT_CLKTCK not readable)"
}

// machineCPU returns the busy and total time of all CPUs so far, in clock
// ticks, from the first line of /proc/stat (busy: everything but idle and
// iowait).
func machineCPU() (busy, total int64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, fmt.Errorf("prose-bench: %v", err)
	}
	line, _, _ := bytes.Cut(b, []byte{'\n'})
	f := strings.Fields(string(line))
	if len(f) < 8 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("prose-bench: /proc/stat: unexpected first line %q", line)
	}
	for i, v := range f[1:min(len(f), 9)] { // user nice system idle iowait irq softirq steal
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("prose-bench: /proc/stat: %v", err)
		}
		total += n
		if i != 3 && i != 4 {
			busy += n
		}
	}
	return busy, total, nil
}

// selfCPU returns the CPU time (user + system) of this process so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Environment describes where a report was measured.
type Environment struct {
	Date          string `json:"date"`
	GoVersion     string `json:"go_version"`
	GOOS          string `json:"goos"`
	GOARCH        string `json:"goarch"`
	GOMAXPROCS    int    `json:"gomaxprocs"`
	NumCPU        int    `json:"num_cpu"`
	CPUModel      string `json:"cpu_model"`
	Kernel        string `json:"kernel"`
	Commit        string `json:"commit"`
	ClockTicks    int64  `json:"clock_ticks_per_second"`
	ClockTicksSrc string `json:"clock_ticks_source"`
	LoadAverage   string `json:"load_average_at_start"`
	ServerBinary  string `json:"server_binary,omitempty"`
	// PostgresSchema is the schema created for a --db run (dropped after).
	PostgresSchema string `json:"postgres_schema,omitempty"`
}

func environment(ctx context.Context, now time.Time) Environment {
	ticks, src := clockTicks()
	e := Environment{
		Date:          now.UTC().Format(time.RFC3339),
		GoVersion:     runtime.Version(),
		GOOS:          runtime.GOOS,
		GOARCH:        runtime.GOARCH,
		GOMAXPROCS:    runtime.GOMAXPROCS(0),
		NumCPU:        runtime.NumCPU(),
		CPUModel:      cpuModel(),
		Kernel:        readTrim("/proc/sys/kernel/osrelease"),
		Commit:        gitCommit(ctx),
		ClockTicks:    ticks,
		ClockTicksSrc: src,
	}
	if la := strings.Fields(readTrim("/proc/loadavg")); len(la) >= 3 {
		e.LoadAverage = strings.Join(la[:3], " ")
	}
	return e
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// gitCommit describes the checkout in the working directory, if any.
func gitCommit(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty", "--abbrev=12").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// serverProc is one server process whose CPU time a run reports.
type serverProc struct {
	name string
	pid  int
}

// ProcessCPU is the CPU time (utime+stime) of one process, or of a group
// of processes, over a run's timed part.
type ProcessCPU struct {
	Process     string   `json:"process"`
	PID         int      `json:"pid,omitempty"`
	Count       int      `json:"processes_at_end,omitempty"` // groups: processes seen at the end
	CPUSeconds  float64  `json:"cpu_seconds"`
	CPUPerToken *float64 `json:"cpu_us_per_token,omitempty"`
}

// postgresLabel names the system-wide PostgreSQL figure.
const postgresLabel = "postgres (system-wide: every process named postgres)"

// serversCPU reads the CPU time of every server process, in clock ticks.
func serversCPU(servers []serverProc) ([]int64, error) {
	out := make([]int64, len(servers))
	for i, sv := range servers {
		v, err := procCPU(sv.pid)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// postgresCPU returns utime+stime, in clock ticks, of every process on the
// machine whose comm (/proc/PID/stat) is "postgres": the postmaster, the
// backends of every client (not only this run's) and the background
// workers. Processes that vanish while it scans are skipped.
func postgresCPU() (map[int]int64, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("prose-bench: %v", err)
	}
	out := map[int]int64{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i, j := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
		if i < 0 || j < i || string(b[i+1:j]) != "postgres" {
			continue
		}
		v, err := procCPU(pid)
		if err != nil {
			continue
		}
		out[pid] = v
	}
	return out, nil
}

// cpuDelta is the CPU time the processes of after used since before:
// processes started in between count from zero; processes that ended in
// between are lost (their time is not in /proc any more).
func cpuDelta(before, after map[int]int64) int64 {
	var d int64
	for pid, v := range after {
		if b, ok := before[pid]; ok && b <= v {
			d += v - b
		} else if !ok {
			d += v
		}
	}
	return d
}
