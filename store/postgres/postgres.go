package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/prosesec/prosesec/store"
)

type config struct {
	maxConns int32 // 0: the DSN's pool_max_conns or pgxpool's default
	writers  int
	maxBatch int
	schema   string
}

// Option configures Open.
type Option func(*config)

// WithMaxConns sets the connection pool size, overriding the DSN's
// pool_max_conns (whose default is max(4, number of CPUs)). The group
// committers hold up to WithWriters of these connections at a time; the rest
// serve reads and the other writes.
func WithMaxConns(n int) Option {
	return func(c *config) { c.maxConns = int32(min(max(n, -1), 1<<30)) }
}

// WithWriters sets how many group-commit transactions may be in flight at
// once (default 2): while one batch waits for its commit to be flushed, the
// next one is already being written.
func WithWriters(n int) Option { return func(c *config) { c.writers = n } }

// WithMaxBatch bounds how many queued RecordToken and UseAssertion requests
// share one transaction. Default 256; 1 disables group commit.
func WithMaxBatch(n int) Option { return func(c *config) { c.maxBatch = n } }

// WithSchema makes the store live in the given schema (which must exist)
// by setting the connections' search_path to it, overriding the DSN's
// search_path parameter. Several AS deployments can so share one database.
func WithSchema(name string) Option { return func(c *config) { c.schema = name } }

func (c *config) validate() error {
	switch {
	case c.maxConns < 0:
		return fmt.Errorf("store/postgres: max connections %d, want at least 1", c.maxConns)
	case c.writers < 1:
		return fmt.Errorf("store/postgres: writers %d, want at least 1", c.writers)
	case c.maxBatch < 1:
		return fmt.Errorf("store/postgres: max batch %d, want at least 1", c.maxBatch)
	}
	return nil
}

// Store is the PostgreSQL backend. It is safe for concurrent use, and
// several Stores (in one process or many) may share one database schema.
type Store struct {
	pool   *pgxpool.Pool
	reqs   chan *request
	stats  *stats
	doneCh chan struct{} // closed when every writer goroutine has returned

	mu     sync.RWMutex // guards closed and sends on reqs
	closed bool
}

var _ store.Store = (*Store)(nil)

var errClosed = errors.New("store/postgres: store is closed")

// Open connects to the database named by dsn (a PostgreSQL URL or
// keyword/value connection string, as accepted by pgxpool, including its
// pool_* parameters), applies pending schema migrations, and starts the
// group committers. The caller must Close the store.
//
// Error messages never contain the DSN (nor so its password).
func Open(ctx context.Context, dsn string, opts ...Option) (_ *Store, err error) {
	cfg := config{writers: 2, maxBatch: 256}
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx redacts passwords only on a best-effort basis, and a URL
		// parse error quotes the whole URL: say nothing about the DSN.
		return nil, errors.New("store/postgres: cannot parse the DSN (details withheld: they could contain the password); " +
			"want postgres://user:password@host:port/dbname?sslmode=... or host=... user=... dbname=...")
	}
	if cfg.maxConns > 0 {
		pcfg.MaxConns = cfg.maxConns
	}
	if pcfg.MinConns > pcfg.MaxConns {
		pcfg.MinConns = pcfg.MaxConns
	}
	rp := pcfg.ConnConfig.RuntimeParams
	if cfg.schema != "" {
		rp["search_path"] = pgx.Identifier{cfg.schema}.Sanitize()
	}
	if _, set := rp["synchronous_commit"]; !set {
		// Writes are durable when a method returns: never run with the
		// server's synchronous_commit=off unless the DSN asks for it.
		pcfg.AfterConnect = ensureSyncCommit
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("store/postgres: open pool: %w", err)
	}
	defer func() {
		if err != nil {
			pool.Close()
		}
	}()
	if err := pool.Ping(ctx); err != nil {
		return nil, fmt.Errorf("store/postgres: connect: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		return nil, err
	}
	s := &Store{
		pool:   pool,
		reqs:   make(chan *request, 4*cfg.maxBatch),
		stats:  new(stats),
		doneCh: make(chan struct{}),
	}
	var wg sync.WaitGroup
	for range cfg.writers {
		w := &writer{pool: pool, reqs: s.reqs, maxBatch: cfg.maxBatch, stats: s.stats}
		wg.Go(w.run)
	}
	go func() {
		wg.Wait()
		close(s.doneCh)
	}()
	return s, nil
}

// Describe returns a description of the database dsn names, for logs and
// messages: "postgres://user@host:port/dbname", without the password or any
// other parameter. For a DSN that does not parse it says only that.
func Describe(dsn string) string {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return "postgres (unparsable DSN)"
	}
	u := url.URL{
		Scheme: "postgres",
		User:   url.User(cfg.User),
		Host:   net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))),
		Path:   "/" + cfg.Database,
	}
	if strings.HasPrefix(cfg.Host, "/") { // a Unix socket directory
		u.Host = ""
		u.RawQuery = url.Values{"host": {cfg.Host}, "port": {strconv.Itoa(int(cfg.Port))}}.Encode()
	}
	return u.String()
}

// ensureSyncCommit turns synchronous_commit on for a new connection if the
// server's default turned it off.
func ensureSyncCommit(ctx context.Context, c *pgx.Conn) error {
	_, err := c.Exec(ctx, `SELECT set_config('synchronous_commit', 'on', false) WHERE current_setting('synchronous_commit') = 'off'`)
	if err != nil {
		return fmt.Errorf("store/postgres: set synchronous_commit: %w", err)
	}
	return nil
}

// inTx runs fn in a transaction on pool and commits it. fn's error is
// returned as it is; begin and commit errors are prefixed with what.
func inTx(ctx context.Context, pool *pgxpool.Pool, what string, fn func(tx pgx.Tx) error) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("store/postgres: %s: begin: %w", what, err)
	}
	defer func() {
		// After a commit this is a no-op. If the caller's context ended,
		// pgx closes the connection instead of reusing it.
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tx.Rollback(rctx)
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("store/postgres: %s: commit: %w", what, err)
	}
	return nil
}

// submit queues a group-committed write and waits for its result or for
// ctx to end.
func (s *Store) submit(ctx context.Context, r *request) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store/postgres: %w", err)
	}
	r.done = make(chan error, 1)
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return errClosed
	}
	select {
	case s.reqs <- r:
	case <-ctx.Done():
		s.mu.RUnlock()
		return fmt.Errorf("store/postgres: %w", ctx.Err())
	}
	s.mu.RUnlock()
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		// The request may still commit; see the package documentation.
		return fmt.Errorf("store/postgres: %w", ctx.Err())
	}
}

// checkOpen returns errClosed after Close.
func (s *Store) checkOpen() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return errClosed
	}
	return nil
}

// Stats are cumulative counters of the group committers, for metrics.
type Stats struct {
	Transactions int64 // group-commit transactions committed or attempted (batches)
	Writes       int64 // requests executed; Writes/Transactions is the mean batch size
	Retried      int64 // batches that failed and were retried request by request
}

// Stats returns the group committers' counters.
func (s *Store) Stats() Stats {
	return Stats{
		Transactions: s.stats.batches.Load(),
		Writes:       s.stats.requests.Load(),
		Retried:      s.stats.retried.Load(),
	}
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("store/postgres: ping: %w", err)
	}
	return nil
}

// Close stops accepting writes, waits for the queued ones to finish, and
// closes the pool. Calling it again returns nil.
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
	s.pool.Close()
	return nil
}
