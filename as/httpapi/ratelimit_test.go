package httpapi

import (
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prosesec/prosesec/as"
)

// fakeClock is an injected clock for the limiter tests.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestLimiter(rate float64, burst, maxClients int) (*limiter, *fakeClock) {
	return newTestLimiterF(rate, burst, maxClients, 0)
}

func newTestLimiterF(rate float64, burst, maxClients, addressFactor int) (*limiter, *fakeClock) {
	c := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	return newLimiter(RateLimit{Rate: rate, Burst: burst, MaxClients: maxClients, AddressFactor: addressFactor}, c.now), c
}

// issue runs one token request that yields a token.
func issue(l *limiter, id, ip string) time.Duration {
	tk, d := l.admit(id, ip, true)
	if d == 0 {
		tk.succeeded(id)
	}
	return d
}

// fail runs one token request that yields no token.
func fail(l *limiter, id, ip string) time.Duration {
	_, d := l.admit(id, ip, true)
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
	if n, m := l.failed.len(), l.addr.len(); n != 1 || m != 1 {
		t.Errorf("%d per-client and %d per-address failure buckets, want 1 each (the attacker's)", n, m)
	}
}

// TestLimiterPerAddress: failures from one address are limited across all
// the client IDs it claims (also none, or over-long ones), per /64 for
// IPv6; other addresses keep their budget.
func TestLimiterPerAddress(t *testing.T) {
	l, c := newTestLimiterF(1, 3, 100, 2) // address: rate 2/s, burst 6
	ids := []string{"ue-1", "", strings.Repeat("x", 200), "ue-2", "ue-3", "ue-4"}
	for i, id := range ids {
		if d := fail(l, id, "2001:db8:1:2::1"); d != 0 {
			t.Fatalf("failure %d refused early: %v", i+1, d)
		}
	}
	for i := 0; i < 50; i++ {
		for _, ip := range []string{"2001:db8:1:2::1", "2001:db8:1:2:ffff::7"} { // one /64
			if d := fail(l, fmt.Sprintf("rnd-%d", i), ip); d != 500*time.Millisecond {
				t.Fatalf("claimed ID %d from %s: wait %v, want 500ms", i, ip, d)
			}
		}
	}
	if d := issue(l, "ue-5", "2001:db8:1:3::1"); d != 0 {
		t.Fatalf("another /64 refused: %v", d)
	}
	if d := issue(l, "ue-5", "192.0.2.1"); d != 0 {
		t.Fatalf("another address refused: %v", d)
	}
	// One client failing at a shared address is stopped by its own bucket
	// and leaves the other clients there the rest of the address budget:
	// its refusals do not charge the address.
	for i := 0; i < 3; i++ {
		if d := fail(l, "ue-6", "192.0.2.9"); d != 0 {
			t.Fatal(d)
		}
	}
	for i := 0; i < 20; i++ {
		if d := fail(l, "ue-6", "192.0.2.9"); d != time.Second {
			t.Fatalf("ue-6 beyond its burst: wait %v, want 1s", d)
		}
	}
	for i := 0; i < 3; i++ {
		if d := issue(l, fmt.Sprintf("ue-%d", 7+i), "192.0.2.9"); d != 0 {
			t.Fatalf("another client at the shared address refused: %v", d)
		}
	}
	c.advance(time.Hour)
	// Revoke and introspect (no issuance) use the failure buckets only.
	l2, _ := newTestLimiter(1, 1, 100)
	issue(l2, "ue-6", "192.0.2.1")
	if tk, d := l2.admit("ue-6", "192.0.2.1", false); d != 0 {
		t.Fatalf("introspection refused by the issuance bucket: %v", d)
	} else {
		tk.succeeded("")
	}
	if _, d := l2.admit("ue-6", "192.0.2.1", true); d == 0 {
		t.Fatal("second token admitted with burst 1")
	}
	if l2.addr.burst != 10 || l2.addr.rate != 10 {
		t.Errorf("default address bucket: rate %v burst %v, want 10 and 10", l2.addr.rate, l2.addr.burst)
	}
}

func TestAddrKey(t *testing.T) {
	for in, want := range map[string][2]string{
		"192.0.2.1":            {"192.0.2.1", ""},
		"::ffff:192.0.2.1":     {"192.0.2.1", ""},
		"2001:db8:1:2:3:4:5:6": {"2001:db8:1:2::/64", "2001:db8:1::/48"},
		"2001:db8:1:2::":       {"2001:db8:1:2::/64", "2001:db8:1::/48"},
		"fe80::1%eth0":         {"fe80::/64", "fe80::/48"},
		"not-an-ip":            {"not-an-ip", ""},
	} {
		if a, n := addrKey(in); a != want[0] || n != want[1] {
			t.Errorf("addrKey(%q) = %q, %q, want %q, %q", in, a, n, want[0], want[1])
		}
	}
}

// TestLimiterPerNetwork: the /64s of one IPv6 /48 share a network bucket
// of NetworkFactor times the address bucket, so spreading failures over
// many /64s of one site does not multiply its budget; another /48 keeps
// its own, and successes refund it.
func TestLimiterPerNetwork(t *testing.T) {
	l, c := newTestLimiterF(1, 2, 100000, 3) // address: burst 6; network: burst 60
	admitted := 0
	for i := range 1000 {
		if fail(l, fmt.Sprintf("guess-%d", i), fmt.Sprintf("2001:db8:1:%x::1", i)) == 0 {
			admitted++
		}
	}
	if admitted != 2*3*NetworkFactor {
		t.Fatalf("%d failures admitted from 1000 /64s of one /48, want the network burst %d", admitted, 2*3*NetworkFactor)
	}
	if d := fail(l, "other", "2001:db8:2::1"); d != 0 {
		t.Fatalf("another /48 refused: wait %v", d)
	}
	// A refused request costs nothing: once the network bucket has refilled
	// by one, a request is admitted again.
	c.advance(time.Second/time.Duration(3*NetworkFactor) + time.Millisecond)
	if d := issue(l, "ue-ok", "2001:db8:1:ffff::1"); d != 0 {
		t.Fatalf("after the network bucket refilled by one, a good request was refused: %v", d)
	}
	if d := issue(l, "ue-ok", "2001:db8:1:ffff::1"); d != 0 {
		t.Fatalf("a success did not refund the network bucket: %v", d)
	}
}

// TestLimiterBoundedMemory: a flood of random client IDs keeps at most
// MaxClients buckets, and full buckets are forgotten.
func TestLimiterBoundedMemory(t *testing.T) {
	l, c := newTestLimiter(1, 2, 64)
	for i := 0; i < 10000; i++ {
		fail(l, fmt.Sprintf("random-%d", i), fmt.Sprintf("10.0.%d.%d", i/256, i%256))
		issue(l, fmt.Sprintf("ok-%d", i), "192.0.2.2")
	}
	if n, m, k := l.failed.len(), l.issue.len(), l.addr.len(); n > 64 || m > 64 || k > 64 {
		t.Fatalf("%d failure, %d issuance and %d address buckets, want at most 64", n, m, k)
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
	// IDs longer than any UE ID take no per-client bucket.
	long := strings.Repeat("x", 129)
	c.advance(time.Hour)
	for i := 0; i < 100; i++ {
		fail(l, long, fmt.Sprintf("192.0.3.%d", i))
	}
	if _, ok := l.failed.index[failedKey(long, "192.0.3.1")]; ok {
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
	if _, d := l.admit("ue-1", "x", true); d != 0 {
		t.Fatal("nil limiter refused")
	}
	for _, bad := range []RateLimit{{Rate: -1}, {Rate: 1, Burst: -1}, {Rate: 1, MaxClients: -2}, {Rate: 1, AddressFactor: -1}} {
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

func TestAssertionIssuer(t *testing.T) {
	b64 := base64.RawURLEncoding.EncodeToString
	hdr := b64([]byte(`{"alg":"ES256"}`))
	for payload, want := range map[string]string{
		`{"iss":"ue-1","sub":"ue-1"}`:               "ue-1",
		`{"iss":"ue-2"}`:                            "ue-2",
		`{"sub":"ue-1"}`:                            "",
		`{"iss":"ue-3","sub":"ue-3","SUB":"rnd-1"}`: "ue-3", // case-sensitive, as the AS reads it
		`{"iss":"ue-3","ISS":"rnd-1"}`:              "ue-3",
		`{"iss":"ue-3","iss":"rnd-1"}`:              "", // a duplicate member: the AS rejects it too
		`not json`:                                  "",
	} {
		if got := assertionIssuer(hdr + "." + b64([]byte(payload)) + ".c2ln"); got != want {
			t.Errorf("assertionIssuer(payload %s) = %q, want %q", payload, got, want)
		}
	}
	for _, in := range []string{"e30.e30.e30", "a.b", hdr + ".!!!.c2ln", "", hdr + "." + strings.Repeat("A", 9000) + ".c2ln"} {
		if got := assertionIssuer(in); got != "" {
			t.Errorf("assertionIssuer(%.40q) = %q, want \"\"", in, got)
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

// FuzzAssertionIssuer: the limiter reads the claims of any client
// assertion a peer sends, before verification; it must never panic and
// must name only an issuer that the payload holds.
func FuzzAssertionIssuer(f *testing.F) {
	b64 := base64.RawURLEncoding.EncodeToString
	f.Add(b64([]byte(`{"alg":"ES256"}`)) + "." + b64([]byte(`{"iss":"ue-1","sub":"ue-1"}`)) + ".c2ln")
	f.Add(b64([]byte(`{"alg":"EdDSA","b64":false,"crit":["b64"]}`)) + "." + b64([]byte(`{"iss":"ue-1"}`)) + ".c2ln")
	f.Add("e30.e30.e30")
	f.Fuzz(func(t *testing.T, assertion string) {
		iss := assertionIssuer(assertion)
		if len(iss) > len(assertion) {
			t.Fatalf("issuer %q longer than the assertion", iss)
		}
	})
}

// assertionIssuer is the client the limiter sees for a request that
// authenticates with only this client assertion.
func assertionIssuer(assertion string) string {
	a := as.ClientAuth{Method: as.AuthPrivateKeyJWT, Assertion: assertion}
	return a.ClaimedClient()
}
