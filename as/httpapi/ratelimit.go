package httpapi

import (
	"container/list"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"sync"
	"time"
)

// Per-client rate limiting of the token endpoint.
//
// A request is keyed by the client it claims to be, found cheaply and
// without verifying anything: the Basic user or client_id parameter, else
// the sub (or iss) claim of the client assertion, whose payload is only
// base64url- and JSON-decoded. A request that names no client, or a client
// ID longer than any UE ID, is not limited: the AS rejects it before any
// expensive work.
//
// Two token buckets guard the two costs, with the same rate and burst:
//
//   - the client's issuance bucket, keyed by client ID, is checked before
//     authentication (an empty bucket answers 429 at once, with no signature
//     verification) and charged only when a token is issued. Only the holder
//     of the client's credential can spend it, so an attacker who merely
//     knows a victim's client ID cannot lock the victim out. (Concurrent
//     requests of one client may overshoot the burst by their number; the
//     bucket then goes into debt, down to -burst, which the client repays
//     by waiting);
//   - the failure bucket, keyed by client ID and the peer's IP address, is
//     charged before authentication and refunded when a token is issued.
//     Requests that yield no token — above all bad credentials, each
//     possibly an expensive ES256/EdDSA verification — thus get burst
//     attempts, then rate per second, per source address and claimed
//     client; the victim, calling from another address, keeps its budget.
//     (Behind a reverse proxy every peer has the proxy's address: the
//     failure bucket is then per claimed client only.)
//
// Memory is bounded: at most MaxClients buckets of each kind are kept, the
// least recently used one is dropped first (dropping a bucket only forgets
// a debt: the client starts again with a full bucket), and a bucket that has
// refilled completely is dropped when met, as it holds no information.
// A flood of random client IDs therefore costs at most MaxClients entries.

// RateLimit configures the per-client limit of the token endpoint.
type RateLimit struct {
	// Rate is the sustained number of token requests per second per client
	// (0 disables the limit).
	Rate float64
	// Burst is the bucket size: requests a client may make at once after
	// a quiet period (default: max(1, ceil(Rate))).
	Burst int
	// MaxClients bounds each bucket table (default DefaultRateLimitClients).
	MaxClients int
}

// DefaultRateLimitClients is the default bound of a bucket table: about
// 10 MB at most for both tables.
const DefaultRateLimitClients = 50_000

func (r RateLimit) check() error {
	switch {
	case r.Rate < 0 || math.IsNaN(r.Rate) || math.IsInf(r.Rate, 0):
		return errors.New("as/httpapi: RateLimit.Rate must be a finite number >= 0")
	case r.Burst < 0:
		return errors.New("as/httpapi: RateLimit.Burst must not be negative")
	case r.MaxClients < 0:
		return errors.New("as/httpapi: RateLimit.MaxClients must not be negative")
	}
	return nil
}

// bucket is a token bucket: tokens at time t (may be negative: a debt).
type bucket struct {
	key    string
	tokens float64
	t      time.Time
}

// bucketTable is an LRU-bounded set of token buckets with one rate and
// burst. It is safe for concurrent use.
type bucketTable struct {
	rate  float64
	burst float64
	max   int

	mu    sync.Mutex
	ll    *list.List // front: most recently used; values *bucket
	index map[string]*list.Element
}

func newBucketTable(rate float64, burst, max int) *bucketTable {
	return &bucketTable{rate: rate, burst: float64(burst), max: max, ll: list.New(), index: map[string]*list.Element{}}
}

// level returns the bucket of key refilled to now, or nil if it is full
// (the bucket is then forgotten). Called with mu held.
func (bt *bucketTable) level(key string, now time.Time) *list.Element {
	el, ok := bt.index[key]
	if !ok {
		return nil
	}
	b := el.Value.(*bucket)
	if dt := now.Sub(b.t); dt > 0 {
		b.tokens = math.Min(bt.burst, b.tokens+dt.Seconds()*bt.rate)
		b.t = now
	}
	if b.tokens >= bt.burst {
		bt.ll.Remove(el)
		delete(bt.index, key)
		return nil
	}
	bt.ll.MoveToFront(el)
	return el
}

// wait returns how long key has to wait for one token (0: available now).
func (bt *bucketTable) wait(key string, now time.Time) time.Duration {
	bt.mu.Lock()
	defer bt.mu.Unlock()
	el := bt.level(key, now)
	if el == nil {
		return 0
	}
	return bt.waitFor(el.Value.(*bucket).tokens)
}

func (bt *bucketTable) waitFor(tokens float64) time.Duration {
	if tokens >= 1 {
		return 0
	}
	return time.Duration(math.Ceil((1 - tokens) / bt.rate * float64(time.Second)))
}

// add adds n tokens to key's bucket (n < 0 spends, n > 0 refunds; the
// level stays within [-burst, burst]).
func (bt *bucketTable) add(key string, n float64, now time.Time) {
	bt.mu.Lock()
	defer bt.mu.Unlock()
	bt.addLocked(bt.level(key, now), key, n, now)
}

// addLocked adds n tokens to the bucket el (nil: a full one) of key.
func (bt *bucketTable) addLocked(el *list.Element, key string, n float64, now time.Time) {
	if el == nil {
		if n >= 0 {
			return // full already
		}
		el = bt.ll.PushFront(&bucket{key: key, tokens: bt.burst, t: now})
		bt.index[key] = el
		for bt.ll.Len() > bt.max {
			old := bt.ll.Back()
			bt.ll.Remove(old)
			delete(bt.index, old.Value.(*bucket).key)
		}
	}
	b := el.Value.(*bucket)
	b.tokens = math.Max(-bt.burst, math.Min(bt.burst, b.tokens+n))
	if b.tokens >= bt.burst {
		bt.ll.Remove(el)
		delete(bt.index, key)
	}
}

// take spends one token of key if one is available and reports how long
// to wait otherwise.
func (bt *bucketTable) take(key string, now time.Time) time.Duration {
	bt.mu.Lock()
	defer bt.mu.Unlock()
	el := bt.level(key, now)
	if el != nil {
		if d := bt.waitFor(el.Value.(*bucket).tokens); d > 0 {
			return d
		}
	}
	bt.addLocked(el, key, -1, now)
	return 0
}

func (bt *bucketTable) len() int {
	bt.mu.Lock()
	defer bt.mu.Unlock()
	return bt.ll.Len()
}

// limiter is the per-client limiter of the token endpoint.
type limiter struct {
	clock  func() time.Time
	issue  *bucketTable // by client ID
	failed *bucketTable // by client ID and peer IP
}

func newLimiter(r RateLimit, clock func() time.Time) *limiter {
	if r.Rate == 0 {
		return nil
	}
	burst := r.Burst
	if burst == 0 {
		burst = max(1, int(math.Ceil(r.Rate)))
	}
	n := r.MaxClients
	if n == 0 {
		n = DefaultRateLimitClients
	}
	return &limiter{clock: clock, issue: newBucketTable(r.Rate, burst, n), failed: newBucketTable(r.Rate, burst, n)}
}

// maxLimitedID is the longest client ID the limiter tracks: UE IDs have at
// most 128 characters (as.RegisterUE), and the AS rejects longer ones
// before any lookup or verification, so they need no bucket (and cannot
// make the tables large).
const maxLimitedID = 128

// admit is called before authentication. It returns a positive wait when
// the request must be refused, and otherwise a ticket to settle once the
// outcome is known.
func (l *limiter) admit(clientID, peerIP string) (ticket, time.Duration) {
	if l == nil || clientID == "" || len(clientID) > maxLimitedID {
		return ticket{}, 0
	}
	now := l.clock()
	if d := l.issue.wait(clientID, now); d > 0 {
		return ticket{}, d
	}
	fk := failedKey(clientID, peerIP)
	if d := l.failed.take(fk, now); d > 0 {
		return ticket{}, d
	}
	return ticket{l: l, clientID: clientID, failedKey: fk}, 0
}

// ticket is an admitted request.
type ticket struct {
	l         *limiter
	clientID  string
	failedKey string
}

// settle records the outcome of an admitted request: whether a token was
// issued (which proves the client's credential).
func (t ticket) settle(issued bool) {
	if t.l == nil || !issued {
		return
	}
	now := t.l.clock()
	t.l.failed.add(t.failedKey, 1, now)
	t.l.issue.add(t.clientID, -1, now)
}

func failedKey(clientID, peerIP string) string {
	return peerIP + " " + clientID // an IP address holds no space
}

// assertionSubject returns the sub claim (else the iss claim) of a JWT
// client assertion without verifying it, or "" when it cannot be read.
// The AS rejects the assertion later if iss, sub and client_id disagree;
// here it only names a bucket.
func assertionSubject(assertion string) string {
	const maxLen = 8192 // the AS refuses larger assertions
	if len(assertion) > maxLen {
		return ""
	}
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		Iss string `json:"iss"`
		Sub string `json:"sub"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return ""
	}
	if c.Sub != "" {
		return c.Sub
	}
	return c.Iss
}

// retryAfterSeconds is d rounded up to whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	return max(1, s)
}
