package medium

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Link is the radio between two nodes of a Mem, the same in both
// directions. PROJECT-DEFINED model.
type Link struct {
	// InRange: frames can cross the link at all.
	InRange bool
	// Loss is the probability (0..1) that one frame copy is lost.
	Loss float64
	// Delay is the fixed part of the delivery delay; Jitter adds a uniform
	// extra delay in [0, Jitter]. Jitter can reorder frames.
	Delay, Jitter time.Duration
	// RSSI is attached to every frame delivered over the link.
	RSSI int16
}

// DefaultRSSI is the RSSI of DefaultLink.
const DefaultRSSI int16 = -60

// DefaultLink is an in-range, lossless link with a 1 ms delay.
func DefaultLink() Link {
	return Link{InRange: true, Delay: time.Millisecond, RSSI: DefaultRSSI}
}

func (l Link) validate() error {
	if math.IsNaN(l.Loss) || l.Loss < 0 || l.Loss > 1 {
		return fmt.Errorf("%w: loss probability %v, want 0..1", ErrTopology, l.Loss)
	}
	if l.Delay < 0 || l.Jitter < 0 {
		return fmt.Errorf("%w: negative delay %s or jitter %s", ErrTopology, l.Delay, l.Jitter)
	}
	return nil
}

// DefaultQueueLen is the receive queue length of a port when the
// configuration leaves it zero.
const DefaultQueueLen = 1024

// MemConfig configures a Mem.
type MemConfig struct {
	// Clock schedules every delivery. Required.
	Clock *Clock
	// Seed seeds the PCG generator that draws losses and jitter.
	Seed uint64
	// Default is the link between nodes without a SetLink. The zero Link
	// puts nobody in range; DefaultLink() makes a full mesh.
	Default Link
	// QueueLen is each port's receive queue (DefaultQueueLen if 0); a frame
	// arriving at a full queue is dropped (DropQueueFull).
	QueueLen int
	// Trace, if set, sees every send, delivery and drop, in order, on the
	// goroutine that caused it (Send's caller, or the one advancing the
	// clock). It must not call back into the Mem.
	Trace func(TraceEvent)
}

// TraceKind is what a TraceEvent reports.
type TraceKind uint8

const (
	TraceSend TraceKind = iota + 1
	TraceDeliver
	TraceDrop
)

func (k TraceKind) String() string {
	switch k {
	case TraceSend:
		return "send"
	case TraceDeliver:
		return "deliver"
	case TraceDrop:
		return "drop"
	}
	return fmt.Sprintf("TraceKind(%d)", uint8(k))
}

// TraceEvent is one step of a frame's life in a Mem.
type TraceEvent struct {
	Time   time.Time
	Kind   TraceKind
	Frame  Frame      // Payload is shared: do not modify it
	To     L2ID       // the receiver (TraceDeliver, TraceDrop); Frame.Dst for TraceSend
	Reason DropReason // TraceDrop only
}

// Mem is the in-memory medium on a virtual clock. It is safe for concurrent
// use; a run is reproducible when one goroutine sends and advances the
// clock (for instance a simulator driving every node from clock events and
// port handlers).
type Mem struct {
	clock *Clock
	trace func(TraceEvent)
	qlen  int

	mu    sync.Mutex
	rng   *rand.Rand
	def   Link
	links map[pair]Link
	ports map[L2ID]*MemPort
	stats Stats
}

type pair struct{ a, b L2ID }

func pairOf(a, b L2ID) pair {
	if a > b {
		a, b = b, a
	}
	return pair{a, b}
}

// NewMem returns an in-memory medium.
func NewMem(cfg MemConfig) (*Mem, error) {
	if cfg.Clock == nil {
		return nil, fmt.Errorf("%w: MemConfig.Clock is required", ErrTopology)
	}
	if err := cfg.Default.validate(); err != nil {
		return nil, err
	}
	if cfg.QueueLen < 0 {
		return nil, fmt.Errorf("%w: negative QueueLen %d", ErrTopology, cfg.QueueLen)
	}
	q := cfg.QueueLen
	if q == 0 {
		q = DefaultQueueLen
	}
	return &Mem{
		clock: cfg.Clock,
		trace: cfg.Trace,
		qlen:  q,
		rng:   rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		def:   cfg.Default,
		links: map[pair]Link{},
		ports: map[L2ID]*MemPort{},
	}, nil
}

// Clock returns the medium's clock.
func (m *Mem) Clock() *Clock { return m.clock }

// Attach implements Medium.
func (m *Mem) Attach(id L2ID) (Port, error) { return m.AttachPort(id) }

// AttachPort is Attach returning the concrete port, with TryRecv and
// SetHandler.
func (m *Mem) AttachPort(id L2ID) (*MemPort, error) {
	if !id.Valid() {
		return nil, fmt.Errorf("%w: cannot attach %s", ErrInvalidL2ID, id)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.ports[id]; ok {
		return nil, fmt.Errorf("%w: %s", ErrInUse, id)
	}
	p := &MemPort{m: m, id: id, ready: make(chan struct{}, 1), done: make(chan struct{})}
	m.ports[id] = p
	return p, nil
}

// SetLink sets the link between a and b (both directions).
func (m *Mem) SetLink(a, b L2ID, l Link) error {
	if a == b {
		return fmt.Errorf("%w: link from %s to itself", ErrTopology, a)
	}
	if err := l.validate(); err != nil {
		return err
	}
	m.mu.Lock()
	m.links[pairOf(a, b)] = l
	m.mu.Unlock()
	return nil
}

// SetInRange changes only the range flag of the link between a and b:
// link loss (false) and recovery (true) at run time. Frames in flight over
// a link that goes out of range are dropped on arrival.
func (m *Mem) SetInRange(a, b L2ID, in bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.linkLocked(a, b)
	l.InRange = in
	m.links[pairOf(a, b)] = l
}

// Link returns the link between a and b.
func (m *Mem) Link(a, b L2ID) Link {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.linkLocked(a, b)
}

func (m *Mem) linkLocked(a, b L2ID) Link {
	if l, ok := m.links[pairOf(a, b)]; ok {
		return l
	}
	return m.def
}

// Stats returns the counters.
func (m *Mem) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}

func (m *Mem) emit(evs []TraceEvent) {
	if m.trace == nil {
		return
	}
	for _, e := range evs {
		m.trace(e)
	}
}

func (m *Mem) send(p *MemPort, f Frame) error {
	if err := f.check(); err != nil {
		return err
	}
	f.Src = p.id
	f.RSSI = 0
	f.Payload = append([]byte(nil), f.Payload...)
	now := m.clock.Now()

	m.mu.Lock()
	if p.closed {
		m.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrClosed, p.id)
	}
	m.stats.Sent++
	var evs []TraceEvent
	if m.trace != nil {
		evs = append(evs, TraceEvent{Time: now, Kind: TraceSend, Frame: f, To: f.Dst})
	}
	drop := func(to L2ID, r DropReason) {
		m.stats.Dropped[r]++
		if m.trace != nil {
			evs = append(evs, TraceEvent{Time: now, Kind: TraceDrop, Frame: f, To: to, Reason: r})
		}
	}
	var rcv []*MemPort
	if f.IsBroadcast() {
		for id, q := range m.ports {
			if id != p.id {
				rcv = append(rcv, q)
			}
		}
		slices.SortFunc(rcv, func(a, b *MemPort) int { return int(a.id) - int(b.id) })
	} else if q := m.ports[f.Dst]; q != nil && q != p {
		rcv = []*MemPort{q}
	} else {
		drop(f.Dst, DropOutOfRange)
	}
	first := true
	for _, q := range rcv {
		l := m.linkLocked(p.id, q.id)
		switch {
		case !l.InRange:
			drop(q.id, DropOutOfRange)
			continue
		case l.Loss > 0 && m.rng.Float64() < l.Loss:
			drop(q.id, DropLoss)
			continue
		}
		d := l.Delay
		if l.Jitter > 0 {
			d += time.Duration(m.rng.Int64N(int64(l.Jitter) + 1))
		}
		fc := f
		if !first { // each receiver owns its payload
			fc.Payload = bytes.Clone(f.Payload)
		}
		first = false
		m.clock.At(now.Add(d), func() { m.deliver(q, fc) })
	}
	m.mu.Unlock()
	m.emit(evs)
	return nil
}

// deliver runs as a clock event.
func (m *Mem) deliver(q *MemPort, f Frame) {
	now := m.clock.Now()
	m.mu.Lock()
	l := m.linkLocked(f.Src, q.id)
	var reason DropReason
	switch {
	case q.closed:
		reason = DropDetached
	case !l.InRange:
		reason = DropOutOfRange
	case q.handler == nil && len(q.q) >= m.qlen:
		reason = DropQueueFull
	default:
		f.RSSI = l.RSSI
		m.stats.Delivered++
		h := q.handler
		if h == nil {
			q.q = append(q.q, f)
			select {
			case q.ready <- struct{}{}:
			default:
			}
		}
		m.mu.Unlock()
		if m.trace != nil {
			m.trace(TraceEvent{Time: now, Kind: TraceDeliver, Frame: f, To: q.id})
		}
		if h != nil {
			h(f)
		}
		return
	}
	m.stats.Dropped[reason]++
	m.mu.Unlock()
	if m.trace != nil {
		m.trace(TraceEvent{Time: now, Kind: TraceDrop, Frame: f, To: q.id, Reason: reason})
	}
}

// MemPort is a node attached to a Mem.
type MemPort struct {
	m     *Mem
	id    L2ID
	ready chan struct{} // a frame was queued (capacity 1)
	done  chan struct{} // closed by Close

	// guarded by m.mu
	q       []Frame
	closed  bool
	handler func(Frame)
}

// ID implements Port.
func (p *MemPort) ID() L2ID { return p.id }

// Send implements Port. The frame is delivered by the clock, never from
// within Send, even with zero delay.
func (p *MemPort) Send(f Frame) error { return p.m.send(p, f) }

// TryRecv returns the next queued frame without blocking.
func (p *MemPort) TryRecv() (Frame, bool) {
	p.m.mu.Lock()
	defer p.m.mu.Unlock()
	return p.popLocked()
}

func (p *MemPort) popLocked() (Frame, bool) {
	if len(p.q) == 0 {
		return Frame{}, false
	}
	f := p.q[0]
	p.q[0] = Frame{}
	p.q = p.q[1:]
	if len(p.q) == 0 {
		p.q = nil
	}
	return f, true
}

// Recv implements Port.
func (p *MemPort) Recv(ctx context.Context) (Frame, error) {
	for {
		p.m.mu.Lock()
		if p.closed {
			p.m.mu.Unlock()
			return Frame{}, fmt.Errorf("%w: %s", ErrClosed, p.id)
		}
		f, ok := p.popLocked()
		more := len(p.q) > 0
		p.m.mu.Unlock()
		if ok {
			if more { // wake another receiver
				select {
				case p.ready <- struct{}{}:
				default:
				}
			}
			return f, nil
		}
		select {
		case <-p.ready:
		case <-p.done:
		case <-ctx.Done():
			return Frame{}, ctx.Err()
		}
	}
}

// SetHandler makes the medium hand every frame delivered from now on to h,
// synchronously, on the goroutine advancing the clock, instead of queueing
// it; h may Send. nil returns to queueing. Frames already queued stay
// queued.
func (p *MemPort) SetHandler(h func(Frame)) {
	p.m.mu.Lock()
	p.handler = h
	p.m.mu.Unlock()
}

// Close implements Port. It is idempotent.
func (p *MemPort) Close() error {
	p.m.mu.Lock()
	defer p.m.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	p.q = nil
	if p.m.ports[p.id] == p {
		delete(p.m.ports, p.id)
	}
	close(p.done)
	return nil
}
