package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/prosesec/prosesec/store"
	"github.com/prosesec/prosesec/store/sqlite"
)

// sqliteCollector exports the SQLite store's group-commit and checkpoint
// figures, from one Stats call per scrape.
type sqliteCollector struct {
	st      *sqlite.Store
	metrics []sqliteMetric
}

type sqliteMetric struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(sqlite.Stats) int64
}

// registerStoreMetrics registers a sqliteCollector for a SQLite store
// (nothing for other backends).
func registerStoreMetrics(reg prometheus.Registerer, st store.Store) {
	s, ok := st.(*sqlite.Store)
	if !ok {
		return
	}
	m := func(name, help string, kind prometheus.ValueType, value func(sqlite.Stats) int64) sqliteMetric {
		return sqliteMetric{prometheus.NewDesc("prose_as_sqlite_"+name, help, nil, nil), kind, value}
	}
	reg.MustRegister(&sqliteCollector{st: s, metrics: []sqliteMetric{
		m("transactions_total", "Write transactions of the group committer (batches); writes_total / transactions_total is the mean batch size.",
			prometheus.CounterValue, func(st sqlite.Stats) int64 { return st.Transactions }),
		m("writes_total", "Write requests executed by the group committer.",
			prometheus.CounterValue, func(st sqlite.Stats) int64 { return st.Writes }),
		m("batch_retries_total", "Batches rolled back and retried request by request.",
			prometheus.CounterValue, func(st sqlite.Stats) int64 { return st.Retried }),
		m("checkpoints_total", "Background WAL checkpoint passes.",
			prometheus.CounterValue, func(st sqlite.Stats) int64 { return st.Checkpoints }),
		m("checkpoint_catchups_total", "WAL checkpoints finished by the writer so that the WAL can start over (repeated while readers hold it).",
			prometheus.CounterValue, func(st sqlite.Stats) int64 { return st.CheckpointCatchUps }),
		m("wal_start_overs_total", "Start-overs of the WAL after the writer's catch-ups; flat while catch-ups rise means readers keep the WAL from starting over.",
			prometheus.CounterValue, func(st sqlite.Stats) int64 { return st.WALStartOvers }),
		m("checkpoint_failures_total", "Failed WAL checkpoints; while they fail the WAL grows up to 64 MiB, where the writer checkpoints itself.",
			prometheus.CounterValue, func(st sqlite.Stats) int64 { return st.CheckpointFailures }),
		m("wal_bytes", "Size of the -wal file (it keeps its largest size, up to 64 MiB, after the WAL starts over).",
			prometheus.GaugeValue, func(st sqlite.Stats) int64 { return st.WALBytes }),
	}})
}

func (c *sqliteCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.metrics {
		ch <- m.desc
	}
}

func (c *sqliteCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.st.Stats()
	for _, m := range c.metrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, float64(m.value(st)))
	}
}
