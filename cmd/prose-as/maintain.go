package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prosesec/prosesec/as"
)

// maintainInterval is a quarter of the status list TTL, at most
// maxMaintainInterval and at least one second.
func maintainInterval(statusTTL time.Duration) time.Duration {
	return max(time.Second, min(maxMaintainInterval, statusTTL/4))
}

// maintainMetrics are the Prometheus collectors of the maintenance task:
// what it purged and rotated, and when it last completed without error,
// so that a task failing for good (a database refusing deletes, say)
// shows on a dashboard and not only in the warnings of the log.
type maintainMetrics struct {
	runs        *prometheus.CounterVec // outcome: ok, error
	purged      *prometheus.CounterVec // kind: token_records, client_assertions, signing_keys
	rotations   prometheus.Counter
	lastSuccess prometheus.Gauge // Unix seconds
}

// Label values of prose_as_maintenance_purged_total.
const (
	purgedTokenRecords     = "token_records"
	purgedClientAssertions = "client_assertions"
	purgedSigningKeys      = "signing_keys"
)

func newMaintainMetrics(reg prometheus.Registerer) *maintainMetrics {
	m := &maintainMetrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "prose_as", Name: "maintenance_runs_total",
			Help: "Runs of the periodic maintenance (key reload and rotation, purges) by outcome (ok, error).",
		}, []string{"outcome"}),
		purged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "prose_as", Name: "maintenance_purged_total",
			Help: "Records purged by the maintenance task, by kind: token_records (expired longer than --token-retention), client_assertions (used assertion JTIs past their expiry), signing_keys (retired keys no longer published).",
		}, []string{"kind"}),
		rotations: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "prose_as", Name: "signing_key_rotations_total",
			Help: "Signing key rotations made by this instance's maintenance task (--key-rotation-period).",
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "prose_as", Name: "maintenance_last_success_timestamp_seconds",
			Help: "Unix time at which the last maintenance run completed without error (0: none yet).",
		}),
	}
	// Every series exists from the start, so that rate() and absence
	// alerts work before the first purge or failure.
	for _, o := range []string{"ok", "error"} {
		m.runs.WithLabelValues(o)
	}
	for _, k := range []string{purgedTokenRecords, purgedClientAssertions, purgedSigningKeys} {
		m.purged.WithLabelValues(k)
	}
	reg.MustRegister(m.runs, m.purged, m.rotations, m.lastSuccess)
	return m
}

// maintainLoop runs maintainOnce every interval until ctx ends.
func maintainLoop(ctx context.Context, srv *as.Server, log *slog.Logger, m *maintainMetrics, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		maintainOnce(ctx, srv, log, m)
	}
}

// maintainOnce runs Server.Maintain once, logs what it did and updates the
// metrics.
func maintainOnce(ctx context.Context, srv *as.Server, log *slog.Logger, m *maintainMetrics) {
	res, err := srv.Maintain(ctx)
	m.purged.WithLabelValues(purgedTokenRecords).Add(float64(res.PurgedTokens))
	m.purged.WithLabelValues(purgedClientAssertions).Add(float64(res.PurgedAssertions))
	m.purged.WithLabelValues(purgedSigningKeys).Add(float64(res.PurgedKeys))
	if res.Rotated {
		m.rotations.Inc()
	}
	switch {
	case err == nil:
		m.runs.WithLabelValues("ok").Inc()
		m.lastSuccess.SetToCurrentTime()
	case ctx.Err() == nil: // not a run cut short by shutdown
		m.runs.WithLabelValues("error").Inc()
	}
	if err != nil && ctx.Err() == nil {
		log.Warn("maintenance failed; retrying at the next tick", "err", err)
	}
	if res.Rotated {
		if keys, err := srv.Keys(ctx); err == nil {
			for _, k := range keys {
				if k.State == "active" {
					log.Info("signing key rotated", "active_kid", k.KID)
				}
			}
		}
	}
	if res.KeysReloaded && !res.Rotated {
		log.Info("signing keys reloaded (changed by another instance or an admin command)")
	}
	if res.PurgedKeys > 0 {
		log.Info("purged retired signing keys", "count", res.PurgedKeys)
	}
	if res.PurgedTokens > 0 {
		log.Debug("purged expired token records", "count", res.PurgedTokens)
	}
}
