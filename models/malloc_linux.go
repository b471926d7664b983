//go:build linux && cgo

package models

/*
#include <malloc.h>

// latchkey_keep_freed_heap raises glibc's trim threshold and top pad (see
// keepFreedHeap). It returns 0 where the C library has no such settings
// (musl), 1 where it applied them.
static int latchkey_keep_freed_heap(int trim, int pad) {
#if defined(M_TRIM_THRESHOLD) && defined(M_TOP_PAD)
	mallopt(M_TRIM_THRESHOLD, trim);
	mallopt(M_TOP_PAD, pad);
	return 1;
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
// threshold"). Keeping up to trimThreshold of freed heap, grown topPad at
// a time, ends the churn. The peak RSS does not rise: the pages were in
// use at the peak anyway.
const (
	trimThreshold = 32 << 20
	topPad        = 4 << 20
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
