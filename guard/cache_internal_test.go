package guard

import (
	"testing"
	"time"
)

// TestCacheKeepsOneTokenPerSession: a session (a grant) has one live access
// token at a time; a refresh retires the ones before it without an event.
// The cache keeps the newer token's answer and never an older one's, even
// when the older answer arrives last (its introspection started before the
// refresh); two tokens of the same second are not ordered, so neither is
// kept. Answers without an iat are kept as they come.
func TestCacheKeepsOneTokenPerSession(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_000, 0)
	exp := now.Add(time.Hour)
	key := func(b byte) tokenKey { return tokenKey{b} }
	at := func(sid string, iat int64) Info {
		i := Info{SessionID: sid, Expiry: exp}
		if iat != 0 {
			i.issuedAt = time.Unix(iat, 0)
		}
		return i
	}
	has := func(c *cache, k tokenKey) bool { _, ok := c.get(k, now); return ok }

	c := newCache(100)
	if !c.put(key(1), at("S", 100), c.currentEpoch(), now) || !has(c, key(1)) {
		t.Fatal("the first answer of a session was not kept")
	}
	if !c.put(key(2), at("S", 200), c.currentEpoch(), now) || has(c, key(1)) || !has(c, key(2)) {
		t.Errorf("a newer token's answer: old kept %v, new kept %v; want only the new", has(c, key(1)), has(c, key(2)))
	}
	if c.put(key(1), at("S", 100), c.currentEpoch(), now) || has(c, key(1)) {
		t.Errorf("an older token's answer arriving last was kept")
	}
	if c.put(key(3), at("S", 200), c.currentEpoch(), now) || has(c, key(2)) || has(c, key(3)) {
		t.Errorf("two tokens of one second: kept %v and %v, want neither", has(c, key(2)), has(c, key(3)))
	}
	if !c.put(key(3), at("S", 200), c.currentEpoch(), now) || !has(c, key(3)) {
		t.Errorf("asked again, the session's token was not kept")
	}
	// Other sessions, and answers without an iat, are untouched.
	c.put(key(4), at("T", 150), c.currentEpoch(), now)
	c.put(key(5), at("S", 0), c.currentEpoch(), now)
	c.put(key(6), at("S", 0), c.currentEpoch(), now)
	for _, k := range []byte{3, 4, 5, 6} {
		if !has(c, key(k)) {
			t.Errorf("answer %d was dropped", k)
		}
	}
	// A drop forgets the session's token too: an answer for the session
	// is kept again afterwards, whatever its iat.
	c.drop(func(i Info) bool { return i.SessionID == "S" })
	if !c.put(key(1), at("S", 100), c.currentEpoch(), now) || !has(c, key(1)) {
		t.Errorf("after a drop, a session's answer was not kept")
	}
	c.flush()
	if !c.put(key(7), at("S", 50), c.currentEpoch(), now) || !has(c, key(7)) {
		t.Errorf("after a flush, a session's answer was not kept")
	}
}
