package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prosesec/prosesec/as"
	"github.com/prosesec/prosesec/store"
	"github.com/prosesec/prosesec/store/sqlite"
)

// testClock is a settable clock for as.Config.Clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// metricValue is the value of the series of name with the given label
// value (any label), or of the unlabelled series if label is "".
func metricValue(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := label == ""
			for _, lp := range m.GetLabel() {
				match = match || lp.GetValue() == label
			}
			if !match {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
		}
	}
	t.Fatalf("no series %s{%s}", name, label)
	return 0
}

// TestMaintainMetrics runs the maintenance task of prose-as serve against a
// real SQLite store on a test clock: purged token records, a key rotation
// and a failed run show in the metrics /metrics serves, and in the log.
func TestMaintainMetrics(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "as.db"))
	if err != nil {
		t.Fatal(err)
	}
	clk := &testClock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	srv, err := as.New(ctx, as.Config{
		Issuer:            "https://as.test",
		KEK:               [32]byte{1},
		Store:             st,
		Clock:             clk.Now,
		Rand:              rand.Reader,
		KeyRotationPeriod: 72 * time.Hour,
		TokenRetention:    time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m := newMaintainMetrics(reg)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	// Before any run every series is there, at zero.
	for _, k := range []string{purgedTokenRecords, purgedClientAssertions, purgedSigningKeys} {
		if v := metricValue(t, reg, "prose_as_maintenance_purged_total", k); v != 0 {
			t.Errorf("purged{%s} = %v before any run", k, v)
		}
	}
	if v := metricValue(t, reg, "prose_as_maintenance_last_success_timestamp_seconds", ""); v != 0 {
		t.Errorf("last success = %v before any run", v)
	}

	// Three token records expired an hour and a minute ago, one a minute
	// ago: a run purges the three.
	now := clk.Now()
	for i, exp := range []time.Time{now.Add(-61 * time.Minute), now.Add(-61 * time.Minute), now.Add(-62 * time.Minute), now.Add(-time.Minute)} {
		err := st.RecordToken(ctx, &store.IssuedToken{
			JTI: "jti-" + string(rune('a'+i)), Subject: "ue-m", Scope: "u2u:use:000001", Format: "jwt", KeyID: "k",
			IssuedAt: exp.Add(-time.Hour), ExpiresAt: exp,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	before := time.Now().Unix()
	maintainOnce(ctx, srv, log, m)
	if v := metricValue(t, reg, "prose_as_maintenance_purged_total", purgedTokenRecords); v != 3 {
		t.Errorf("purged{token_records} = %v, want 3", v)
	}
	if v := metricValue(t, reg, "prose_as_maintenance_runs_total", "ok"); v != 1 {
		t.Errorf("runs{ok} = %v, want 1", v)
	}
	if v := metricValue(t, reg, "prose_as_maintenance_last_success_timestamp_seconds", ""); v < float64(before) {
		t.Errorf("last success = %v, want >= %d", v, before)
	}
	if v := metricValue(t, reg, "prose_as_signing_key_rotations_total", ""); v != 0 {
		t.Errorf("rotations = %v before the period", v)
	}
	if !strings.Contains(logs.String(), "purged expired token records") || !strings.Contains(logs.String(), "count=3") {
		t.Errorf("log lacks the purge:\n%s", logs.String())
	}

	// After the rotation period the run rotates the keys.
	clk.Add(72 * time.Hour)
	maintainOnce(ctx, srv, log, m)
	if v := metricValue(t, reg, "prose_as_signing_key_rotations_total", ""); v != 1 {
		t.Errorf("rotations = %v, want 1", v)
	}
	if !strings.Contains(logs.String(), "signing key rotated") {
		t.Errorf("log lacks the rotation:\n%s", logs.String())
	}

	// A run on a closed database fails: counted, last success unchanged,
	// a warning logged.
	last := metricValue(t, reg, "prose_as_maintenance_last_success_timestamp_seconds", "")
	st.Close()
	clk.Add(time.Hour) // a token purge is due again
	maintainOnce(ctx, srv, log, m)
	if v := metricValue(t, reg, "prose_as_maintenance_runs_total", "error"); v != 1 {
		t.Errorf("runs{error} = %v, want 1", v)
	}
	if v := metricValue(t, reg, "prose_as_maintenance_runs_total", "ok"); v != 2 {
		t.Errorf("runs{ok} = %v, want 2", v)
	}
	if v := metricValue(t, reg, "prose_as_maintenance_last_success_timestamp_seconds", ""); v != last {
		t.Errorf("last success moved on a failed run: %v -> %v", last, v)
	}
	if !strings.Contains(logs.String(), "maintenance failed") {
		t.Errorf("log lacks the failure:\n%s", logs.String())
	}
}
