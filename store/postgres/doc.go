// Package postgres owns the PostgreSQL storage backend of the ProSe
// Application Server: a store.Store on one database schema that several AS
// instances share, through a github.com/jackc/pgx/v5 connection pool.
//
// # Guarantees
//
// Durability: a write method that returns nil has committed, and the server
// has flushed the commit to its WAL (synchronous_commit on, PostgreSQL's
// default; with synchronous standbys configured, also as the server's
// setting asks of them). A connection whose server default is
// synchronous_commit=off is switched on when it is opened. A DSN that sets
// synchronous_commit itself (for example synchronous_commit=off) is obeyed:
// that is the operator's choice to trade the last moments of issuance on a
// server crash for latency, as with store/sqlite's SyncNormal.
//
// Status indices: a token's status index is its row's idx, an identity
// column backed by a sequence that starts at 0 (MINVALUE 0, CACHE 1). A
// sequence value is never handed out twice, whichever instance asks and
// even after a server crash (the sequence is WAL-logged before the value is
// used, and the commit that records a token flushes that log), so indices
// never collide across instances. Values taken by an insert that did not
// commit, or that hit an existing JTI, are skipped: gaps are allowed. Since
// a caller waits for each RecordToken, its successive tokens get increasing
// indices. Records of concurrent transactions may become visible out of
// index order.
//
// Counters: RevocationVersion and KeysVersion are rows of the counters table,
// bumped in the transaction that records a revocation or changes the keys.
// Rotate reads keys_version with SELECT … FOR UPDATE inside its transaction:
// of several instances rotating from the same version at once, one commits
// and the others, which waited for its row lock, find the new version and
// fail with store.ErrConflict, so a cluster-wide rotation happens once.
//
// Guarded records: RecordTokenIfUE (store.GuardedTokenRecorder) checks the
// UE in the insert itself and locks its row (SELECT … FOR SHARE) until the
// commit, so that an UpdateUE or DeleteUE through any instance either waits
// for the record, and a revocation that follows it covers the token, or
// makes the record fail with store.ErrStale.
//
// Assertions: UseAssertion inserts the (issuer, jti) pair or renews an
// expired entry with INSERT … ON CONFLICT DO UPDATE … WHERE, which locks and
// re-checks the existing row; a pair is thus used once across instances.
//
// # Group commit
//
// RecordToken and UseAssertion, the writes made for every token issued, are
// group-committed. Each of WithWriters writer goroutines waits for a
// request, takes every request queued by then (up to WithMaxBatch; it never
// waits for more), and sends them to the server as one pipelined round trip
// of at most a few statements — one multi-row INSERT … SELECT FROM unnest(…)
// ON CONFLICT for the tokens and one for the assertions — which the server
// runs as one implicit transaction and commits (one WAL flush) before
// answering. Each caller then gets its own outcome: a duplicate JTI
// (store.ErrConflict) or a replayed assertion (store.ErrReplay) is a row the
// statement skipped, and does not affect the other requests. A JTI or a
// pair that comes twice in one batch goes to a second statement, which sees
// the first.
// If the transaction fails as a whole (a request the server rejects, a lost
// connection), every request of the batch is retried alone, so that only a
// culprit fails. If the connection broke while the commit was in flight the
// batch may have committed after all; its retried requests then report
// store.ErrConflict or store.ErrReplay, and the caller hands out nothing for
// them, which is safe. Stats reports the batch sizes. A batch that takes
// longer than 30 seconds is abandoned (and retried alone, and so failed).
//
// A caller whose context ends while its request is queued or running gets
// the context's error at once, but the request may still be committed: a
// token record or a used assertion that the caller never acted on is
// harmless. Close stops accepting requests, lets the writers finish what is
// queued, and closes the pool.
//
// The other writes (UEs, keys, revocations, purges) are rare: each runs in
// its own transaction on a pooled connection, with the caller's context.
//
// # Schema
//
// Open creates and upgrades the schema with the ordered migrations in
// schema.go, applied in one transaction under a transaction-level advisory
// lock (keyed by the schema's name), so that instances starting at once
// migrate it once; the version is kept in the schema_version table. Open
// refuses a schema that a newer version of this code wrote
// (ErrSchemaTooNew). The tables live in the first existing schema of the
// connection's search_path: set it with WithSchema or the DSN's search_path
// parameter.
//
// Schema version 2 makes identity keys unique: a key_thumbprint column with a
// unique index, filled in for existing UEs by the migration itself (in Go,
// with store.KeyThumbprint). If two existing UEs share a key, the migration
// stops with a *store.DuplicateKeysError naming them and changes nothing:
// the operator gives one of them its own key with the previous version.
//
// Schema version 3 indexes tokens by expires_at, so that PurgeTokens finds
// the expired records without reading every record still valid.
//
// Times are stored as bigint Unix nanoseconds (NULL for the zero time), so
// they round-trip exactly; representable times are those between the years
// 1678 and 2262. UE IDs are text COLLATE "C", so that they order byte-wise.
// Strings are PostgreSQL text: a string that is not valid UTF-8 or holds a
// NUL byte is refused by the server (an error, not a corruption).
//
// # Connections
//
// The pool is a pgxpool.Pool configured from the DSN, which accepts pgxpool's
// pool_max_conns, pool_min_conns, pool_max_conn_lifetime, … parameters;
// WithMaxConns overrides the size. The group committers use up to
// WithWriters connections at a time; the rest serve reads and the other
// writes. Statements are prepared and cached per connection (pgx's
// default); behind a transaction-pooling proxy such as PgBouncer, add
// default_query_exec_mode=exec to the DSN.
package postgres
