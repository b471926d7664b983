package throttle

import (
	"container/list"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Config tunes a Limiter. Zero fields take their value from Defaults.
type Config struct {
	// Failures is how many consecutive failures of one username from one
	// address are allowed before the back-off starts.
	Failures int
	// BaseDelay is the first back-off; each further failure doubles it.
	BaseDelay time.Duration
	// MaxDelay caps the back-off.
	MaxDelay time.Duration
	// AddrFailures is how many failures one address may have, across
	// usernames, within AddrWindow.
	AddrFailures int
	// AddrWindow is the sliding window of AddrFailures. It is counted in
	// fifteen buckets, so it slides in steps of AddrWindow/15.
	AddrWindow time.Duration
	// Forget is how long a (username, address) pair must stay quiet for
	// its consecutive failures to be forgotten.
	Forget time.Duration
	// MaxEntries bounds each of the two tables.
	MaxEntries int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Defaults are the production settings: five failures in a row, then a
// back-off doubling from 1 s to at most 15 min; at most 100 failures per
// address in 15 min.
var Defaults = Config{
	Failures:     5,
	BaseDelay:    time.Second,
	MaxDelay:     15 * time.Minute,
	AddrFailures: 100,
	AddrWindow:   15 * time.Minute,
	Forget:       time.Hour,
	MaxEntries:   1 << 16,
}

// buckets is how many slots the per-address window is counted in.
const buckets = 15

// maxUsernameKey bounds the part of a username kept as a key, so that long
// made-up usernames cannot inflate the table.
const maxUsernameKey = 160

// Limiter decides whether a password may be checked now. It is safe for
// concurrent use.
type Limiter struct {
	cfg Config

	mu        sync.Mutex
	pairs     map[pairKey]*pairState
	pairOrder *list.List // of *pairState, most recently touched first
	addrs     map[string]*addrState
	addrOrder *list.List // of *addrState
}

type pairKey struct{ user, addr string }

type pairState struct {
	key      pairKey
	fails    int       // consecutive failures
	inflight int       // checks let through and not yet reported
	until    time.Time // refused before this
	last     time.Time // last failure
	elem     *list.Element
}

type addrState struct {
	addr     string
	epochs   [buckets]int64 // which slot period each bucket counts
	counts   [buckets]int
	inflight int
	elem     *list.Element
}

// New returns a Limiter with cfg; zero fields take Defaults'.
func New(cfg Config) *Limiter {
	d := Defaults
	if cfg.Failures <= 0 {
		cfg.Failures = d.Failures
	}
	if cfg.BaseDelay <= 0 {
		cfg.BaseDelay = d.BaseDelay
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = d.MaxDelay
	}
	if cfg.AddrFailures <= 0 {
		cfg.AddrFailures = d.AddrFailures
	}
	if cfg.AddrWindow <= 0 {
		cfg.AddrWindow = d.AddrWindow
	}
	if cfg.Forget <= 0 {
		cfg.Forget = d.Forget
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = d.MaxEntries
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Limiter{cfg: cfg, pairs: map[pairKey]*pairState{}, pairOrder: list.New(),
		addrs: map[string]*addrState{}, addrOrder: list.New()}
}

// Attempt is one password check that Begin let through. Exactly one of
// Fail, Succeed or Abandon must be called once the outcome is known.
type Attempt struct {
	l    *Limiter
	key  pairKey
	done bool
}

// Begin asks whether username may try a password from addr now. If so, it
// returns an Attempt on which to report the outcome; if not, it returns
// how long to wait. Checks already under way count as failures until they
// are reported, so that concurrent guesses cannot slip past the limit.
func (l *Limiter) Begin(username, addr string) (*Attempt, time.Duration) {
	addr = addrKey(addr)
	k := pairKey{user: foldUsername(username), addr: addr}
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.pairs[k]
	if p != nil && p.inflight == 0 && p.fails > 0 && now.Sub(p.last) >= l.cfg.Forget {
		p.fails, p.until = 0, time.Time{}
	}
	if p != nil {
		if now.Before(p.until) {
			return nil, p.until.Sub(now)
		}
		if p.fails >= l.cfg.Failures && p.inflight > 0 || p.fails+p.inflight >= l.cfg.Failures && p.fails < l.cfg.Failures {
			// Past the back-off only one check at a time; before it, no
			// more at once than the failures left.
			return nil, l.cfg.BaseDelay
		}
	}
	a := l.addrs[addr]
	if a != nil {
		if n := a.failures(now, l.width()); n+a.inflight >= l.cfg.AddrFailures {
			if wait := a.wait(now, l.width(), l.cfg.AddrFailures); wait > 0 {
				return nil, wait
			}
			return nil, l.cfg.BaseDelay // only checks under way fill the window
		}
	}
	if p == nil {
		p = &pairState{key: k}
		p.elem = insert(l.pairOrder, p, l.cfg.MaxEntries, func(v *pairState) bool { return v.inflight == 0 },
			func(v *pairState) { delete(l.pairs, v.key) })
		l.pairs[k] = p
	} else {
		l.pairOrder.MoveToFront(p.elem)
	}
	if a == nil {
		a = &addrState{addr: addr}
		a.elem = insert(l.addrOrder, a, l.cfg.MaxEntries, func(v *addrState) bool { return v.inflight == 0 },
			func(v *addrState) { delete(l.addrs, v.addr) })
		l.addrs[addr] = a
	} else {
		l.addrOrder.MoveToFront(a.elem)
	}
	p.inflight++
	a.inflight++
	return &Attempt{l: l, key: k}, 0
}

// Fail reports a wrong password (or unknown username). The fifth failure
// in a row starts a back-off of BaseDelay; each further one doubles it, up
// to MaxDelay.
func (at *Attempt) Fail() {
	at.finish(func(l *Limiter, p *pairState, a *addrState, now time.Time) {
		if p != nil {
			p.fails++
			p.last = now
			if p.fails >= l.cfg.Failures {
				p.until = now.Add(l.backoff(p.fails - l.cfg.Failures))
			}
		}
		if a != nil {
			a.add(now, l.width())
		}
	})
}

// Succeed reports a right password: the pair's failures are forgotten. The
// address's failures are not, so that one valid account cannot be used to
// wipe the record of guesses at others.
func (at *Attempt) Succeed() {
	at.finish(func(l *Limiter, p *pairState, a *addrState, now time.Time) {
		if p != nil {
			p.fails, p.until = 0, time.Time{}
		}
	})
}

// Abandon reports a check that had no outcome (the database could not be
// read): it neither counts as a failure nor resets one.
func (at *Attempt) Abandon() {
	at.finish(func(*Limiter, *pairState, *addrState, time.Time) {})
}

func (at *Attempt) finish(fn func(l *Limiter, p *pairState, a *addrState, now time.Time)) {
	if at == nil || at.done {
		return
	}
	at.done = true
	l := at.l
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	p, a := l.pairs[at.key], l.addrs[at.key.addr]
	if p != nil {
		p.inflight--
	}
	if a != nil {
		a.inflight--
	}
	fn(l, p, a, now)
	if p != nil && p.inflight == 0 && p.fails == 0 {
		l.pairOrder.Remove(p.elem)
		delete(l.pairs, p.key)
	}
	if a != nil && a.inflight == 0 && a.failures(now, l.width()) == 0 {
		l.addrOrder.Remove(a.elem)
		delete(l.addrs, a.addr)
	}
}

// Len reports how many (username, address) pairs and addresses are
// tracked.
func (l *Limiter) Len() (pairs, addrs int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pairs), len(l.addrs)
}

// backoff is BaseDelay doubled n times, at most MaxDelay.
func (l *Limiter) backoff(n int) time.Duration {
	d := l.cfg.BaseDelay
	for ; n > 0 && d < l.cfg.MaxDelay; n-- {
		d *= 2
	}
	return min(d, l.cfg.MaxDelay)
}

func (l *Limiter) width() time.Duration { return max(l.cfg.AddrWindow/buckets, time.Nanosecond) }

func (a *addrState) add(now time.Time, width time.Duration) {
	e := now.UnixNano() / int64(width)
	i := int(e % buckets)
	if a.epochs[i] != e {
		a.epochs[i], a.counts[i] = e, 0
	}
	a.counts[i]++
}

// failures counts the failures in the window that ends now.
func (a *addrState) failures(now time.Time, width time.Duration) int {
	e := now.UnixNano() / int64(width)
	n := 0
	for i := range buckets {
		if a.epochs[i] > e-buckets && a.epochs[i] <= e {
			n += a.counts[i]
		}
	}
	return n
}

// wait is how long until fewer than limit failures remain in the window.
func (a *addrState) wait(now time.Time, width time.Duration, limit int) time.Duration {
	e := now.UnixNano() / int64(width)
	n := a.failures(now, width)
	for old := e - buckets + 1; old <= e; old++ {
		i := int(((old % buckets) + buckets) % buckets)
		if a.epochs[i] == old {
			n -= a.counts[i]
		}
		if n < limit {
			// The bucket of period old leaves the window when period
			// old+buckets begins.
			return time.Unix(0, (old+buckets)*int64(width)).Sub(now)
		}
	}
	return 0
}

// insert puts v at the front of order, first dropping the least recently
// touched entry that may go when the table is full. An entry with checks
// under way is never dropped (there are at most as many as requests in
// flight), so the table can exceed max only by those.
func insert[T any](order *list.List, v T, max int, removable func(T) bool, drop func(T)) *list.Element {
	for e := order.Back(); order.Len() >= max && e != nil; {
		prev := e.Prev()
		if old := e.Value.(T); removable(old) {
			order.Remove(e)
			drop(old)
		}
		e = prev
	}
	return order.PushFront(v)
}

// AddressLimited reports whether addr is over its failure limit across
// usernames now: a refusal then concerns the address, not one username.
func (l *Limiter) AddressLimited(addr string) bool {
	addr = addrKey(addr)
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.addrs[addr]
	return a != nil && a.failures(now, l.width())+a.inflight >= l.cfg.AddrFailures
}

// addrKey is the unit an address is counted in: an IPv4 address, or the
// /64 of an IPv6 one — a single host usually holds a whole /64, and could
// otherwise take a fresh address (and fresh counters) for every guess.
func addrKey(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil || !ip.Is6() || ip.Is4In6() {
		return addr
	}
	p, err := ip.Prefix(64)
	if err != nil {
		return addr
	}
	return p.String()
}

// foldUsername makes Alice and alice one key (callers pass the username
// already folded as accounts are; this keeps the limiter safe on its own),
// and bounds its length.
func foldUsername(u string) string {
	u = strings.ToLower(u)
	if len(u) > maxUsernameKey {
		u = u[:maxUsernameKey]
	}
	return u
}
