package medium

import (
	"container/heap"
	"sync"
	"time"
)

// Clock is a virtual clock: a priority queue of events that run when the
// clock is advanced past their time, in (time, scheduling order) order.
// Time never moves on its own. Events run on the goroutine that advances
// the clock, without the clock's lock held, so they may schedule further
// events. A Clock is safe for concurrent use, but a run is deterministic
// only if one goroutine advances it and everything it drives happens in
// the events.
type Clock struct {
	mu  sync.Mutex
	now time.Time
	q   eventQueue
	seq uint64
}

// NewClock returns a clock reading start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the virtual time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Timer is a scheduled event.
type Timer struct {
	c *Clock
	e *event
}

// Stop cancels the event and reports whether it had not run yet.
func (t *Timer) Stop() bool {
	if t == nil || t.e == nil {
		return false
	}
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.e.index < 0 {
		return false
	}
	heap.Remove(&t.c.q, t.e.index)
	return true
}

// When returns the time the event is scheduled for.
func (t *Timer) When() time.Time { return t.e.at }

// At schedules f at time at. A time in the past runs at the next Step or
// Advance, at the current time.
func (c *Clock) At(at time.Time, f func()) *Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	if at.Before(c.now) {
		at = c.now
	}
	c.seq++
	e := &event{at: at, seq: c.seq, f: f}
	heap.Push(&c.q, e)
	return &Timer{c: c, e: e}
}

// AfterFunc schedules f after d (d <= 0: at the current time).
func (c *Clock) AfterFunc(d time.Duration, f func()) *Timer {
	return c.At(c.Now().Add(max(d, 0)), f)
}

// Next returns the time of the earliest pending event.
func (c *Clock) Next() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.q) == 0 {
		return time.Time{}, false
	}
	return c.q[0].at, true
}

// Pending returns the number of pending events.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.q)
}

// popDue removes and returns the earliest event due at or before limit,
// moving the clock to its time.
func (c *Clock) popDue(limit time.Time) *event {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.q) == 0 || c.q[0].at.After(limit) {
		return nil
	}
	e := heap.Pop(&c.q).(*event)
	if e.at.After(c.now) {
		c.now = e.at
	}
	return e
}

// Step runs the earliest pending event, moving the clock to its time, and
// reports whether there was one.
func (c *Clock) Step() bool {
	next, ok := c.Next()
	if !ok {
		return false
	}
	e := c.popDue(next)
	if e == nil {
		return false
	}
	e.f()
	return true
}

// RunUntil runs every event due at or before t (including events those
// events schedule), then sets the clock to t if it is later. It returns the
// number of events run.
func (c *Clock) RunUntil(t time.Time) int {
	n := 0
	for {
		e := c.popDue(t)
		if e == nil {
			break
		}
		e.f()
		n++
	}
	c.mu.Lock()
	if t.After(c.now) {
		c.now = t
	}
	c.mu.Unlock()
	return n
}

// Advance is RunUntil(Now() + d).
func (c *Clock) Advance(d time.Duration) int { return c.RunUntil(c.Now().Add(max(d, 0))) }

// MaxIdleSteps bounds RunUntilIdle, so that a periodic event (which is
// never idle) cannot hang a test.
const MaxIdleSteps = 1_000_000

// RunUntilIdle runs events until none is pending, or MaxIdleSteps events
// have run (then Pending() > 0 tells). It returns the number run. With
// periodic events use Advance or RunUntil.
func (c *Clock) RunUntilIdle() int {
	n := 0
	for n < MaxIdleSteps && c.Step() {
		n++
	}
	return n
}

type event struct {
	at    time.Time
	seq   uint64
	f     func()
	index int
}

type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index = i
	q[j].index = j
}
func (q *eventQueue) Push(x any) {
	e := x.(*event)
	e.index = len(*q)
	*q = append(*q, e)
}
func (q *eventQueue) Pop() any {
	old := *q
	n := len(old)
	e := old[n-1]
	old[n-1] = nil
	e.index = -1
	*q = old[:n-1]
	return e
}
