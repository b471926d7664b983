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
//
// The uses queued since the last flush are kept the same way, by what the
// flush needs: the ids of the grants used without an address in a slice (8
// bytes a use, where a map of every such use took about 75: under
// introspection of many distinct tokens that map was most of what the
// throttle allocated), and the few used with one in a map.
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
	mu sync.Mutex
	// plain is the grants queued without an address since the last flush;
	// one queued again after losing its slot may be there twice.
	plain []int64
	// addressed is the grants queued with their holder's address since the
	// last flush, and the address noted: the first, unless the grant was
	// queued again, after losing its slot, with another.
	addressed map[int64]Seen
	// queued is which grant each slot last queued for a write, and when.
	queued [lastUseSlots / lastUseShards]queuedSlot
	_      [40]byte // keeps each shard's lock off its neighbours' cache line
}

// queuedSlot is one slot of the table: a grant and when it was queued
// (Unix nanoseconds), whose lowest bit says whether an address was noted
// for it since.
type queuedSlot struct{ grant, stamp int64 }

func (q *queuedSlot) at() time.Time   { return time.Unix(0, q.stamp&^1) }
func (q *queuedSlot) addressed() bool { return q.stamp&1 == 1 }
func (q *queuedSlot) markAddressed()  { q.stamp |= 1 }
func (q *queuedSlot) set(grant int64, at time.Time, addressed bool) {
	q.grant, q.stamp = grant, at.UnixNano()&^1
	if addressed {
		q.markAddressed()
	}
}

func newLastUseThrottle() *lastUseThrottle {
	l := &lastUseThrottle{quit: make(chan struct{}), done: make(chan struct{})}
	for i := range l.shards {
		l.shards[i].addressed = map[int64]Seen{}
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
	withAddr := seen != (Seen{})
	l.mu.Lock()
	defer l.mu.Unlock()
	if slot.grant == grantID && now.Sub(slot.at()) < lastUseEvery {
		// Already queued this minute. The first use with an address gives
		// it to the queued use: the flush writes the address with it if
		// that use is not written yet. If it is, the UPDATE's condition
		// writes nothing, unless the minute since that write has run out
		// by the flush: then it writes this use, with its address.
		if withAddr && !slot.addressed() {
			if _, ok := l.addressed[grantID]; !ok {
				l.addressed[grantID] = seen
			}
			slot.markAddressed()
		}
		return
	}
	// Queued again after another grant took its slot, and not written
	// yet with an address: a use without one keeps that address.
	_, had := l.addressed[grantID]
	slot.set(grantID, now, withAddr || had)
	switch {
	case withAddr:
		l.addressed[grantID] = seen
	case !had:
		l.plain = append(l.plain, grantID)
	}
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
	var plain []int64
	groups := map[Seen][]int64{}
	addressed := map[int64]bool{}
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		p, a := sh.plain, sh.addressed
		sh.plain = make([]int64, 0, len(p)) // about as many in the next second
		if len(a) > 0 {
			sh.addressed = map[int64]Seen{}
		} else {
			a = nil // the empty map stays the shard's: not to be read outside its lock
		}
		sh.mu.Unlock()
		plain = append(plain, p...)
		for id, seen := range a {
			k := seen.clean()
			groups[k] = append(groups[k], id)
			addressed[id] = true
		}
	}
	// A grant queued twice is written once; one with an address is
	// written with it.
	slices.Sort(plain)
	plain = slices.Compact(plain)
	plain = slices.DeleteFunc(plain, func(id int64) bool { return addressed[id] })
	if len(plain) > 0 {
		groups[Seen{}] = append(groups[Seen{}], plain...)
	}
	n := len(plain) + len(addressed)
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
