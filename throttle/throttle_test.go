package throttle

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newLimiter(cfg Config) (*Limiter, *clock) {
	c := &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	cfg.Now = c.now
	return New(cfg), c
}

func fail(t *testing.T, l *Limiter, user, addr string) {
	t.Helper()
	at, wait := l.Begin(user, addr)
	if at == nil {
		t.Fatalf("%s from %s: refused for %v, want a check", user, addr, wait)
	}
	at.Fail()
}

func TestBackoffDoublesFromOneSecondToFifteenMinutes(t *testing.T) {
	l, c := newLimiter(Config{})
	for range 5 {
		fail(t, l, "alice", "10.0.0.1")
	}
	want := time.Second
	for i := range 14 {
		at, wait := l.Begin("alice", "10.0.0.1")
		if at != nil || wait != want {
			t.Fatalf("after %d failures: got wait %v, want %v", 5+i, wait, want)
		}
		c.add(wait)
		fail(t, l, "alice", "10.0.0.1")
		want = min(2*want, 15*time.Minute)
	}
	if _, wait := l.Begin("alice", "10.0.0.1"); wait != 15*time.Minute {
		t.Errorf("got %v, want the 15 min cap", wait)
	}
}

func TestSuccessResetsThePair(t *testing.T) {
	l, c := newLimiter(Config{})
	for range 5 {
		fail(t, l, "alice", "10.0.0.1")
	}
	c.add(time.Second)
	at, _ := l.Begin("alice", "10.0.0.1")
	at.Succeed()
	for range 5 {
		fail(t, l, "alice", "10.0.0.1") // five more before any back-off
	}
	if at, _ := l.Begin("alice", "10.0.0.1"); at != nil {
		t.Error("sixth failure in a row let through")
	}
}

func TestOtherAddressesAndFoldedUsernames(t *testing.T) {
	l, _ := newLimiter(Config{})
	for range 5 {
		fail(t, l, "Alice", "10.0.0.1")
	}
	if at, _ := l.Begin("ALICE", "10.0.0.1"); at != nil {
		t.Error("ALICE is alice: want refused")
	}
	if at, _ := l.Begin("alice", "10.0.0.2"); at == nil {
		t.Error("another address is locked out")
	}
}

func TestConcurrentChecksCountAsFailures(t *testing.T) {
	l, _ := newLimiter(Config{})
	var open []*Attempt
	for range 5 {
		at, _ := l.Begin("alice", "10.0.0.1")
		if at == nil {
			t.Fatal("refused before five")
		}
		open = append(open, at)
	}
	if at, wait := l.Begin("alice", "10.0.0.1"); at != nil || wait <= 0 {
		t.Errorf("sixth concurrent check let through (wait %v)", wait)
	}
	for _, at := range open {
		at.Abandon()
	}
	if p, a := l.Len(); p != 0 || a != 0 {
		t.Errorf("abandoned checks left %d pairs, %d addresses", p, a)
	}
}

func TestAddressLimitAcrossUsernames(t *testing.T) {
	l, c := newLimiter(Config{})
	for i := range 100 {
		fail(t, l, fmt.Sprintf("user%d", i), "10.0.0.1")
		c.add(time.Second)
	}
	at, wait := l.Begin("someone-else", "10.0.0.1")
	if at != nil {
		t.Fatal("101st failure from one address let through")
	}
	// The first failures were 100 s ago: they leave the window within 15 min.
	if wait <= 0 || wait > 15*time.Minute {
		t.Errorf("wait %v, want within the 15 min window", wait)
	}
	if at, _ := l.Begin("someone-else", "10.0.0.2"); at == nil {
		t.Error("another address refused")
	}
	c.add(wait)
	if at, _ := l.Begin("someone-else", "10.0.0.1"); at == nil {
		t.Error("still refused after the advertised wait")
	}
}

func TestTablesAreBounded(t *testing.T) {
	l, _ := newLimiter(Config{MaxEntries: 100})
	for i := range 10_000 {
		fail(t, l, fmt.Sprintf("user%d", i), fmt.Sprintf("10.0.%d.%d", i/256, i%256))
	}
	if p, a := l.Len(); p > 100 || a > 100 {
		t.Errorf("got %d pairs and %d addresses, want at most 100 each", p, a)
	}
}

func TestForgetsAfterQuiet(t *testing.T) {
	l, c := newLimiter(Config{})
	for range 4 {
		fail(t, l, "alice", "10.0.0.1")
	}
	c.add(time.Hour)
	for range 5 {
		fail(t, l, "alice", "10.0.0.1")
	}
}
