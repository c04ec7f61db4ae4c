package as_test

import (
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prosesec/prosesec/as"
	"github.com/prosesec/prosesec/store"
)

// failSecondRotate stops a first start between its two key inserts, as a
// SIGKILL or a cancelled context can.
type failSecondRotate struct {
	store.Store
	n int
}

func (f *failSecondRotate) Rotate(ctx context.Context, v int64, u []*store.SigningKey, k *store.SigningKey) error {
	f.n++
	if f.n == 2 {
		return errors.New("simulated crash")
	}
	return f.Store.Rotate(ctx, v, u, k)
}

// TestWrongKEKWritesNothing: a start with a wrong KEK on a store that has
// an active key but no next one (a first start cut short) fails without
// adding a key, so that the right KEK still starts the server.
func TestWrongKEKWritesNothing(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	st := openStore(t, filepath.Join(t.TempDir(), "as.db"))
	defer st.Close()
	cfg := func(s store.Store, kek [32]byte) as.Config {
		return as.Config{Issuer: testIssuer, KEK: kek, Store: s, Clock: clk.Now, Rand: rand.Reader}
	}
	if _, err := as.New(ctx, cfg(&failSecondRotate{Store: st}, testKEK)); err == nil {
		t.Fatal("first start did not fail")
	}
	if keys, _ := st.ListKeys(ctx); len(keys) != 1 {
		t.Fatalf("%d keys after the cut-short start, want 1", len(keys))
	}
	wrong := testKEK
	wrong[0] ^= 1
	if _, err := as.New(ctx, cfg(st, wrong)); err == nil || !strings.Contains(err.Error(), "KEK") {
		t.Fatalf("start with a wrong KEK: %v", err)
	}
	if keys, _ := st.ListKeys(ctx); len(keys) != 1 {
		t.Fatalf("%d keys after the wrong-KEK start, want 1 (nothing written)", len(keys))
	}
	srv, err := as.New(ctx, cfg(st, testKEK))
	if err != nil {
		t.Fatalf("right KEK after a wrong one: %v", err)
	}
	if keys, _ := st.ListKeys(ctx); len(keys) != 2 || srv == nil {
		t.Fatalf("%d keys after the right start, want 2 (active and next)", len(keys))
	}
}
