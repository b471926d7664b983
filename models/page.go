package models

// Cursor is a keyset pagination position: lists are newest first, and a
// page holds rows with id below Before (zero means from the top). Keyset
// pagination keeps a deep page as fast as the first one, which OFFSET does
// not.
type Cursor struct {
	Before int64
}

// Page is one page of a list.
type Page[T any] struct {
	Rows []T
	// Next is the cursor of the following page; valid when HasNext.
	Next    Cursor
	HasNext bool
}

// clampLimit keeps page sizes sane.
func clampLimit(n int) int {
	switch {
	case n <= 0:
		return 50
	case n > 500:
		return 500
	}
	return n
}
