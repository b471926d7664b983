package main

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A /proc/stat as Linux 6.x writes it (proc(5)), trimmed after the CPUs.
const procStat = `cpu  8805766 132695 2338642 4763393 284610 0 421527 16443 0 0
cpu0 4402883 66347 1169321 2381696 142305 0 210763 8221 0 0
cpu1 4402883 66348 1169321 2381697 142305 0 210764 8222 0 0
intr 612069201 0 9 0 0 0 0 0 0 0 0
ctxt 1096380234
btime 1795900000
processes 2030044
`

func TestParseProcStat(t *testing.T) {
	s, err := parseProcStat(strings.NewReader(procStat))
	if err != nil {
		t.Fatal(err)
	}
	// busy: user + nice + system + irq + softirq; the total adds idle,
	// iowait and steal (guest time is inside user already).
	wantBusy := uint64(8805766 + 132695 + 2338642 + 0 + 421527)
	if s.busy != wantBusy || s.total != wantBusy+4763393+284610+16443 || s.n != 2 {
		t.Errorf("got %+v, want busy %d, total %d, 2 CPUs", s, wantBusy, wantBusy+4763393+284610+16443)
	}
	for name, bad := range map[string]string{
		"empty":          "",
		"no cpu line":    "cpu0 1 2 3 4 5 6 7 8\nintr 1\n",
		"no CPU counted": "cpu  1 2 3 4 5 6 7 8 0 0\nintr 1\n",
		"short":          "cpu  1 2 3 4\ncpu0 1 2 3 4\n",
		"not a number":   "cpu  1 2 x 4 5 6 7 8 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n",
	} {
		if s, err := parseProcStat(strings.NewReader(bad)); err == nil {
			t.Errorf("%s: got %+v, want an error", name, s)
		}
	}
}

func TestMachineUseBetween(t *testing.T) {
	a := cpuSample{busy: 1000, total: 4000, n: 2}
	b := cpuSample{busy: 1600, total: 5000, n: 2}
	// 600 of 1,000 ticks busy: 60 % of 2 CPUs for 5 s is 6 s of CPU,
	// over 1,000 requests 6 ms each.
	u, ok := machineUseBetween(a, b, 5*time.Second, 1000)
	if !ok || u.busy != 0.6 || u.cpus != 2 || u.perReq != 6*time.Millisecond {
		t.Errorf("got %+v, %v; want 60 %% of 2 CPUs, 6ms a request", u, ok)
	}
	for name, c := range map[string]struct {
		a, b     cpuSample
		elapsed  time.Duration
		requests int
	}{
		"no request":         {a, b, time.Second, 0},
		"no time":            {a, b, 0, 10},
		"counters still":     {a, a, time.Second, 10},
		"counters went back": {b, a, time.Second, 10},
	} {
		if u, ok := machineUseBetween(c.a, c.b, c.elapsed, c.requests); ok {
			t.Errorf("%s: got %+v, want none", name, u)
		}
	}
}

// machineLines checks that each of names' phase lines in a bench's out is
// followed by what it cost the machine, where /proc/stat can be read.
func machineLines(t *testing.T, out string, names ...string) {
	t.Helper()
	if _, err := os.Stat("/proc/stat"); err != nil {
		t.Logf("no /proc/stat here: bench reports no machine figures")
		return
	}
	for _, name := range names {
		m := regexp.MustCompile(`(?m)^` + name + `: \d+ clients .*\n  machine: ([\d.]+) % of (\d+) CPUs busy; ([\d.]+) µs of CPU per request, every process on the machine$`).FindStringSubmatch(out)
		if m == nil {
			t.Errorf("%s: no machine line after the phase in:\n%s", name, out)
			continue
		}
		busy, _ := strconv.ParseFloat(m[1], 64)
		cpus, _ := strconv.Atoi(m[2])
		per, _ := strconv.ParseFloat(m[3], 64)
		if busy <= 0 || busy > 100 || cpus < 1 || per <= 0 || per > 1e6 {
			t.Errorf("%s: machine %s %% of %s CPUs, %s µs a request: want busy in (0, 100], a CPU or more, and (0, 1 s) a request", name, m[1], m[2], m[3])
		}
	}
}
