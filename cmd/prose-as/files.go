package main

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode"
)

// Names of the files in the data directory.
const (
	fileDB         = "prose-as.db"
	fileKEK        = "kek"
	fileAdminToken = "admin.token"
	fileTLSCert    = "tls.crt"
	fileTLSKey     = "tls.key"
	fileListenAddr = "listen.addr"
	fileAdminAddr  = "admin.addr"
)

// ensureDataDir creates dir with mode 0700 if it does not exist. It returns
// a warning (not an error) when an existing directory is open to others.
func ensureDataDir(dir string) (warning string, err error) {
	if dir == "" {
		return "", errors.New("prose-as: --data-dir is empty; give a directory for the database, keys and certificates")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("prose-as: creating data directory: %v; choose another --data-dir or fix its parent's permissions", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("prose-as: data directory: %v", err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("prose-as: data directory %s is not a directory", dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Sprintf("data directory %s has mode %04o; run chmod 700 %s", dir, fi.Mode().Perm(), dir), nil
	}
	return "", nil
}

// writeFileExclusive creates path with mode perm and data, failing if it
// exists. The file is synced and only then renamed into place, so a crash
// never leaves a half-written secret behind.
func writeFileExclusive(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// Link fails if path exists, unlike Rename: first writer wins.
	if err := os.Link(tmp.Name(), path); err != nil {
		return err
	}
	syncDir(filepath.Dir(path))
	return nil
}

// writeFileReplace writes data to path atomically (temp file + rename).
func writeFileReplace(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// readSecretFile reads a secret file, refusing one that group or others
// may read: what it protects is only as safe as the file.
func readSecretFile(path, what, flagName string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("prose-as: %s file %s does not exist; create it or fix --%s", what, path, flagName)
		}
		return nil, fmt.Errorf("prose-as: reading %s file: %v", what, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("prose-as: reading %s file: %v", what, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("prose-as: %s file %s is not a regular file", what, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("prose-as: %s file %s is readable by group or others (mode %04o); restrict it with: chmod 600 %s", what, path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("prose-as: reading %s file: %v", what, err)
	}
	return data, nil
}

// parseKEK decodes a key-encryption key: 32 raw bytes, or 64 hex digits, or
// base64 (standard or URL alphabet, padded or not) of 32 bytes; surrounding
// white space is ignored for the text forms.
func parseKEK(data []byte) ([32]byte, error) {
	var kek [32]byte
	text := strings.TrimSpace(string(data))
	if len(text) == 64 {
		if b, err := hex.DecodeString(text); err == nil {
			copy(kek[:], b)
			return checkKEK(kek)
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(text); err == nil && len(b) == 32 {
			copy(kek[:], b)
			return checkKEK(kek)
		}
	}
	if len(data) == 32 {
		printable := true
		for _, c := range string(data) {
			if c > unicode.MaxASCII || !unicode.IsPrint(c) {
				printable = false
				break
			}
		}
		if !printable {
			copy(kek[:], data)
			return checkKEK(kek)
		}
		return kek, errors.New("32 printable characters look like a password, not 32 random bytes; use 64 hex digits (openssl rand -hex 32)")
	}
	return kek, fmt.Errorf("want 32 random bytes: raw, 64 hex digits or base64 (found %d bytes that are none of these); generate one with: openssl rand -hex 32", len(data))
}

func checkKEK(k [32]byte) ([32]byte, error) {
	if k == ([32]byte{}) {
		return k, errors.New("the key is all zeros; generate one with: openssl rand -hex 32")
	}
	return k, nil
}

// loadOrCreateKEK returns the KEK from path, creating the file with a new
// random key when create is set and it does not exist. created reports
// whether a new file was written.
func loadOrCreateKEK(path string, create bool, rnd io.Reader) (kek [32]byte, created bool, err error) {
	if create {
		if _, statErr := os.Lstat(path); errors.Is(statErr, fs.ErrNotExist) {
			var k [32]byte
			if _, err := io.ReadFull(rnd, k[:]); err != nil {
				return kek, false, fmt.Errorf("prose-as: generating KEK: %v", err)
			}
			err := writeFileExclusive(path, []byte(hex.EncodeToString(k[:])+"\n"), 0o600)
			if err != nil && !errors.Is(err, fs.ErrExist) {
				return kek, false, fmt.Errorf("prose-as: writing KEK file: %v", err)
			}
			created = err == nil
		}
	}
	data, err := readSecretFile(path, "KEK", "kek-file")
	if err != nil {
		return kek, false, err
	}
	kek, err = parseKEK(data)
	if err != nil {
		return kek, false, fmt.Errorf("prose-as: KEK file %s: %v", path, err)
	}
	return kek, created, nil
}

// minAdminTokenLen is the shortest admin token accepted.
const minAdminTokenLen = 16

// parseAdminToken trims and checks an admin token.
func parseAdminToken(data []byte) (string, error) {
	t := strings.TrimSpace(string(data))
	if len(t) < minAdminTokenLen {
		return "", fmt.Errorf("the admin token must be at least %d characters (found %d); generate one with: openssl rand -base64 32", minAdminTokenLen, len(t))
	}
	if strings.ContainsFunc(t, func(r rune) bool { return r <= ' ' || r > '~' }) {
		return "", errors.New("the admin token must be printable ASCII without spaces")
	}
	return t, nil
}

// loadOrCreateAdminToken is loadOrCreateKEK for the admin API bearer token.
func loadOrCreateAdminToken(path string, create bool, rnd io.Reader) (tok string, created bool, err error) {
	if create {
		if _, statErr := os.Lstat(path); errors.Is(statErr, fs.ErrNotExist) {
			var b [32]byte
			if _, err := io.ReadFull(rnd, b[:]); err != nil {
				return "", false, fmt.Errorf("prose-as: generating admin token: %v", err)
			}
			err := writeFileExclusive(path, []byte(base64.RawURLEncoding.EncodeToString(b[:])+"\n"), 0o600)
			if err != nil && !errors.Is(err, fs.ErrExist) {
				return "", false, fmt.Errorf("prose-as: writing admin token file: %v", err)
			}
			created = err == nil
		}
	}
	data, err := readSecretFile(path, "admin token", "admin-token-file")
	if err != nil {
		return "", false, err
	}
	tok, err = parseAdminToken(data)
	if err != nil {
		return "", false, fmt.Errorf("prose-as: admin token file %s: %v", path, err)
	}
	return tok, created, nil
}
