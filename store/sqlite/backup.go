package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// BackupInfo describes a copy made by Backup.
type BackupInfo struct {
	Path          string // the copy (absolute)
	Bytes         int64  // its size
	SchemaVersion int
	UEs           int64
	Tokens        int64 // issued-token records
	SigningKeys   int64
}

// Backup writes a consistent copy of the database at src to dst, a new
// file created with mode 0600 (it holds the sealed signing keys and the
// client-secret hashes). It works while a server is using src: the copy is
// one snapshot (SQLite's VACUUM INTO, run on a read-only connection, so
// the server's writes wait for nothing but a reader). The copy is synced
// and checked (PRAGMA integrity_check, schema version, row counts) before
// Backup returns. dst must not exist; src must be a database this package
// wrote. On failure dst is removed.
//
// The copy is useless without the key-encryption key that sealed its
// signing keys, and the KEK must not be stored with it.
func Backup(ctx context.Context, src, dst string) (info BackupInfo, err error) {
	if src == "" || dst == "" {
		return info, errors.New("store/sqlite: backup: source and destination are required")
	}
	absSrc, err := filepath.Abs(src)
	if err != nil {
		return info, fmt.Errorf("store/sqlite: backup: %w", err)
	}
	absDst, err := filepath.Abs(dst)
	if err != nil {
		return info, fmt.Errorf("store/sqlite: backup: %w", err)
	}
	if absSrc == absDst {
		return info, fmt.Errorf("store/sqlite: backup: destination %s is the database itself", dst)
	}
	if fi, err := os.Stat(absSrc); err != nil {
		return info, fmt.Errorf("store/sqlite: backup: %w", err)
	} else if !fi.Mode().IsRegular() {
		return info, fmt.Errorf("store/sqlite: backup: %s is not a regular file", src)
	}

	// Create the destination first, empty and 0600, so that it never
	// exists with wider permissions; VACUUM INTO accepts an empty file.
	f, err := os.OpenFile(absDst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return info, fmt.Errorf("store/sqlite: backup: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(absDst)
		}
	}()
	err = f.Chmod(0o600) // umask-independent
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return info, fmt.Errorf("store/sqlite: backup: %w", err)
	}

	if err := vacuumInto(ctx, absSrc, absDst); err != nil {
		return info, err
	}
	if err := syncFile(absDst); err != nil {
		return info, err
	}
	info, err = inspect(ctx, absDst)
	if err != nil {
		return info, fmt.Errorf("store/sqlite: backup: checking the copy: %w", err)
	}
	return info, nil
}

// vacuumInto copies src into the empty file dst in one read transaction.
func vacuumInto(ctx context.Context, src, dst string) error {
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "busy_timeout(5000)")
	db, err := openDB(src, q)
	if err != nil {
		return err
	}
	defer db.Close()
	var v int
	if err := db.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v); err != nil {
		return fmt.Errorf("store/sqlite: backup: %s is not a prose-as database (no schema version: %v)", src, err)
	}
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		return fmt.Errorf("store/sqlite: backup: copying %s: %w", src, err)
	}
	return nil
}

// syncFile makes path's contents and its directory entry durable.
func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("store/sqlite: backup: %w", err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("store/sqlite: backup: sync: %w", err)
	}
	syncDir(filepath.Dir(path))
	return nil
}

// inspect opens the copy read-only and checks it.
func inspect(ctx context.Context, path string) (BackupInfo, error) {
	info := BackupInfo{Path: path}
	q := url.Values{}
	q.Set("mode", "ro")
	q.Set("immutable", "1") // nobody else has the copy: no locks, no -shm
	db, err := openDB(path, q)
	if err != nil {
		return info, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return info, err
	}
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return info, err
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return info, err
	}
	if len(problems) > 0 {
		return info, fmt.Errorf("integrity check: %s", strings.Join(problems, "; "))
	}
	for _, c := range []struct {
		dst   any
		query string
	}{
		{&info.SchemaVersion, `SELECT version FROM schema_version`},
		{&info.UEs, `SELECT count(*) FROM ues`},
		{&info.Tokens, `SELECT count(*) FROM tokens`},
		{&info.SigningKeys, `SELECT count(*) FROM signing_keys`},
	} {
		if err := db.QueryRowContext(ctx, c.query).Scan(c.dst); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				err = fmt.Errorf("%s: no row", c.query)
			}
			return info, err
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return info, err
	}
	info.Bytes = fi.Size()
	return info, nil
}
