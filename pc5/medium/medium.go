package medium

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// L2ID is a 24-bit Layer-2 ID (TS 23.304 §5.8.2). Unicast IDs are
// 0x000001..0xFFFFFE; 0 is invalid and Broadcast addresses every node in
// range.
type L2ID uint32

const (
	// MaxL2ID is the largest 24-bit value.
	MaxL2ID L2ID = 1<<24 - 1
	// Broadcast is the destination of a broadcast frame. PROJECT-DEFINED.
	Broadcast L2ID = MaxL2ID
)

// Valid reports whether id is a unicast Layer-2 ID a node can attach with.
func (id L2ID) Valid() bool { return id != 0 && id < Broadcast }

// String writes the ID as 6 lower-case hex digits.
func (id L2ID) String() string { return fmt.Sprintf("%06x", uint32(id)) }

// MarshalText writes the ID as 6 lower-case hex digits.
func (id L2ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText parses the ID as ParseL2ID does.
func (id *L2ID) UnmarshalText(b []byte) error {
	v, err := ParseL2ID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// ParseL2ID parses 1 to 6 hex digits, with an optional "0x" prefix
// ("000001", "1", "0x00002a"). Broadcast ("ffffff") parses; 0 does not.
func ParseL2ID(s string) (L2ID, error) {
	h := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if len(h) == 0 || len(h) > 6 {
		return 0, fmt.Errorf("%w: %q: want 1 to 6 hex digits", ErrInvalidL2ID, s)
	}
	v, err := strconv.ParseUint(h, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: %q: want 1 to 6 hex digits", ErrInvalidL2ID, s)
	}
	if v == 0 {
		return 0, fmt.Errorf("%w: %q: 0 is not a Layer-2 ID", ErrInvalidL2ID, s)
	}
	return L2ID(v), nil
}

// MaxPayload is the largest frame payload, in octets. PROJECT-DEFINED: a
// jumbo-frame-sized cap well above any PC5-S message or protected IP
// packet of this project.
const MaxPayload = 9000

// MaxLCID is the largest sidelink logical channel ID (6 bits, TS 38.321
// §6.2.4).
const MaxLCID = 63

// Frame is one sidelink frame. Src is stamped by the sending Port; RSSI is
// set by the medium on the receiving side and ignored by Send.
type Frame struct {
	Src, Dst L2ID
	// LCID is the sidelink logical channel (SL-SRB0..3 = 0..3, SL-DRBs
	// 4..19, see pc5/sec), 0..MaxLCID.
	LCID uint8
	// Payload is at most MaxPayload octets. Send copies it; a received
	// frame's Payload belongs to the receiver.
	Payload []byte
	// RSSI is the received signal strength the medium attaches on
	// delivery, in dBm-like units (higher is better). PROJECT-DEFINED: a
	// per-link figure from the medium's configuration, not a measurement.
	RSSI int16
}

// IsBroadcast reports whether f is addressed to every node in range.
func (f *Frame) IsBroadcast() bool { return f.Dst == Broadcast }

// check validates what Send needs: a destination, an LCID and the size.
func (f *Frame) check() error {
	if f.Dst != Broadcast && !f.Dst.Valid() {
		return fmt.Errorf("%w: destination %s", ErrInvalidL2ID, f.Dst)
	}
	if f.LCID > MaxLCID {
		return fmt.Errorf("%w: %d, want 0..%d", ErrInvalidLCID, f.LCID, MaxLCID)
	}
	if len(f.Payload) > MaxPayload {
		return fmt.Errorf("%w: payload of %d octets, limit %d", ErrFrameTooLarge, len(f.Payload), MaxPayload)
	}
	return nil
}

// Medium is an emulated PC5 radio that nodes attach to.
type Medium interface {
	// Attach makes a node with Layer-2 ID id; it fails with ErrInUse if a
	// node with that ID is attached, and ErrInvalidL2ID for 0 or Broadcast.
	Attach(id L2ID) (Port, error)
}

// Port is one node's attachment. Send and Recv may be called from
// different goroutines; Close ends both.
type Port interface {
	// ID returns the node's Layer-2 ID.
	ID() L2ID
	// Send transmits f (Src is set to ID()). It fails only for a closed
	// port or an invalid frame (ErrFrameTooLarge, ErrInvalidL2ID,
	// ErrInvalidLCID) or a local I/O error; a frame the radio loses is
	// counted, not reported.
	Send(f Frame) error
	// Recv returns the next received frame, blocking until one arrives,
	// ctx is done (ctx.Err()) or the port is closed (ErrClosed).
	Recv(ctx context.Context) (Frame, error)
	// Close detaches the node. Frames in flight to it are dropped.
	Close() error
}

// Errors. Every error of the package wraps one of these.
var (
	ErrClosed        = errors.New("pc5/medium: port closed")
	ErrFrameTooLarge = errors.New("pc5/medium: frame too large")
	ErrInvalidL2ID   = errors.New("pc5/medium: invalid Layer-2 ID")
	ErrInvalidLCID   = errors.New("pc5/medium: invalid LCID")
	ErrInUse         = errors.New("pc5/medium: Layer-2 ID already attached")
	ErrMalformed     = errors.New("pc5/medium: malformed frame")
	ErrTopology      = errors.New("pc5/medium: topology")
)

// DropReason says why a frame (or one receiver's copy of a broadcast
// frame) was not delivered.
type DropReason uint8

const (
	// DropOutOfRange: no node with the destination ID is in range (or the
	// link was lost while the frame was in flight).
	DropOutOfRange DropReason = iota
	// DropLoss: lost by the link's loss probability.
	DropLoss
	// DropQueueFull: the receiver's queue was full.
	DropQueueFull
	// DropDetached: the receiver closed its port while the frame was in
	// flight.
	DropDetached
	// DropMalformed: a datagram that is not a valid frame (UDP).
	DropMalformed
	// DropUnknownSource: a datagram from an address that is not the
	// topology's address of the frame's source ID (UDP).
	DropUnknownSource
	// DropNotNeighbour: a datagram from a node that is not in range of the
	// receiver in its topology (UDP).
	DropNotNeighbour
	// DropNotForMe: a datagram addressed to another Layer-2 ID (UDP).
	DropNotForMe

	// NumDropReasons is the number of reasons (the length of Stats.Dropped).
	NumDropReasons = iota
)

var dropNames = [NumDropReasons]string{
	DropOutOfRange:    "out of range",
	DropLoss:          "loss",
	DropQueueFull:     "queue full",
	DropDetached:      "detached",
	DropMalformed:     "malformed",
	DropUnknownSource: "unknown source",
	DropNotNeighbour:  "not a neighbour",
	DropNotForMe:      "not for me",
}

func (r DropReason) String() string {
	if int(r) < len(dropNames) {
		return dropNames[r]
	}
	return fmt.Sprintf("DropReason(%d)", uint8(r))
}

// Stats are the counters of a medium.
type Stats struct {
	// Sent counts frames accepted by Send (a broadcast counts once).
	Sent uint64
	// Delivered counts frame copies handed to a receiving node.
	Delivered uint64
	// Dropped counts copies not delivered, by DropReason.
	Dropped [NumDropReasons]uint64
}

// TotalDropped is the sum of Dropped.
func (s Stats) TotalDropped() uint64 {
	var n uint64
	for _, v := range s.Dropped {
		n += v
	}
	return n
}

// String prints the non-zero counters.
func (s Stats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sent %d, delivered %d", s.Sent, s.Delivered)
	for r, v := range s.Dropped {
		if v != 0 {
			fmt.Fprintf(&b, ", dropped (%s) %d", DropReason(r), v)
		}
	}
	return b.String()
}
