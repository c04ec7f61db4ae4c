// Package sqlite owns the embedded default storage backend of the ProSe
// Application Server: one SQLite database file, opened with the pure-Go
// modernc.org/sqlite driver (no cgo), that implements store.Store.
//
// # Files and permissions
//
// Open creates the database file with mode 0600 before SQLite touches it and
// sets the -wal and -shm files to 0600 after opening, so the umask does not
// matter. The database runs in WAL mode with foreign keys on.
//
// # Durability
//
// With the default SyncFull (PRAGMA synchronous=FULL) SQLite fsyncs the WAL
// at every commit: once a write method has returned nil, the change survives
// SIGKILL, an OS crash and power loss (given a disk that honours flushes).
//
// SyncNormal (synchronous=NORMAL) skips that fsync; the WAL is synced only at
// checkpoints. A returned write still survives the process being killed (the
// data is in the OS page cache), but an OS crash or power loss may roll back
// the last transactions; the database itself stays consistent. For this
// store that means tokens already handed out may lose their record, and
// their status indices may be given again to new tokens after the restart,
// so that revoking one token marks another. NORMAL buys lower write latency,
// and more throughput when few callers are in flight or flushes are slow;
// with many concurrent callers group commit makes the difference small.
// Choose it only where losing the last moments of issuance on power loss is
// acceptable.
//
// # Connections and group commit
//
// Reads go to a pool of read-only connections (mode=ro, query_only) that run
// concurrently with the writer thanks to WAL. Every write goes through one
// write connection owned by one writer goroutine (group commit). The writer
// waits for a request, opens a transaction (BEGIN IMMEDIATE), executes that
// request and then every request queued by the time it is done, again and
// again until none is queued or WithMaxBatch requests are in (it never waits
// for more), commits — one WAL append and, with SyncFull, one fsync for the
// whole batch — and then answers each caller with its own result. While it
// commits, new requests queue up for the next batch, so batches grow with
// load: with SyncFull, throughput is about (callers in flight) / (commit
// latency) until the CPU is the limit.
//
// A duplicate JTI (store.ErrConflict), a replayed assertion (store.ErrReplay),
// a failed RecordTokenIfUE precondition (store.ErrStale) and the other store
// errors are per-request outcomes that do not affect the other requests of
// the batch: single-statement requests (RecordToken, RecordTokenIfUE,
// UseAssertion) cannot leave partial effects, and multi-statement ones run
// inside a SAVEPOINT that is rolled back on such an outcome. If a request
// fails in an unexpected way, or the COMMIT fails, the batch is rolled back
// and every request is retried alone in its own transaction, so one bad
// request fails only itself. Stats reports the batch sizes.
//
// A caller whose context ends while its request is queued or running gets the
// context's error at once, but the request may still be committed: a token
// record or a used assertion that the caller never acted on is harmless.
// Close stops accepting requests, lets the writer finish what is queued, and
// closes the connections.
//
// # Checkpoints
//
// SQLite's automatic checkpoint runs inside the commit that takes the WAL
// over 1,000 pages and makes every write queued behind it wait while ~1,000
// pages are copied to the database file and synced. The store runs
// checkpoints instead from a goroutine on a connection of its own (PASSIVE,
// after commits, at most every 100 ms by default, WithCheckpointInterval),
// while the writer goes on. As a checkpoint that runs beside a busy writer
// never copies the last frames, and the WAL only starts over once all are
// copied, the writer finishes the job between two batches whenever a pass
// found 4,000 frames (16 MiB) or more: a PASSIVE checkpoint on the write connection
// that copies what was committed during the pass, repeated after the next
// batches while readers still hold the WAL. The writer's own
// automatic checkpoint stays, at 16,384 pages, as a backstop. Durability is
// unchanged (the commit's fsync of the WAL is what makes a write durable;
// checkpoints sync the database file with the configured Synchronous).
// Stats counts passes, writer catch-ups, start-overs of the WAL and
// failures, and gives the WAL's size. See checkpoint.go.
//
// # Schema
//
// The schema is created and upgraded by the ordered migrations in schema.go,
// applied in one transaction at Open and recorded in the schema_version
// table. Open refuses a database whose schema is newer than this code
// (ErrSchemaTooNew). Times are stored as integer Unix nanoseconds (NULL for
// the zero time), so they round-trip exactly; representable times are those
// between the years 1678 and 2262. Status indices are SQLite AUTOINCREMENT
// row IDs minus one, so they start at 0 and are never reused, even after a
// crash.
//
// Schema version 2 makes identity keys unique: a key_thumbprint column with a
// unique index, filled in for existing UEs by the migration itself (in Go,
// with store.KeyThumbprint). If two existing UEs share a key, the migration
// stops with a *store.DuplicateKeysError naming them and changes nothing:
// the operator gives one of them its own key with the previous version.
//
// Schema version 3 indexes tokens by expires_at, so that PurgeTokens finds
// the expired records without reading every record still valid. The index
// costs RecordToken about 5 µs of CPU a record (BenchmarkRecordTokenFull on
// the 2-core reference machine: 38 against 33 µs without it).
package sqlite
