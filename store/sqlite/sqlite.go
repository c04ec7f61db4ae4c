package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"

	"github.com/prosesec/prosesec/store"
)

// Synchronous selects PRAGMA synchronous for the write connection; see the
// package documentation for what each level survives.
type Synchronous int

const (
	// SyncFull fsyncs the WAL at every commit: a returned write survives
	// power loss. The default.
	SyncFull Synchronous = iota
	// SyncNormal does not fsync at commit: a returned write survives the
	// process being killed, but not an OS crash or power loss.
	SyncNormal
)

func (s Synchronous) String() string {
	switch s {
	case SyncFull:
		return "FULL"
	case SyncNormal:
		return "NORMAL"
	}
	return "Synchronous(" + strconv.Itoa(int(s)) + ")"
}

type config struct {
	sync               Synchronous
	busyTimeout        time.Duration
	maxBatch           int
	readConns          int
	checkpointInterval time.Duration
	catchUpFrames      int // tests only
}

// Option configures Open.
type Option func(*config)

// WithSynchronous chooses the durability level (default SyncFull).
func WithSynchronous(s Synchronous) Option { return func(c *config) { c.sync = s } }

// WithBusyTimeout sets how long a connection waits for a lock held by
// another process (such as an admin command on the same file) before
// failing with SQLITE_BUSY. Default 5s.
func WithBusyTimeout(d time.Duration) Option { return func(c *config) { c.busyTimeout = d } }

// WithMaxBatch bounds how many queued write requests share one transaction.
// Default 256.
func WithMaxBatch(n int) Option { return func(c *config) { c.maxBatch = n } }

// WithReadConns bounds the read connection pool. Default max(4, 2×GOMAXPROCS).
func WithReadConns(n int) Option { return func(c *config) { c.readConns = n } }

// WithCheckpointInterval sets the least time between two WAL checkpoints of
// the background checkpointer (default 100ms); 0 turns it off and leaves
// checkpoints to SQLite's automatic one in the committing writer. See
// checkpoint.go.
func WithCheckpointInterval(d time.Duration) Option {
	return func(c *config) { c.checkpointInterval = d }
}

func (c *config) validate() error {
	switch {
	case c.sync != SyncFull && c.sync != SyncNormal:
		return fmt.Errorf("store/sqlite: unknown synchronous level %d", int(c.sync))
	case c.busyTimeout < 0:
		return fmt.Errorf("store/sqlite: busy timeout %v is negative", c.busyTimeout)
	case c.maxBatch < 1:
		return fmt.Errorf("store/sqlite: max batch %d, want at least 1", c.maxBatch)
	case c.readConns < 1:
		return fmt.Errorf("store/sqlite: read connections %d, want at least 1", c.readConns)
	case c.checkpointInterval < 0:
		return fmt.Errorf("store/sqlite: checkpoint interval %v is negative", c.checkpointInterval)
	}
	return nil
}

// Store is the SQLite backend. It is safe for concurrent use.
type Store struct {
	path string
	read *sql.DB // read-only pool
	// Hot reads, prepared once on the read pool (database/sql prepares them
	// lazily on each pooled connection).
	getToken, getUE, getCounter *sql.Stmt
	wdb                         *sql.DB // holds the one write connection
	w                           *writer
	reqs                        chan *request
	doneCh                      chan struct{} // closed when the writer goroutine has returned
	ckpt                        *checkpointer // nil with WithCheckpointInterval(0)

	mu     sync.RWMutex // guards closed and sends on reqs
	closed bool
}

var _ store.Store = (*Store)(nil)

var errClosed = errors.New("store/sqlite: store is closed")

// Open opens (creating if needed) the database at path, applies pending
// schema migrations, and starts the writer goroutine. The caller must Close
// the store.
func Open(ctx context.Context, path string, opts ...Option) (_ *Store, err error) {
	cfg := config{
		sync:        SyncFull,
		busyTimeout: 5 * time.Second,
		maxBatch:    256,
		readConns:   max(4, 2*runtime.GOMAXPROCS(0)),

		checkpointInterval: defaultCheckpointInterval,
		catchUpFrames:      defaultCatchUpFrames,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("store/sqlite: path %q: want a file name", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store/sqlite: %w", err)
	}
	if err := createFile(abs); err != nil {
		return nil, err
	}

	s := &Store{path: abs}
	defer func() {
		if err != nil {
			s.closeConns()
		}
	}()

	busy := strconv.FormatInt(cfg.busyTimeout.Milliseconds(), 10)
	wq := url.Values{}
	wq.Add("_pragma", "busy_timeout("+busy+")")
	wq.Add("_pragma", "foreign_keys(1)")
	wq.Add("_pragma", "journal_mode(WAL)")
	wq.Add("_pragma", "synchronous("+cfg.sync.String()+")")
	wq.Add("_pragma", "journal_size_limit(67108864)")
	if cfg.checkpointInterval > 0 {
		// The checkpointer does the work; this is the backstop.
		wq.Add("_pragma", "wal_autocheckpoint("+strconv.Itoa(writerCheckpointPages)+")")
	}
	if s.wdb, err = openDB(abs, wq); err != nil {
		return nil, err
	}
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetMaxIdleConns(1)
	s.wdb.SetConnMaxLifetime(0)
	s.wdb.SetConnMaxIdleTime(0)
	conn, err := s.wdb.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("store/sqlite: open %s: %w", abs, err)
	}
	s.w = &writer{conn: conn, ctx: context.Background(), maxBatch: cfg.maxBatch}
	var mode string
	if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return nil, fmt.Errorf("store/sqlite: read journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return nil, fmt.Errorf("store/sqlite: journal mode is %q, want wal", mode)
	}
	if err := migrate(ctx, conn); err != nil {
		return nil, err
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Chmod(abs+suffix, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("store/sqlite: %w", err)
		}
	}
	for _, p := range []struct {
		st    **sql.Stmt
		query string
	}{
		{&s.w.begin, "BEGIN IMMEDIATE"},
		{&s.w.commit, "COMMIT"},
		{&s.w.rollbackTx, "ROLLBACK"},
		{&s.w.insertToken, sqlInsertToken},
		{&s.w.insertTokenIfUE, sqlInsertTokenIfUE},
		{&s.w.useAssertion, sqlUseAssertion},
	} {
		if *p.st, err = conn.PrepareContext(ctx, p.query); err != nil {
			return nil, fmt.Errorf("store/sqlite: prepare: %w", err)
		}
	}

	rq := url.Values{}
	rq.Set("mode", "ro")
	rq.Add("_pragma", "busy_timeout("+busy+")")
	rq.Add("_pragma", "query_only(1)")
	if s.read, err = openDB(abs, rq); err != nil {
		return nil, err
	}
	s.read.SetMaxOpenConns(cfg.readConns)
	s.read.SetMaxIdleConns(cfg.readConns)
	s.read.SetConnMaxLifetime(0)
	s.read.SetConnMaxIdleTime(0)
	if err := s.read.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("store/sqlite: open read pool: %w", err)
	}
	for _, p := range []struct {
		st    **sql.Stmt
		query string
	}{
		{&s.getToken, sqlGetToken},
		{&s.getUE, sqlGetUE},
		{&s.getCounter, sqlGetCounter},
	} {
		if *p.st, err = s.read.PrepareContext(ctx, p.query); err != nil {
			return nil, fmt.Errorf("store/sqlite: prepare: %w", err)
		}
	}

	if cfg.checkpointInterval > 0 {
		cq := url.Values{}
		cq.Add("_pragma", "busy_timeout("+busy+")")
		cq.Add("_pragma", "synchronous("+cfg.sync.String()+")")
		cdb, err := openDB(abs, cq)
		if err != nil {
			return nil, err
		}
		cdb.SetMaxOpenConns(1)
		cdb.SetMaxIdleConns(1)
		cdb.SetConnMaxLifetime(0)
		cdb.SetConnMaxIdleTime(0)
		if err := cdb.PingContext(ctx); err != nil {
			cdb.Close()
			return nil, fmt.Errorf("store/sqlite: open checkpoint connection: %w", err)
		}
		s.ckpt = newCheckpointer(cdb, abs+"-wal", cfg.checkpointInterval, cfg.catchUpFrames)
		s.w.ckpt = s.ckpt
	}

	s.reqs = make(chan *request, 4*cfg.maxBatch)
	s.w.reqs = s.reqs
	s.doneCh = make(chan struct{})
	go func() {
		defer close(s.doneCh)
		s.w.run()
	}()
	return s, nil
}

// createFile creates path with mode 0600 if it does not exist, and makes
// the new directory entry durable.
func createFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store/sqlite: create database: %w", err)
	}
	err = f.Chmod(0o600) // umask-independent
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("store/sqlite: create database: %w", err)
	}
	syncDir(filepath.Dir(path))
	return nil
}

// openDB opens a database/sql pool on path (absolute) with the given URI
// query parameters.
func openDB(path string, q url.Values) (*sql.DB, error) {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: q.Encode()}
	if runtime.GOOS == "windows" {
		u.Path = "/" + u.Path
	}
	c, err := sqlite.NewConnector(u.String())
	if err != nil {
		return nil, fmt.Errorf("store/sqlite: open %s: %w", path, err)
	}
	return sql.OpenDB(c), nil
}

// submit queues a write and waits for its result or for ctx to end.
func (s *Store) submit(ctx context.Context, savepoint bool, fn func(w *writer) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store/sqlite: %w", err)
	}
	r := &request{fn: fn, savepoint: savepoint, done: make(chan error, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return errClosed
	}
	select {
	case s.reqs <- r:
	case <-ctx.Done():
		s.mu.RUnlock()
		return fmt.Errorf("store/sqlite: %w", ctx.Err())
	}
	s.mu.RUnlock()
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		// The request may still commit; see the package documentation.
		return fmt.Errorf("store/sqlite: %w", ctx.Err())
	}
}

// hotRead returns the context for a prepared primary-key read on the read
// pool (GetUE, GetToken, counters): ctx without its cancellation, or ctx's
// error if it has already ended. Given a cancellable context, the driver
// starts a goroutine per statement to interrupt it on cancellation, which
// costs more CPU than such a read itself; these reads never wait on a lock
// (WAL readers do not block) and finish in microseconds, so a caller that
// gives up loses nothing by letting them complete.
func hotRead(ctx context.Context) (context.Context, error) {
	if ctx.Done() == nil {
		return ctx, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store/sqlite: %w", err)
	}
	return context.WithoutCancel(ctx), nil
}

// Stats are cumulative counters of the group committer and the
// checkpointer, for metrics.
type Stats struct {
	Transactions int64 // write transactions committed or attempted (batches)
	Writes       int64 // write requests executed; Writes/Transactions is the mean batch size
	Retried      int64 // batches rolled back and retried request by request

	Checkpoints        int64 // background WAL checkpoint passes run
	CheckpointCatchUps int64 // checkpoints finished by the writer so that the WAL can start over
	WALStartOvers      int64 // start-overs of the WAL that followed them
	CheckpointFailures int64 // failed checkpoints (passes or catch-ups)
	LastCheckpointErr  error // the last failure, if any
	WALBytes           int64 // size of the -wal file now (it keeps its largest size, up to 64 MiB)
}

// Stats returns the group committer's and the checkpointer's counters.
func (s *Store) Stats() Stats {
	st := Stats{
		Transactions: s.w.batches.Load(),
		Writes:       s.w.requests.Load(),
		Retried:      s.w.retried.Load(),
	}
	if fi, err := os.Stat(s.path + "-wal"); err == nil {
		st.WALBytes = fi.Size()
	}
	if c := s.ckpt; c != nil {
		st.Checkpoints, st.CheckpointCatchUps, st.CheckpointFailures = c.runs.Load(), c.catchUps.Load(), c.failures.Load()
		st.WALStartOvers = c.startOvers.Load()
		if p := c.lastErr.Load(); p != nil {
			st.LastCheckpointErr = *p
		}
	}
	return st
}

// Ping reports whether the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return errClosed
	}
	var one int
	if err := s.read.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("store/sqlite: ping: %w", err)
	}
	return nil
}

// Close stops accepting writes, waits for the queued ones to finish, and
// closes the database. Calling it again returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.reqs)
	s.mu.Unlock()
	<-s.doneCh
	return s.closeConns()
}

// closeConns releases everything Open acquired.
func (s *Store) closeConns() error {
	var errs []error
	if s.ckpt != nil {
		errs = append(errs, s.ckpt.close())
	}
	for _, st := range []*sql.Stmt{s.getToken, s.getUE, s.getCounter} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if s.w != nil {
		for _, st := range []*sql.Stmt{s.w.begin, s.w.commit, s.w.rollbackTx, s.w.insertToken, s.w.insertTokenIfUE, s.w.useAssertion} {
			if st != nil {
				errs = append(errs, st.Close())
			}
		}
		if s.w.conn != nil {
			errs = append(errs, s.w.conn.Close())
		}
	}
	if s.read != nil {
		errs = append(errs, s.read.Close())
	}
	if s.wdb != nil {
		errs = append(errs, s.wdb.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store/sqlite: close: %w", err)
	}
	return nil
}

// syncDir makes the entries of dir durable, as far as the file system can:
// best effort, since not every file system syncs directories.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
