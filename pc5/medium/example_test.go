package medium_test

import (
	"fmt"
	"time"

	"github.com/prosesec/prosesec/pc5/medium"
)

// A deterministic run: two nodes on a lossless 5 ms link, driven entirely
// from the clock's goroutine through port handlers.
func ExampleMem() {
	clk := medium.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	m, err := medium.NewMem(medium.MemConfig{Clock: clk, Seed: 1})
	if err != nil {
		panic(err)
	}
	m.SetLink(0x000001, 0x000002, medium.Link{InRange: true, Delay: 5 * time.Millisecond, RSSI: -70})
	a, _ := m.AttachPort(0x000001)
	b, _ := m.AttachPort(0x000002)
	b.SetHandler(func(f medium.Frame) {
		fmt.Printf("%s: %s got %q from %s on LCID %d (RSSI %d)\n", clk.Now().Format("15:04:05.000"), b.ID(), f.Payload, f.Src, f.LCID, f.RSSI)
		b.Send(medium.Frame{Dst: f.Src, LCID: f.LCID, Payload: []byte("pong")})
	})
	a.SetHandler(func(f medium.Frame) {
		fmt.Printf("%s: %s got %q from %s\n", clk.Now().Format("15:04:05.000"), a.ID(), f.Payload, f.Src)
	})
	a.Send(medium.Frame{Dst: 0x000002, LCID: 4, Payload: []byte("ping")})
	clk.RunUntilIdle()
	fmt.Println(m.Stats())
	// Output:
	// 00:00:00.005: 000002 got "ping" from 000001 on LCID 4 (RSSI -70)
	// 00:00:00.010: 000001 got "pong" from 000002
	// sent 2, delivered 2
}
