package models

import (
	"context"
	"sync"
	"time"

	"gorm.io/gorm"
)

// lastUseEvery is how often, at most, a grant's last use is written.
const lastUseEvery = time.Minute

// lastUseThrottle remembers when this process last wrote each grant's
// last_used_at, so that reads stay reads: /api/me and introspection write
// at most once per grant per minute.
type lastUseThrottle struct {
	mu   sync.Mutex
	seen map[int64]time.Time
}

func newLastUseThrottle() *lastUseThrottle {
	return &lastUseThrottle{seen: make(map[int64]time.Time)}
}

func (l *lastUseThrottle) due(grantID int64, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.seen[grantID]; ok && now.Sub(t) < lastUseEvery {
		return false
	}
	if len(l.seen) > 100_000 {
		for id, t := range l.seen {
			if now.Sub(t) >= lastUseEvery {
				delete(l.seen, id)
			}
		}
	}
	l.seen[grantID] = now
	return true
}

// TouchGrant records that a grant was used now. It writes at most once a
// minute per grant, in the background: a failure to record last use must
// not fail the request that used the token. The SQL condition keeps
// replicas from writing more often than that between them.
func (s *Store) TouchGrant(grantID int64) {
	now := s.Now()
	if !s.lastUse.due(grantID, now) {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := s.write(ctx, func(tx *gorm.DB) error {
			return tx.Exec("UPDATE grants SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)",
				now, grantID, now.Add(-lastUseEvery)).Error
		})
		if err != nil {
			s.log.Warn("record last use", "grant_id", grantID, "err", err)
		}
	}()
}
