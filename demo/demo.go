// Package demo seeds a database with a month of believable history for
// `latchkey serve --demo`: users, clients, grants issued, refreshed, used
// and revoked. Everything goes through the models API, the same doors the
// server uses, with the store's clock moved back in time for each step, so
// that the demo exercises the real code and the core has no demo-only
// paths.
package demo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/latchkey/latchkey/models"
)

// Password is the password of every user Seed creates. It is fixed and
// public on purpose: `latchkey serve --demo` is for trying Latchkey on a
// laptop, and prints it. Never seed a database that real users reach.
const Password = "latchkey-demo"

// Client is a client Seed registered, with its secret (empty for a public
// client), which exists only here.
type Client struct {
	Name     string
	ClientID string
	Type     models.ClientType
	Secret   string
}

// Result reports what Seed created.
type Result struct {
	Users         []string // usernames, the admin first
	Clients       []Client
	Grants        int
	Tokens        int // every token issued, refreshed chains included
	ExpiredTokens int // tokens whose expiry has passed, whatever their status
	RotatedTokens int // tokens retired by a refresh
	RevokedGrants int
	RevokedTokens int // live tokens the revocations revoked
	AuditEvents   int
}

// span is how far back the demo history goes: the overview's chart.
const span = 30 * 24 * time.Hour

// tokensWanted is about how many tokens the demo issues.
const tokensWanted = 3000

// clock is the demo store's clock, which the history moves.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Seed fills the empty database at dsn (a SQLite path or a postgres://
// URL, already migrated) with demo users, clients and about three thousand
// tokens issued over the last 30 days: some rotated by refreshes, some
// expired, and about a tenth of the grants revoked through the revocation
// core — by a client on logout, a user, an admin, refresh token reuse, an
// offboarding and a client-wide revocation — so the dashboard and the
// audit trail have something to show. A few attempts to revoke another
// client's token are refused, as the RFC 7009 endpoint would. History is
// played in time order on a store of its own whose clock Seed moves.
//
// Every user's password is Password. A database that already has a user
// or a client gets models.ErrAlreadyExists and is left alone. Each step is
// its own transaction: a failure part way leaves the history part written.
func Seed(ctx context.Context, dsn string) (Result, error) {
	real := time.Now().UTC().Truncate(time.Second)
	clk := &clock{now: real.Add(-span - time.Hour)}
	st, err := models.Open(dsn, models.Options{Now: clk.Now})
	if err != nil {
		return Result{}, err
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		return Result{}, err
	}
	n, err := st.TableCounts(ctx)
	if err != nil {
		return Result{}, err
	}
	if n.Users+n.Clients > 0 {
		return Result{}, fmt.Errorf("%w: the database already has users or clients", models.ErrAlreadyExists)
	}
	var out Result
	d := &demo{st: st, ctx: ctx, clock: clk, now: real, out: &out, users: map[string]*models.User{},
		clients: map[string]*models.Client{}, rng: rand.New(rand.NewPCG(7009, 6749))}
	if err := d.createUsers(); err != nil {
		return Result{}, err
	}
	if err := d.createClients(); err != nil {
		return Result{}, err
	}
	d.plan()
	if err := d.run(); err != nil {
		return Result{}, err
	}
	clk.set(real)
	if n, err = st.TableCounts(ctx); err != nil {
		return Result{}, err
	}
	out.AuditEvents = int(n.AuditEvents)
	return out, nil
}

// demo is one seeding run: the store, its clock, the rows created so far
// and a deterministic random source, so every demo database tells the same
// story.
type demo struct {
	st      *models.Store
	ctx     context.Context
	clock   *clock
	now     time.Time // the real time: the history ends here
	rng     *rand.Rand
	out     *Result
	users   map[string]*models.User
	clients map[string]*models.Client
	events  []event
}

// event is one thing that happened in the demo history.
type event struct {
	at  time.Time
	seq int
	do  func(at time.Time) error
}

// grant is a grant the history will issue, with the raw tokens it
// currently holds.
type grant struct {
	client      *models.Client
	user        *models.User // nil for client_credentials
	grantType   models.GrantType
	refresh     bool
	id          int64
	access      string
	refreshTok  string
	prevRefresh string // the refresh token the last refresh rotated away
}

// demoAgents are the User-Agents the demo's clients send.
var demoAgents = []string{
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
	"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
	"AcmeMobile/4.2.1 (iPhone; iOS 17.5)",
	"python-requests/2.32.3",
	"Go-http-client/2.0",
}

// seen is where the demo says a grant's requests come from: documentation
// addresses (RFC 5737, RFC 3849) and a User-Agent, fixed per grant's user
// and client so that the demo's random sequence is not disturbed.
func (g *grant) seen() models.Seen {
	n := int(g.client.ID) * 7
	if g.user != nil {
		n += int(g.user.ID) * 13
	}
	addr := fmt.Sprintf("203.0.113.%d", 10+n%200)
	if n%5 == 0 {
		addr = fmt.Sprintf("2001:db8:%x::%x", n%4096, 1+n%250)
	}
	return models.Seen{Addr: addr, UserAgent: demoAgents[n%len(demoAgents)]}
}

func (d *demo) createUsers() error {
	users := []struct {
		name string
		role models.Role
	}{{"admin", models.RoleAdmin}, {"auditor", models.RoleAuditor}, {"alice", models.RoleUser}, {"bob", models.RoleUser},
		{"carol", models.RoleUser}, {"dave", models.RoleUser}, {"erin", models.RoleUser}}
	// bcrypt is the slow part: hash in parallel.
	made := make([]*models.User, len(users))
	errs := make([]error, len(users))
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Go(func() { made[i], errs[i] = d.st.CreateUser(d.ctx, u.name, u.role, Password) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, u := range made {
		d.users[u.Username] = u
		d.out.Users = append(d.out.Users, u.Username)
	}
	return nil
}

func (d *demo) createClients() error {
	cs := []models.NewClient{
		{Name: "Acme Web", Type: models.ClientConfidential, GrantTypes: []models.GrantType{models.GrantAuthorizationCode, models.GrantRefreshToken},
			RedirectURIs: []string{"http://127.0.0.1:8080/callback"}, AllowedOrigins: []string{"http://127.0.0.1:8080"}},
		{Name: "Acme Mobile", Type: models.ClientPublic, GrantTypes: []models.GrantType{models.GrantAuthorizationCode, models.GrantRefreshToken},
			RedirectURIs: []string{"com.acme.app:/callback"}},
		{Name: "Billing Service", Type: models.ClientConfidential, GrantTypes: []models.GrantType{models.GrantClientCredentials},
			Scope: "billing:read billing:write"},
		{Name: "Legacy CLI", Type: models.ClientConfidential, GrantTypes: []models.GrantType{models.GrantPassword, models.GrantRefreshToken}},
		{Name: "Reporting API", Type: models.ClientConfidential, GrantTypes: []models.GrantType{models.GrantClientCredentials},
			Scope: "reports:read", Introspect: true},
	}
	for _, n := range cs {
		cc, err := d.st.CreateClient(d.ctx, n)
		if err != nil {
			return err
		}
		d.clients[n.Name] = cc.Client
		d.out.Clients = append(d.out.Clients, Client{Name: n.Name, ClientID: cc.Client.ClientID, Type: n.Type, Secret: cc.Secret})
	}
	return nil
}

// at schedules fn at t, if t is in the past.
func (d *demo) at(t time.Time, fn func(at time.Time) error) bool {
	t = t.Truncate(time.Second)
	if !t.Before(d.now) {
		return false
	}
	d.events = append(d.events, event{at: t, seq: len(d.events), do: fn})
	return true
}

// between returns a random duration in [lo, hi).
func (d *demo) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(d.rng.Int64N(int64(hi-lo)))
}

// plan writes the history as events; run plays them in time order.
func (d *demo) plan() {
	ttl := models.DefaultTTLs
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
		return d.revoke(models.RevokeRequest{UserID: d.users["dave"].ID, Actor: models.Staff(d.users["admin"]), Reason: "employee offboarding",
			Remote: "192.0.2.10"})
	})
	// Twenty days ago the Legacy CLI had a security incident: every token
	// it held was revoked at once.
	d.at(d.now.Add(-20*24*time.Hour-5*time.Hour), func(at time.Time) error {
		return d.revoke(models.RevokeRequest{ClientID: d.clients["Legacy CLI"].ID, Actor: models.Staff(d.users["admin"]),
			Reason: "client compromised: all tokens revoked", Remote: "192.0.2.10"})
	})

	tokens, refusals := 0, 0
	for tokens < tokensWanted {
		// More activity lately: ages lean towards now.
		age := time.Duration(math.Pow(d.rng.Float64(), 1.4) * float64(span))
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
		g := &grant{client: c}
		switch {
		case c.Allows(models.GrantClientCredentials):
			g.grantType = models.GrantClientCredentials
		case c.Allows(models.GrantPassword):
			g.grantType, g.refresh = models.GrantPassword, true
		default:
			g.grantType, g.refresh = models.GrantAuthorizationCode, true
		}
		if g.grantType != models.GrantClientCredentials {
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
				return d.use(g)
			})
		}
		// Now and then another client tries to revoke this one's token: the
		// token leaked. The core refuses and audits the attempt.
		if name == "Acme Web" && refusals < 4 && d.rng.IntN(40) == 0 {
			refusals++
			d.at(last.Add(d.between(time.Minute, 30*time.Minute)), func(at time.Time) error {
				other := d.clients["Acme Mobile"]
				return d.revoke(models.RevokeRequest{Token: g.access, Hint: models.TokenTypeAccess, AsClient: other,
					Actor: models.AsClient(other), Remote: "198.51.100.7"})
			})
		}
		if d.rng.IntN(100) < 5 {
			d.planRevocation(g, last)
		}
	}
}

// planRevocation revokes g some time after its last activity, the way one
// of the doors into the revocation core would.
func (d *demo) planRevocation(g *grant, last time.Time) {
	admin := d.users["admin"]
	if !g.refresh {
		// An access token lives an hour: revoke it within that hour.
		d.at(last.Add(d.between(time.Minute, 50*time.Minute)), func(at time.Time) error {
			if d.rng.IntN(2) == 0 {
				return d.revoke(models.RevokeRequest{Token: g.access, Hint: models.TokenTypeAccess, AsClient: g.client,
					Actor: models.AsClient(g.client), Reason: "credential rotation", Remote: "10.0.4.21"})
			}
			return d.revoke(models.RevokeRequest{GrantID: g.id, Actor: models.Staff(admin), Reason: "suspected leak", Remote: "192.0.2.10"})
		})
		return
	}
	when := last.Add(d.between(5*time.Minute, 4*24*time.Hour))
	switch p := d.rng.IntN(100); {
	case p < 45:
		// The client revokes its refresh token on logout (RFC 7009).
		d.at(when, func(at time.Time) error {
			return d.revoke(models.RevokeRequest{Token: g.refreshTok, Hint: models.TokenTypeRefresh, AsClient: g.client,
				Actor: models.AsClient(g.client), Reason: "user logged out", Remote: "203.0.113.45"})
		})
	case p < 60:
		d.at(when, func(at time.Time) error {
			return d.revoke(models.RevokeRequest{GrantID: g.id, Actor: models.EndUser(g.user), Reason: "no longer uses this app",
				Remote: "203.0.113.80"})
		})
	case p < 80:
		reasons := []string{"suspected leak", "lost device", "user request"}
		reason := reasons[d.rng.IntN(len(reasons))]
		d.at(when, func(at time.Time) error {
			return d.revoke(models.RevokeRequest{GrantID: g.id, Actor: models.Staff(admin), Reason: reason, Remote: "192.0.2.10"})
		})
	default:
		// A stolen refresh token replayed after its rotation.
		d.at(when, func(at time.Time) error { return d.replay(g, at, models.DefaultTTLs) })
	}
}

// run plays the events in time order, so ids follow time as in real life,
// each with the store's clock set to its time.
func (d *demo) run() error {
	slices.SortFunc(d.events, func(a, b event) int {
		return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.seq, b.seq))
	})
	for _, ev := range d.events {
		d.clock.set(ev.at)
		if err := ev.do(ev.at); err != nil {
			return err
		}
	}
	return nil
}

func (d *demo) issue(g *grant, at time.Time, ttl models.TTLs) error {
	sg := models.StartGrant{Client: g.client, GrantType: g.grantType, Scope: g.client.Scope, WithRefresh: g.refresh, TTLs: ttl,
		Seen: g.seen()}
	if g.user != nil {
		sg.UserID = g.user.ID
	}
	iss, err := d.st.IssueGrant(d.ctx, sg)
	if err != nil {
		return err
	}
	g.id, g.access, g.refreshTok = iss.GrantID, iss.AccessToken, iss.RefreshToken
	d.issued(at, ttl, g.refresh)
	return nil
}

// issued counts the tokens a grant or a refresh issued at at.
func (d *demo) issued(at time.Time, ttl models.TTLs, refresh bool) {
	d.out.Tokens++
	if !at.Add(ttl.Access).After(d.now) {
		d.out.ExpiredTokens++
	}
	if refresh {
		d.out.Tokens++
		if !at.Add(ttl.Refresh).After(d.now) {
			d.out.ExpiredTokens++
		}
	}
}

// rotate is a refresh (RFC 6749 §6) through the token endpoint's door. A
// grant revoked, or a refresh token expired, meanwhile is not refreshed.
func (d *demo) rotate(g *grant, at time.Time, ttl models.TTLs) error {
	iss, err := d.st.Refresh(d.ctx, models.RefreshGrant{Client: g.client, RefreshToken: g.refreshTok, TTLs: ttl, Remote: "203.0.113.45"})
	if errors.Is(err, models.ErrInvalidGrant) {
		return nil
	}
	if err != nil {
		return err
	}
	d.out.RotatedTokens += 2 // the refresh token presented and the access token before it
	g.prevRefresh, g.access, g.refreshTok = g.refreshTok, iss.AccessToken, iss.RefreshToken
	d.issued(at, ttl, true)
	return nil
}

// use records that the client used its token, as /api/me does.
func (d *demo) use(g *grant) error {
	d.st.TouchGrant(g.id, g.seen())
	d.st.FlushLastUse()
	return nil
}

// live reports whether a grant can still be revoked.
func (d *demo) live(id int64) (bool, error) {
	p, err := d.st.RevokePreview(d.ctx, models.RevokeRequest{GrantID: id})
	return p.Grants > 0, err
}

// revoke goes through the revocation core. A grant that an earlier event
// (an offboarding, a client-wide revocation) already revoked is left alone,
// rather than audited a second time with nothing revoked.
func (d *demo) revoke(req models.RevokeRequest) error {
	if req.GrantID != 0 {
		if live, err := d.live(req.GrantID); err != nil || !live {
			return err
		}
	}
	res, err := d.st.Revoke(d.ctx, req)
	if errors.Is(err, models.ErrNotTokenOwner) {
		return nil
	}
	if err != nil {
		return err
	}
	d.out.RevokedGrants += res.Grants
	d.out.RevokedTokens += res.Tokens
	return nil
}

// replay presents a refresh token that a refresh already rotated away, as
// a thief would: reuse detection revokes the grant (RFC 9700 §4.14.2).
func (d *demo) replay(g *grant, at time.Time, ttl models.TTLs) error {
	if live, err := d.live(g.id); err != nil || !live {
		return err
	}
	if g.prevRefresh == "" {
		if err := d.rotate(g, at, ttl); err != nil || g.prevRefresh == "" {
			return err
		}
	}
	p, err := d.st.RevokePreview(d.ctx, models.RevokeRequest{GrantID: g.id})
	if err != nil {
		return err
	}
	_, err = d.st.Refresh(d.ctx, models.RefreshGrant{Client: g.client, RefreshToken: g.prevRefresh, TTLs: ttl, Remote: "198.51.100.23"})
	if !errors.Is(err, models.ErrInvalidGrant) {
		return fmt.Errorf("demo: replayed refresh token: got %v, want invalid_grant", err)
	}
	d.out.RevokedGrants += p.Grants
	d.out.RevokedTokens += p.Tokens
	return nil
}
