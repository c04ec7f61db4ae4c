package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/prosesec/prosesec/store"
)

// batchTimeout bounds one group-commit transaction, so that a database that
// stops answering fails the requests instead of holding them forever.
const batchTimeout = 30 * time.Second

type opKind uint8

const (
	opToken     opKind = iota // RecordToken
	opAssertion               // UseAssertion
)

// A request is one group-committed write: a token record or an assertion
// use, encoded in the caller's goroutine.
type request struct {
	kind opKind
	jti  string

	// opToken
	subject, scope, format, keyID  string
	issuedAt, expiresAt, revokedAt *int64
	guarded                        bool   // RecordTokenIfUE: record only if the UE is as seen
	ueUpdatedAt                    *int64 // the guard's UE UpdatedAt (NULL for the zero time)

	// opAssertion
	issuer   string
	exp, now int64

	done chan error // buffered (1); receives exactly one result
	err  error      // the outcome, kept by the writer until commit
	idx  int64      // opToken: the assigned index, valid when done sends nil
}

type stats struct {
	batches, requests, retried atomic.Int64
}

// writer is one group committer. Several share the request channel; each
// runs one transaction at a time on a connection from the pool.
type writer struct {
	pool     *pgxpool.Pool
	reqs     <-chan *request
	maxBatch int
	stats    *stats
}

// run returns when reqs is closed and drained.
func (w *writer) run() {
	batch := make([]*request, 0, w.maxBatch)
	for {
		r, ok := <-w.reqs
		if !ok {
			return
		}
		batch = w.absorb(append(batch[:0], r))
		w.runBatch(batch)
		clear(batch) // drop references for the collector
	}
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

// runBatch executes batch in one transaction and answers each request. If
// the transaction fails, every request is retried alone so that only a
// culprit fails.
func (w *writer) runBatch(batch []*request) {
	err := w.exec(batch)
	if err == nil {
		for _, r := range batch {
			r.done <- r.err
		}
		return
	}
	w.stats.retried.Add(1)
	if len(batch) == 1 {
		batch[0].done <- err
		return
	}
	for _, r := range batch {
		one := []*request{r}
		if err := w.exec(one); err != nil {
			r.done <- err
			continue
		}
		r.done <- r.err
	}
}

// The statements of a batch. Each inserts or uses many rows at once from
// arrays (one element per request).
const (
	// sqlInsertTokens records tokens with distinct JTIs; a JTI that exists
	// is skipped, and so is a guarded request (RecordTokenIfUE) whose UE is
	// absent or has another updated_at: neither gets a row back. The guard
	// locks the UE's row (FOR SHARE) until the commit, so that an UpdateUE
	// or DeleteUE either waits for the record or is seen by the guard.
	sqlInsertTokens = `INSERT INTO tokens (jti, subject, scope, format, key_id, issued_at, expires_at, revoked_at)
SELECT i.jti, i.subject, i.scope, i.format, i.key_id, i.issued_at, i.expires_at, i.revoked_at
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[],
	$9::boolean[], $10::bigint[])
	AS i (jti, subject, scope, format, key_id, issued_at, expires_at, revoked_at, guarded, ue_updated_at)
WHERE NOT i.guarded OR EXISTS (SELECT 1 FROM ues u
	WHERE u.id = i.subject AND u.updated_at IS NOT DISTINCT FROM i.ue_updated_at FOR SHARE)
ON CONFLICT (jti) DO NOTHING
RETURNING jti, idx`

	// sqlUseAssertions records distinct (issuer, jti) pairs: it inserts an
	// absent pair and renews an entry that has expired at the request's now
	// (exp <= now, looked up for the few conflicting pairs only). The pairs
	// it returns were used; the others are replays. ON CONFLICT locks the
	// existing row and checks the newest version of it, and waits for a
	// concurrent insert of the same pair, so a pair is used once.
	sqlUseAssertions = `INSERT INTO assertions AS a (issuer, jti, exp)
SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
ON CONFLICT (issuer, jti) DO UPDATE SET exp = excluded.exp
WHERE a.exp <= (SELECT i.now FROM unnest($1::text[], $2::text[], $4::bigint[]) AS i (issuer, jti, now)
	WHERE i.issuer = excluded.issuer AND i.jti = excluded.jti)
RETURNING issuer, jti`

	sqlBumpRevocation = `UPDATE counters SET value = value + 1 WHERE name = 'revocation_version'`
)

type pair struct{ issuer, jti string }

// rounds splits requests into rounds in which keys are distinct: the k-th
// request with a given key goes to round k, so that a statement per round,
// run in order in one transaction, lets each request see the ones before.
func rounds[K comparable](reqs []*request, key func(*request) K) [][]*request {
	var (
		out  [][]*request
		seen = make(map[K]int, len(reqs))
	)
	for _, r := range reqs {
		k := key(r)
		n := seen[k]
		seen[k] = n + 1
		if n == len(out) {
			out = append(out, nil)
		}
		out[n] = append(out[n], r)
	}
	return out
}

// exec runs batch as one transaction: one pipelined round trip that is
// committed at its end. It sets each request's outcome (r.err, r.idx) and
// returns an error only if the transaction failed, in which case nothing of
// it was committed (or, if the connection broke during the commit, whether
// it was is unknown).
func (w *writer) exec(batch []*request) error {
	w.stats.batches.Add(1)
	w.stats.requests.Add(int64(len(batch)))
	var toks, asserts []*request
	revoked := false
	for _, r := range batch {
		r.err, r.idx = nil, 0
		switch r.kind {
		case opToken:
			toks = append(toks, r)
			revoked = revoked || r.revokedAt != nil
		case opAssertion:
			asserts = append(asserts, r)
		default:
			return fmt.Errorf("store/postgres: unknown request kind %d", r.kind)
		}
	}
	tokRounds := rounds(toks, func(r *request) string { return r.jti })
	assertRounds := rounds(asserts, func(r *request) pair { return pair{r.issuer, r.jti} })

	var b pgx.Batch
	for _, round := range tokRounds {
		n := len(round)
		var (
			jtis, subjects, scopes, formats, kids = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			issuedAt, expiresAt, revokedAt, ueAt  = make([]*int64, n), make([]*int64, n), make([]*int64, n), make([]*int64, n)
			guarded                               = make([]bool, n)
		)
		for i, r := range round {
			jtis[i], subjects[i], scopes[i], formats[i], kids[i] = r.jti, r.subject, r.scope, r.format, r.keyID
			issuedAt[i], expiresAt[i], revokedAt[i] = r.issuedAt, r.expiresAt, r.revokedAt
			guarded[i], ueAt[i] = r.guarded, r.ueUpdatedAt
		}
		b.Queue(sqlInsertTokens, jtis, subjects, scopes, formats, kids, issuedAt, expiresAt, revokedAt, guarded, ueAt)
	}
	if revoked {
		b.Queue(sqlBumpRevocation)
	}
	for _, round := range assertRounds {
		n := len(round)
		issuers, jtis, exps, nows := make([]string, n), make([]string, n), make([]int64, n), make([]int64, n)
		for i, r := range round {
			issuers[i], jtis[i], exps[i], nows[i] = r.issuer, r.jti, r.exp, r.now
		}
		b.Queue(sqlUseAssertions, issuers, jtis, exps, nows)
	}

	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	// Without BEGIN, the statements of one pipeline up to its Sync run as
	// one implicit transaction, committed (and, with synchronous_commit on,
	// flushed) before the server reports the end of the pipeline, which
	// Close waits for.
	br := w.pool.SendBatch(ctx, &b)
	unguarded, err := readResults(br, tokRounds, revoked, assertRounds)
	if cerr := br.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("store/postgres: group commit: %w", cerr)
	}
	if err != nil {
		return err
	}
	if len(unguarded) > 0 {
		conflictOrStale(ctx, w.pool, unguarded, toks)
	}
	return nil
}

// readResults reads the results of the statements exec queued, in order,
// and sets the outcomes. It returns the guarded token requests that were
// not recorded, for conflictOrStale.
func readResults(br pgx.BatchResults, tokRounds [][]*request, revoked bool, assertRounds [][]*request) (unguarded []*request, err error) {
	for _, round := range tokRounds {
		byJTI := make(map[string]*request, len(round))
		for _, r := range round {
			byJTI[r.jti] = r
		}
		rows, err := br.Query()
		if err != nil {
			return nil, fmt.Errorf("store/postgres: record tokens: %w", err)
		}
		for rows.Next() {
			var (
				jti string
				idx int64
			)
			if err := rows.Scan(&jti, &idx); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store/postgres: record tokens: %w", err)
			}
			r := byJTI[jti]
			if r == nil || idx < 0 {
				rows.Close()
				return nil, fmt.Errorf("store/postgres: record tokens: unexpected row (%q, %d)", jti, idx)
			}
			r.idx = idx
			delete(byJTI, jti) // marks r as recorded
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("store/postgres: record tokens: %w", err)
		}
		for _, r := range round {
			switch _, skipped := byJTI[r.jti]; {
			case !skipped:
			case r.guarded:
				unguarded = append(unguarded, r)
			default:
				r.err = fmt.Errorf("store/postgres: token %q: %w", r.jti, store.ErrConflict)
			}
		}
	}
	if revoked {
		tag, err := br.Exec()
		if err != nil {
			return nil, fmt.Errorf("store/postgres: bump revocation_version: %w", err)
		}
		if tag.RowsAffected() != 1 {
			return nil, errors.New("store/postgres: bump revocation_version: counter row missing")
		}
	}
	for _, round := range assertRounds {
		rows, err := br.Query()
		if err != nil {
			return nil, fmt.Errorf("store/postgres: use assertions: %w", err)
		}
		used := make(map[pair]bool, len(round))
		for rows.Next() {
			var p pair
			if err := rows.Scan(&p.issuer, &p.jti); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store/postgres: use assertions: %w", err)
			}
			used[p] = true
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("store/postgres: use assertions: %w", err)
		}
		for _, r := range round {
			if !used[pair{r.issuer, r.jti}] {
				r.err = fmt.Errorf("store/postgres: assertion %q from %q: %w", r.jti, r.issuer, store.ErrReplay)
			}
		}
	}
	return unguarded, nil
}

// conflictOrStale tells, for guarded token requests that recorded nothing,
// a JTI that exists (store.ErrConflict, whatever the guard) from a failed
// guard (store.ErrStale). It runs after the commit: the rare failures pay
// for a second round trip, the common case does not. A JTI that a later
// request of the batch (toks) recorded did not exist before it: the
// earlier request failed its guard.
func conflictOrStale(ctx context.Context, pool *pgxpool.Pool, reqs, toks []*request) {
	recordedLater := make(map[string]bool)
	for _, r := range toks {
		if r.err == nil && !slices.Contains(reqs, r) {
			recordedLater[r.jti] = true
		}
	}
	jtis := make([]string, len(reqs))
	for i, r := range reqs {
		jtis[i] = r.jti
	}
	exists := make(map[string]bool, len(reqs))
	rows, err := pool.Query(ctx, `SELECT jti FROM tokens WHERE jti = ANY($1::text[])`, jtis)
	if err == nil {
		for rows.Next() {
			var jti string
			if err = rows.Scan(&jti); err != nil {
				break
			}
			exists[jti] = true
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	for _, r := range reqs {
		switch {
		case recordedLater[r.jti]:
			r.err = fmt.Errorf("store/postgres: token %q for UE %q: %w", r.jti, r.subject, store.ErrStale)
		case err != nil:
			r.err = fmt.Errorf("store/postgres: token %q not recorded; looking up its JTI: %w", r.jti, err)
		case exists[r.jti]:
			r.err = fmt.Errorf("store/postgres: token %q: %w", r.jti, store.ErrConflict)
		default:
			r.err = fmt.Errorf("store/postgres: token %q for UE %q: %w", r.jti, r.subject, store.ErrStale)
		}
	}
}
