package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestBackgroundCheckpoint: with the checkpointer, committed pages reach
// the database file soon after the commit, while the writer's own
// automatic checkpoint (at 1,000 pages by default) would not have run for
// so few; without it (WithCheckpointInterval(0), the control) they stay in
// the WAL.
func TestBackgroundCheckpoint(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		interval time.Duration
		want     bool // the database file grows
	}{
		{10 * time.Millisecond, true},
		{0, false},
	} {
		t.Run(fmt.Sprint(tc.interval), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "as.db")
			s := openTest(t, path, WithCheckpointInterval(tc.interval))
			defer s.Close()
			var autockpt int
			if err := s.w.conn.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&autockpt); err != nil {
				t.Fatal(err)
			}
			if wantPages := map[bool]int{true: writerCheckpointPages, false: 1000}[tc.interval > 0]; autockpt != wantPages {
				t.Errorf("writer's wal_autocheckpoint = %d, want %d", autockpt, wantPages)
			}
			// Settle what Open wrote, then measure.
			time.Sleep(50 * time.Millisecond)
			before := fileSize(t, path)
			start := time.Now()
			// 100 commits of a few pages each stay under the 1,000 pages
			// at which the writer's own automatic checkpoint would run.
			for i := range 100 {
				if err := s.RecordToken(ctx, tok(fmt.Sprintf("ckpt-%03d", i), fmt.Sprintf("ue-%d", i%7))); err != nil {
					t.Fatal(err)
				}
			}
			deadline := time.Now().Add(5 * time.Second)
			for fileSize(t, path) == before && tc.want && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if !tc.want {
				time.Sleep(100 * time.Millisecond) // what the checkpointer would take
			}
			if grew := fileSize(t, path) > before; grew != tc.want {
				t.Errorf("database file grew: %v, want %v (%d -> %d bytes)", grew, tc.want, before, fileSize(t, path))
			}
			st := s.Stats()
			if tc.want && st.Checkpoints == 0 || !tc.want && st.Checkpoints != 0 {
				t.Errorf("Stats.Checkpoints = %d", st.Checkpoints)
			}
			if st.CheckpointFailures != 0 || st.LastCheckpointErr != nil {
				t.Errorf("checkpoint failures: %d, %v", st.CheckpointFailures, st.LastCheckpointErr)
			}
			// The rate limit holds: 100 commits, at most one checkpoint per
			// interval (plus one).
			if tc.want {
				if elapsed := time.Since(start); st.Checkpoints > int64(elapsed/tc.interval)+2 {
					t.Errorf("%d checkpoints in %v at one per %v", st.Checkpoints, elapsed, tc.interval)
				}
			}
		})
	}
}

// TestCheckpointFailureIsContained: a checkpointer that cannot run
// (its connection gone) is counted in Stats; writes go on and Close
// succeeds.
func TestCheckpointFailureIsContained(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "as.db"), WithCheckpointInterval(time.Millisecond))
	s.ckpt.db.Close()
	for i := range 20 {
		if err := s.RecordToken(ctx, tok(fmt.Sprintf("f-%d", i), "ue")); err != nil {
			t.Fatalf("RecordToken with a failing checkpointer: %v", err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	st := s.Stats()
	for deadline := time.Now().Add(5 * time.Second); st.CheckpointFailures == 0 && time.Now().Before(deadline); st = s.Stats() {
		time.Sleep(time.Millisecond)
	}
	if st.CheckpointFailures == 0 || st.LastCheckpointErr == nil {
		t.Fatalf("failures not counted: %+v", st)
	}
	if got, err := s.GetToken(ctx, "f-19"); err != nil || got.JTI != "f-19" {
		t.Fatalf("GetToken: %v, %v", got, err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-s.ckpt.done:
	default:
		t.Fatal("the checkpointer goroutine is still running after Close")
	}
}

// TestWALStaysBoundedUnderReads: under eight writers and four readers in a
// tight loop for 1.5 s, the WAL starts over again and again (the writer
// finishes the checkpoints), and its file, which keeps its largest size,
// stays below the 64 MiB that the writer's backstop and journal_size_limit
// allow. Without the writer's catch-up the WAL never started over and
// reached those 64 MiB, as a concurrent checkpoint never copies the last
// frames. (With SQLite's
// automatic checkpoint alone, WithCheckpointInterval(0), it peaks at 4–5
// MiB; with the default catch-up from 4,000 frames, at about 20 MiB under
// prose-bench.)
func TestWALStaysBoundedUnderReads(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for 1.5 s")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "as.db")
	// A lower catch-up threshold than the default, so that a second of
	// writes crosses it several times.
	const catchUp = 500
	s := openTest(t, path, func(c *config) { c.catchUpFrames = catchUp })
	defer s.Close()
	for i := range 50 {
		if err := s.RecordToken(ctx, tok(fmt.Sprintf("r-%02d", i), "ue-r")); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// loop runs op(0), op(1), … in a goroutine until stop is closed or op
	// fails.
	loop := func(op func(i int) error) {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := op(i); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var n atomic.Int64
	for w := range 8 {
		loop(func(i int) error {
			n.Add(1)
			return s.RecordToken(ctx, tok(fmt.Sprintf("w%d-%06d", w, i), fmt.Sprintf("ue-%d", i%97)))
		})
	}
	for range 4 {
		loop(func(i int) error {
			_, err := s.GetToken(ctx, fmt.Sprintf("r-%02d", i%50))
			return err
		})
	}
	var maxWAL int64
	// Each start-over of the WAL writes a new header with new salts
	// (bytes 16-23; SQLite's file format, section 4.1).
	salts := map[string]bool{}
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if fi, err := os.Stat(path + "-wal"); err == nil {
			maxWAL = max(maxWAL, fi.Size())
		}
		if f, err := os.Open(path + "-wal"); err == nil {
			var hdr [32]byte
			if _, err := f.ReadAt(hdr[:], 0); err == nil {
				salts[string(hdr[16:24])] = true
			}
			f.Close()
		}
	}
	close(stop)
	wg.Wait()
	st := s.Stats()
	t.Logf("%d records in %d transactions, %d checkpoint passes, %d finished by the writer, %d start-overs counted, %d WAL headers seen; largest WAL %d KiB", n.Load(), st.Transactions, st.Checkpoints, st.CheckpointCatchUps, st.WALStartOvers, len(salts), maxWAL>>10)
	if st.Checkpoints == 0 {
		t.Fatal("no checkpoint ran")
	}
	// Every catch-up is followed by a start-over, if need be after a few
	// repeats while readers hold the WAL; a run too slow to cross the
	// catch-up threshold (under the race detector, say) has none.
	if st.CheckpointCatchUps > 0 && st.WALStartOvers == 0 {
		t.Errorf("%d catch-ups and no start-over of the WAL", st.CheckpointCatchUps)
	}
	// (More headers than counted start-overs are fine: when writes pause,
	// a checkpointer pass alone can copy every frame and the next commit
	// start the WAL over, which only catch-ups count.)
	if st.CheckpointFailures != 0 {
		t.Errorf("%d checkpoints failed: %v", st.CheckpointFailures, st.LastCheckpointErr)
	}
	// Between two start-overs the WAL takes what is written in about one
	// checkpoint interval on top of the catch-up threshold (2-21 MiB
	// here, depending on the machine's speed); it must not get near the
	// writer's backstop.
	if limit := int64(writerCheckpointPages*4096) * 7 / 8; maxWAL > limit {
		t.Errorf("WAL reached %d bytes, want under %d", maxWAL, limit)
	}
}
