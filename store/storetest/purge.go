package storetest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/prosesec/prosesec/store"
)

// testTokenPurge checks PurgeTokens: the strict "before" boundary, the
// limit, revoked and unrevoked records alike, status indices never reused,
// and purged records gone from every read.
func testTokenPurge(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, limit := range []int{0, -1} {
		if n, err := s.PurgeTokens(ctx, base, limit); err == nil {
			t.Fatalf("PurgeTokens with limit %d = %d, nil; want an error", limit, n)
		}
	}
	if n, err := s.PurgeTokens(ctx, base.Add(time.Hour), 10); err != nil || n != 0 {
		t.Fatalf("PurgeTokens on an empty store = %d, %v; want 0, nil", n, err)
	}

	// Ten records issued a minute apart, in recording order, living 10 or
	// 30 minutes in turn, so that expiries interleave; three revoked.
	var toks []*store.IssuedToken
	for i := range 10 {
		tok := sampleToken(fmt.Sprintf("jti-%d", i), "ue-a")
		tok.IssuedAt = base.Add(time.Duration(i) * time.Minute)
		life := 10 * time.Minute
		if i%2 == 1 {
			life = 30 * time.Minute
		}
		tok.ExpiresAt = tok.IssuedAt.Add(life)
		toks = append(toks, record(t, s, tok))
	}
	for _, i := range []int{1, 2, 4} {
		at := base.Add(time.Duration(i) * time.Minute)
		ok(t, s.RevokeToken(ctx, toks[i].JTI, at), "RevokeToken")
		toks[i].RevokedAt = ptr(at)
	}
	newest := toks[len(toks)-1].StatusIndex
	checkMax := func(want uint64) {
		t.Helper()
		got, found, err := s.MaxStatusIndex(ctx)
		if err != nil || !found || got != want {
			t.Fatalf("MaxStatusIndex = %d, %v, %v; want %d, true, nil", got, found, err, want)
		}
	}
	// alive is what the store must still hold, in StatusIndex order.
	alive := append([]*store.IssuedToken(nil), toks...)
	checkLeft := func(gone []*store.IssuedToken) {
		t.Helper()
		got, err := s.ListTokens(ctx, store.TokenFilter{})
		ok(t, err, "ListTokens")
		if !equalIdx(indicesOf(got), indicesOf(alive)) {
			t.Fatalf("records left: indices %v, want %v", indicesOf(got), indicesOf(alive))
		}
		var revoked []uint64
		for i, tok := range alive {
			if d := diffToken(got[i], tok); d != "" {
				t.Fatalf("record %s after PurgeTokens: %s", tok.JTI, d)
			}
			if tok.RevokedAt != nil {
				revoked = append(revoked, tok.StatusIndex)
			}
		}
		ri, err := s.RevokedIndices(ctx, 0, newest+1000)
		ok(t, err, "RevokedIndices")
		if !equalIdx(ri, revoked) {
			t.Fatalf("RevokedIndices = %v, want %v", ri, revoked)
		}
		for _, tok := range gone {
			if got, err := s.GetToken(ctx, tok.JTI); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("GetToken of purged %s = %+v, %v; want ErrNotFound", tok.JTI, got, err)
			}
		}
	}
	// purge purges with limit until nothing is left before cut, checking
	// that each call deletes what it reports and no more than limit, and
	// that exactly the records expired before cut go.
	purge := func(cut time.Time, limit int) {
		t.Helper()
		var want, keep, gone []*store.IssuedToken
		for _, tok := range alive {
			if tok.ExpiresAt.Before(cut) {
				want = append(want, tok)
			} else {
				keep = append(keep, tok)
			}
		}
		left := len(alive)
		total := 0
		for call := 0; total < len(want); call++ {
			if call > len(want) {
				t.Fatalf("PurgeTokens(%v, %d): %d calls purged %d records, want %d", cut, limit, call, total, len(want))
			}
			n, err := s.PurgeTokens(ctx, cut.In(east), limit)
			ok(t, err, "PurgeTokens")
			if n < 0 || n > limit || (call == 0 && n == 0) {
				t.Fatalf("PurgeTokens(%v, %d) call %d = %d; want 1 to %d", cut, limit, call+1, n, limit)
			}
			all, err := s.ListTokens(ctx, store.TokenFilter{})
			ok(t, err, "ListTokens")
			if len(all) != left-n {
				t.Fatalf("PurgeTokens returned %d but %d of %d records are left", n, len(all), left)
			}
			left -= n
			total += n
		}
		if total != len(want) {
			t.Fatalf("PurgeTokens(%v) purged %d records in all, want %d", cut, total, len(want))
		}
		if n, err := s.PurgeTokens(ctx, cut, limit); err != nil || n != 0 {
			t.Fatalf("PurgeTokens(%v) once done = %d, %v; want 0, nil", cut, n, err)
		}
		gone, alive = want, keep
		checkLeft(gone)
	}

	// Expiries: toks[0] base+10m, [1] 31m, [2] 12m, [3] 33m, [4] 14m, ...
	// Strictly before base+12m: toks[0] only; toks[2] expires at the
	// cutoff exactly and stays.
	purge(toks[2].ExpiresAt, 10)
	if _, err := s.GetToken(ctx, toks[2].JTI); err != nil {
		t.Fatalf("GetToken of the record expiring at the cutoff: %v", err)
	}
	// Limit 2 over five records (toks[2], [4], [6], [8] expiring at
	// base+12m..18m and toks[1] at base+31m, before base+32m), revoked
	// and unrevoked.
	purge(toks[1].ExpiresAt.Add(time.Minute), 2)
	checkMax(newest)
	for _, limit := range []int{0, -5} {
		if n, err := s.PurgeTokens(ctx, base.Add(24*time.Hour), limit); err == nil {
			t.Fatalf("PurgeTokens with limit %d = %d, nil; want an error", limit, n)
		}
	}
	checkLeft(nil) // a refused call purged nothing
	// Everything, the newest record included: its index stays the highest
	// assigned, and the next record gets a higher one.
	purge(base.Add(24*time.Hour), 3)
	if len(alive) != 0 {
		t.Fatalf("records left after purging everything: %d", len(alive))
	}
	checkMax(newest)
	next := record(t, s, sampleToken("jti-next", "ue-a"))
	if next.StatusIndex <= newest {
		t.Fatalf("StatusIndex after purging = %d, want more than %d", next.StatusIndex, newest)
	}
	checkMax(next.StatusIndex)
	if d := diffToken(getToken(t, s, next.JTI), next); d != "" {
		t.Fatalf("GetToken after purging: %s", d)
	}
	alive = []*store.IssuedToken{next}

	// Enough records to span several thousand indices, recorded at once,
	// issued at the same instant and expiring 0 to 6 minutes later: a
	// purge, then a later one, each takes exactly the expired records
	// wherever they are.
	const per = 165
	alive = append(alive, recordConcurrently(t, s, per, func(w, i int) *store.IssuedToken {
		tok := sampleToken(fmt.Sprintf("bulk-%02d-%03d", w, i), "ue-b")
		tok.IssuedAt = base
		tok.ExpiresAt = base.Add(time.Duration((w*per+i)%7) * time.Minute)
		return tok
	})...)
	sortByIndex(alive)
	newest = alive[len(alive)-1].StatusIndex
	purge(base.Add(3*time.Minute), 400)
	purge(base.Add(5*time.Minute), 1000)
	purge(base.Add(time.Hour), 5000)
	if len(alive) != 1 || alive[0].JTI != next.JTI {
		t.Fatalf("records left: %d, want only %s", len(alive), next.JTI)
	}
	checkMax(newest)
}

func sortByIndex(toks []*store.IssuedToken) {
	sort.Slice(toks, func(i, j int) bool { return toks[i].StatusIndex < toks[j].StatusIndex })
}
