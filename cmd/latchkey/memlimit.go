package main

import (
	"fmt"
	"math"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"
)

// defaultMemoryLimit is serve's soft limit on the memory the Go runtime
// manages (heap, stacks and the runtime's own structures; not the binary's
// pages nor SQLite's caches). Under load the server's live heap is 5–8 MB
// and the collector's goal about twice that, but without a limit the
// runtime keeps the heap's high-water mark and hands it back slowly: at 256
// connections it held 27 MB for a 12 MB heap. At 24 MiB the scavenger
// returns that slack at once and the collector runs about 40% more often:
// the peak RSS at 256 connections fell from 61–65 to 57–58 MB. Measured
// within one server, it costs nothing at 32 connections, and at 256 about
// 8% of issuance and 15% of revocation throughput (docs/benchmarks.md,
// "What the default memory limit costs"). --memory-limit off gives that
// back.
// The limit is soft, and the default follows the live heap up
// (defaultLimitFor), so a heap that needs more gets it without the
// collector running all the time.
const defaultMemoryLimit = 24 << 20

// minMemoryLimit refuses limits under which the collector would run nearly
// all the time.
const minMemoryLimit = 8 << 20

// memoryLimit is the --memory-limit flag: a size with the suffixes the Go
// runtime's GOMEMLIMIT takes (B, KiB, MiB, GiB, TiB), or "off".
type memoryLimit struct {
	bytes int64 // math.MaxInt64 is off
	set   bool  // given by the flag or LATCHKEY_MEMORY_LIMIT
}

func (m *memoryLimit) String() string {
	n := m.bytes
	switch {
	case !m.set:
		n = defaultMemoryLimit
	case n == math.MaxInt64:
		return "off"
	}
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dB", n)
}

func (m *memoryLimit) Type() string { return "size" }

func (m *memoryLimit) Set(s string) error {
	s = strings.TrimSpace(s)
	if s == "off" {
		m.bytes, m.set = math.MaxInt64, true
		return nil
	}
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	if n < minMemoryLimit {
		return fmt.Errorf("%s is under 8MiB, where the collector would run all the time", s)
	}
	m.bytes, m.set = n, true
	return nil
}

// parseSize reads a number of bytes with an optional B, KiB, MiB, GiB or
// TiB suffix, as GOMEMLIMIT does.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		shift  uint
	}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}
	num, shift := s, uint(0)
	for _, u := range units {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			num, shift = v, u.shift
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("want a size such as 24MiB or 1GiB, or off")
	}
	return n << shift, nil
}

// applyMemoryLimit sets the runtime's soft memory limit: the flag's if
// given, else the one GOMEMLIMIT gave the runtime at start, else the
// default, which follows the live heap (followLiveHeap). It returns what
// stops the following.
func (a *app) applyMemoryLimit(m memoryLimit) (stop func()) {
	switch {
	case m.set:
		debug.SetMemoryLimit(m.bytes)
		return func() {}
	case a.getenv("GOMEMLIMIT") != "":
		// The runtime read it at start.
		return func() {}
	}
	debug.SetMemoryLimit(defaultMemoryLimit)
	return followLiveHeap(time.Second, liveHeap, func(n int64) { debug.SetMemoryLimit(n) })
}

// defaultLimitFor is the default limit for a live heap of live bytes:
// 24 MiB, or three times the live heap when that is more. A fixed limit
// under a heap that has grown for good (a flood of wrong passwords filling
// the throttle's tables, say) would make the collector run nearly all the
// time, when the CPU is needed most. At three times the live heap the
// limit is never what starts a collection (GOGC's goal, twice the live
// heap, comes first; the third share is stacks, the runtime's own
// structures and fragmentation), so it only returns the slack. Under load
// the live heap is 5–8 MB, where the limit stays at 24 MiB.
func defaultLimitFor(live uint64) int64 {
	return max(defaultMemoryLimit, int64(min(live, math.MaxInt64/3))*3)
}

// followLiveHeap sets the limit to defaultLimitFor the live heap, every
// interval, until the returned function is called.
func followLiveHeap(every time.Duration, live func() (uint64, bool), set func(int64)) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		last := int64(defaultMemoryLimit)
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			n, ok := live()
			if !ok {
				return
			}
			if l := defaultLimitFor(n); l != last {
				set(l)
				last = l
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done) }) }
}

// liveHeap is the heap's size after the last collection's marking.
func liveHeap() (uint64, bool) {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0, false
	}
	return s[0].Value.Uint64(), true
}
