package events_test

import (
	"syscall"
	"testing"
	"time"
)

// reportCPU reports the process's CPU time (user and system) per
// operation of the benchmark loop run by loop, as "cpu-ns/op": unlike
// ns/op, a figure that other load on a shared machine barely moves.
func reportCPU(b *testing.B, loop func()) {
	b.Helper()
	c0 := processCPU()
	loop()
	b.ReportMetric(float64(processCPU()-c0)/float64(b.N), "cpu-ns/op")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
