package main

import (
	"fmt"
	"math"
	"runtime/debug"
	"strconv"
	"strings"
)

// defaultMemoryLimit is serve's soft limit on the memory the Go runtime
// manages (heap, stacks and the runtime's own structures; not the binary's
// pages nor SQLite's caches). Under load the server's live heap is 5–8 MB
// and the collector's goal about twice that, but without a limit the
// runtime keeps the heap's high-water mark and hands it back slowly: at 256
// connections it held 27 MB for a 12 MB heap. At 24 MiB the scavenger
// returns that slack at once and the collector runs about 40% more often,
// which costs little at this heap size (docs/benchmarks.md, "Memory").
// The limit is soft: a heap that needs more gets more, at the price of
// more frequent collections (the runtime caps their share of the CPU).
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
	switch {
	case !m.set:
		return "24MiB"
	case m.bytes == math.MaxInt64:
		return "off"
	case m.bytes%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", m.bytes>>20)
	}
	return fmt.Sprintf("%dB", m.bytes)
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
// default. It returns the limit in effect.
func (a *app) applyMemoryLimit(m memoryLimit) int64 {
	switch {
	case m.set:
		debug.SetMemoryLimit(m.bytes)
	case a.getenv("GOMEMLIMIT") != "":
		// The runtime read it at start.
	default:
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	return debug.SetMemoryLimit(-1)
}
