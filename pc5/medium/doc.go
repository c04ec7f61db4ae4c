// Package medium owns the emulated PC5 radio of prosesec: the one small
// interface through which every node (end UE or UE-to-UE relay) sends and
// receives sidelink frames, and its two implementations.
//
//   - Medium and Port (medium.go): a node attaches with its Layer-2 ID and
//     gets a Port; it sends unicast frames (destination = a peer's Layer-2
//     ID) and broadcast frames (destination = Broadcast), and pulls received
//     frames with Recv. The shape follows wireguard-go's conn.Bind: the
//     interface knows nothing about what the payload is.
//   - Mem (mem.go, clock.go): an in-memory medium on a virtual clock (Clock,
//     a priority queue of scheduled events advanced by Step, Advance,
//     RunUntil and RunUntilIdle). Per-pair links have a range flag, a loss
//     probability, a delay with jitter and an RSSI-like quality; the
//     topology may change at run time. Randomness comes from math/rand/v2
//     PCG seeded by MemConfig.Seed, so a run is reproducible.
//   - UDP (udp.go, topology.go, frame.go): one node per UDP socket on
//     loopback, so that separate processes (prose-ue) can talk. A Topology
//     (a YAML/JSON file, or built from flags) maps Layer-2 IDs to UDP
//     addresses and says which nodes are in radio range; each frame travels
//     in one datagram behind a 10-octet header (EncodeFrame, DecodeFrame).
//
// # Push or pull
//
// Ports are pulled (Recv(ctx)), so that the natural driver is one goroutine
// per node that reads frames and feeds a sans-I/O state machine (pc5/link,
// discovery). The in-memory medium also offers a fully deterministic mode
// for the simulator: deliveries happen only inside Clock.Step/Advance (one
// goroutine), in (time, sequence) order, and a MemPort with a handler
// (SetHandler) receives each frame synchronously from there instead of
// queueing it. TryRecv polls without blocking.
//
// # What follows 3GPP and what this project defines
//
// Layer-2 IDs are 24 bits as in TS 23.304 §5.8.2 (source and destination
// Layer-2 IDs of PC5 unicast and broadcast) and a frame carries the
// sidelink LCID (6 bits, TS 38.321 §6.2.4). Everything else is
// PROJECT-DEFINED, not 3GPP: the radio model (range, loss, delay, RSSI),
// the Broadcast destination 0xFFFFFF (TS 23.304 derives broadcast
// destination Layer-2 IDs from the service; the emulation needs one),
// MaxPayload (9000 octets), the UDP frame header and the topology file.
//
// # Errors and counters
//
// Errors start with "pc5/medium: " and wrap one of ErrClosed,
// ErrFrameTooLarge, ErrInvalidL2ID, ErrInvalidLCID, ErrInUse, ErrMalformed
// or ErrTopology, or (UDP only) the socket error of a bind or a send. A frame that the radio would lose (out of range, lost,
// receiver queue full, malformed datagram, ...) is not an error of Send: it
// is counted in Stats under its DropReason, as a radio would drop it
// silently. Nothing in this package logs.
package medium
