package httpapi

import (
	"container/list"
	"errors"
	"math"
	"net/netip"
	"sync"
	"time"
)

// Rate limiting of the OAuth endpoints (token, revoke, introspect).
//
// Four tables of token buckets guard the two costs of a request: the
// tokens it makes the AS sign and the client authentication (a secret
// hash, or an ES256/EdDSA verification of a client assertion, also for an
// unknown client) it makes the AS check.
//
// A request that presents client credentials is keyed by the address of
// its peer (an IPv6 address by its /64 prefix, which one host usually
// owns whole) and by the client it claims to be, found without verifying
// anything: the Basic user or client_id parameter, else the iss claim of
// the client assertion, decoded once by the very parser the AS then
// authenticates (as.ClientAuth.ClaimedClient: token.ParseClientAssertion,
// case-sensitive, which rejects a member twice), so that the claimed client
// cannot differ from the one the AS authenticates. A claimed ID longer than any UE ID (or none) gets no
// per-client bucket; the address bucket still applies.
//
//   - The issuance bucket, keyed by the client ID the AS authenticated,
//     is charged one token per issued token (token endpoint only). It is
//     checked before authentication under the claimed client ID (an empty
//     bucket answers 429 at once, with no verification). Only the holder
//     of the client's credential can spend it, so an attacker who merely
//     knows a victim's client ID cannot lock the victim out. Concurrent
//     requests of one client may overshoot the burst by their number; the
//     bucket then goes into debt, down to -burst, which the client repays
//     by waiting. Only authenticated IDs enter this table, so a flood of
//     made-up IDs cannot evict a real client's debt.
//   - The failure buckets, one keyed by the peer address and the claimed
//     client ID (rate and burst), one keyed by the peer address alone
//     (AddressFactor times rate and burst), are both charged before
//     authentication and refunded when the request succeeds (a token
//     issued; a revocation or introspection answered 200). A request that
//     fails, above all with bad credentials, stays charged. A source thus
//     gets burst failed requests, then rate per second, per claimed
//     client, and AddressFactor times that in all, whatever client IDs it
//     claims; a victim calling from another address keeps its budget. An
//     IPv6 source is charged a third bucket, keyed by its /48 and
//     NetworkFactor times the address bucket, so that a site spreading its
//     requests over its 65,536 /64s gets NetworkFactor times one address's
//     budget, not 65,536 times.
//     Behind a reverse proxy every peer has the proxy's address, so the
//     address is the source's only when the proxy is listed in
//     Options.TrustedProxies (clientip.go); otherwise the failures of all
//     its clients share one address bucket, and a client's failure bucket
//     is keyed by its claimed ID alone.
//
// Memory is bounded: at most MaxClients buckets are kept in each table,
// the least recently used one is dropped first (dropping a bucket only
// forgets a debt: it starts again full), and a bucket that has refilled
// completely is dropped when met, as it holds no information.

// RateLimit configures the rate limit of the OAuth endpoints.
type RateLimit struct {
	// Rate is the sustained number of tokens per second per client, and of
	// failed requests per second per source address and claimed client
	// (0 disables the limit).
	Rate float64
	// Burst is the bucket size: tokens a client may get at once after a
	// quiet period, and failed requests a source may make at once under
	// one claimed client (default: max(1, ceil(Rate))).
	Burst int
	// AddressFactor multiplies Rate and Burst for the bucket of a source
	// address, which all the clients it claims share (default
	// DefaultRateLimitAddressFactor).
	AddressFactor int
	// MaxClients bounds each of the four bucket tables (default
	// DefaultRateLimitClients).
	MaxClients int
}

// DefaultRateLimitAddressFactor is the default RateLimit.AddressFactor: a
// source address (a NAT, a proxy) may fail ten times as often as one
// client, so that one client failing there does not stop the others, while
// a source that rotates client IDs is still bounded.
const DefaultRateLimitAddressFactor = 10

// DefaultRateLimitClients is the default bound of a bucket table: at most
// about 15 MB for each table (a bucket keyed by a 128-character client
// ID takes some 300 bytes).
const DefaultRateLimitClients = 50_000

func (r RateLimit) check() error {
	switch {
	case r.Rate < 0 || math.IsNaN(r.Rate) || math.IsInf(r.Rate, 0):
		return errors.New("as/httpapi: RateLimit.Rate must be a finite number >= 0")
	case r.Burst < 0:
		return errors.New("as/httpapi: RateLimit.Burst must not be negative")
	case r.MaxClients < 0:
		return errors.New("as/httpapi: RateLimit.MaxClients must not be negative")
	case r.AddressFactor < 0:
		return errors.New("as/httpapi: RateLimit.AddressFactor must not be negative")
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

// limiter is the rate limiter of the OAuth endpoints.
type limiter struct {
	clock  func() time.Time
	issue  *bucketTable // by authenticated client ID: issued tokens
	failed *bucketTable // by peer address and claimed client ID
	addr   *bucketTable // by peer address (IPv6: /64)
	net    *bucketTable // by IPv6 /48: the site of many /64s
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
	f := r.AddressFactor
	if f == 0 {
		f = DefaultRateLimitAddressFactor
	}
	return &limiter{clock: clock,
		issue:  newBucketTable(r.Rate, burst, n),
		failed: newBucketTable(r.Rate, burst, n),
		addr:   newBucketTable(r.Rate*float64(f), burst*f, n),
		net:    newBucketTable(r.Rate*float64(f*NetworkFactor), burst*f*NetworkFactor, n)}
}

// NetworkFactor multiplies the address bucket's rate and burst for the
// bucket of an IPv6 /48, which every /64 in it shares: one site gets
// NetworkFactor times the failures of one address, not the 65,536 times
// its /64s would give it.
const NetworkFactor = 10

// maxLimitedID is the longest client ID that gets a per-client bucket: UE
// IDs have at most 128 characters (as.RegisterUE), so a longer one is no
// client's and needs no bucket of its own (it would only make the tables
// large); the address bucket limits it.
const maxLimitedID = 128

// admit is called before client authentication, with the claimed client
// ID ("" if none) and the peer's IP address; issuance tells whether the
// request may yield a token (the token endpoint). It returns a positive
// wait when the request must be refused, and otherwise a ticket to settle
// if the request succeeds.
func (l *limiter) admit(clientID, peerIP string, issuance bool) (ticket, time.Duration) {
	if l == nil {
		return ticket{}, 0
	}
	if len(clientID) > maxLimitedID {
		clientID = ""
	}
	now := l.clock()
	if issuance && clientID != "" {
		if d := l.issue.wait(clientID, now); d > 0 {
			return ticket{}, d
		}
	}
	ak, nk := addrKey(peerIP)
	if d := l.addr.take(ak, now); d > 0 {
		return ticket{}, d
	}
	t := ticket{l: l, addrKey: ak, netKey: nk}
	if nk != "" {
		if d := l.net.take(nk, now); d > 0 {
			l.addr.add(ak, 1, now)
			return ticket{}, d
		}
	}
	if clientID != "" {
		t.failedKey = failedKey(clientID, ak)
		if d := l.failed.take(t.failedKey, now); d > 0 {
			t.refund(now)
			return ticket{}, d
		}
	}
	return t, 0
}

// ticket is an admitted request.
type ticket struct {
	l         *limiter
	addrKey   string
	netKey    string // "": not IPv6, no network bucket was charged
	failedKey string // "": no per-client failure bucket was charged
}

// refund returns what the ticket charged to the address and network
// buckets.
func (t ticket) refund(now time.Time) {
	t.l.addr.add(t.addrKey, 1, now)
	if t.netKey != "" {
		t.l.net.add(t.netKey, 1, now)
	}
}

// succeeded refunds the failure buckets of a request that succeeded.
// issuedTo is the client ID the AS authenticated and issued a token to
// ("" if the request issued none): its issuance bucket is charged.
func (t ticket) succeeded(issuedTo string) {
	if t.l == nil {
		return
	}
	now := t.l.clock()
	t.refund(now)
	if t.failedKey != "" {
		t.l.failed.add(t.failedKey, 1, now)
	}
	if issuedTo != "" {
		t.l.issue.add(issuedTo, -1, now)
	}
}

func failedKey(clientID, addrKey string) string {
	return addrKey + " " + clientID // an address key holds no space
}

// addrKey returns the keys of the address bucket of a peer IP address (an
// IPv4 address itself, also when IPv4-mapped; an IPv6 address's /64
// prefix) and of its network bucket (an IPv6 address's /48 prefix; "" for
// IPv4, where one address is often a whole carrier's NAT).
func addrKey(peerIP string) (addr, network string) {
	a, err := netip.ParseAddr(peerIP)
	if err != nil {
		return peerIP, ""
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String(), ""
	}
	p64, _ := a.Prefix(64)
	p48, _ := a.Prefix(48)
	return p64.String(), p48.String()
}

// retryAfterSeconds is d rounded up to whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	return max(1, s)
}
