//go:build !linux || !cgo

package models

// keepFreedHeap is a no-op where the C heap is not glibc's (see
// malloc_linux.go).
func keepFreedHeap() bool { return false }

// arenaCap is 0: no arena limit where the C heap is not glibc's.
func arenaCap() int { return 0 }

// mallocArenas cannot say where the C heap is not glibc's.
func mallocArenas() int { return -1 }

// arenasWhenLowered is 0: no arena limit to lower.
var arenasWhenLowered int
