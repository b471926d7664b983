package models

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
)

// DemoPassword is the password of every user SeedDemo creates. It is fixed
// and public on purpose: `latchkey serve --demo` is for trying Latchkey on
// a laptop, and prints it. Never seed a database that real users reach.
const DemoPassword = "latchkey-demo"

// DemoClient is a client SeedDemo registered, with its secret (empty for a
// public client), which exists only here.
type DemoClient struct {
	Name     string
	ClientID string
	Type     ClientType
	Secret   string
}

// DemoResult reports what SeedDemo created.
type DemoResult struct {
	Users         []string // usernames, the admin first
	Clients       []DemoClient
	Grants        int
	Tokens        int // every token issued, refreshed chains included
	ExpiredTokens int // tokens whose expiry has passed, whatever their status
	RotatedTokens int // tokens retired by a refresh
	RevokedGrants int
	RevokedTokens int // live tokens the revocations revoked
	AuditEvents   int
}

// demoSpan is how far back the demo history goes: the overview's chart.
const demoSpan = 30 * 24 * time.Hour

// demoTokens is about how many tokens the demo issues.
const demoTokens = 3000

// SeedDemo fills an empty database with demo users, clients and about
// three thousand tokens issued over the last 30 days: some rotated by
// refreshes, some expired, and about a tenth of the grants revoked through
// the revocation core — by a client on logout, a user, an admin, refresh
// token reuse, an offboarding and a client-wide revocation — so the
// dashboard and the audit trail have something to show. A few attempts to
// revoke another client's token are refused, as the RFC 7009 endpoint
// would. History is written with past timestamps, in time order.
//
// Every user's password is DemoPassword. A database that already has a
// user or a client gets ErrAlreadyExists and is left alone. Everything is
// written in one transaction, so a failure leaves the database empty.
func (s *Store) SeedDemo(ctx context.Context) (DemoResult, error) {
	users := []struct {
		name string
		role Role
	}{{"admin", RoleAdmin}, {"auditor", RoleAuditor}, {"alice", RoleUser}, {"bob", RoleUser},
		{"carol", RoleUser}, {"dave", RoleUser}, {"erin", RoleUser}}
	// bcrypt is the slow part; hash outside the transaction, in parallel.
	hashes := make([]string, len(users))
	errs := make([]error, len(users))
	var wg sync.WaitGroup
	for i := range users {
		wg.Go(func() { hashes[i], errs[i] = hashPassword(DemoPassword) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return DemoResult{}, err
	}

	var out DemoResult
	err := s.write(uncounted(ctx), func(tx *gorm.DB) error {
		out = DemoResult{}
		var n int64
		if err := tx.Raw("SELECT (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM clients)").Scan(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: the database already has users or clients", ErrAlreadyExists)
		}
		now := s.Now()
		start := now.Add(-demoSpan - time.Hour)
		d := &demo{s: s, tx: tx, now: now, out: &out, users: map[string]*User{}, clients: map[string]*Client{},
			rng: rand.New(rand.NewPCG(7009, 6749))}
		for i, u := range users {
			row := &User{Username: u.name, PasswordHash: hashes[i], Role: u.role, CreatedAt: start}
			if err := tx.Create(row).Error; err != nil {
				return err
			}
			d.users[u.name] = row
			out.Users = append(out.Users, u.name)
		}
		if err := d.createClients(start); err != nil {
			return err
		}
		d.plan()
		if err := d.run(); err != nil {
			return err
		}
		if err := tx.Raw("SELECT COUNT(*) FROM tokens WHERE expires_at <= ?", now).Scan(&n).Error; err != nil {
			return err
		}
		out.ExpiredTokens = int(n)
		if err := tx.Raw("SELECT COUNT(*) FROM audit_events").Scan(&n).Error; err != nil {
			return err
		}
		out.AuditEvents = int(n)
		return nil
	})
	if err != nil {
		return DemoResult{}, wrapWrite("seed demo", err)
	}
	return out, nil
}

// demo is one seeding run: the transaction, the rows created so far and a
// deterministic random source, so every demo database tells the same story.
type demo struct {
	s       *Store
	tx      *gorm.DB
	now     time.Time
	rng     *rand.Rand
	out     *DemoResult
	users   map[string]*User
	clients map[string]*Client
	events  []demoEvent
}

// demoEvent is one thing that happened in the demo history.
type demoEvent struct {
	at  time.Time
	seq int
	do  func(at time.Time) error
}

// demoGrant is a grant the history will issue, with the raw tokens it
// currently holds.
type demoGrant struct {
	client     *Client
	user       *User // nil for client_credentials
	grantType  GrantType
	refresh    bool
	id         int64
	access     string
	refreshTok string
}

func (d *demo) createClients(at time.Time) error {
	cs := []NewClient{
		{Name: "Acme Web", Type: ClientConfidential, GrantTypes: []GrantType{GrantAuthorizationCode, GrantRefreshToken},
			RedirectURIs: []string{"http://127.0.0.1:8080/callback"}, AllowedOrigins: []string{"http://127.0.0.1:8080"}},
		{Name: "Acme Mobile", Type: ClientPublic, GrantTypes: []GrantType{GrantAuthorizationCode, GrantRefreshToken},
			RedirectURIs: []string{"com.acme.app:/callback"}},
		{Name: "Billing Service", Type: ClientConfidential, GrantTypes: []GrantType{GrantClientCredentials},
			Scope: "billing:read billing:write"},
		{Name: "Legacy CLI", Type: ClientConfidential, GrantTypes: []GrantType{GrantPassword, GrantRefreshToken}},
		{Name: "Reporting API", Type: ClientConfidential, GrantTypes: []GrantType{GrantClientCredentials},
			Scope: "reports:read", Introspect: true},
	}
	for _, n := range cs {
		// The same rules and shape as CreateClient, inside this transaction.
		if n.Scope == "" {
			n.Scope = DefaultScope
		}
		if err := n.Validate(); err != nil {
			return err
		}
		scope, _ := ParseScope(n.Scope)
		grants := make([]string, len(n.GrantTypes))
		for i, g := range n.GrantTypes {
			grants[i] = string(g)
		}
		c := &Client{ClientID: newClientID(), Name: n.Name, Type: n.Type, GrantTypes: strings.Join(grants, " "),
			RedirectURIs: strings.Join(n.RedirectURIs, " "), Scope: scope.String(),
			AllowedOrigins: strings.Join(n.AllowedOrigins, " "), Introspect: n.Introspect, CreatedAt: at}
		dc := DemoClient{Name: c.Name, ClientID: c.ClientID, Type: c.Type}
		if c.Type == ClientConfidential {
			dc.Secret = NewSecret(PrefixClientSecret)
			c.SecretHash = HashSecret(dc.Secret)
			c.SecretHint = SecretHint(dc.Secret)
		}
		if err := d.tx.Create(c).Error; err != nil {
			return err
		}
		d.clients[c.Name] = c
		d.out.Clients = append(d.out.Clients, dc)
	}
	return nil
}

// at schedules fn at t, if t is in the past.
func (d *demo) at(t time.Time, fn func(at time.Time) error) bool {
	t = t.Truncate(time.Second)
	if !t.Before(d.now) {
		return false
	}
	d.events = append(d.events, demoEvent{at: t, seq: len(d.events), do: fn})
	return true
}

// between returns a random duration in [lo, hi).
func (d *demo) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(d.rng.Int64N(int64(hi-lo)))
}

// plan writes the history as events; run plays them in time order.
func (d *demo) plan() {
	ttl := DefaultTTLs
	type weighted struct {
		client string
		weight int
	}
	mix := []weighted{{"Acme Web", 30}, {"Acme Mobile", 25}, {"Legacy CLI", 10}, {"Billing Service", 20}, {"Reporting API", 15}}
	people := []string{"alice", "alice", "alice", "bob", "bob", "carol", "carol", "dave", "erin"}
	// Dave leaves the company six days ago: an admin revokes all his
	// grants, and he gets no new ones.
	offboard := d.now.Add(-6*24*time.Hour - 3*time.Hour)
	d.at(offboard, func(at time.Time) error {
		return d.revoke(RevokeRequest{UserID: d.users["dave"].ID, Actor: Staff(d.users["admin"]), Reason: "employee offboarding",
			Remote: "192.0.2.10"}, at)
	})
	// Twenty days ago the Legacy CLI had a security incident: every token
	// it held was revoked at once.
	d.at(d.now.Add(-20*24*time.Hour-5*time.Hour), func(at time.Time) error {
		return d.revoke(RevokeRequest{ClientID: d.clients["Legacy CLI"].ID, Actor: Staff(d.users["admin"]),
			Reason: "client compromised: all tokens revoked", Remote: "192.0.2.10"}, at)
	})

	tokens, refusals := 0, 0
	for tokens < demoTokens {
		// More activity lately: ages lean towards now.
		age := time.Duration(math.Pow(d.rng.Float64(), 1.4) * float64(demoSpan))
		issued := d.now.Add(-age - time.Minute)
		pick := d.rng.IntN(100)
		var name string
		for _, w := range mix {
			if pick < w.weight {
				name = w.client
				break
			}
			pick -= w.weight
		}
		c := d.clients[name]
		g := &demoGrant{client: c}
		switch {
		case c.Allows(GrantClientCredentials):
			g.grantType = GrantClientCredentials
		case c.Allows(GrantPassword):
			g.grantType, g.refresh = GrantPassword, true
		default:
			g.grantType, g.refresh = GrantAuthorizationCode, true
		}
		if g.grantType != GrantClientCredentials {
			for {
				g.user = d.users[people[d.rng.IntN(len(people))]]
				if g.user.Username != "dave" || issued.Before(offboard) {
					break
				}
			}
		}
		if !d.at(issued, func(at time.Time) error { return d.issue(g, at, ttl) }) {
			continue
		}
		d.out.Grants++
		tokens++
		last := issued
		if g.refresh {
			tokens++
			// Up to four refreshes, each a while after the last.
			for range d.rng.IntN(5) {
				next := last.Add(d.between(20*time.Minute, 3*time.Hour))
				if !d.at(next, func(at time.Time) error { return d.rotate(g, at, ttl) }) {
					break
				}
				last = next
				tokens += 2
			}
		}
		// The client used its token for a while.
		if d.rng.IntN(2) == 0 {
			d.at(last.Add(d.between(time.Minute, 50*time.Minute)), func(at time.Time) error {
				return d.tx.Exec("UPDATE grants SET last_used_at = ? WHERE id = ? AND revoked_at IS NULL", at, g.id).Error
			})
		}
		// Now and then another client tries to revoke this one's token: the
		// token leaked. The core refuses and audits the attempt.
		if name == "Acme Web" && refusals < 4 && d.rng.IntN(40) == 0 {
			refusals++
			d.at(last.Add(d.between(time.Minute, 30*time.Minute)), func(at time.Time) error {
				other := d.clients["Acme Mobile"]
				_, err := d.s.revokeTx(d.tx, RevokeRequest{Token: g.access, Hint: TokenTypeAccess, AsClient: other,
					Actor: AsClient(other), Remote: "198.51.100.7"}, at)
				if errors.Is(err, ErrNotTokenOwner) {
					return nil
				}
				return err
			})
		}
		if d.rng.IntN(100) < 5 {
			d.planRevocation(g, last)
		}
	}
}

// planRevocation revokes g some time after its last activity, the way one
// of the doors into the revocation core would.
func (d *demo) planRevocation(g *demoGrant, last time.Time) {
	admin := d.users["admin"]
	if !g.refresh {
		// An access token lives an hour: revoke it within that hour.
		d.at(last.Add(d.between(time.Minute, 50*time.Minute)), func(at time.Time) error {
			if d.rng.IntN(2) == 0 {
				return d.revoke(RevokeRequest{Token: g.access, Hint: TokenTypeAccess, AsClient: g.client,
					Actor: AsClient(g.client), Reason: "credential rotation", Remote: "10.0.4.21"}, at)
			}
			return d.revoke(RevokeRequest{GrantID: g.id, Actor: Staff(admin), Reason: "suspected leak", Remote: "192.0.2.10"}, at)
		})
		return
	}
	when := last.Add(d.between(5*time.Minute, 4*24*time.Hour))
	switch p := d.rng.IntN(100); {
	case p < 45:
		// The client revokes its refresh token on logout (RFC 7009).
		d.at(when, func(at time.Time) error {
			return d.revoke(RevokeRequest{Token: g.refreshTok, Hint: TokenTypeRefresh, AsClient: g.client,
				Actor: AsClient(g.client), Reason: "user logged out", Remote: "203.0.113.45"}, at)
		})
	case p < 60:
		d.at(when, func(at time.Time) error {
			return d.revoke(RevokeRequest{GrantID: g.id, Actor: EndUser(g.user), Reason: "no longer uses this app",
				Remote: "203.0.113.80"}, at)
		})
	case p < 80:
		reasons := []string{"suspected leak", "lost device", "user request"}
		reason := reasons[d.rng.IntN(len(reasons))]
		d.at(when, func(at time.Time) error {
			return d.revoke(RevokeRequest{GrantID: g.id, Actor: Staff(admin), Reason: reason, Remote: "192.0.2.10"}, at)
		})
	default:
		// A stolen refresh token replayed after its rotation.
		d.at(when, func(at time.Time) error {
			return d.revoke(RevokeRequest{GrantID: g.id, Actor: System(), Action: ActionRefreshReuse,
				Reason: "refresh token reuse", Remote: "198.51.100.23"}, at)
		})
	}
}

// run plays the events in time order, so ids follow time as in real life.
func (d *demo) run() error {
	slices.SortFunc(d.events, func(a, b demoEvent) int {
		return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.seq, b.seq))
	})
	for _, ev := range d.events {
		if err := ev.do(ev.at); err != nil {
			return err
		}
	}
	return nil
}

func (d *demo) issue(g *demoGrant, at time.Time, ttl TTLs) error {
	sg := StartGrant{Client: g.client, GrantType: g.grantType, Scope: g.client.Scope, WithRefresh: g.refresh, TTLs: ttl, At: at}
	if g.user != nil {
		sg.UserID = g.user.ID
	}
	iss, err := d.s.issueGrantTx(d.tx, sg)
	if err != nil {
		return err
	}
	g.id, g.access, g.refreshTok = iss.GrantID, iss.AccessToken, iss.RefreshToken
	d.out.Tokens++
	if g.refresh {
		d.out.Tokens++
	}
	return nil
}

// rotate is a refresh as Refresh does it (RFC 6749 §6), at a past time. A
// grant revoked meanwhile is not refreshed.
func (d *demo) rotate(g *demoGrant, at time.Time, ttl TTLs) error {
	var parent Token
	res := d.tx.Select("id", "scope", "expires_at", "rotated_at").
		Where("grant_id = ? AND type = ? AND hash = ?", g.id, TokenTypeRefresh, HashSecret(g.refreshTok)).Limit(1).Find(&parent)
	if res.Error != nil {
		return res.Error
	}
	var live int64
	if err := d.tx.Raw("SELECT COUNT(*) FROM grants WHERE id = ? AND revoked_at IS NULL", g.id).Scan(&live).Error; err != nil {
		return err
	}
	if res.RowsAffected == 0 || live == 0 || parent.RotatedAt != nil || !at.Before(parent.ExpiresAt) {
		return nil
	}
	upd := d.tx.Exec("UPDATE tokens SET rotated_at = ? WHERE grant_id = ? AND rotated_at IS NULL", at, g.id)
	if upd.Error != nil {
		return upd.Error
	}
	d.out.RotatedTokens += int(upd.RowsAffected)
	gr := &Grant{ID: g.id, ClientID: g.client.ID}
	if g.user != nil {
		gr.UserID = &g.user.ID
	}
	iss, err := d.s.issueTokensTx(d.tx, gr, parent.Scope, &parent.ID, true, ttl, at)
	if err != nil {
		return err
	}
	g.access, g.refreshTok = iss.AccessToken, iss.RefreshToken
	d.out.Tokens += 2
	return d.tx.Exec("UPDATE grants SET expires_at = ?, last_used_at = ? WHERE id = ?",
		at.Add(max(ttl.Access, ttl.Refresh)), at, g.id).Error
}

// revoke goes through the revocation core. A grant that an earlier event
// (an offboarding, a client-wide revocation) already revoked is left alone,
// rather than audited a second time with nothing revoked.
func (d *demo) revoke(req RevokeRequest, at time.Time) error {
	if req.GrantID != 0 {
		var live int64
		if err := d.tx.Raw("SELECT COUNT(*) FROM grants WHERE id = ? AND revoked_at IS NULL AND expires_at > ?", req.GrantID, at).
			Scan(&live).Error; err != nil {
			return err
		}
		if live == 0 {
			return nil
		}
	}
	res, err := d.s.revokeTx(d.tx, req, at)
	if err != nil {
		return err
	}
	d.out.RevokedGrants += res.Grants
	d.out.RevokedTokens += res.Tokens
	return nil
}
