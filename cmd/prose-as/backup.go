package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/prosesec/prosesec/store/postgres"
	"github.com/prosesec/prosesec/store/sqlite"
)

func backupCommand() *command {
	return &command{
		name:     "backup",
		synopsis: "prose-as backup --out FILE [--data-dir DIR | --db PATH | --config FILE]",
		short:    "copy the SQLite database, consistently, while the server runs",
		long: "Writes a consistent copy of the server's SQLite database to FILE, a new file of mode 0600, " +
			"while the server keeps serving: the copy is one snapshot (SQLite's VACUUM INTO on a read-only " +
			"connection), synced and checked (integrity check, schema version, row counts) before the " +
			"command reports it. FILE must not exist. The copy holds the signing keys sealed under the " +
			"key-encryption key and the hashes of the client secrets, not the KEK: back up DIR/kek (or " +
			"wherever --kek-file points) separately, and never next to the copy. To restore, stop the " +
			"server, remove DIR/prose-as.db-wal and DIR/prose-as.db-shm, copy the backup to " +
			"DIR/prose-as.db (mode 0600) and start the server with the KEK it had. A PostgreSQL " +
			"database is backed up with pg_dump (docs/postgres.md).",
		examples: []string{
			"# Back up the default data directory's database\nprose-as backup --out /var/backups/prose-as-$(date +%F).db",
			"# A database elsewhere\nprose-as backup --db /srv/prose/as.db --out as-copy.db",
			"# The database of a server started with --config\nprose-as backup --config /etc/prose-as.yaml --out as-copy.db",
		},
		setup: func(fs *flag.FlagSet) action {
			out := fs.String("out", "", "`FILE` to create for the copy (mode 0600; must not exist) (required)")
			dataDir := fs.String("data-dir", "./prose-as-data", "the server's data `DIR`; the database is DIR/prose-as.db unless --db is given (env PROSE_AS_DATA_DIR)")
			db := fs.String("db", "", "the SQLite database file `PATH` (env PROSE_AS_DB)")
			config := fs.String("config", "", "the server's YAML config `FILE`, for its data-dir, db and kek-file keys (env PROSE_AS_CONFIG)")
			return func(ctx context.Context, e *env, fs *flag.FlagSet) error {
				// The server's settings, resolved as serve resolves them
				// (flag, environment, config file, default), so that the
				// backup reads the database the server uses.
				sfs := flag.NewFlagSet("serve", flag.ContinueOnError)
				sfs.SetOutput(io.Discard)
				s := serveFlags(sfs)
				for name, v := range map[string]*string{"data-dir": dataDir, "db": db, "config": config} {
					if isSet(fs, name) {
						if err := sfs.Set(name, *v); err != nil {
							return usagef("backup: --%s: %v", name, err)
						}
					}
				}
				src, err := s.complete(sfs, e)
				if err != nil {
					return err
				}
				if *out == "" {
					return usagef("backup: --out is required")
				}
				if isPostgresDSN(s.DB) {
					return usagef("backup: %s is a PostgreSQL database: back it up with pg_dump (see docs/postgres.md); prose-as backup copies SQLite databases", postgres.Describe(s.DB))
				}
				path := s.DB
				if path == "" {
					path = filepath.Join(s.DataDir, fileDB)
				}
				info, err := sqlite.Backup(ctx, path, *out)
				if err != nil {
					return fmt.Errorf("prose-as: backup of %s: %v", path, err)
				}
				fmt.Fprintf(e.stdout, "backed up %s to %s (%d bytes, mode 0600, schema version %d): UEs: %d, issued-token records: %d, signing keys: %d\n",
					path, info.Path, info.Bytes, info.SchemaVersion, info.UEs, info.Tokens, info.SigningKeys)
				var kek string
				if kc, err := chooseSecret("kek-file", s.KEKFile, src["kek-file"], "PROSE_AS_KEK", s.DataDir, fileKEK, e.lookupEnv); err == nil {
					kek = kc.origin
				} else {
					kek = "the one the server uses; which one is unclear here: " + strings.TrimPrefix(err.Error(), "prose-as: ")
				}
				fmt.Fprintf(e.stdout, "the signing keys in the copy are sealed: keep the KEK (%s) in a separate, protected place\n", kek)
				return nil
			}
		},
	}
}
