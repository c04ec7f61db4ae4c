package sim

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// memMonitor samples runtime.MemStats.HeapAlloc every 100 ms and keeps the
// largest value: the peak heap of a scale run (a measurement, not part of
// what the run checks).
type memMonitor struct {
	stopc chan struct{}
	wg    sync.WaitGroup
	peak  uint64
}

func startMemMonitor() *memMonitor {
	m := &memMonitor{stopc: make(chan struct{})}
	m.sample()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-m.stopc:
				return
			case <-t.C:
				m.sample()
			}
		}
	}()
	return m
}

func (m *memMonitor) sample() uint32 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.peak = max(m.peak, ms.HeapAlloc)
	return ms.NumGC
}

// stop ends the sampling and returns the peak heap and the GC count.
func (m *memMonitor) stop() (peak uint64, numGC uint32) {
	close(m.stopc)
	m.wg.Wait()
	gc := m.sample()
	return m.peak, gc
}

// vmHWM is the peak resident set size of the process (VmHWM in
// /proc/self/status), 0 where that file is missing (not Linux).
func vmHWM() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		num, unit, _ := strings.Cut(strings.TrimSpace(rest), " ")
		v, err := strconv.ParseUint(num, 10, 64)
		if err != nil || unit != "kB" {
			return 0
		}
		return v << 10
	}
	return 0
}
