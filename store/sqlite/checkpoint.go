package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// Checkpoints copy the pages the WAL holds back into the database file, so
// that the WAL can start over. By default SQLite runs one inside the commit
// that takes the WAL over 1,000 pages: that commit then writes and syncs
// ~1,000 pages of the database file while every write request queued
// behind it waits (a stall of several milliseconds every few dozen commits
// under load, the largest part of the token endpoint's p99 latency).
//
// The store moves that work off the write path. A checkpointer goroutine
// runs PASSIVE checkpoints on a connection of its own after commits, at
// most once per checkpointInterval (and not at all while nothing is
// written); a PASSIVE checkpoint takes no lock a writer or reader waits
// for, so the writer goes on appending meanwhile. A WAL can only start
// over once every frame in it has been copied, which under continuous
// writes a concurrent checkpoint never achieves: when a pass has found
// defaultCatchUpFrames or more frames in the WAL, the checkpointer asks the
// writer goroutine to finish the job between two batches, with a PASSIVE
// checkpoint on the write connection that copies only what was committed
// during the pass. The next commit then starts the WAL over, unless a
// reader still holds a snapshot in the WAL (SQLite's rule); the writer sees
// that in the WAL header's salts and repeats the catch-up before the next
// batch, up to maxRestartTries times, as SQLite's automatic checkpoint
// would repeat after every commit. The write connection keeps SQLite's
// automatic checkpoint at writerCheckpointPages as a backstop, should the
// checkpointer fall far behind.
const (
	defaultCheckpointInterval = 100 * time.Millisecond
	// The writer's catch-up costs about the same few milliseconds however
	// few frames it copies; at 4,000 frames (16 MiB of WAL) it comes a
	// third as often as at SQLite's 1,000, for +4-12 % tokens/s and 1-3 ms
	// less p99 latency (docs/performance.md).
	defaultCatchUpFrames  = 4000
	maxRestartTries       = 8     // catch-ups in a row while readers hold the WAL
	writerCheckpointPages = 16384 // 64 MiB of WAL with 4 KiB pages
)

// checkpointer runs PASSIVE checkpoints on its own connection.
type checkpointer struct {
	db            *sql.DB // one read-write connection
	interval      time.Duration
	catchUpFrames int           // frames in the WAL from which the writer finishes a pass
	wake          chan struct{} // buffered (1): something was committed
	catchUp       chan struct{} // buffered (1): the writer should finish a checkpoint
	stop          chan struct{} // closed by Close
	done          chan struct{} // closed when run has returned

	runs, failures atomic.Int64 // passes (failures include the writer's)
	catchUps       atomic.Int64 // checkpoints finished by the writer
	startOvers     atomic.Int64 // WAL start-overs seen by the writer after them
	lastErr        atomic.Pointer[error]

	// The writer goroutine's own state (checkRestart).
	walPath        string
	walFile        *os.File // the -wal file, read-only, opened on first use
	restartPending bool
	restartSalt    [8]byte
	restartTries   int
}

// newCheckpointer starts a checkpointer on db; close stops it.
func newCheckpointer(db *sql.DB, walPath string, interval time.Duration, catchUpFrames int) *checkpointer {
	c := &checkpointer{
		db:            db,
		walPath:       walPath,
		interval:      interval,
		catchUpFrames: catchUpFrames,
		wake:          make(chan struct{}, 1),
		catchUp:       make(chan struct{}, 1),
		stop:          make(chan struct{}),
		done:          make(chan struct{}),
	}
	go c.run()
	return c
}

// committed tells the checkpointer that the WAL has grown. It never blocks.
func (c *checkpointer) committed() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// run checkpoints after each wake-up, then waits out the interval, until
// stop is closed.
func (c *checkpointer) run() {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			return
		case <-c.wake:
		}
		c.checkpoint()
		select {
		case <-c.stop:
			return
		case <-time.After(c.interval):
		}
	}
}

// checkpoint runs one PASSIVE checkpoint. A failure is counted and kept
// for Stats; the next commit tries again (and the writer's own automatic
// checkpoint stays as a backstop).
func (c *checkpointer) checkpoint() {
	var busy, logFrames, done int
	err := c.db.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logFrames, &done)
	c.runs.Add(1)
	if err != nil {
		c.fail(fmt.Errorf("store/sqlite: checkpoint: %w", err))
		return
	}
	if logFrames >= c.catchUpFrames {
		select {
		case c.catchUp <- struct{}{}:
		default:
		}
	}
}

// fail counts a failed checkpoint and keeps its error for Stats.
func (c *checkpointer) fail(err error) {
	c.failures.Add(1)
	c.lastErr.Store(&err)
}

// walSalt returns the salts of the WAL header (bytes 16-23; SQLite file
// format, section 4.1), which change whenever the WAL starts over, or
// zeros if the file cannot be read. Writer goroutine only.
func (c *checkpointer) walSalt() [8]byte {
	var salt [8]byte
	if c.walFile == nil {
		f, err := os.Open(c.walPath)
		if err != nil {
			return salt
		}
		c.walFile = f
	}
	c.walFile.ReadAt(salt[:], 16) // a short read leaves zeros
	return salt
}

// close stops the goroutine and closes the connection and the WAL file.
// The writer goroutine must have returned.
func (c *checkpointer) close() error {
	close(c.stop)
	<-c.done
	if c.walFile != nil {
		c.walFile.Close()
	}
	return c.db.Close()
}
