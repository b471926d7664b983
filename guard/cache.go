package guard

import (
	"sync"
	"time"
)

// tokenKey is the SHA-256 of a bearer token: what the cache is keyed by,
// so that raw tokens are not kept in memory beyond the request that
// carried them.
type tokenKey [32]byte

// cache holds active introspection answers until their exp. Every drop or
// flush advances epoch; an answer is stored only if no drop happened
// while it was being fetched, so an introspection that raced a revocation
// event cannot bring a revoked token back.
//
// It keeps at most one answer per session (sid). A session, one grant,
// has one live access token at a time: a refresh retires the ones issued
// before it (SPEC: they "stop working"), and sends no event, since the
// session goes on. So an answer for a session's newer token (a later iat)
// replaces the older token's, which then gets asked about again, and is
// refused; an answer for an older token than the one kept is not stored.
// Two of one second cannot be ordered: neither is kept. An answer without
// a sid or an iat is kept as it comes.
type cache struct {
	mu    sync.RWMutex
	m     map[tokenKey]Info
	bySid map[string]tokenKey
	max   int
	epoch uint64
}

func newCache(max int) *cache {
	return &cache{m: make(map[tokenKey]Info), bySid: make(map[string]tokenKey), max: max}
}

// remove deletes k's answer and its session's entry. c.mu is held.
func (c *cache) remove(k tokenKey) {
	if v, ok := c.m[k]; ok {
		if c.bySid[v.SessionID] == k {
			delete(c.bySid, v.SessionID)
		}
		delete(c.m, k)
	}
}

// get returns the answer cached for k, if it has not expired.
func (c *cache) get(k tokenKey, now time.Time) (Info, bool) {
	c.mu.RLock()
	info, ok := c.m[k]
	c.mu.RUnlock()
	if !ok || !now.Before(info.Expiry) {
		return Info{}, false
	}
	return info, true
}

// currentEpoch is read before an introspection starts and passed to put.
func (c *cache) currentEpoch() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.epoch
}

// put stores info unless a drop happened since epoch was read. When the
// cache is full it first evicts expired answers among a few it looks at,
// or else one arbitrary answer (Go's map order is randomized), so that
// inserting stays O(1).
func (c *cache) put(k tokenKey, info Info, epoch uint64, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch != epoch {
		return false
	}
	bySid := info.SessionID != "" && !info.issuedAt.IsZero()
	if bySid {
		if prev, ok := c.bySid[info.SessionID]; ok && prev != k {
			switch p := c.m[prev]; {
			case info.issuedAt.Before(p.issuedAt):
				return false // a token the kept one superseded
			case info.issuedAt.Equal(p.issuedAt):
				c.remove(prev)
				return false
			default:
				c.remove(prev)
			}
		}
	}
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		seen, evicted := 0, false
		var victim tokenKey
		for key, v := range c.m {
			if !now.Before(v.Expiry) {
				c.remove(key)
				evicted = true
			} else if seen == 0 {
				victim = key
			}
			if seen++; seen >= 64 {
				break
			}
		}
		if !evicted {
			c.remove(victim)
		}
	}
	c.m[k] = info
	if bySid {
		c.bySid[info.SessionID] = k
	}
	return true
}

// drop removes every answer match selects and reports how many.
func (c *cache) drop(match func(Info) bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	n := 0
	for k, v := range c.m {
		if match(v) {
			c.remove(k)
			n++
		}
	}
	return n
}

// flush empties the cache.
func (c *cache) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	clear(c.m)
	clear(c.bySid)
}

func (c *cache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
