//go:build linux && cgo

package models

/*
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <malloc.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// latchkey_keep_freed_heap raises glibc's trim threshold and top pad (see
// keepFreedHeap). It returns 0 where the C library has no such settings
// (musl), 1 where it applied them.
static int latchkey_keep_freed_heap(int trim, int pad) {
#if defined(M_TRIM_THRESHOLD) && defined(M_TOP_PAD)
	return mallopt(M_TRIM_THRESHOLD, trim) == 1 && mallopt(M_TOP_PAD, pad) == 1;
#else
	return 0;
#endif
}

// latchkey_arena_cap is the arena limit latchkey_cap_arenas set, 0 for
// none.
static int latchkey_arena_cap;

// latchkey_cap_arenas limits glibc's malloc to one arena per CPU this
// process may run on (see arenaCap). It runs as the program loads,
// before the Go runtime starts a thread: an arena glibc has made is never
// removed, and by the time Go code runs a few threads have made theirs.
// MALLOC_ARENA_MAX or malloc.arena_max in GLIBC_TUNABLES, set by the
// operator, win: set at all, even to a value glibc ignores (empty, 0),
// they leave the limit to glibc.
__attribute__((constructor)) static void latchkey_cap_arenas(void) {
#if defined(__GLIBC__) && defined(M_ARENA_MAX)
	if (getenv("MALLOC_ARENA_MAX") != NULL) return;
	const char *t = getenv("GLIBC_TUNABLES");
	if (t != NULL && strstr(t, "malloc.arena_max") != NULL) return;
	// The CPUs this process may run on, as Go's runtime.NumCPU counts
	// them; the online CPUs where the affinity mask does not fit a
	// cpu_set_t (over 1,024 possible CPUs).
	cpu_set_t set;
	int n = 0;
	if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
	if (n < 1) n = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1) return;
	if (mallopt(M_ARENA_MAX, n) == 1) latchkey_arena_cap = n;
#endif
}

static int latchkey_arena_limit(void) { return latchkey_arena_cap; }

// latchkey_lower_arena_limit lowers the limit latchkey_cap_arenas set to
// n, if n is lower: 1 if it did.
static int latchkey_lower_arena_limit(int n) {
#if defined(__GLIBC__) && defined(M_ARENA_MAX)
	if (latchkey_arena_cap == 0 || n < 1 || n >= latchkey_arena_cap) return 0;
	if (mallopt(M_ARENA_MAX, n) != 1) return 0;
	latchkey_arena_cap = n;
	return 1;
#else
	return 0;
#endif
}

// latchkey_malloc_arenas counts the arenas glibc's malloc_info reports
// (one <heap nr="..."> element each), or returns -1 where it cannot.
static int latchkey_malloc_arenas(void) {
#if !defined(__GLIBC__)
	return -1;
#else
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (f == NULL) return -1;
	int ok = malloc_info(0, f) == 0;
	fclose(f);
	int n = -1;
	if (ok) {
		n = 0;
		for (char *p = buf; (p = strstr(p, "<heap nr=")) != NULL; p++) n++;
	}
	free(buf);
	return n;
#endif
}
*/
import "C"

import (
	"os"
	"runtime"
	"strings"
)

// The C heap's settings for SQLite, applied once when the first SQLite
// store opens.
//
// In WAL mode SQLite empties a connection's whole page cache when it
// begins a read and finds the database changed since its last one, and
// under writes it nearly always has (a group commit every millisecond or
// two). Each such read frees the reader's pages and mallocs them again, a
// dozen or more of 4 KiB. With glibc's defaults the freed memory at the
// top of a heap goes back to the kernel once it passes 128 KiB (brk, or
// madvise in a thread's arena, with a TLB shootdown on the other core),
// and the next read faults it in again, zeroed. Under revocation load (a
// lookup on a reader, then the write) the server took 6-7 minor page
// faults per revocation; with these settings 0.04, and revocations were
// about a fifth faster (docs/benchmarks.md, "The C heap's trim
// threshold"). Keeping up to trimThreshold of freed heap at the top of each
// heap, grown topPad at a time, ends the churn. 1 MiB was enough: the
// faults fell as far as with 4 or 32 MiB, and each thread's arena keeps
// the least of its freed top (the peak RSS of the four values differed by
// less than runs of one value do). As with glibc's own
// MALLOC_TRIM_THRESHOLD_, setting these turns off its
// sliding mmap threshold: blocks of 128 KiB or more stay mmap'd singly,
// which SQLite's per-request allocations never are (the fault count
// above is the whole process's).
const (
	trimThreshold = 1 << 20
	topPad        = 256 << 10
)

// keepFreedHeap applies trimThreshold and topPad, unless the operator set
// glibc's own environment variables or tunables for them, which then win.
func keepFreedHeap() bool {
	for _, k := range []string{"MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"} {
		if _, ok := os.LookupEnv(k); ok {
			return false
		}
	}
	if t := os.Getenv("GLIBC_TUNABLES"); strings.Contains(t, "malloc.trim_threshold") || strings.Contains(t, "malloc.top_pad") {
		return false
	}
	return C.latchkey_keep_freed_heap(C.int(trimThreshold), C.int(topPad)) == 1
}

// arenaCap is the C heap's arena limit set as the program loaded
// (latchkey_cap_arenas above), 0 for none: one arena per CPU the process
// may run on (the lower of its affinity mask and GOMAXPROCS, below),
// unless the operator set MALLOC_ARENA_MAX or malloc.arena_max in
// GLIBC_TUNABLES.
//
// glibc gives each new thread that mallocs an arena of its own, up to
// eight per CPU, and SQLite mallocs on whichever thread the Go runtime
// runs a cgo call on: under load that is a dozen threads, as calls block
// in SQLite and the runtime starts others for the Ps they left. Each
// arena holds its own share of the page caches' churn and, with
// keepFreedHeap, up to trimThreshold of freed memory at its top, so every
// arena added is about a megabyte more resident. No more threads than
// CPUs run C at once, so more arenas than CPUs buy little. Measured
// (docs/benchmarks.md, "The C heap's arenas"): the peak RSS about 2 MB
// lower in 10 s phases and 6 MB lower over 60 s at c=256, throughput the
// same within the noise. It applies to every command and to PostgreSQL
// too, where little is malloc'd and it costs nothing.
func arenaCap() int { return int(C.latchkey_arena_limit()) }

// arenasWhenLowered is how many arenas the C heap had when the package
// lowered the limit to GOMAXPROCS (0 if it did not): those made before
// stay.
var arenasWhenLowered int

// A process may run on fewer CPUs than its affinity mask names: a
// container's CPU quota, which Go's runtime reads into GOMAXPROCS and the
// C constructor cannot see. The limit follows GOMAXPROCS down as the
// package loads; arenas the runtime's first threads made by then stay,
// later threads share them.
func init() {
	if C.latchkey_lower_arena_limit(C.int(runtime.GOMAXPROCS(0))) == 1 {
		arenasWhenLowered = mallocArenas()
	}
}

// mallocArenas is how many arenas the C heap has now, or -1 where it
// cannot say.
func mallocArenas() int { return int(C.latchkey_malloc_arenas()) }
