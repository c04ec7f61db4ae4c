package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prosesec/prosesec/store"
)

// TestBackupWhileWriting copies a database while tokens are being recorded
// into it: the copy is one consistent snapshot (every record in it is in
// the source, with the same status index; no half-written batch), 0600,
// and opens as a store that can go on issuing.
func TestBackupWhileWriting(t *testing.T) {
	old := syscall.Umask(0) // the copy's mode must not depend on the umask
	defer syscall.Umask(old)
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "as.db")
	s := openTest(t, src)
	defer s.Close()
	if err := s.CreateUE(ctx, &store.UE{ID: "ue-1", PublicKey: []byte(`{}`), KeyThumbprint: "tp-1"}); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := s.RecordToken(ctx, tok(fmt.Sprintf("pre-%d", i), "ue-1")); err != nil {
			t.Fatal(err)
		}
	}
	// Writers keep recording during the backup.
	var (
		stop    atomic.Bool
		wg      sync.WaitGroup
		written atomic.Int64
	)
	for w := range 4 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				if err := s.RecordToken(ctx, tok(fmt.Sprintf("w%d-%d", w, i), "ue-1")); err != nil {
					t.Error(err)
					return
				}
				written.Add(1)
			}
		})
	}
	for written.Load() < 200 {
		if t.Failed() {
			break
		}
		time.Sleep(time.Millisecond)
	}
	dst := filepath.Join(dir, "copy.db")
	info, err := Backup(ctx, src, dst)
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	t.Logf("backup: %+v (while %d tokens were written)", info, written.Load())
	fi, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("copy mode %v, want 0600", fi.Mode().Perm())
	}
	if info.Path != dst || info.Bytes != fi.Size() || info.SchemaVersion != SchemaVersion || info.UEs != 1 || info.Tokens < 100 {
		t.Fatalf("BackupInfo %+v", info)
	}

	c := openTest(t, dst)
	defer c.Close()
	recs, err := c.ListTokens(ctx, store.TokenFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(recs)) != info.Tokens {
		t.Fatalf("copy holds %d tokens, BackupInfo says %d", len(recs), info.Tokens)
	}
	for i, r := range recs {
		orig, err := s.GetToken(ctx, r.JTI)
		if err != nil || orig.StatusIndex != r.StatusIndex {
			t.Fatalf("copy's token %s (index %d): source has %+v, %v", r.JTI, r.StatusIndex, orig, err)
		}
		// A snapshot: the copy holds a prefix of the source's indices.
		if r.StatusIndex != uint64(i) {
			t.Fatalf("copy's %d-th token has index %d: not a prefix", i, r.StatusIndex)
		}
	}
	if ue, err := c.GetUE(ctx, "ue-1"); err != nil || ue.KeyThumbprint != "tp-1" {
		t.Fatalf("copy's UE: %+v, %v", ue, err)
	}
	// The copy is a working database: it goes on from its own last index.
	next := tok("after-restore", "ue-1")
	if err := c.RecordToken(ctx, next); err != nil || next.StatusIndex != uint64(len(recs)) {
		t.Fatalf("RecordToken on the copy: index %d, %v; want %d", next.StatusIndex, err, len(recs))
	}
}

func TestBackupRefusals(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "as.db")
	openTest(t, src).Close()

	// An existing destination is never touched.
	existing := filepath.Join(dir, "existing.db")
	if err := os.WriteFile(existing, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Backup(ctx, src, existing); !errors.Is(err, os.ErrExist) {
		t.Errorf("Backup onto an existing file: %v, want ErrExist", err)
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Errorf("existing destination changed to %q", b)
	}
	// The database onto itself.
	if _, err := Backup(ctx, src, src); err == nil {
		t.Error("Backup onto the database itself succeeded")
	}
	// A missing source creates nothing.
	dst := filepath.Join(dir, "copy.db")
	if _, err := Backup(ctx, filepath.Join(dir, "missing.db"), dst); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Backup of a missing database: %v, want ErrNotExist", err)
	}
	if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed backup left %s behind (%v)", dst, err)
	}
	// A file that is not a prose-as database: refused, destination removed.
	notDB := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notDB, []byte("not a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Backup(ctx, notDB, dst); err == nil {
		t.Error("Backup of a text file succeeded")
	}
	if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed backup left %s behind (%v)", dst, err)
	}
	if b, _ := os.ReadFile(notDB); string(b) != "not a database" {
		t.Errorf("the source changed to %q", b)
	}
	if _, err := Backup(ctx, "", dst); err == nil {
		t.Error("Backup with no source succeeded")
	}
}
