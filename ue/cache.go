package ue

import (
	"crypto"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/prosesec/prosesec/token"
)

// Files of a cache directory.
const (
	IdentityKeyFile = "identity.pem"
	CredentialsFile = "credentials.json"
)

// Cache is a UE's credential cache: a directory, mode 0700, holding
// IdentityKeyFile and CredentialsFile, both 0600. It survives restarts;
// every write is atomic. A Cache does not lock the directory: one agent
// per directory.
type Cache struct {
	dir string
}

// OpenCache opens (creating with mode 0700 if absent) a cache directory. An
// existing directory that group or others can access is refused.
func OpenCache(dir string) (*Cache, error) {
	if dir == "" {
		return nil, fmt.Errorf("ue: no cache directory given")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ue: creating cache directory: %v", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("ue: cache directory: %v", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("ue: cache path %s is not a directory", dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("ue: cache directory %s has mode %04o, open to group or others; run chmod 700 %s", dir, fi.Mode().Perm(), dir)
	}
	return &Cache{dir: dir}, nil
}

// Dir returns the cache directory.
func (c *Cache) Dir() string { return c.dir }

func (c *Cache) path(name string) string { return filepath.Join(c.dir, name) }

// readPrivate reads a cache file, refusing one that group or others can
// access.
func (c *Cache) readPrivate(name string) ([]byte, error) {
	p := c.path(name)
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("ue: %s is not a regular file", p)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("ue: %s has mode %04o, open to group or others; run chmod 600 %s", p, fi.Mode().Perm(), p)
	}
	return io.ReadAll(io.LimitReader(f, maxCacheFile+1))
}

// maxCacheFile bounds what is read back from the cache (the status lists
// dominate: at most a few MiB).
const maxCacheFile = 64 << 20

// IdentityKey reads the identity key. A missing key is fs.ErrNotExist
// (wrapped).
func (c *Cache) IdentityKey() (crypto.Signer, error) {
	b, err := c.readPrivate(IdentityKeyFile)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("ue: no identity key in %s (%w); create one (prose-ue keygen) and register its public key with the application server", c.dir, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("ue: reading identity key: %w", err)
	}
	k, err := ParseIdentityKey(b)
	if err != nil {
		return nil, fmt.Errorf("%v (in %s)", err, c.path(IdentityKeyFile))
	}
	return k, nil
}

// SaveIdentityKey stores k (PKCS #8 PEM, 0600). It never replaces an
// existing key (fs.ErrExist): the AS knows the old one.
func (c *Cache) SaveIdentityKey(k crypto.Signer) error {
	b, err := MarshalIdentityKey(k)
	if err != nil {
		return err
	}
	if err := writeAtomic(c.dir, IdentityKeyFile, b, true); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("ue: %s already exists; remove it first to replace the identity key (%w)", c.path(IdentityKeyFile), fs.ErrExist)
		}
		return err
	}
	return nil
}

// ReplaceIdentityKey stores k as the identity key whether or not one
// exists, atomically (0600). Credentials cached for the old key no longer
// open (ErrKeyMismatch) until the UE provisions again with the key the AS
// has registered.
func (c *Cache) ReplaceIdentityKey(k crypto.Signer) error {
	b, err := MarshalIdentityKey(k)
	if err != nil {
		return err
	}
	return writeAtomic(c.dir, IdentityKeyFile, b, false)
}

// GenerateIdentityKey makes a new identity key, stores it and returns it.
func (c *Cache) GenerateIdentityKey(alg token.Algorithm, rand io.Reader) (crypto.Signer, error) {
	k, err := GenerateIdentityKey(alg, rand)
	if err != nil {
		return nil, err
	}
	if err := c.SaveIdentityKey(k); err != nil {
		return nil, err
	}
	return k, nil
}

// Load reads the cached credentials: ErrNoCredentials if there are none,
// ErrCacheCorrupt if they do not parse. Load checks no signature: Open
// does.
func (c *Cache) Load() (*Credentials, error) {
	b, err := c.readPrivate(CredentialsFile)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errorf(ErrNoCredentials, "no credentials cached in %s; %s", c.dir, reconnect)
		}
		return nil, errorf(ErrCacheCorrupt, "reading %s: %v", c.path(CredentialsFile), err)
	}
	if len(b) > maxCacheFile {
		return nil, errorf(ErrCacheCorrupt, "%s exceeds %d bytes; %s", c.path(CredentialsFile), maxCacheFile, reconnect)
	}
	return parseCredentials(b, c.path(CredentialsFile))
}

// Save writes the credentials atomically (0600).
func (c *Cache) Save(cr *Credentials) error {
	b, err := cr.marshal()
	if err != nil {
		return err
	}
	return writeAtomic(c.dir, CredentialsFile, b, false)
}

// Open loads the identity key and the credentials and returns the offline
// bundle at now (see Credentials.Open).
func (c *Cache) Open(pol Policy, now time.Time) (*OfflineBundle, error) {
	key, err := c.IdentityKey()
	if err != nil {
		return nil, err
	}
	cr, err := c.Load()
	if err != nil {
		return nil, err
	}
	return cr.Open(key, pol, now)
}

// writeAtomic writes data to dir/name through a temporary file in dir:
// write, fsync, close, then rename over name (or, with exclusive, link to
// name, failing with fs.ErrExist if it exists), then fsync dir. The file
// has mode 0600. A crash leaves either the old content or the new one.
func writeAtomic(dir, name string, data []byte, exclusive bool) (err error) {
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return fmt.Errorf("ue: writing %s: %v", name, err)
	}
	tmp := f.Name()
	defer func() {
		if f != nil {
			f.Close()
		}
		if err != nil || exclusive {
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("ue: writing %s: %v", name, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("ue: writing %s: %v", name, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("ue: writing %s: fsync: %v", name, err)
	}
	if err := f.Close(); err != nil {
		f = nil
		return fmt.Errorf("ue: writing %s: %v", name, err)
	}
	f = nil
	final := filepath.Join(dir, name)
	if exclusive {
		if err := os.Link(tmp, final); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fs.ErrExist
			}
			return fmt.Errorf("ue: writing %s: %v", name, err)
		}
	} else if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("ue: writing %s: %v", name, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("ue: fsync of %s: %v", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("ue: fsync of %s: %v", dir, err)
	}
	return nil
}
