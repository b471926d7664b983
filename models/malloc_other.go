//go:build !linux || !cgo

package models

// keepFreedHeap is a no-op where the C heap is not glibc's (see
// malloc_linux.go).
func keepFreedHeap() bool { return false }
