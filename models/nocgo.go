//go:build !cgo

package models

// Latchkey's SQLite driver (mattn/go-sqlite3) needs cgo. Without it this
// package cannot build; this line makes the compiler say why, instead of
// an error inside the driver's API.
var _ = latchkey_needs_cgo__install_a_C_compiler_and_build_with_CGO_ENABLED_1
