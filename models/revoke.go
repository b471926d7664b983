package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// RevokeRequest selects what to revoke. Exactly one selector is used: Token
// (from a client, with Hint and AsClient), GrantID, UserID (optionally with
// ClientID), or ClientID alone.
type RevokeRequest struct {
	Token     string    // raw token from a client; hashed here, never logged
	Hint      TokenType // RFC 7009 token_type_hint; advisory
	AsClient  *Client   // set by /o/revoke_token/: enforces ownership
	GrantID   int64
	UserID    int64
	ClientID  int64
	Actor     Actor
	Action    Action // defaults from the selector
	Reason    string
	Remote    string
	RequestID string
}

// RevokeResult reports what a revocation did.
type RevokeResult struct {
	Grants int
	Tokens int
}

// Revoke is the only code that sets revoked_at. It finds the target, revokes
// its whole grant(s) in one transaction — every access and refresh token in
// the chain (RFC 7009 §2.1) — writes one audit event and, when it revoked
// a grant, the revocation event for the event streams (the outbox), and
// reports what it revoked. Revoking nothing (an unknown, expired or already
// revoked token) is not an error: RFC 7009 §2.2 answers 200 for it. A
// client revoking another client's token gets ErrNotTokenOwner, and the
// attempt is audited. A nil error means the revocation, its audit event and
// its outbox event are committed to disk.
func (s *Store) Revoke(ctx context.Context, req RevokeRequest) (RevokeResult, error) {
	var target *grantInfo
	if req.Token != "" {
		// The token lookup and the ownership check are reads: they run on
		// the caller's goroutine against the read pool, so the single writer
		// only does the writes. A token's grant, client and user never
		// change, and the writes below re-check everything that can.
		g, err := s.tokenGrant(ctx, req.Token)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			s.counters.countRevocation(revocationPath(req), OutcomeUnknown, RevokeResult{}, true)
			return RevokeResult{}, nil
		case err != nil:
			return RevokeResult{}, unavailable("revoke", err)
		}
		target = g
		if req.AsClient != nil && g.ClientID != req.AsClient.ID {
			return RevokeResult{}, s.auditRefused(ctx, req, g)
		}
	}
	var res RevokeResult
	err := s.write(ctx, func(tx *gorm.DB) error {
		var err error
		res, err = s.revokeTx(tx, req, target)
		return err
	})
	if err != nil {
		// A committed revocation is counted by the writer; this one is not.
		s.counters.countRevocation(revocationPath(req), revokeOutcome(err), RevokeResult{}, req.Token != "")
		return RevokeResult{}, wrapWrite("revoke", err)
	}
	return res, nil
}

// auditRefused records a client's attempt to revoke another client's
// token (RFC 7009 §2.1 leaves the token alone) and returns
// ErrNotTokenOwner. The attempt means the token leaked, but one leaked
// token can be replayed at will, so repeats for the same client and grant
// within a minute fold into one event with a count (auditCoalesced): the
// trail stays readable and a flood costs no durable write per request.
func (s *Store) auditRefused(ctx context.Context, req RevokeRequest, g *grantInfo) error {
	reason := req.Reason
	if reason == "" {
		reason = "token was issued to another client"
	}
	ev := newAuditEvent(req.Actor, ActionRevokeRefused, reason, req.Remote, req.RequestID, s.Now())
	ev.GrantID, ev.UserID, ev.ClientID = &g.ID, g.UserID, &g.ClientID
	if err := s.auditCoalesced(ctx, coalesceKey(ActionRevokeRefused, ev.Actor, "", g.ID), ev, ""); err != nil {
		s.counters.countRevocation(revocationPath(req), OutcomeError, RevokeResult{}, true)
		return err
	}
	s.counters.countRevocation(revocationPath(req), OutcomeRefused, RevokeResult{}, true)
	return ErrNotTokenOwner
}

// revokeTx does a revocation inside tx, with one function per selector.
// Refresh-reuse and code-reuse detection and disabling a user or a client
// call it inside their own transactions. target is the token's grant,
// which Revoke looked up before taking the writer.
func (s *Store) revokeTx(tx *gorm.DB, req RevokeRequest, target *grantInfo) (RevokeResult, error) {
	switch {
	case target != nil:
		return s.revokeTokenTx(tx, req, target)
	case req.GrantID != 0:
		return s.revokeGrantTx(tx, req)
	case req.UserID != 0:
		return s.revokeUserTx(tx, req)
	case req.ClientID != 0:
		return s.revokeClientTx(tx, req)
	}
	return RevokeResult{}, fmt.Errorf("%w: nothing selected to revoke", ErrInvalid)
}

// revokeTokenTx revokes the grant of a token a client presented (RFC 7009
// §2.1). An expired or already revoked token revokes nothing and writes no
// event: RFC 7009 §2.2 still answers 200.
func (s *Store) revokeTokenTx(tx *gorm.DB, req RevokeRequest, g *grantInfo) (RevokeResult, error) {
	now := s.Now()
	res, err := s.revokeSelected(tx, grantByID(g.ID), now)
	if err != nil {
		return res, err
	}
	if res.Grants == 0 {
		noteRevocation(tx, req, OutcomeNothing, res)
		return res, nil
	}
	noteRevocation(tx, req, OutcomeRevoked, res)
	return res, s.recordRevocation(tx, req, ActionRevokeToken, g, res, now)
}

// revokeGrantTx revokes one grant by its id (the dashboard, self-service,
// reuse detection). An unknown grant is ErrNotFound.
func (s *Store) revokeGrantTx(tx *gorm.DB, req RevokeRequest) (RevokeResult, error) {
	now := s.Now()
	g, err := s.grantInfoTx(tx, req.GrantID)
	if err != nil {
		return RevokeResult{}, err
	}
	res, err := s.revokeSelected(tx, grantByID(g.ID), now)
	if err != nil {
		return RevokeResult{}, err
	}
	noteRevocation(tx, req, outcomeOf(res), res)
	if res.Grants == 0 && (req.Action == ActionRefreshReuse || req.Action == ActionCodeReuse) {
		// A replay against a grant already revoked: the first event said
		// it all, and a replayer must not be able to fill the audit trail.
		return res, nil
	}
	return res, s.recordRevocation(tx, req, ActionRevokeGrant, g, res, now)
}

// revokeUserTx revokes all of a user's grants, or those at one client
// (offboarding, disabling the user, a user's "sign out everywhere").
func (s *Store) revokeUserTx(tx *gorm.DB, req RevokeRequest) (RevokeResult, error) {
	now := s.Now()
	sel := grantsOfUser(req.UserID, req.ClientID)
	res, err := s.revokeSelected(tx, sel, now)
	if err != nil {
		return RevokeResult{}, err
	}
	noteRevocation(tx, req, outcomeOf(res), res)
	subject := &grantInfo{UserID: &req.UserID}
	if res.Grants > 0 {
		// The event names the user, and the client when scoped to one.
		if err := tx.Raw("SELECT username FROM users WHERE id = ?", req.UserID).Scan(&subject.Username).Error; err != nil {
			return RevokeResult{}, err
		}
		if req.ClientID != 0 {
			if err := s.clientSubjectTx(tx, req.ClientID, subject); err != nil {
				return RevokeResult{}, err
			}
		}
	} else if req.ClientID != 0 {
		subject.ClientID = req.ClientID
	}
	return res, s.recordRevocation(tx, req, ActionRevokeUserGrants, subject, res, now)
}

// revokeClientTx revokes every grant of a client (a compromised client,
// disabling it).
func (s *Store) revokeClientTx(tx *gorm.DB, req RevokeRequest) (RevokeResult, error) {
	now := s.Now()
	res, err := s.revokeSelected(tx, grantsOfClient(req.ClientID), now)
	if err != nil {
		return RevokeResult{}, err
	}
	noteRevocation(tx, req, outcomeOf(res), res)
	subject := &grantInfo{ClientID: req.ClientID}
	if res.Grants > 0 {
		if err := s.clientSubjectTx(tx, req.ClientID, subject); err != nil {
			return RevokeResult{}, err
		}
	}
	return res, s.recordRevocation(tx, req, ActionRevokeClient, subject, res, now)
}

// grantSelection is which grants a revocation takes: a condition on the
// grants table, with its arguments. It is the one selector: Revoke's
// UPDATEs and RevokePreview's counts are both built from it, so what the
// confirmation promises is what the revocation touches.
type grantSelection struct {
	cond string
	args []any
}

// The selector conditions. Each is served by an index (grants' primary
// key, grants_user, grants_user_client, grants_client).
const (
	condGrant      = "id = ?"
	condUser       = "user_id = ?"
	condUserClient = "user_id = ? AND client_id = ?"
	condClient     = "client_id = ?"
)

func grantByID(id int64) grantSelection { return grantSelection{condGrant, []any{id}} }

func grantsOfUser(userID, clientID int64) grantSelection {
	if clientID != 0 {
		return grantSelection{condUserClient, []any{userID, clientID}}
	}
	return grantSelection{condUser, []any{userID}}
}

func grantsOfClient(clientID int64) grantSelection {
	return grantSelection{condClient, []any{clientID}}
}

// selectGrants is the selector of a request that names grants (GrantID,
// UserID with optional ClientID, or ClientID); a token is resolved to its
// grant by Revoke first.
func selectGrants(req RevokeRequest) (grantSelection, error) {
	switch {
	case req.GrantID != 0:
		return grantByID(req.GrantID), nil
	case req.UserID != 0:
		return grantsOfUser(req.UserID, req.ClientID), nil
	case req.ClientID != 0:
		return grantsOfClient(req.ClientID), nil
	}
	return grantSelection{}, fmt.Errorf("%w: nothing selected to revoke", ErrInvalid)
}

// A grant is live until it is revoked or expires; a token until it is
// revoked, rotated away by a refresh, or expires. Dead ones are left as
// they are, so the counts are of what a revocation actually stopped.
const (
	grantLive = "revoked_at IS NULL AND expires_at > ?"
	tokenLive = "revoked_at IS NULL AND rotated_at IS NULL AND expires_at > ?"
)

// liveGrantsSQL selects the live grants of a selector condition.
func liveGrantsSQL(cond string) string {
	return "SELECT id FROM grants WHERE " + cond + " AND " + grantLive
}

// revokeTokensSQL revokes the live tokens of the selected live grants;
// revokeGrantsSQL then revokes the grants. Tokens go first: their
// subquery reads grants.revoked_at, which the second statement sets. Both
// return what they revoked, for the overview's live counts.
func revokeTokensSQL(cond string) string {
	return "UPDATE tokens SET revoked_at = ? WHERE grant_id IN (" + liveGrantsSQL(cond) + ") AND " + tokenLive +
		" RETURNING type, expires_at"
}

func revokeGrantsSQL(cond string) string {
	return "UPDATE grants SET revoked_at = ? WHERE " + cond + " AND " + grantLive + " RETURNING expires_at"
}

// previewSQL counts what revokeTokensSQL and revokeGrantsSQL would revoke.
func previewSQL(cond string) string {
	return "SELECT (SELECT COUNT(*) FROM (" + liveGrantsSQL(cond) + ") x) AS grants, " +
		"(SELECT COUNT(*) FROM tokens WHERE grant_id IN (" + liveGrantsSQL(cond) + ") AND " + tokenLive + ") AS tokens"
}

// revokeStatements are every selector's two UPDATEs, prepared once on the
// writer with the other hot statements.
var revokeStatements = func() []string {
	var out []string
	for _, c := range []string{condGrant, condUser, condUserClient, condClient} {
		out = append(out, revokeTokensSQL(c), revokeGrantsSQL(c))
	}
	return out
}()

// revokeSelected revokes the selected live grants and their live tokens
// (RFC 7009 §2.1's cascade), in two statements whatever their number.
func (s *Store) revokeSelected(tx *gorm.DB, sel grantSelection, now time.Time) (RevokeResult, error) {
	args := append(append([]any{now}, sel.args...), now, now)
	rows, err := s.query(tx, revokeTokensSQL(sel.cond), args...)
	if err != nil {
		return RevokeResult{}, err
	}
	toks, err := s.countReturned(tx, rows, "")
	if err != nil {
		return RevokeResult{}, err
	}
	rows, err = s.query(tx, revokeGrantsSQL(sel.cond), append(append([]any{now}, sel.args...), now)...)
	if err != nil {
		return RevokeResult{}, err
	}
	grants, err := s.countReturned(tx, rows, countGrant)
	if err != nil {
		return RevokeResult{}, err
	}
	if grants == 0 {
		// Nothing was live (or a concurrent revocation got there first):
		// no token can have been revoked either.
		return RevokeResult{}, nil
	}
	return RevokeResult{Grants: int(grants), Tokens: int(toks)}, nil
}

// RevokePreview counts what Revoke would revoke for the same selector
// (GrantID, UserID with optional ClientID, or ClientID) right now: the
// number the confirmation asks about. It reads only.
func (s *Store) RevokePreview(ctx context.Context, req RevokeRequest) (RevokeResult, error) {
	sel, err := selectGrants(req)
	if err != nil {
		return RevokeResult{}, err
	}
	now := s.Now()
	args := append(append(append(append([]any{}, sel.args...), now), sel.args...), now, now)
	var out RevokeResult
	if err := s.readRow(ctx, previewSQL(sel.cond), args...).Scan(&out.Grants, &out.Tokens); err != nil {
		return RevokeResult{}, unavailable("revoke preview", err)
	}
	return out, nil
}

// grantInfo is a revoked grant, or a user or client whose grants were
// revoked, as the audit event and the outbox event name it.
type grantInfo struct {
	ID             int64 // 0: not one grant
	PublicID       string
	ClientID       int64 // 0: no client
	ClientPublicID string
	ClientName     string
	UserID         *int64
	Username       string
}

// qTokenGrant finds a token's grant, client and user for Revoke, on the
// reader: a token presented at the endpoint is looked up before the write.
const qTokenGrant = `SELECT g.id, g.public_id, g.client_id, c.client_id, c.name, g.user_id, u.username
FROM tokens t JOIN grants g ON g.id = t.grant_id JOIN clients c ON c.id = g.client_id LEFT JOIN users u ON u.id = g.user_id
WHERE t.hash = ?`

// qGrantInfo is the same for a grant named by its id, inside the write.
const qGrantInfo = `SELECT g.id, g.public_id, g.client_id, c.client_id, c.name, g.user_id, u.username
FROM grants g JOIN clients c ON c.id = g.client_id LEFT JOIN users u ON u.id = g.user_id
WHERE g.id = ?`

func scanGrantInfo(row scanner) (*grantInfo, error) {
	var g grantInfo
	var publicID, username sql.NullString
	if err := row.Scan(&g.ID, &publicID, &g.ClientID, &g.ClientPublicID, &g.ClientName, &g.UserID, &username); err != nil {
		return nil, err
	}
	g.PublicID, g.Username = publicID.String, username.String
	return &g, nil
}

// tokenGrant looks up a raw token's grant; an unknown token is
// sql.ErrNoRows.
func (s *Store) tokenGrant(ctx context.Context, raw string) (*grantInfo, error) {
	return scanGrantInfo(s.readRow(ctx, qTokenGrant, HashSecret(raw)))
}

func (s *Store) grantInfoTx(tx *gorm.DB, id int64) (*grantInfo, error) {
	g, err := scanGrantInfo(connOf(tx).QueryRowContext(context.Background(), s.rebind(qGrantInfo), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: grant %d", ErrNotFound, id)
	}
	return g, err
}

// clientSubjectTx fills in a client's public id and name.
func (s *Store) clientSubjectTx(tx *gorm.DB, clientID int64, g *grantInfo) error {
	g.ClientID = clientID
	return connOf(tx).QueryRowContext(context.Background(), s.rebind("SELECT client_id, name FROM clients WHERE id = ?"), clientID).
		Scan(&g.ClientPublicID, &g.ClientName)
}

// recordRevocation writes what a revocation leaves behind, in its
// transaction: the audit event (action defaults to def) and, when it
// revoked at least one grant, the outbox event that tells the event
// streams. One event per grant when one grant was selected (it names the
// session, the user and the client); one event for the user, or the
// client, when all of theirs were.
func (s *Store) recordRevocation(tx *gorm.DB, req RevokeRequest, def Action, g *grantInfo, res RevokeResult, now time.Time) error {
	action := req.Action
	if action == "" {
		action = def
	}
	ev := newAuditEvent(req.Actor, action, req.Reason, req.Remote, req.RequestID, now)
	if g.ID != 0 {
		ev.GrantID = &g.ID
	}
	ev.UserID, ev.ClientID = g.UserID, nonZero(g.ClientID)
	ev.Grants, ev.Tokens = res.Grants, res.Tokens
	if err := s.insertAudit(tx, &ev); err != nil {
		return err
	}
	if res.Grants == 0 {
		return nil
	}
	if err := s.addCounts(tx, func(m map[countKey]int64) {
		bucketed(countRevocations, now, 1, m)
		bucketed(countRevokedTokens, now, int64(res.Tokens), m)
	}); err != nil {
		return err
	}
	out := &Event{Type: EventSessionRevoked, SID: g.PublicID, UserID: g.UserID, Username: g.Username,
		ClientID: nonZero(g.ClientID), ClientPublicID: g.ClientPublicID, Initiating: initiatingEntity(req.Actor, action, g),
		ReasonAdmin: ev.Reason, EventTime: now, CreatedAt: now}
	if req.Actor.Type == ActorUser && g.ClientName != "" {
		out.ReasonUser = "You revoked access for " + g.ClientName
	}
	return s.queueEventTx(tx, out)
}

// initiatingEntity maps who revoked to CAEP 1.0's initiating_entity: staff
// (dashboard or command line) is admin; an end user on self-service is
// user; reuse detection and the cascade of disabling a user or client are
// policy; a client at the RFC 7009 endpoint is user when the grant has one
// (an app's logout) and system otherwise.
func initiatingEntity(a Actor, action Action, g *grantInfo) InitiatingEntity {
	switch {
	case action == ActionRefreshReuse || action == ActionCodeReuse || action == ActionUserDisable || action == ActionClientDisable:
		return InitiatedByPolicy
	case a.Type == ActorStaff || strings.HasPrefix(a.Name, "cli:"):
		return InitiatedByAdmin
	case a.Type == ActorUser:
		return InitiatedByUser
	case a.Type == ActorClient && g.UserID != nil:
		return InitiatedByUser
	}
	return InitiatedBySystem
}

func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
