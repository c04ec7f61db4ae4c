//go:build linux

package postgres

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prosesec/prosesec/store"
)

// cpuTime is the CPU time (user + system) this process has used so far.
func cpuTime(b *testing.B) (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// serverCPU is the CPU time used so far by the PostgreSQL server processes
// on this machine (read from /proc; false when there are none to read): the
// live processes' own time plus, through the postmaster's children counters,
// that of backends that have exited.
func serverCPU() (time.Duration, bool) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, false
	}
	const tick = time.Second / 100 // USER_HZ
	var total time.Duration
	found := false
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		raw, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		st := string(raw)
		open, end := strings.IndexByte(st, '('), strings.LastIndexByte(st, ')')
		if open < 0 || end < open || st[open+1:end] != "postgres" {
			continue
		}
		f := strings.Fields(st[end+1:]) // f[0] is field 3 (state)
		if len(f) < 15 {
			continue
		}
		var sum int64
		for _, i := range []int{11, 12} { // utime, stime
			v, _ := strconv.ParseInt(f[i], 10, 64)
			sum += v
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid == 1 || !isPostgres(ppid) { // the postmaster
			for _, i := range []int{13, 14} { // cutime, cstime
				v, _ := strconv.ParseInt(f[i], 10, 64)
				sum += v
			}
		}
		total += time.Duration(sum) * tick
		found = true
	}
	return total, found
}

func isPostgres(pid int) bool {
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return err == nil && strings.TrimSpace(string(comm)) == "postgres"
}

// measure reports throughput, the process CPU time per operation (all
// goroutines: callers, writers, pgx, GC), the PostgreSQL server's CPU time
// per operation when it runs on this machine, and the mean batch size.
func measure(b *testing.B, s *Store, unit string, run func()) {
	b.ReportAllocs()
	b.ResetTimer()
	u0, s0 := cpuTime(b)
	pg0, pgOK := serverCPU()
	st0 := s.Stats()
	run()
	b.StopTimer()
	u1, s1 := cpuTime(b)
	pg1, _ := serverCPU()
	st := s.Stats()
	perOp := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 / float64(b.N) }
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
	b.ReportMetric(perOp(u1-u0+s1-s0), "cpu-µs/op")
	if pgOK {
		b.ReportMetric(perOp(pg1-pg0), "pg-cpu-µs/op")
	}
	if tx := st.Transactions - st0.Transactions; tx > 0 {
		b.ReportMetric(float64(st.Writes-st0.Writes)/float64(tx), "writes/tx")
	}
}

// scatter spreads sequence numbers over the key space, like random JTIs.
func scatter(i int64) string { return fmt.Sprintf("%016x", uint64(i)*0x9E3779B97F4A7C15) }

// benchGoroutines is the number of concurrent callers, like HTTP handlers.
const benchGoroutines = 32

func setParallelism(b *testing.B) {
	b.SetParallelism(max(1, benchGoroutines/runtime.GOMAXPROCS(0)))
}

func benchRecordToken(b *testing.B, opts ...Option) {
	s := openTest(b, opts...)
	defer s.Close()
	ctx := context.Background()
	var n atomic.Int64
	issued := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	setParallelism(b)
	measure(b, s, "records/s", func() {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := n.Add(1)
				t := &store.IssuedToken{
					JTI:       scatter(i),
					Subject:   fmt.Sprintf("ue-%04d", i%1000),
					Scope:     "prose:relay:0x00abcdef:use",
					Format:    "jwt",
					KeyID:     "k1",
					IssuedAt:  issued,
					ExpiresAt: issued.Add(time.Hour),
				}
				if err := s.RecordToken(ctx, t); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkRecordToken: 32 concurrent callers, with the default group
// commit and variants.
func BenchmarkRecordToken(b *testing.B) {
	b.Run("default", func(b *testing.B) { benchRecordToken(b) })
	b.Run("writers=1", func(b *testing.B) { benchRecordToken(b, WithWriters(1)) })
	b.Run("writers=4", func(b *testing.B) { benchRecordToken(b, WithWriters(4), WithMaxConns(6)) })
	// No group commit: one transaction per record, 16 at a time (the
	// server still shares WAL flushes between concurrent commits).
	b.Run("nobatch", func(b *testing.B) { benchRecordToken(b, WithMaxBatch(1), WithWriters(16), WithMaxConns(18)) })
}

// BenchmarkRecordTokenIfUE is BenchmarkRecordToken/default with the UE
// guard (1000 UEs, whose rows each record locks until its commit).
func BenchmarkRecordTokenIfUE(b *testing.B) {
	s := openTest(b)
	defer s.Close()
	ctx := context.Background()
	updated := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 1000 {
		if err := s.CreateUE(ctx, &store.UE{ID: fmt.Sprintf("ue-%04d", i), PublicKey: []byte("{}"), UpdatedAt: updated}); err != nil {
			b.Fatal(err)
		}
	}
	var n atomic.Int64
	issued := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	setParallelism(b)
	measure(b, s, "records/s", func() {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := n.Add(1)
				t := &store.IssuedToken{
					JTI:       scatter(i),
					Subject:   fmt.Sprintf("ue-%04d", i%1000),
					Scope:     "prose:relay:0x00abcdef:use",
					Format:    "jwt",
					KeyID:     "k1",
					IssuedAt:  issued,
					ExpiresAt: issued.Add(time.Hour),
				}
				if err := s.RecordTokenIfUE(ctx, t, updated); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkRecordTokenSerial is one caller at a time: no batching possible,
// one commit (and WAL flush) per record.
func BenchmarkRecordTokenSerial(b *testing.B) {
	s := openTest(b)
	defer s.Close()
	ctx := context.Background()
	measure(b, s, "records/s", func() {
		for i := range b.N {
			if err := s.RecordToken(ctx, tok(scatter(int64(i)), "ue")); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkUseAssertion(b *testing.B) {
	s := openTest(b)
	defer s.Close()
	ctx := context.Background()
	var n atomic.Int64
	now := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	setParallelism(b)
	measure(b, s, "uses/s", func() {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := n.Add(1)
				if err := s.UseAssertion(ctx, fmt.Sprintf("ue-%04d", i%1000), scatter(i), now.Add(5*time.Minute), now); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkGetToken(b *testing.B) {
	s := openTest(b)
	defer s.Close()
	ctx := context.Background()
	const n = 10000
	var wg sync.WaitGroup
	for g := range benchGoroutines {
		wg.Go(func() {
			for i := g; i < n; i += benchGoroutines {
				if err := s.RecordToken(ctx, tok(scatter(int64(i)), "ue")); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	var c atomic.Int64
	setParallelism(b)
	measure(b, s, "reads/s", func() {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.GetToken(ctx, scatter(c.Add(1)%n)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
