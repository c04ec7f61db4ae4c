package medium

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func newMem(t *testing.T, cfg MemConfig) *Mem {
	t.Helper()
	if cfg.Clock == nil {
		cfg.Clock = NewClock(t0)
	}
	m, err := NewMem(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func attach(t *testing.T, m *Mem, ids ...L2ID) []*MemPort {
	t.Helper()
	var ps []*MemPort
	for _, id := range ids {
		p, err := m.AttachPort(id)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

func drain(p *MemPort) []Frame {
	var out []Frame
	for {
		f, ok := p.TryRecv()
		if !ok {
			return out
		}
		out = append(out, f)
	}
}

func send(t *testing.T, p Port, dst L2ID, payload string) {
	t.Helper()
	if err := p.Send(Frame{Dst: dst, LCID: 4, Payload: []byte(payload)}); err != nil {
		t.Fatal(err)
	}
}

// runScenario sends many frames over lossy, jittery links and returns the
// trace as text.
func runScenario(t *testing.T, seed uint64) []string {
	var trace []string
	m := newMem(t, MemConfig{
		Seed:    seed,
		Default: Link{InRange: true, Loss: 0.3, Delay: 2 * time.Millisecond, Jitter: 5 * time.Millisecond, RSSI: -70},
		Trace: func(e TraceEvent) {
			trace = append(trace, fmt.Sprintf("%s %s %s->%s to %s %q %s", e.Time.Format("05.000000"), e.Kind, e.Frame.Src, e.Frame.Dst, e.To, e.Frame.Payload, e.Reason))
		},
	})
	ps := attach(t, m, 1, 2, 3, 4)
	for i := range 50 {
		src := ps[i%4]
		dst := L2ID(i%3 + 1)
		if i%5 == 0 {
			dst = Broadcast
		}
		if dst == src.ID() {
			dst = Broadcast
		}
		send(t, src, dst, fmt.Sprint(i))
		m.Clock().Advance(time.Millisecond)
	}
	m.Clock().RunUntilIdle()
	for _, p := range ps {
		for _, f := range drain(p) {
			trace = append(trace, fmt.Sprintf("rx %s %s %q", p.ID(), f.Src, f.Payload))
		}
	}
	trace = append(trace, m.Stats().String())
	return trace
}

func TestMemDeterministic(t *testing.T) {
	a := runScenario(t, 42)
	b := runScenario(t, 42)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("same seed, different runs:\n%s\n---\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	c := runScenario(t, 43)
	if reflect.DeepEqual(a, c) {
		t.Fatalf("different seeds gave identical runs (loss and jitter not drawn?)")
	}
	if !strings.Contains(a[len(a)-1], "dropped (loss)") {
		t.Fatalf("no loss in %s", a[len(a)-1])
	}
}

func TestMemRangeAndBroadcast(t *testing.T) {
	m := newMem(t, MemConfig{}) // zero default link: nobody in range
	ps := attach(t, m, 1, 2, 3)
	a, b, c := ps[0], ps[1], ps[2]
	// Line topology a - b - c.
	if err := m.SetLink(1, 2, DefaultLink()); err != nil {
		t.Fatal(err)
	}
	if err := m.SetLink(2, 3, Link{InRange: true, RSSI: -85}); err != nil {
		t.Fatal(err)
	}
	send(t, b, Broadcast, "hello")
	send(t, a, 3, "a to c") // out of range
	send(t, a, 9, "nobody") // no such node
	m.Clock().RunUntilIdle()
	fa, fb, fc := drain(a), drain(b), drain(c)
	if len(fa) != 1 || len(fc) != 1 || len(fb) != 0 {
		t.Fatalf("broadcast: a got %d, b got %d, c got %d frames", len(fa), len(fb), len(fc))
	}
	if fa[0].Src != 2 || fa[0].Dst != Broadcast || fa[0].RSSI != DefaultRSSI || fc[0].RSSI != -85 || string(fc[0].Payload) != "hello" {
		t.Fatalf("frames: %+v %+v", fa[0], fc[0])
	}
	st := m.Stats()
	if st.Sent != 3 || st.Delivered != 2 || st.Dropped[DropOutOfRange] != 2 {
		t.Fatalf("stats: %s", st)
	}
	// a's broadcast reaches only b.
	send(t, a, Broadcast, "x")
	m.Clock().RunUntilIdle()
	if n := len(drain(b)); n != 1 {
		t.Fatalf("b got %d", n)
	}
	if n := len(drain(c)); n != 0 {
		t.Fatalf("c got %d", n)
	}
}

func TestMemDelayAndJitter(t *testing.T) {
	clk := NewClock(t0)
	var times []time.Duration
	m := newMem(t, MemConfig{Clock: clk, Seed: 7, Default: Link{InRange: true, Delay: 10 * time.Millisecond, Jitter: 4 * time.Millisecond}})
	ps := attach(t, m, 1, 2)
	ps[1].SetHandler(func(f Frame) { times = append(times, clk.Now().Sub(t0)) })
	for range 200 {
		send(t, ps[0], 2, "p")
	}
	if clk.Advance(9*time.Millisecond) != 0 || len(times) != 0 {
		t.Fatalf("delivered before the fixed delay")
	}
	clk.RunUntilIdle()
	if len(times) != 200 {
		t.Fatalf("delivered %d", len(times))
	}
	seen := map[time.Duration]bool{}
	for _, d := range times {
		if d < 10*time.Millisecond || d > 14*time.Millisecond {
			t.Fatalf("delay %s outside [10ms, 14ms]", d)
		}
		seen[d] = true
	}
	if len(seen) < 50 {
		t.Fatalf("jitter gave only %d distinct delays", len(seen))
	}
	for i := 1; i < len(times); i++ {
		if times[i] < times[i-1] {
			t.Fatalf("handler saw time go backwards")
		}
	}
}

func TestMemLoss(t *testing.T) {
	m := newMem(t, MemConfig{Seed: 1, Default: Link{InRange: true, Loss: 0.25}, QueueLen: 4000})
	ps := attach(t, m, 1, 2)
	const n = 4000
	for range n {
		send(t, ps[0], 2, "p")
	}
	m.Clock().RunUntilIdle()
	got := len(drain(ps[1]))
	st := m.Stats()
	if uint64(got) != st.Delivered || st.Delivered+st.Dropped[DropLoss] != n {
		t.Fatalf("counters: got %d, %s", got, st)
	}
	if lost := float64(st.Dropped[DropLoss]) / n; lost < 0.2 || lost > 0.3 {
		t.Fatalf("loss rate %.3f, want about 0.25", lost)
	}
	// Loss 1 loses everything, loss 0 nothing.
	m.SetLink(1, 2, Link{InRange: true, Loss: 1})
	send(t, ps[0], 2, "p")
	m.Clock().RunUntilIdle()
	if len(drain(ps[1])) != 0 {
		t.Fatal("loss 1 delivered")
	}
}

func TestMemTopologyChange(t *testing.T) {
	m := newMem(t, MemConfig{Default: Link{InRange: true, Delay: 10 * time.Millisecond}})
	ps := attach(t, m, 1, 2)
	send(t, ps[0], 2, "in flight")
	m.Clock().Advance(5 * time.Millisecond)
	m.SetInRange(1, 2, false) // link lost while the frame is in flight
	send(t, ps[0], 2, "while lost")
	m.Clock().Advance(20 * time.Millisecond)
	if got := drain(ps[1]); len(got) != 0 {
		t.Fatalf("delivered over a lost link: %v", got)
	}
	if st := m.Stats(); st.Dropped[DropOutOfRange] != 2 {
		t.Fatalf("stats %s", st)
	}
	m.SetInRange(2, 1, true) // recovery; the other direction names the same link
	if l := m.Link(1, 2); !l.InRange || l.Delay != 10*time.Millisecond {
		t.Fatalf("link after recovery: %+v", l)
	}
	send(t, ps[1], 1, "back")
	m.Clock().Advance(20 * time.Millisecond)
	if got := drain(ps[0]); len(got) != 1 || string(got[0].Payload) != "back" {
		t.Fatalf("after recovery: %v", got)
	}
}

func TestMemFrameChecks(t *testing.T) {
	m := newMem(t, MemConfig{Default: DefaultLink()})
	ps := attach(t, m, 1, 2)
	err := ps[0].Send(Frame{Dst: 2, Payload: make([]byte, MaxPayload+1)})
	if !errors.Is(err, ErrFrameTooLarge) || !strings.HasPrefix(err.Error(), "pc5/medium: frame too large: payload of 9001 octets, limit 9000") {
		t.Fatalf("oversize: %v", err)
	}
	if err := ps[0].Send(Frame{Dst: 2, Payload: make([]byte, MaxPayload)}); err != nil {
		t.Fatalf("max size: %v", err)
	}
	if err := ps[0].Send(Frame{Dst: 0}); !errors.Is(err, ErrInvalidL2ID) {
		t.Fatalf("dst 0: %v", err)
	}
	if err := ps[0].Send(Frame{Dst: 2, LCID: 64}); !errors.Is(err, ErrInvalidLCID) {
		t.Fatalf("lcid 64: %v", err)
	}
	if _, err := m.Attach(1); !errors.Is(err, ErrInUse) {
		t.Fatalf("attach twice: %v", err)
	}
	for _, id := range []L2ID{0, Broadcast, 1 << 24} {
		if _, err := m.Attach(id); !errors.Is(err, ErrInvalidL2ID) {
			t.Fatalf("attach %s: %v", id, err)
		}
	}
	if st := m.Stats(); st.Sent != 1 {
		t.Fatalf("rejected frames counted as sent: %s", st)
	}
	// The sender may reuse its buffer at once.
	buf := []byte("abc")
	ps[0].Send(Frame{Dst: 2, Payload: buf})
	copy(buf, "xyz")
	m.Clock().RunUntilIdle()
	got := drain(ps[1])
	if string(got[len(got)-1].Payload) != "abc" {
		t.Fatalf("payload aliased the sender's buffer: %q", got[len(got)-1].Payload)
	}
}

func TestMemCloseAndRecv(t *testing.T) {
	m := newMem(t, MemConfig{Default: Link{InRange: true, Delay: time.Millisecond}, QueueLen: 2})
	ps := attach(t, m, 1, 2)
	// Recv blocks until the clock delivers.
	got := make(chan Frame, 1)
	go func() {
		f, err := ps[1].Recv(context.Background())
		if err == nil {
			got <- f
		}
		close(got)
	}()
	send(t, ps[0], 2, "one")
	m.Clock().Advance(time.Millisecond)
	if f := <-got; string(f.Payload) != "one" {
		t.Fatalf("Recv: %+v", f)
	}
	// Queue full.
	for range 3 {
		send(t, ps[0], 2, "q")
	}
	m.Clock().RunUntilIdle()
	if st := m.Stats(); st.Dropped[DropQueueFull] != 1 {
		t.Fatalf("stats %s", st)
	}
	// ctx cancellation.
	drain(ps[1])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := ps[1].Recv(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Recv with expired ctx: %v", err)
	}
	// Frames in flight to a closed port are dropped; Recv and Send fail.
	send(t, ps[0], 2, "late")
	if err := ps[1].Close(); err != nil {
		t.Fatal(err)
	}
	m.Clock().RunUntilIdle()
	if st := m.Stats(); st.Dropped[DropDetached] != 1 {
		t.Fatalf("stats %s", st)
	}
	if _, err := ps[1].Recv(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Recv after Close: %v", err)
	}
	if err := ps[1].Send(Frame{Dst: 1}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
	if err := ps[1].Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// The ID can be attached again.
	if _, err := m.Attach(2); err != nil {
		t.Fatal(err)
	}
}

// TestMemHandlerPingPong drives two nodes entirely from handlers: every
// frame is answered until a counter runs out, all on the clock's goroutine.
func TestMemHandlerPingPong(t *testing.T) {
	m := newMem(t, MemConfig{Default: Link{InRange: true, Delay: 3 * time.Millisecond}})
	ps := attach(t, m, 1, 2)
	var log []string
	for _, p := range ps {
		p.SetHandler(func(f Frame) {
			log = append(log, fmt.Sprintf("%s %s<-%s %s", m.Clock().Now().Sub(t0), p.ID(), f.Src, f.Payload))
			if n := len(f.Payload); n < 4 {
				p.Send(Frame{Dst: f.Src, Payload: append(f.Payload, '.')})
			}
		})
	}
	send(t, ps[0], 2, ".")
	m.Clock().RunUntilIdle()
	want := []string{"3ms 000002<-000001 .", "6ms 000001<-000002 ..", "9ms 000002<-000001 ...", "12ms 000001<-000002 ...."}
	if !reflect.DeepEqual(log, want) {
		t.Fatalf("log %q, want %q", log, want)
	}
}

func TestClock(t *testing.T) {
	c := NewClock(t0)
	var got []string
	add := func(s string) func() { return func() { got = append(got, s) } }
	c.AfterFunc(2*time.Second, add("b"))
	c.AfterFunc(time.Second, add("a"))
	c.AfterFunc(2*time.Second, add("c")) // same time: scheduling order
	stop := c.AfterFunc(1500*time.Millisecond, add("stopped"))
	if !stop.Stop() || stop.Stop() {
		t.Fatal("Stop")
	}
	c.AfterFunc(3*time.Second, func() {
		got = append(got, "d")
		c.AfterFunc(0, add("e")) // scheduled from an event, same time
	})
	if n := c.Advance(1999 * time.Millisecond); n != 1 || !reflect.DeepEqual(got, []string{"a"}) {
		t.Fatalf("Advance: %d %v", n, got)
	}
	if !c.Now().Equal(t0.Add(1999 * time.Millisecond)) {
		t.Fatalf("Now %v", c.Now())
	}
	if next, ok := c.Next(); !ok || !next.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("Next %v %v", next, ok)
	}
	if n := c.RunUntilIdle(); n != 4 || c.Pending() != 0 {
		t.Fatalf("RunUntilIdle ran %d, %d pending", n, c.Pending())
	}
	if want := []string{"a", "b", "c", "d", "e"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	if !c.Now().Equal(t0.Add(3 * time.Second)) {
		t.Fatalf("Now after idle %v", c.Now())
	}
	// A past time runs at the current time.
	tm := c.At(t0, add("past"))
	if !tm.When().Equal(c.Now()) {
		t.Fatalf("past event at %v", tm.When())
	}
	if !c.Step() || got[len(got)-1] != "past" || c.Step() {
		t.Fatal("Step")
	}
	// A periodic event never idles; RunUntilIdle stops at the cap.
	var tick func()
	tick = func() { c.AfterFunc(time.Second, tick) }
	c.AfterFunc(0, tick)
	if n := c.RunUntilIdle(); n != MaxIdleSteps || c.Pending() != 1 {
		t.Fatalf("periodic: %d, %d pending", n, c.Pending())
	}
}

func TestL2ID(t *testing.T) {
	for _, c := range []struct {
		in   string
		want L2ID
		ok   bool
	}{
		{"000001", 1, true}, {"1", 1, true}, {"0x00002a", 0x2a, true}, {"ABCDEF", 0xabcdef, true},
		{"ffffff", Broadcast, true}, {"0", 0, false}, {"", 0, false}, {"1234567", 0, false},
		{"xyz", 0, false}, {"-1", 0, false}, {"0x", 0, false},
	} {
		got, err := ParseL2ID(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseL2ID(%q) = %v, %v", c.in, got, err)
		}
		if err != nil && !errors.Is(err, ErrInvalidL2ID) {
			t.Errorf("error %v does not wrap ErrInvalidL2ID", err)
		}
	}
	if s := L2ID(0x2a).String(); s != "00002a" {
		t.Fatal(s)
	}
	if DropNotForMe.String() != "not for me" || DropReason(99).String() != "DropReason(99)" {
		t.Fatal("DropReason.String")
	}
}

func TestMemBroadcastPayloadsAreSeparate(t *testing.T) {
	m := newMem(t, MemConfig{Default: DefaultLink()})
	ps := attach(t, m, 1, 2, 3)
	send(t, ps[0], Broadcast, "abc")
	m.Clock().RunUntilIdle()
	f2, _ := ps[1].TryRecv()
	f3, _ := ps[2].TryRecv()
	f2.Payload[0] = 'X'
	if string(f3.Payload) != "abc" {
		t.Fatalf("receivers share a payload: %q", f3.Payload)
	}
}
