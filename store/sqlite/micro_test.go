//go:build unix

package sqlite

import (
	"path/filepath"
	"testing"
	"time"
)

// benchDirect measures the SQL work of RecordToken alone, in transactions
// of perTx inserts on the write connection, without the group committer
// (which sits idle: no request is submitted). It separates the cost of a
// commit from the cost of a record.
func benchDirect(b *testing.B, perTx int, opts ...Option) {
	s := openTest(b, filepath.Join(b.TempDir(), "as.db"), opts...)
	defer s.Close()
	w := s.w
	issued := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC).UnixNano()
	exp := issued + int64(time.Hour)
	measure(b, s, "records/s", func() {
		for i := 0; i < b.N; {
			if _, err := w.begin.ExecContext(w.ctx); err != nil {
				b.Fatal(err)
			}
			for j := 0; j < perTx && i < b.N; j, i = j+1, i+1 {
				if _, err := w.insertToken.ExecContext(w.ctx, scatter(int64(i)), scatter(int64(i % 1000))[:8], "prose:relay:0x00abcdef:use", "jwt", "k1", issued, exp, nil); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := w.commit.ExecContext(w.ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDirectTx1(b *testing.B)   { benchDirect(b, 1) }
func BenchmarkDirectTx256(b *testing.B) { benchDirect(b, 256) }
