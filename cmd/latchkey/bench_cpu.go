package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// cpuSample is the machine's CPU time so far, in the kernel's ticks, as
// /proc/stat counts it over every CPU: busy (user, nice, system, irq,
// softirq) and the total with idle, iowait and steal besides. n is the
// number of CPUs counted.
type cpuSample struct {
	busy, total uint64
	n           int
}

// machineUse is what a phase cost the whole machine: the load generator,
// the server and everything else running beside them. A ratio to the
// ceiling mixes two things, what a request costs and how much of the
// machine the phase keeps busy (a phase whose clients wait on one serial
// writer leaves CPU idle); these are the two apart.
type machineUse struct {
	busy   float64       // fraction of the machine's CPU time busy, 0–1
	cpus   int           // CPUs counted
	perReq time.Duration // busy CPU time over the requests answered
}

// readCPU reads the machine's CPU counters, on Linux; ok is false where
// there is no /proc/stat.
func readCPU() (cpuSample, bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return cpuSample{}, false
	}
	defer f.Close()
	s, err := parseProcStat(f)
	return s, err == nil
}

// parseProcStat reads the "cpu" line of /proc/stat (proc(5)) and counts
// the "cpuN" lines after it.
func parseProcStat(r io.Reader) (cpuSample, error) {
	var s cpuSample
	sc := bufio.NewScanner(r)
	seen := false
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		if f[0] != "cpu" {
			s.n++
			continue
		}
		// user nice system idle iowait irq softirq steal [guest guest_nice]:
		// guest time is already in user and nice.
		if len(f) < 9 {
			return cpuSample{}, fmt.Errorf("/proc/stat: %d fields on the cpu line", len(f)-1)
		}
		var v [8]uint64
		for i := range v {
			n, err := strconv.ParseUint(f[i+1], 10, 64)
			if err != nil {
				return cpuSample{}, fmt.Errorf("/proc/stat: %w", err)
			}
			v[i] = n
		}
		s.busy = v[0] + v[1] + v[2] + v[5] + v[6]
		s.total = s.busy + v[3] + v[4] + v[7]
		seen = true
	}
	if err := sc.Err(); err != nil {
		return cpuSample{}, err
	}
	if !seen || s.n == 0 {
		return cpuSample{}, fmt.Errorf("/proc/stat: no cpu lines")
	}
	return s, nil
}

// machineUseBetween is the use between two samples taken elapsed apart,
// over requests answered; ok is false when the counters did not move.
func machineUseBetween(a, b cpuSample, elapsed time.Duration, requests int) (machineUse, bool) {
	if b.total <= a.total || b.busy < a.busy || b.n == 0 || requests <= 0 || elapsed <= 0 {
		return machineUse{}, false
	}
	busy := float64(b.busy-a.busy) / float64(b.total-a.total)
	// The ticks' length cancels out: the busy share of the time the CPUs
	// had.
	cpuTime := busy * float64(b.n) * float64(elapsed)
	return machineUse{busy: busy, cpus: b.n, perReq: time.Duration(cpuTime / float64(requests))}, true
}
