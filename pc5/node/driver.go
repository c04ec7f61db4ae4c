package node

import (
	"context"
	"errors"
	"time"

	"github.com/prosesec/prosesec/pc5/medium"
)

// MemDriver drives a Core on the in-memory medium, deterministically: every
// call happens on the goroutine that advances the medium's Clock.
type MemDriver struct {
	port   *medium.MemPort
	clock  *medium.Clock
	core   Core
	timer  *medium.Timer
	errors int
	// Other receives frames on LCIDs above 19 (discovery), if set.
	Other func(f medium.Frame)
}

// Mem attaches core to port, whose frames it takes through the port's
// handler, with timers on clock.
func Mem(port *medium.MemPort, clock *medium.Clock, core Core) *MemDriver {
	d := &MemDriver{port: port, clock: clock, core: core}
	port.SetHandler(func(f medium.Frame) {
		if f.LCID > 19 {
			if d.Other != nil {
				d.Other(f)
			}
			return
		}
		d.core.HandleFrame(d.clock.Now(), f)
		d.flush()
	})
	return d
}

// Do runs f with the current virtual time, then sends what the Core produced
// and re-arms its timer. Call it from the goroutine advancing the clock.
func (d *MemDriver) Do(f func(now time.Time)) {
	f(d.clock.Now())
	d.flush()
}

// SendErrors counts frames the port refused.
func (d *MemDriver) SendErrors() int { return d.errors }

func (d *MemDriver) flush() {
	for _, f := range d.core.Outbox() {
		if err := d.port.Send(f); err != nil {
			d.errors++
		}
	}
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if at, ok := d.core.NextDeadline(); ok {
		d.timer = d.clock.At(at, func() {
			d.timer = nil
			d.core.Tick(d.clock.Now())
			d.flush()
		})
	}
}

// Clock is the time source of Run.
type Clock interface {
	Now() time.Time
}

// Run drives core on port until ctx is done or the port fails: one goroutine
// receives frames (Recv) and hands them over; this goroutine owns the Core,
// fires its deadline and runs the functions sent on do (for the caller's
// own operations on the Core). other receives frames on LCIDs above 19.
func Run(ctx context.Context, port medium.Port, clock Clock, core Core, do <-chan func(now time.Time), other func(medium.Frame)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	frames := make(chan medium.Frame, 64)
	errc := make(chan error, 1)
	go func() {
		for {
			f, err := port.Recv(ctx)
			if err != nil {
				errc <- err
				return
			}
			select {
			case frames <- f:
			case <-ctx.Done():
				errc <- ctx.Err()
				return
			}
		}
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	flush := func() error {
		for _, f := range core.Outbox() {
			if err := port.Send(f); err != nil && !errors.Is(err, medium.ErrFrameTooLarge) {
				return err
			}
		}
		wait := time.Hour
		if at, ok := core.NextDeadline(); ok {
			wait = max(at.Sub(clock.Now()), 0)
		}
		timer.Reset(wait)
		return nil
	}
	if err := flush(); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			if ctx.Err() != nil {
				return nil
			}
			return err
		case f := <-frames:
			if f.LCID > 19 {
				if other != nil {
					other(f)
				}
				continue
			}
			core.HandleFrame(clock.Now(), f)
		case fn := <-do:
			fn(clock.Now())
		case <-timer.C:
			core.Tick(clock.Now())
		}
		if err := flush(); err != nil {
			return err
		}
	}
}
