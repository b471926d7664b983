package models

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// TokenType names the two kinds of token, with RFC 7009 §2.1's hint values.
type TokenType string

// The token types.
const (
	TokenTypeAccess  TokenType = "access_token"
	TokenTypeRefresh TokenType = "refresh_token"
)

// Grant is one authorization: a user (none for client_credentials), a
// client, a scope, and the chain of tokens it produced. Revocation works on
// whole grants (RFC 7009 §2.1: revoking one token of a grant revokes the
// rest). ExpiresAt is the latest expiry of any of its tokens, so "active
// grant" is a simple indexed condition.
type Grant struct {
	ID int64
	// PublicID names the grant outside Latchkey: introspection's sid and
	// the session that revocation events name. Its creation time in
	// milliseconds, then 80 random bits (see newGrantPublicID); not
	// secret, fixed for the grant's life.
	PublicID   string
	ClientID   int64
	UserID     *int64
	GrantType  GrantType
	Scope      string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
	GrantContext
}

// Token is an access or refresh token. Only its key is stored (TokenKey:
// its issue time, then the SHA-256 of the raw token). A token is active
// when it is neither revoked, nor rotated (superseded by a refresh), nor
// expired.
type Token struct {
	ID        int64
	Hash      []byte
	Type      TokenType
	Hint      string
	GrantID   int64
	ClientID  int64
	UserID    *int64
	Scope     string
	ParentID  *int64
	CreatedAt time.Time
	ExpiresAt time.Time
	RotatedAt *time.Time
	RevokedAt *time.Time
}

var tokenColumns = []string{"id", "hash", "type", "hint", "grant_id", "client_id", "user_id", "scope",
	"parent_id", "created_at", "expires_at", "rotated_at", "revoked_at"}

// Active reports whether t can still be used at now.
func (t *Token) Active(now time.Time) bool {
	return t.RevokedAt == nil && t.RotatedAt == nil && now.Before(t.ExpiresAt)
}

// TokenStatus is how a token shows in lists.
type TokenStatus string

// The token statuses.
const (
	StatusActive  TokenStatus = "active"
	StatusExpired TokenStatus = "expired"
	StatusRevoked TokenStatus = "revoked"
	StatusRotated TokenStatus = "rotated"
)

// Status classifies t at now.
func (t *Token) Status(now time.Time) TokenStatus {
	switch {
	case t.RevokedAt != nil:
		return StatusRevoked
	case t.RotatedAt != nil:
		return StatusRotated
	case !now.Before(t.ExpiresAt):
		return StatusExpired
	}
	return StatusActive
}

// TTLs are the lifetimes of what the server issues.
type TTLs struct {
	Access  time.Duration
	Refresh time.Duration
	Code    time.Duration
}

// DefaultTTLs are the lifetimes serve uses unless told otherwise: 1 h access
// tokens, 30 d refresh tokens, 60 s codes.
var DefaultTTLs = TTLs{Access: time.Hour, Refresh: 720 * time.Hour, Code: 60 * time.Second}

// Issued is what the token endpoint returns. The raw tokens exist only here.
type Issued struct {
	GrantID      int64
	AccessToken  string
	RefreshToken string // empty when none was issued
	ExpiresIn    time.Duration
	Scope        string
}

// StartGrant is a new authorization for client (and user, unless the grant
// is client_credentials).
type StartGrant struct {
	Client      *Client
	UserID      int64 // 0 for client_credentials
	GrantType   GrantType
	Scope       string // already resolved against the client's scopes
	WithRefresh bool
	TTLs        TTLs
	// Seen is the request that asked for the grant: its source address
	// and User-Agent, recorded on the grant.
	Seen Seen
}

// IssueGrant starts a new grant and issues its first tokens (RFC 6749 §4.3,
// §4.4; codes go through ExchangeCode).
func (s *Store) IssueGrant(ctx context.Context, sg StartGrant) (*Issued, error) {
	var out *Issued
	err := s.write(ctx, func(tx *gorm.DB) error {
		var err error
		out, err = s.issueGrantTx(tx, sg, s.Now())
		return err
	})
	if err != nil {
		return nil, wrapWrite("issue grant", err)
	}
	return out, nil
}

func (s *Store) issueGrantTx(tx *gorm.DB, sg StartGrant, now time.Time) (*Issued, error) {
	ttl := sg.TTLs.withDefaults()
	g := &Grant{ClientID: sg.Client.ID, GrantType: sg.GrantType, Scope: sg.Scope, CreatedAt: now, ExpiresAt: now.Add(ttl.Access)}
	if sg.UserID != 0 {
		uid := sg.UserID
		g.UserID = &uid
		// Checked inside the write: a user disabled after their login was
		// checked gets no grant.
		// On PostgreSQL the shared row lock makes a concurrent DisableUser
		// (an UPDATE of that row) wait for this grant, or this grant wait
		// for it.
		q := "SELECT id FROM users WHERE id = ? AND disabled_at IS NULL"
		if s.dialect == DialectPostgres {
			q += " FOR SHARE"
		}
		var active []int64
		if err := tx.Raw(q, uid).Scan(&active).Error; err != nil {
			return nil, err
		}
		if len(active) == 0 {
			return nil, fmt.Errorf("%w: the user is disabled", ErrInvalidGrant)
		}
	}
	if sg.WithRefresh {
		g.ExpiresAt = now.Add(max(ttl.Access, ttl.Refresh))
	}
	g.PublicID = newGrantPublicID(now)
	seen := sg.Seen.clean()
	id, err := s.insertID(tx, qInsertGrant, g.ClientID, g.UserID, string(g.GrantType), g.Scope, g.CreatedAt, g.ExpiresAt, g.PublicID,
		seen.Addr, seen.UserAgent)
	if err != nil {
		return nil, err
	}
	g.ID = id
	if err := s.countLive(tx, countGrant, g.ExpiresAt, 1); err != nil {
		return nil, err
	}
	return s.issueTokensTx(tx, g, sg.Scope, nil, sg.WithRefresh, ttl, now)
}

// newGrantPublicID returns the public id of a grant created at now: 32
// lowercase hex digits, the first 12 the creation time in milliseconds
// since the Unix epoch, the other 20 random (80 bits; the unique index
// refuses the unthinkable repeat). Time first keeps the unique index on it
// appending at its right edge, as every other index a new grant or token
// writes does (the token key's too, since TokenKey): with 128 random
// bits, each new grant wrote a leaf of that index somewhere in the
// middle, once into the log and once more at the checkpoint, about a
// quarter of the bytes written per client_credentials issuance
// (docs/benchmarks.md, "Grant public ids in time order"). The id names a
// grant and grants nothing. It reveals the grant's creation time, which a
// resource server already reads in the iat of the grant's first token;
// not the row id, not how many grants exist.
func newGrantPublicID(now time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[6:]) // crypto/rand.Read never fails (Go 1.24+)
	putMillis(b[:6], now)
	return hex.EncodeToString(b[:])
}

func (t TTLs) withDefaults() TTLs {
	if t.Access <= 0 {
		t.Access = DefaultTTLs.Access
	}
	if t.Refresh <= 0 {
		t.Refresh = DefaultTTLs.Refresh
	}
	if t.Code <= 0 {
		t.Code = DefaultTTLs.Code
	}
	return t
}

// issueTokensTx creates an access token and, if asked, a refresh token in
// grant g.
func (s *Store) issueTokensTx(tx *gorm.DB, g *Grant, scope string, parent *int64, withRefresh bool, ttl TTLs, now time.Time) (*Issued, error) {
	out := &Issued{GrantID: g.ID, AccessToken: NewToken(PrefixAccessToken, now), ExpiresIn: ttl.Access, Scope: scope}
	if _, err := s.exec(tx, qInsertToken, TokenKey(out.AccessToken), string(TokenTypeAccess), SecretHint(out.AccessToken),
		g.ID, g.ClientID, g.UserID, scope, nil, now, now.Add(ttl.Access)); err != nil {
		return nil, err
	}
	if err := s.countLive(tx, countAccess, now.Add(ttl.Access), 1); err != nil {
		return nil, err
	}
	if withRefresh {
		out.RefreshToken = NewToken(PrefixRefreshToken, now)
		if _, err := s.exec(tx, qInsertToken, TokenKey(out.RefreshToken), string(TokenTypeRefresh), SecretHint(out.RefreshToken),
			g.ID, g.ClientID, g.UserID, scope, parent, now, now.Add(ttl.Refresh)); err != nil {
			return nil, err
		}
		if err := s.countLive(tx, countRefresh, now.Add(ttl.Refresh), 1); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// FindTokenByHash returns the token with that key (TokenKey), active or not.
func (s *Store) FindTokenByHash(ctx context.Context, hash []byte) (*Token, error) {
	var t Token
	res := s.r.WithContext(ctx).Select(tokenColumns).Where("hash = ?", hash).Limit(1).Find(&t)
	if res.Error != nil {
		return nil, unavailable("find token", res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, fmt.Errorf("%w: token", ErrNotFound)
	}
	return &t, nil
}

// AccessInfo is what a resource server learns about a valid access token.
type AccessInfo struct {
	Token         Token
	ClientID      string // the client's public identifier
	Username      string // empty for client_credentials
	GrantPublicID string // the grant's Grant.PublicID
}

// ActiveToken returns a token by its raw value if it is active, with its
// client's public id and its user's name. Anything else — unknown, expired,
// revoked, rotated, of a revoked grant, of a disabled client or user — is
// ErrNotFound: a resource server must not learn which. One indexed read;
// no write (see TouchGrant), and nothing cached: a revocation committed by
// any process is seen by the next call.
func (s *Store) ActiveToken(ctx context.Context, raw string) (*AccessInfo, error) {
	var info AccessInfo
	var username *string
	t := &info.Token
	var err error
	if s.hot != nil {
		err = s.activeTokenRaw(ctx, TokenKey(raw), &info, &username)
	} else {
		err = s.readRow(ctx, s.inDialect(qActiveToken), TokenKey(raw)).Scan(
			&t.ID, &t.Type, &t.Hint, &t.GrantID, &t.ClientID, &t.UserID, &t.Scope, &t.ParentID, &t.CreatedAt, &t.ExpiresAt,
			&info.ClientID, &username, &info.GrantPublicID)
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("%w: token", ErrNotFound)
	case err != nil:
		return nil, unavailable("active token", err)
	}
	// Revoked and rotated tokens were left out by the query; expiry is
	// compared here, on the parsed time, exactly.
	if !t.Active(s.Now()) {
		return nil, fmt.Errorf("%w: token", ErrNotFound)
	}
	if username != nil {
		info.Username = *username
	}
	return &info, nil
}

// activeTokenRaw is ActiveToken's read on SQLite, through the driver
// directly (see hotReaders): the same query and columns as the Scan on
// PostgreSQL, converted here. No row is sql.ErrNoRows, as from Scan.
func (s *Store) activeTokenRaw(ctx context.Context, hash []byte, info *AccessInfo, username **string) error {
	t := &info.Token
	found, err := s.hot.row(ctx, hotActiveToken, hash, func(v []driver.Value) error {
		c := driverRow{what: "active token"}
		t.ID, t.Type, t.Hint, t.GrantID, t.ClientID = c.int64(v[0]), TokenType(c.text(v[1])), c.text(v[2]), c.int64(v[3]), c.int64(v[4])
		if v[5] != nil {
			id := c.int64(v[5])
			t.UserID = &id
		}
		t.Scope = c.text(v[6])
		if v[7] != nil {
			id := c.int64(v[7])
			t.ParentID = &id
		}
		t.CreatedAt, t.ExpiresAt = c.time(v[8]), c.time(v[9])
		info.ClientID = c.text(v[10])
		if v[11] != nil {
			name := c.text(v[11])
			*username = &name
		}
		info.GrantPublicID = c.text(v[12])
		return c.bad
	})
	if err == nil && !found {
		return sql.ErrNoRows
	}
	return err
}

// driverRow converts the driver's values of a hot read's row (see
// hotReaders), for the column types those reads return, as Scan would;
// it keeps the first mismatch in bad.
type driverRow struct {
	what string // the read, for the error
	bad  error
}

func (c *driverRow) mismatch(x driver.Value, want string) {
	if c.bad == nil {
		c.bad = fmt.Errorf("models: %s: column is %T, not %s", c.what, x, want)
	}
}

func (c *driverRow) int64(x driver.Value) int64 {
	n, ok := x.(int64)
	if !ok {
		c.mismatch(x, "an integer")
	}
	return n
}

func (c *driverRow) text(x driver.Value) string {
	switch x := x.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	}
	c.mismatch(x, "text")
	return ""
}

// nullText is text, with NULL as "" (sql.NullString's String).
func (c *driverRow) nullText(x driver.Value) string {
	if x == nil {
		return ""
	}
	return c.text(x)
}

func (c *driverRow) time(x driver.Value) time.Time {
	v, ok := x.(time.Time)
	if !ok {
		c.mismatch(x, "a time")
	}
	return v
}

// qActiveToken reads an unrevoked, unrotated token with its client's public
// id, its user's name and its grant's public id, in one indexed lookup and
// three primary-key lookups. A token of a revoked grant, of a disabled
// client or of a disabled user is not found. Disabling a client or a user
// revokes its grants in the same transaction, but a grant can still be
// issued after that by a request that authenticated the client a moment
// before (on another replica, within the client cache's TTL), so the
// disabled_at conditions are kept.
//
// The hash is compared with "+?" on SQLite, not "?". The driver clears a
// statement's bindings before binding new ones, and SQLite expires a
// statement whose bindings are cleared when its plan depends on a bound
// value. In a join, the planner's row estimate for "t.hash = ?" asks
// whether the value is a small integer, which makes the plan depend on
// it: every call then parsed and planned the statement anew, about 80% of
// the query's cost. The unary plus makes the right-hand side an
// expression, so the estimate does not look at the value; the index is
// used the same way.
const qActiveTokenFormat = `SELECT t.id, t.type, t.hint, t.grant_id, t.client_id, t.user_id, t.scope, t.parent_id, t.created_at,
	t.expires_at, c.client_id, u.username, g.public_id
	FROM tokens t JOIN clients c ON c.id = t.client_id JOIN grants g ON g.id = t.grant_id LEFT JOIN users u ON u.id = t.user_id
	WHERE t.hash = %s AND t.revoked_at IS NULL AND t.rotated_at IS NULL AND g.revoked_at IS NULL
	AND c.disabled_at IS NULL AND (t.user_id IS NULL OR u.disabled_at IS NULL)`

var qActiveToken = newByHash(qActiveTokenFormat)

// byHash is a read by a token's hash in both dialects: the hash compared
// with "+?" on SQLite (see qActiveTokenFormat) and with "?" on PostgreSQL,
// which has no unary plus for bytea and does not need one.
type byHash struct{ sqlite, postgres string }

func newByHash(format string) byHash {
	return byHash{sqlite: fmt.Sprintf(format, "+?"), postgres: fmt.Sprintf(format, "?")}
}

// inDialect is q in the store's dialect.
func (s *Store) inDialect(q byHash) string {
	if s.dialect == DialectSQLite {
		return q.sqlite
	}
	return q.postgres
}

// GrantByID returns one grant.
func (s *Store) GrantByID(ctx context.Context, id int64) (*Grant, error) {
	var g Grant
	res := s.r.WithContext(ctx).Select("id", "public_id", "client_id", "user_id", "grant_type", "scope", "created_at", "expires_at", "last_used_at", "revoked_at").
		Where("id = ?", id).Limit(1).Find(&g)
	if res.Error != nil {
		return nil, unavailable("grant by id", res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, fmt.Errorf("%w: grant %d", ErrNotFound, id)
	}
	return &g, nil
}

// IntrospectorByAccessToken returns the client holding raw, an active
// access token, when that client is a resource server: created with
// --introspect, confidential and enabled. RFC 7662 §2.1 lets a resource
// server authorize its introspection calls with a bearer token instead of
// client credentials (django-oauth-toolkit's RESOURCE_SERVER_AUTH_TOKEN).
// A token that is not an active access token is ErrNotFound; one of any
// other client is ErrNotIntrospector.
func (s *Store) IntrospectorByAccessToken(ctx context.Context, raw string) (*Client, *AccessInfo, error) {
	info, err := s.ActiveToken(ctx, raw)
	if err != nil {
		return nil, nil, err
	}
	if info.Token.Type != TokenTypeAccess {
		return nil, nil, fmt.Errorf("%w: token", ErrNotFound)
	}
	c, err := s.cachedClientByClientID(ctx, info.ClientID)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, nil, fmt.Errorf("%w: token", ErrNotFound) // deleted between the two reads
	case err != nil:
		return nil, nil, err
	}
	if !c.Introspect || c.IsPublic() || c.DisabledAt != nil {
		return nil, nil, ErrNotIntrospector
	}
	return c, info, nil
}
