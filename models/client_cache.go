package models

import (
	"context"
	"sync"
	"time"
)

// clientCacheTTL is how long an authenticated request may use a client row
// read earlier. Client authentication is on every token, revocation and
// introspection request, and reading the row was a third of an
// introspection's cost; a client's settings change rarely. A change made
// through this process (secret rotation, disabling) takes effect at once;
// one made through another replica takes effect within this TTL. Tokens
// are never cached: a revoked token is refused on the next request.
const clientCacheTTL = time.Second

type cachedClient struct {
	c  Client
	at time.Time
}

type clientCache struct {
	mu  sync.RWMutex
	m   map[string]cachedClient
	gen uint64 // bumped by every forget: a row read before it is not cached
}

// cachedClientByClientID is ClientByClientID through the cache.
func (s *Store) cachedClientByClientID(ctx context.Context, clientID string) (*Client, error) {
	now := time.Now()
	s.clients.mu.RLock()
	e, ok := s.clients.m[clientID]
	gen := s.clients.gen
	s.clients.mu.RUnlock()
	if ok && now.Sub(e.at) < clientCacheTTL {
		c := e.c
		return &c, nil
	}
	c, err := s.ClientByClientID(ctx, clientID)
	if err != nil {
		return nil, err
	}
	s.clients.mu.Lock()
	if s.clients.gen == gen { // no change committed while we read
		if s.clients.m == nil || len(s.clients.m) > 10_000 {
			s.clients.m = map[string]cachedClient{}
		}
		s.clients.m[clientID] = cachedClient{c: *c, at: now}
	}
	s.clients.mu.Unlock()
	return c, nil
}

// forgetClients empties the cache, after a change to any client.
func (s *Store) forgetClients() {
	s.clients.mu.Lock()
	s.clients.m = nil
	s.clients.gen++
	s.clients.mu.Unlock()
}
