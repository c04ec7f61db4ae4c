package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/prosesec/prosesec/store"
)

// testUEKeyInUse checks that no two UEs hold one KeyThumbprint: CreateUE
// and UpdateUE refuse it with a *KeyInUseError naming the holder and write
// nothing; an empty thumbprint is exempt; a key freed by an update or a
// deletion can be registered again; of concurrent registrations of one key
// exactly one succeeds.
func testUEKeyInUse(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := sampleUE("ue-a")
	a.KeyThumbprint = "tp-1"
	ok(t, s.CreateUE(ctx, a), "CreateUE ue-a")

	b := sampleUE("ue-b")
	b.KeyThumbprint = "tp-1"
	err := s.CreateUE(ctx, b)
	isErr(t, err, store.ErrKeyInUse, "CreateUE of ue-b with ue-a's key")
	var kiu *store.KeyInUseError
	if !errors.As(err, &kiu) || kiu.Holder != "ue-a" {
		t.Fatalf("CreateUE with ue-a's key: error %v, want a *KeyInUseError with Holder ue-a", err)
	}
	if errors.Is(err, store.ErrConflict) {
		t.Fatalf("a key conflict matches ErrConflict (an ID conflict): %v", err)
	}
	if _, err := s.GetUE(ctx, "ue-b"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the refused CreateUE created ue-b (GetUE error %v)", err)
	}

	// ue-b with its own key; then an update that takes ue-a's key is refused
	// and changes nothing.
	b.KeyThumbprint = "tp-2"
	ok(t, s.CreateUE(ctx, b), "CreateUE ue-b")
	upd := *b
	upd.KeyThumbprint = "tp-1"
	upd.Grants = []store.Grant{{RSC: 7, Role: "serve"}}
	upd.UpdatedAt = b.UpdatedAt.Add(1)
	err = s.UpdateUE(ctx, &upd)
	isErr(t, err, store.ErrKeyInUse, "UpdateUE of ue-b to ue-a's key")
	if !errors.As(err, &kiu) || kiu.Holder != "ue-a" {
		t.Fatalf("UpdateUE to ue-a's key: error %v, want a *KeyInUseError with Holder ue-a", err)
	}
	got, err := s.GetUE(ctx, "ue-b")
	ok(t, err, "GetUE ue-b")
	if d := diffUE(got, b); d != "" {
		t.Fatalf("the refused UpdateUE changed ue-b: %s", d)
	}

	// A UE may keep its own key through an update.
	a2 := *a
	a2.Grants = nil
	a2.UpdatedAt = a.UpdatedAt.Add(1)
	ok(t, s.UpdateUE(ctx, &a2), "UpdateUE of ue-a keeping its key")

	// Empty thumbprints are exempt (records from before the field).
	for _, id := range []string{"ue-e1", "ue-e2"} {
		e := sampleUE(id)
		e.KeyThumbprint = ""
		ok(t, s.CreateUE(ctx, e), "CreateUE "+id+" without thumbprint")
	}

	// A key freed by an update, then by a deletion, can be taken.
	a3 := a2
	a3.KeyThumbprint = "tp-3"
	a3.UpdatedAt = a2.UpdatedAt.Add(1)
	ok(t, s.UpdateUE(ctx, &a3), "UpdateUE of ue-a to a new key")
	ok(t, s.UpdateUE(ctx, &upd), "UpdateUE of ue-b to ue-a's old key")
	ok(t, s.DeleteUE(ctx, "ue-a"), "DeleteUE ue-a")
	c := sampleUE("ue-c")
	c.KeyThumbprint = "tp-3"
	ok(t, s.CreateUE(ctx, c), "CreateUE ue-c with deleted ue-a's key")

	// Concurrent registrations of one key: exactly one wins.
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := sampleUE(fmt.Sprintf("ue-race-%d", i))
			u.KeyThumbprint = "tp-race"
			errs[i] = s.CreateUE(ctx, u)
		}()
	}
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrKeyInUse):
			t.Errorf("concurrent CreateUE %d: %v, want nil or ErrKeyInUse", i, err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d concurrent registrations of one key succeeded, want 1", wins, n)
	}
}
