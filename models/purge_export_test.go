package models

import "context"

// PurgeHoldingForTest is Purge with whileLocked run once the purge lock is
// held, so that a test can start a second purge while the first holds it.
func (s *Store) PurgeHoldingForTest(ctx context.Context, o PurgeOptions, whileLocked func()) (PurgeResult, error) {
	o.onLocked = whileLocked
	return s.Purge(ctx, o)
}
