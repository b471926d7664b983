//go:build linux && cgo

package models

/*
#include <malloc.h>

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
*/
import "C"

import (
	"os"
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
