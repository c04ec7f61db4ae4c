// Package node owns the per-UE drivers of prosesec: the shells that wire a
// sans-I/O core (a relay.Relay or an end UE's Endpoint) to a pc5/medium Port
// and a clock. A Core takes frames and time and returns frames to send; a
// driver feeds it and sends what it returns.
//
//   - Mem drives a Core on the in-memory medium deterministically: frames
//     arrive through the port's handler and timers are events of the
//     medium's virtual Clock, all on the goroutine that advances the clock.
//   - Run drives a Core on any Port (the UDP medium) with one goroutine
//     that receives frames and fires timers with an injected Clock.
//
// Endpoint is the end UE's core (source or target): its links (to relays),
// its routes (address → link) and the protection of its IP packets.
//
// Errors start with "pc5/node: ".
package node

import (
	"time"

	"github.com/prosesec/prosesec/pc5/medium"
)

// Core is a sans-I/O node: frames and time in, frames out. Outbox returns
// the frames produced since its last call; they are valid until the next
// call into the Core.
type Core interface {
	HandleFrame(now time.Time, f medium.Frame)
	Tick(now time.Time)
	NextDeadline() (time.Time, bool)
	Outbox() []medium.Frame
}
