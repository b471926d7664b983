package models

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
)

// coalesceWindow is how long repeats of an event fold into its row.
const coalesceWindow = time.Minute

// coalesceMaxOpen bounds the events held open for folding; beyond it a
// repeat is written as an event of its own, so memory stays bounded and
// nothing is lost.
const coalesceMaxOpen = 10_000

// auditCoalescer folds repeats of an audit event into one row a minute.
// The first occurrence of a key is written at once, durably, so the
// trail shows the attempt as soon as it happens; the repeats within the
// next minute only count up in memory, and a background flush adds them to
// the row's count once a second (UPDATE … SET count = count + n), so a
// flood costs one durable write a second at most, not one per request.
//
// Each replica folds on its own: with several replicas on PostgreSQL a key
// may have one row per replica per minute, and the counts, being added,
// still sum to the number of occurrences. A crash loses at most the last
// second of counts, never the event itself.
type auditCoalescer struct {
	mu     sync.Mutex
	open   map[string]*openEvent // key → the event folding repeats now
	closed []*openEvent          // windows ended with counts not yet written
	quit   chan struct{}
	done   chan struct{}
	once   sync.Once
}

// openEvent is an event whose minute is running.
type openEvent struct {
	id      int64     // its row; 0 while the first write is under way
	start   time.Time // when its window began
	pending int       // repeats not yet added to the row's count
}

func newAuditCoalescer() *auditCoalescer {
	return &auditCoalescer{open: map[string]*openEvent{}, quit: make(chan struct{}), done: make(chan struct{})}
}

// coalesceKey names what makes two events repeats of one another.
func coalesceKey(action Action, actor, remote string, grantID int64) string {
	return string(action) + "\x00" + actor + "\x00" + remote + "\x00" + strconv.FormatInt(grantID, 10)
}

// auditCoalesced records ev under key: a new row when no event of key is
// open (its window of a minute has ended, or there was none), else one
// more in the open event's count. A non-empty username is resolved to the
// event's user when the row is written.
func (s *Store) auditCoalesced(ctx context.Context, key string, ev AuditEvent, username string) error {
	c := s.audit
	now := ev.CreatedAt
	c.mu.Lock()
	if o := c.open[key]; o != nil {
		if now.Sub(o.start) < coalesceWindow {
			o.pending++
			c.mu.Unlock()
			return nil
		}
		delete(c.open, key)
		if o.pending > 0 {
			c.closed = append(c.closed, o)
		}
	}
	o := &openEvent{start: now}
	tracked := len(c.open) < coalesceMaxOpen
	if tracked {
		c.open[key] = o
	}
	c.mu.Unlock()

	var id int64
	err := s.write(ctx, func(tx *gorm.DB) error {
		e := ev
		if username != "" && storable(username) {
			var ids []int64
			if err := tx.Raw("SELECT id FROM users WHERE username = ?", username).Scan(&ids).Error; err != nil {
				return err
			}
			if len(ids) > 0 {
				e.UserID = &ids[0]
			}
		}
		var err error
		id, err = s.insertID(tx, qInsertAudit,
			e.CreatedAt, string(e.ActorType), e.Actor, string(e.Action), e.GrantID, e.UserID, e.ClientID,
			e.Grants, e.Tokens, e.Reason, e.RemoteAddr, e.RequestID)
		return err
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		// The row is not there to count into: let the next occurrence
		// write it afresh. (Repeats counted meanwhile are lost with it.)
		if c.open[key] == o {
			delete(c.open, key)
		}
		return wrapWrite("audit", err)
	}
	o.id = id
	if !tracked && o.pending > 0 {
		c.closed = append(c.closed, o)
	}
	return nil
}

func (c *auditCoalescer) start(s *Store) {
	go func() {
		defer close(c.done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				c.flush(s)
			case <-c.quit:
				c.flush(s)
				return
			}
		}
	}()
}

func (c *auditCoalescer) stop() {
	c.once.Do(func() { close(c.quit) })
	<-c.done
}

// flush adds the counted repeats to their rows, in one transaction, and
// forgets events whose window has ended.
func (c *auditCoalescer) flush(s *Store) {
	now := s.Now()
	c.mu.Lock()
	adds := map[int64]int{}
	for _, o := range c.closed {
		adds[o.id] += o.pending
	}
	c.closed = nil
	for key, o := range c.open {
		if o.id != 0 && o.pending > 0 {
			adds[o.id] += o.pending
			o.pending = 0
		}
		if o.id != 0 && now.Sub(o.start) >= coalesceWindow {
			delete(c.open, key)
		}
	}
	c.mu.Unlock()
	if len(adds) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.write(ctx, func(tx *gorm.DB) error {
		for id, n := range adds {
			if _, err := s.exec(tx, qAuditCount, n, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// Keep the counts for the next flush.
		c.mu.Lock()
		for id, n := range adds {
			c.closed = append(c.closed, &openEvent{id: id, pending: n})
		}
		c.mu.Unlock()
		s.log.Warn("audit counts", "events", len(adds), "err", err)
	}
}

// LoginAttempt is a password check that failed or was throttled, for the
// audit trail.
type LoginAttempt struct {
	Username  string // as typed; folded into the event's actor
	Remote    string
	RequestID string
	Via       string // "login page" or "password grant"
}

// RecordLoginFailure audits a wrong password or unknown username and counts
// it. Repeats from one address for one username within a minute fold into
// one event with a count.
func (s *Store) RecordLoginFailure(ctx context.Context, a LoginAttempt) error {
	s.counters.loginFailures.Add(1)
	return s.recordLogin(ctx, ActionLoginFailure, "wrong username or password", a)
}

// RecordLoginThrottled audits a password check refused by the throttle,
// folded as RecordLoginFailure's are, and counts it.
func (s *Store) RecordLoginThrottled(ctx context.Context, a LoginAttempt) error {
	s.counters.loginThrottled.Add(1)
	return s.recordLogin(ctx, ActionLoginThrottled, "too many failed logins; throttled", a)
}

func (s *Store) recordLogin(ctx context.Context, action Action, reason string, a LoginAttempt) error {
	name := truncate(strings.ReplaceAll(a.Username, "\x00", ""), 150)
	remote := truncate(a.Remote, 100)
	if a.Via != "" {
		reason += " (" + a.Via + ")"
	}
	ev := AuditEvent{CreatedAt: s.Now(), ActorType: ActorUser, Actor: name, Action: action,
		Reason: reason, RemoteAddr: remote, RequestID: truncate(a.RequestID, 100)}
	return s.auditCoalesced(ctx, coalesceKey(action, strings.ToLower(name), remote, 0), ev, name)
}

// RecordStaffLogin audits a staff member's successful login. Every one is
// an event of its own.
func (s *Store) RecordStaffLogin(ctx context.Context, u *User, remote, requestID string) error {
	ev := AuditEvent{CreatedAt: s.Now(), ActorType: ActorStaff, Actor: u.Username, Action: ActionStaffLogin,
		UserID: &u.ID, RemoteAddr: truncate(remote, 100), RequestID: truncate(requestID, 100)}
	if err := s.write(ctx, func(tx *gorm.DB) error { return s.insertAudit(tx, &ev) }); err != nil {
		return wrapWrite("audit staff login", err)
	}
	return nil
}
