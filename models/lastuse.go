package models

import (
	"context"
	"slices"
	"sync"
	"time"

	"gorm.io/gorm"
)

// lastUseEvery is how often, at most, a grant's last use is written.
const lastUseEvery = time.Minute

// lastUseThrottle records grants' last use so that reads stay reads:
// /api/me and introspection only note the grant in memory; a background
// flush writes all noted grants once a second in a few statements, and each
// grant at most once a minute.
type lastUseThrottle struct {
	mu      sync.Mutex
	seen    map[int64]time.Time // grant → when last queued for a write
	pending map[int64]time.Time // grant → use time not yet written
	quit    chan struct{}
	done    chan struct{}
	once    sync.Once
}

func newLastUseThrottle() *lastUseThrottle {
	return &lastUseThrottle{seen: map[int64]time.Time{}, pending: map[int64]time.Time{},
		quit: make(chan struct{}), done: make(chan struct{})}
}

// TouchGrant records that a grant was used now. A failure to record last
// use must not fail the request that used the token, so this never blocks
// and never errors. The SQL condition keeps replicas from writing more often
// than once a minute between them.
func (s *Store) TouchGrant(grantID int64) {
	l := s.lastUse
	now := s.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.seen[grantID]; ok && now.Sub(t) < lastUseEvery {
		return
	}
	l.seen[grantID] = now
	l.pending[grantID] = now
}

// FlushLastUse writes the last uses TouchGrant recorded, now rather than
// at the background flush's next tick: for the demo, which moves its
// store's clock, and for tests.
func (s *Store) FlushLastUse() { s.lastUse.flush(s) }

func (l *lastUseThrottle) start(s *Store) {
	go func() {
		defer close(l.done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				l.flush(s)
			case <-l.quit:
				l.flush(s)
				return
			}
		}
	}()
}

func (l *lastUseThrottle) stop() {
	l.once.Do(func() { close(l.quit) })
	<-l.done
}

// flush writes the pending last uses, grouped by time, 500 grants a
// statement.
func (l *lastUseThrottle) flush(s *Store) {
	l.mu.Lock()
	pending := l.pending
	l.pending = map[int64]time.Time{}
	now := s.Now()
	if len(l.seen) > 200_000 {
		for id, t := range l.seen {
			if now.Sub(t) >= lastUseEvery {
				delete(l.seen, id)
			}
		}
	}
	l.mu.Unlock()
	if len(pending) == 0 {
		return
	}
	ids := make([]int64, 0, len(pending))
	for id := range pending {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.write(ctx, func(tx *gorm.DB) error {
		for chunk := range slices.Chunk(ids, 500) {
			if err := tx.Exec("UPDATE grants SET last_used_at = ? WHERE id IN ? AND (last_used_at IS NULL OR last_used_at < ?)",
				now, chunk, now.Add(-lastUseEvery)).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.log.Warn("record last use", "grants", len(ids), "err", err)
	}
}
