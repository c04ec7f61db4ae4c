package httpapi

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is an injected clock for the limiter tests.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestLimiter(rate float64, burst, maxClients int) (*limiter, *fakeClock) {
	c := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	return newLimiter(RateLimit{Rate: rate, Burst: burst, MaxClients: maxClients}, c.now), c
}

// issue runs one request that yields a token.
func issue(l *limiter, id, ip string) time.Duration {
	tk, d := l.admit(id, ip)
	if d == 0 {
		tk.settle(true)
	}
	return d
}

// fail runs one request that yields no token.
func fail(l *limiter, id, ip string) time.Duration {
	tk, d := l.admit(id, ip)
	if d == 0 {
		tk.settle(false)
	}
	return d
}

func TestLimiterBurstThenRate(t *testing.T) {
	l, c := newTestLimiter(2, 5, 100)
	for i := 0; i < 5; i++ {
		if d := issue(l, "ue-1", "10.0.0.1"); d != 0 {
			t.Fatalf("request %d of the burst refused, wait %v", i+1, d)
		}
	}
	d := issue(l, "ue-1", "10.0.0.1")
	if d != 500*time.Millisecond {
		t.Fatalf("6th request: wait %v, want 500ms (rate 2/s)", d)
	}
	if got := retryAfterSeconds(d); got != 1 {
		t.Fatalf("Retry-After %d, want 1 (rounded up)", got)
	}
	// Another client is not affected.
	if d := issue(l, "ue-2", "10.0.0.1"); d != 0 {
		t.Fatalf("another client refused: %v", d)
	}
	c.advance(499 * time.Millisecond)
	if d := issue(l, "ue-1", "10.0.0.1"); d <= 0 || d > 2*time.Millisecond {
		t.Fatalf("after 499ms: wait %v, want about 1ms", d)
	}
	c.advance(time.Millisecond)
	if d := issue(l, "ue-1", "10.0.0.1"); d != 0 {
		t.Fatalf("after 500ms: refused, wait %v", d)
	}
	// Sustained: one request per 500ms passes, a second one in between does not.
	for i := 0; i < 10; i++ {
		c.advance(500 * time.Millisecond)
		if d := issue(l, "ue-1", "10.0.0.1"); d != 0 {
			t.Fatalf("sustained request %d refused: %v", i, d)
		}
		if d := issue(l, "ue-1", "10.0.0.1"); d == 0 {
			t.Fatalf("request %d above the rate admitted", i)
		}
	}
	// A quiet period refills up to the burst, not beyond.
	c.advance(time.Hour)
	for i := 0; i < 5; i++ {
		if d := issue(l, "ue-1", "10.0.0.1"); d != 0 {
			t.Fatalf("refilled burst: request %d refused", i+1)
		}
	}
	if d := issue(l, "ue-1", "10.0.0.1"); d == 0 {
		t.Fatal("the bucket refilled beyond its burst")
	}
}

// TestLimiterNoLockout: failures from an attacker's address under a
// victim's client ID do not stop the victim, and stop the attacker after
// the burst (before any verification).
func TestLimiterNoLockout(t *testing.T) {
	l, c := newTestLimiter(1, 3, 100)
	for i := 0; i < 3; i++ {
		if d := fail(l, "victim", "192.0.2.66"); d != 0 {
			t.Fatalf("attacker attempt %d refused early: %v", i+1, d)
		}
	}
	for i := 0; i < 100; i++ {
		if d := fail(l, "victim", "192.0.2.66"); d == 0 {
			t.Fatalf("attacker attempt %d admitted beyond the failure burst", i+4)
		}
	}
	// The victim, from its own address, gets its whole burst.
	for i := 0; i < 3; i++ {
		if d := issue(l, "victim", "198.51.100.7"); d != 0 {
			t.Fatalf("victim request %d refused: %v", i+1, d)
		}
	}
	// Successes refund the failure bucket: an honest client that succeeds
	// never spends it.
	c.advance(10 * time.Second)
	for i := 0; i < 3; i++ {
		if d := issue(l, "ue-ok", "198.51.100.8"); d != 0 {
			t.Fatal(d)
		}
	}
	if n := l.failed.len(); n != 1 {
		t.Errorf("%d failure buckets, want 1 (the attacker's)", n)
	}
	// Requests naming no client are not limited (the AS rejects them cheaply).
	for i := 0; i < 50; i++ {
		if d := fail(l, "", "192.0.2.66"); d != 0 {
			t.Fatal("anonymous request limited")
		}
	}
}

// TestLimiterBoundedMemory: a flood of random client IDs keeps at most
// MaxClients buckets, and full buckets are forgotten.
func TestLimiterBoundedMemory(t *testing.T) {
	l, c := newTestLimiter(1, 2, 64)
	for i := 0; i < 10000; i++ {
		fail(l, fmt.Sprintf("random-%d", i), "192.0.2.1")
		issue(l, fmt.Sprintf("ok-%d", i), "192.0.2.2")
	}
	if n, m := l.failed.len(), l.issue.len(); n > 64 || m > 64 {
		t.Fatalf("%d failure and %d issuance buckets, want at most 64", n, m)
	}
	if n := len(l.failed.index); n != l.failed.len() {
		t.Fatalf("index %d != list %d", n, l.failed.len())
	}
	// The most recent clients are kept: their debt survives the flood.
	if d := issue(l, "ok-9999", "192.0.2.2"); d != 0 {
		t.Fatalf("ok-9999 second request refused: %v", d)
	}
	if d := issue(l, "ok-9999", "192.0.2.2"); d == 0 {
		t.Fatal("ok-9999 third request admitted: its bucket was lost")
	}
	// IDs longer than any UE ID take no bucket (the AS rejects them first).
	long := strings.Repeat("x", 129)
	for i := 0; i < 100; i++ {
		if d := fail(l, long, "192.0.2.3"); d != 0 {
			t.Fatal("over-long client ID limited")
		}
	}
	if _, ok := l.failed.index[failedKey(long, "192.0.2.3")]; ok {
		t.Fatal("over-long client ID got a bucket")
	}
	// Refilled buckets are dropped when met.
	c.advance(time.Minute)
	issue(l, "ok-9999", "192.0.2.2")
	if d := l.issue.wait("ok-9999", c.now()); d != 0 {
		t.Fatal(d)
	}
}

func TestLimiterDisabledAndOptions(t *testing.T) {
	if l := newLimiter(RateLimit{}, nil); l != nil {
		t.Fatal("rate 0 must disable the limiter")
	}
	var l *limiter
	if _, d := l.admit("ue-1", "x"); d != 0 {
		t.Fatal("nil limiter refused")
	}
	for _, bad := range []RateLimit{{Rate: -1}, {Rate: 1, Burst: -1}, {Rate: 1, MaxClients: -2}} {
		if bad.check() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	l2, _ := newTestLimiter(0.5, 0, 0)
	if l2.issue.burst != 1 || l2.issue.max != DefaultRateLimitClients {
		t.Errorf("defaults: burst %v max %d", l2.issue.burst, l2.issue.max)
	}
	issue(l2, "a", "ip")
	if d := issue(l2, "a", "ip"); d != 2*time.Second || retryAfterSeconds(d) != 2 {
		t.Errorf("rate 0.5/s: wait %v", d)
	}
	if retryAfterSeconds(time.Nanosecond) != 1 || retryAfterSeconds(2*time.Second+1) != 3 {
		t.Error("retryAfterSeconds does not round up")
	}
}

func TestAssertionSubject(t *testing.T) {
	for in, want := range map[string]string{
		"eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJ1ZS0xIiwic3ViIjoidWUtMSJ9.c2ln": "ue-1",
		"x.eyJpc3MiOiJ1ZS0yIn0.y": "ue-2", // iss only
		"e30.e30.e30":             "",
		"a.b":                     "",
		"a.!!!.c":                 "",
		"a.bm90IGpzb24.c":         "",
		"":                        "",
	} {
		if got := assertionSubject(in); got != want {
			t.Errorf("assertionSubject(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestLimiterConcurrentFailures: concurrent bad requests under one claimed
// client from one address get exactly the burst, no more.
func TestLimiterConcurrentFailures(t *testing.T) {
	l, _ := newTestLimiter(1, 10, 100)
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if d := fail(l, "victim", "192.0.2.66"); d == 0 {
				mu.Lock()
				admitted++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if admitted != 10 {
		t.Fatalf("%d of 200 concurrent failing requests admitted, want the burst (10)", admitted)
	}
}
