//go:build unix

package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prosesec/prosesec/store"
)

// cpuTime is the CPU time (user, system) the process has used so far.
func cpuTime(b *testing.B) (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// measure reports throughput and the process CPU time per operation (all
// goroutines: callers, writer, GC) of the timed loop in run.
func measure(b *testing.B, s *Store, unit string, run func()) {
	b.ReportAllocs()
	b.ResetTimer()
	u0, s0 := cpuTime(b)
	st0 := s.Stats()
	run()
	b.StopTimer()
	u1, s1 := cpuTime(b)
	st := s.Stats()
	perOp := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 / float64(b.N) }
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
	b.ReportMetric(perOp(u1-u0+s1-s0), "cpu-µs/op")
	b.ReportMetric(perOp(s1-s0), "sys-µs/op")
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
	s := openTest(b, filepath.Join(b.TempDir(), "as.db"), opts...)
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

func BenchmarkRecordTokenFull(b *testing.B) { benchRecordToken(b, WithSynchronous(SyncFull)) }

func BenchmarkRecordTokenNormal(b *testing.B) { benchRecordToken(b, WithSynchronous(SyncNormal)) }

// BenchmarkRecordTokenSerial is one caller at a time: no batching possible,
// one commit (and, with FULL, one fsync) per record.
func BenchmarkRecordTokenSerial(b *testing.B) {
	s := openTest(b, filepath.Join(b.TempDir(), "as.db"))
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
	s := openTest(b, filepath.Join(b.TempDir(), "as.db"))
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
	s := openTest(b, filepath.Join(b.TempDir(), "as.db"))
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

// BenchmarkPurgeTokens purges b.N expired records from a table that also
// holds b.N records still valid, interleaved with them: purge-µs/record ×
// tokenPurgeChunk is how long one chunk holds the writer.
func BenchmarkPurgeTokens(b *testing.B) {
	s := openTest(b, filepath.Join(b.TempDir(), "as.db"))
	defer s.Close()
	ctx := context.Background()
	issued := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	var wg sync.WaitGroup
	for g := range benchGoroutines {
		wg.Go(func() {
			for i := g; i < 2*b.N; i += benchGoroutines {
				t := tok(scatter(int64(i)), fmt.Sprintf("ue-%04d", i%1000))
				t.IssuedAt = issued.Add(time.Duration(i) * time.Millisecond)
				t.ExpiresAt = t.IssuedAt.Add(time.Hour)
				if i%2 == 1 {
					t.ExpiresAt = t.IssuedAt.Add(30 * 24 * time.Hour)
				}
				if err := s.RecordToken(ctx, t); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	cut := issued.Add(time.Duration(2*b.N)*time.Millisecond + time.Hour)
	measure(b, s, "records/s", func() {
		n, err := s.PurgeTokens(ctx, cut, b.N)
		if err != nil || n != b.N {
			b.Fatalf("PurgeTokens = %d, %v; want %d", n, err, b.N)
		}
	})
}
