//go:build !cgo

package models

import "errors"

// Without cgo there is no SQLite (see sqlite_config.go).
var sqliteStatsOff bool

func sqliteMemoryUsed() int64 { return -1 }

func sqliteConnHasMutex(any) (bool, error) { return false, errors.New("models: built without cgo") }
