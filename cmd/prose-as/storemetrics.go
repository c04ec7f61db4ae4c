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
		counter("transactions_total", "Write transactions of the group committer (batches); writes_total / transactions_total is the mean batch size.",
			func(st sqlite.Stats) int64 { return st.Transactions }),
		counter("writes_total", "Write requests executed by the group committer.",
			func(st sqlite.Stats) int64 { return st.Writes }),
		counter("batch_retries_total", "Batches rolled back and retried request by request.",
			func(st sqlite.Stats) int64 { return st.Retried }),
		counter("checkpoints_total", "Background WAL checkpoint passes.",
			func(st sqlite.Stats) int64 { return st.Checkpoints }),
		counter("checkpoint_catchups_total", "WAL checkpoints finished by the writer so that the WAL could start over.",
			func(st sqlite.Stats) int64 { return st.CheckpointCatchUps }),
		counter("checkpoint_failures_total", "Failed WAL checkpoints; while they fail the WAL grows up to 64 MiB, where the writer checkpoints itself.",
			func(st sqlite.Stats) int64 { return st.CheckpointFailures }),
	)
}
