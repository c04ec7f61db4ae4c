package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/prosesec/prosesec/store"
)

// A request is one write submitted to the writer goroutine. fn runs inside
// the writer's open transaction; it returns nil, an outcome error (one
// wrapping store.ErrNotFound, ErrConflict, ErrReplay, ErrStale or ErrKeyInUse: the request is
// answered with it and the batch goes on), or any other error (the batch is
// rolled back and its requests are retried one by one).
type request struct {
	fn func(w *writer) error
	// savepoint wraps fn in a SAVEPOINT so that an outcome error returned
	// after fn has written something undoes fn's writes only. Requests whose
	// outcome errors come before their first write, or that are a single
	// statement, do without.
	savepoint bool
	done      chan error // buffered (1); receives exactly one result
	err       error      // the outcome, kept by the writer until commit
}

// writer owns the only write connection and its prepared statements. Only
// the writer goroutine (and Open/Close, before it starts and after it ends)
// touches it.
type writer struct {
	conn *sql.Conn
	// ctx is used for every statement: background, so that a caller's
	// cancellation never interrupts a batch shared with other callers (and
	// so that the driver starts no watcher goroutine per statement).
	ctx context.Context

	// Prepared on conn at Open.
	begin, commit, rollbackTx                  *sql.Stmt
	insertToken, insertTokenIfUE, useAssertion *sql.Stmt

	maxBatch int
	reqs     <-chan *request
	// ckpt, if set, is woken after every successful commit and asks,
	// through ckpt.catchUp, for the end of a checkpoint (checkpoint.go).
	ckpt *checkpointer

	// Counters for Stats, written by the writer goroutine only.
	batches, requests, retried atomic.Int64
}

// exec runs a statement on the write connection (inside the open
// transaction, when run from a request).
func (w *writer) exec(query string, args ...any) (sql.Result, error) {
	return w.conn.ExecContext(w.ctx, query, args...)
}

func (w *writer) queryRow(query string, args ...any) *sql.Row {
	return w.conn.QueryRowContext(w.ctx, query, args...)
}

// bump increments a counter row in the current transaction.
func (w *writer) bump(name string) error {
	res, err := w.exec(`UPDATE counters SET value = value + 1 WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("store/sqlite: bump %s: %w", name, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("store/sqlite: bump %s: counter row missing (%d rows, %v)", name, n, err)
	}
	return nil
}

func isOutcome(err error) bool {
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrReplay) || errors.Is(err, store.ErrStale) || errors.Is(err, store.ErrKeyInUse)
}

// run is the writer goroutine. It returns when reqs is closed and drained.
func (w *writer) run() {
	batch := make([]*request, 0, w.maxBatch)
	var catchUp <-chan struct{} // nil (never ready) without a checkpointer
	if w.ckpt != nil {
		catchUp = w.ckpt.catchUp
	}
	for {
		select {
		case r, ok := <-w.reqs:
			if !ok {
				return
			}
			batch = w.runBatch(append(batch[:0], r))
			clear(batch) // drop references for the collector
			if w.ckpt != nil && w.ckpt.restartPending {
				w.checkRestart()
			}
		case <-catchUp:
			w.ckpt.restartTries = 0
			w.finishCheckpoint()
		}
	}
}

// finishCheckpoint copies into the database file the WAL frames that the
// checkpointer's last pass left (those committed during it), between two
// batches, so that the next commit can start the WAL over; checkRestart
// then sees whether it did.
func (w *writer) finishCheckpoint() {
	c := w.ckpt
	var busy, logFrames, done int
	err := w.conn.QueryRowContext(w.ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logFrames, &done)
	c.catchUps.Add(1)
	if err != nil {
		c.fail(fmt.Errorf("store/sqlite: writer checkpoint: %w", err))
		c.restartPending = false
		return
	}
	c.restartSalt, c.restartPending = c.walSalt(), true
}

// checkRestart runs after a commit that followed a catch-up. The commit
// started the WAL over (new salts in its header) unless a reader still
// held a snapshot in it, or the catch-up could not copy every frame for
// the same reason: then the catch-up is repeated before the next batch
// (as SQLite's own automatic checkpoint repeats after every commit), up to
// maxRestartTries times, after which the next checkpointer pass asks
// again.
func (w *writer) checkRestart() {
	c := w.ckpt
	if salt := c.walSalt(); salt != c.restartSalt {
		c.restartPending = false
		c.startOvers.Add(1)
		return
	}
	if c.restartTries++; c.restartTries >= maxRestartTries {
		c.restartPending = false
		return
	}
	w.finishCheckpoint()
}

// absorb appends queued requests to batch without waiting, up to maxBatch.
func (w *writer) absorb(batch []*request) []*request {
	for len(batch) < w.maxBatch {
		select {
		case r, ok := <-w.reqs:
			if !ok {
				return batch // closed: run sees it next
			}
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// runBatch opens a transaction, executes batch and every request that is
// queued by the time the previous ones are done (up to maxBatch; it never
// waits for one), commits, and answers each request. It returns the batch,
// for reuse of its array.
func (w *writer) runBatch(batch []*request) []*request {
	if err := w.beginTx(); err != nil {
		for _, r := range batch {
			r.done <- err
		}
		return batch
	}
	var failed error
	for i := 0; failed == nil; i++ {
		if i == len(batch) {
			if batch = w.absorb(batch); i == len(batch) {
				break
			}
		}
		r := batch[i]
		if r.err = w.step(r); r.err != nil && !isOutcome(r.err) {
			failed = r.err
		}
	}
	w.batches.Add(1)
	w.requests.Add(int64(len(batch)))
	if failed == nil {
		if _, err := w.commit.ExecContext(w.ctx); err != nil {
			failed = fmt.Errorf("store/sqlite: commit: %w", err)
		}
	}
	if failed != nil {
		// Nothing of the batch is committed. Retry each request alone so
		// that only the culprit fails.
		w.rollback()
		w.retried.Add(1)
		if len(batch) == 1 {
			batch[0].done <- failed
			return batch
		}
		for _, r := range batch {
			r.done <- w.runAlone(r)
		}
		return batch
	}
	w.notifyCommitted()
	for _, r := range batch {
		r.done <- r.err
	}
	return batch
}

func (w *writer) notifyCommitted() {
	if w.ckpt != nil {
		w.ckpt.committed()
	}
}

// runAlone executes one request in its own transaction.
func (w *writer) runAlone(r *request) error {
	w.batches.Add(1)
	w.requests.Add(1)
	if err := w.beginTx(); err != nil {
		return err
	}
	err := w.step(r)
	if err != nil && !isOutcome(err) {
		w.rollback()
		return err
	}
	if _, cerr := w.commit.ExecContext(w.ctx); cerr != nil {
		w.rollback()
		return fmt.Errorf("store/sqlite: commit: %w", cerr)
	}
	w.notifyCommitted()
	return err
}

// step runs one request inside the open transaction.
func (w *writer) step(r *request) error {
	if !r.savepoint {
		return r.fn(w)
	}
	if _, err := w.exec("SAVEPOINT req"); err != nil {
		return fmt.Errorf("store/sqlite: savepoint: %w", err)
	}
	err := r.fn(w)
	switch {
	case err == nil:
	case isOutcome(err):
		if _, rerr := w.exec("ROLLBACK TO req"); rerr != nil {
			return fmt.Errorf("store/sqlite: rollback to savepoint: %w", rerr)
		}
	default:
		return err // the caller rolls the whole transaction back
	}
	if _, rerr := w.exec("RELEASE req"); rerr != nil {
		return fmt.Errorf("store/sqlite: release savepoint: %w", rerr)
	}
	return err
}

// beginTx starts a write transaction, waiting up to the busy timeout for
// another process's write lock.
func (w *writer) beginTx() error {
	_, err := w.begin.ExecContext(w.ctx)
	if err != nil {
		// Should a failed ROLLBACK have left a transaction open, end it so
		// that the next attempt starts clean.
		w.rollback()
		return fmt.Errorf("store/sqlite: begin: %w", err)
	}
	return nil
}

// rollback ends the open transaction, if SQLite has not already done so.
func (w *writer) rollback() {
	_, _ = w.rollbackTx.ExecContext(w.ctx)
}
