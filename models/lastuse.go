package models

import (
	"cmp"
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
// grant at most once a minute. Where the grant was seen (address and
// User-Agent) rides along with the same write.
//
// Every introspection notes a grant, so the notes are split over
// lastUseShards by grant id, each with its own lock: with one lock, the
// mutex profile of a server under introspection load showed this lock as
// the one requests waited on most.
//
// Which grants were queued within the minute is kept in a fixed table of
// lastUseSlots slots (direct-mapped by grant id, 16 bytes each, 1 MiB in
// all), not in a map: a map holds every grant used in the last minute,
// about 70 bytes each (TestLastUseMemoryIsBounded: 21 MB for 300,000
// grants), so a server introspecting many distinct grants grew with them. When two grants
// share a slot, the one that lost it may be queued again within the
// minute; the UPDATE's own condition (last_used_at older than a minute)
// still writes it at most once a minute, so a collision costs a primary-key
// lookup in the next flush, never a write.
type lastUseThrottle struct {
	shards [lastUseShards]lastUseShard
	quit   chan struct{}
	done   chan struct{}
	once   sync.Once
}

const (
	lastUseShards = 16
	lastUseSlots  = 1 << 16
)

type lastUseShard struct {
	mu      sync.Mutex
	pending map[int64]lastUse // grant → use not yet written
	// queued is which grant each slot last queued for a write, and when
	// (Unix nanoseconds).
	queued [lastUseSlots / lastUseShards]struct{ grant, at int64 }
	_      [40]byte // keeps each shard's lock off its neighbours' cache line
}

// lastUse is one grant's noted use: where from, when the holder talked to
// Latchkey directly; zero for introspection, whose caller is the resource
// server.
type lastUse struct {
	at   time.Time
	seen Seen
}

func newLastUseThrottle() *lastUseThrottle {
	l := &lastUseThrottle{quit: make(chan struct{}), done: make(chan struct{})}
	for i := range l.shards {
		l.shards[i].pending = map[int64]lastUse{}
	}
	return l
}

// TouchGrant records that a grant was used now, from seen (zero when the
// caller is not the token's holder: introspection). A failure to record
// last use must not fail the request that used the token, so this never
// blocks and never errors. The SQL condition keeps replicas from writing
// more often than once a minute between them.
func (s *Store) TouchGrant(grantID int64, seen Seen) {
	l := &s.lastUse.shards[uint64(grantID)%lastUseShards]
	slot := &l.queued[(uint64(grantID)/lastUseShards)%uint64(len(l.queued))]
	now := s.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if slot.grant == grantID && now.Sub(time.Unix(0, slot.at)) < lastUseEvery {
		// Already noted this minute; a use with an address still gives
		// its address to a noted use without one that is not written yet.
		if p, ok := l.pending[grantID]; ok && p.seen == (Seen{}) && seen != (Seen{}) {
			p.seen = seen
			l.pending[grantID] = p
		}
		return
	}
	slot.grant, slot.at = grantID, now.UnixNano()
	if p, ok := l.pending[grantID]; ok && seen == (Seen{}) {
		// Queued again, not yet written, after another grant took its
		// slot: the use without an address keeps the one noted.
		seen = p.seen
	}
	l.pending[grantID] = lastUse{at: now, seen: seen}
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

// flush writes the pending last uses, 500 grants a statement: one group
// of statements for the uses without an address, one for each address and
// User-Agent (a busy deployment has few: its clients' servers and apps).
func (l *lastUseThrottle) flush(s *Store) {
	now := s.Now()
	n := 0
	groups := map[Seen][]int64{}
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		pending := sh.pending
		sh.pending = map[int64]lastUse{}
		sh.mu.Unlock()
		n += len(pending)
		for id, u := range pending {
			k := u.seen.clean()
			groups[k] = append(groups[k], id)
		}
	}
	if n == 0 {
		return
	}
	keys := make([]Seen, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
		slices.Sort(groups[k])
	}
	slices.SortFunc(keys, func(a, b Seen) int { return cmp.Or(cmp.Compare(a.Addr, b.Addr), cmp.Compare(a.UserAgent, b.UserAgent)) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.write(ctx, func(tx *gorm.DB) error {
		for _, k := range keys {
			for chunk := range slices.Chunk(groups[k], 500) {
				q, args := "UPDATE grants SET last_used_at = ?", []any{now}
				if k != (Seen{}) {
					q, args = q+", last_seen_at = ?, last_seen_addr = ?, last_seen_ua = ?", append(args, now, k.Addr, k.UserAgent)
				}
				q += " WHERE id IN ? AND (last_used_at IS NULL OR last_used_at < ?)"
				if err := tx.Exec(q, append(args, chunk, now.Add(-lastUseEvery))...).Error; err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		s.log.Warn("record last use", "grants", n, "err", err)
	}
}
