package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/prosesec/prosesec/store"
	"github.com/prosesec/prosesec/store/sqlite"
)

// registerStoreMetrics exports the SQLite store's group-commit and
// checkpoint counters (nothing for other backends).
func registerStoreMetrics(reg prometheus.Registerer, st store.Store) {
	s, ok := st.(*sqlite.Store)
	if !ok {
		return
	}
	counter := func(name, help string, f func(sqlite.Stats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "prose_as", Subsystem: "sqlite", Name: name, Help: help},
			func() float64 { return float64(f(s.Stats())) })
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "prose_as", Subsystem: "sqlite", Name: "wal_bytes",
			Help: "Size of the -wal file (it keeps its largest size, up to 64 MiB, after the WAL starts over)."},
			func() float64 { return float64(s.Stats().WALBytes) }),
		counter("transactions_total", "Write transactions of the group committer (batches); writes_total / transactions_total is the mean batch size.",
			func(st sqlite.Stats) int64 { return st.Transactions }),
		counter("writes_total", "Write requests executed by the group committer.",
			func(st sqlite.Stats) int64 { return st.Writes }),
		counter("batch_retries_total", "Batches rolled back and retried request by request.",
			func(st sqlite.Stats) int64 { return st.Retried }),
		counter("checkpoints_total", "Background WAL checkpoint passes.",
			func(st sqlite.Stats) int64 { return st.Checkpoints }),
		counter("checkpoint_catchups_total", "WAL checkpoints finished by the writer so that the WAL can start over (repeated while readers hold it).",
			func(st sqlite.Stats) int64 { return st.CheckpointCatchUps }),
		counter("wal_start_overs_total", "Start-overs of the WAL after the writer's catch-ups; flat while catch-ups rise means readers keep the WAL from starting over.",
			func(st sqlite.Stats) int64 { return st.WALStartOvers }),
		counter("checkpoint_failures_total", "Failed WAL checkpoints; while they fail the WAL grows up to 64 MiB, where the writer checkpoints itself.",
			func(st sqlite.Stats) int64 { return st.CheckpointFailures }),
	)
}
