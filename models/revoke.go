package models

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"maps"
	"math/bits"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// RevokeRequest selects what to revoke. Exactly one selector is used: Token
// (from a client, with Hint and AsClient), GrantID, UserID (optionally with
// ClientID), Matching (optionally with ClientID), or ClientID alone.
type RevokeRequest struct {
	Token    string    // raw token from a client; hashed here, never logged
	Hint     TokenType // RFC 7009 token_type_hint; advisory
	AsClient *Client   // set by /o/revoke_token/: enforces ownership
	GrantID  int64
	UserID   int64
	ClientID int64
	// Matching selects grants by what they are rather than whose (a mass
	// revocation: a leaked scope, a grant type, everything issued before
	// a time), at ClientID when set, else at every client.
	Matching  *GrantMatch
	Actor     Actor
	Action    Action // defaults from the selector
	Reason    string
	Remote    string
	RequestID string
}

// actionOr is the request's audit action, or def when it names none.
func (r RevokeRequest) actionOr(def Action) Action {
	if r.Action == "" {
		return def
	}
	return r.Action
}

// RevokeResult reports what a revocation did.
type RevokeResult struct {
	Grants int
	Tokens int
	// Users is how many users hold the selected grants; RevokePreview
	// fills it (the blast radius a confirmation names), Revoke does not.
	Users int
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
		// the caller's goroutine on a reader (on SQLite one of the hot
		// readers, as introspection's read), so the single writer
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
	var err error
	if target != nil {
		// The writer runs every token revocation of a batch together.
		r := &tokenRevocation{req: req, g: target}
		err = s.enqueue(ctx, &writeOp{rev: r})
		res = r.res
	} else {
		err = s.write(ctx, func(tx *gorm.DB) error {
			var err error
			res, err = s.revokeTx(tx, req, target)
			return err
		})
	}
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
	// The reason is why it was refused, whatever the request gave: the
	// endpoint's "client request" would tell an auditor nothing.
	ev := newAuditEvent(req.Actor, ActionRevokeRefused, "token was issued to another client", req.Remote, req.RequestID, s.Now())
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
	case req.Matching != nil:
		return s.revokeMatchingTx(tx, req)
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

// tokenRevocation is one token revocation waiting for the writer:
// the request, the token's grant (looked up on the reader) and, once run,
// what it revoked.
type tokenRevocation struct {
	req RevokeRequest
	g   *grantInfo
	res RevokeResult
}

// revokeChunk bounds the grants of one multi-row revocation statement.
// Batches are split into chunks of powers of two up to it, so that
// revokeByIDStatements, prepared once, cover every batch size.
const revokeChunk = 64

// revokeTokensTx runs the token revocations among ops (the others are
// left alone) as revokeTokenTx would one after the other, but in a few
// statements for the whole batch: one UPDATE of the tokens and one of the
// grants per chunk of grants, instead of two per revocation. Each
// statement has a fixed cost (SQLite sets up its IN list and its
// RETURNING buffer) that this pays once per chunk. The first revocation
// of a grant revokes it; a second one in the same batch finds it revoked,
// as it would have run after the first. The audit and outbox events and
// the counts are each revocation's own, as with revokeTokenTx. On
// PostgreSQL, revokeTokensPostgresTx does the same in one statement.
func (s *Store) revokeTokensTx(tx *gorm.DB, ops []*writeOp) error {
	if s.dialect == DialectPostgres {
		return s.revokeTokensPostgresTx(tx, ops)
	}
	var revs []*writeOp
	var ids []int64
	owner := map[int64]*writeOp{} // grant → the first revocation naming it
	for _, op := range ops {
		if op.rev == nil {
			continue
		}
		op.rev.res = RevokeResult{} // afresh: a batch may run twice
		revs = append(revs, op)
		if _, ok := owner[op.rev.g.ID]; !ok {
			owner[op.rev.g.ID] = op
			ids = append(ids, op.rev.g.ID)
		}
	}
	if len(revs) == 0 {
		return nil
	}
	now := s.Now()
	// The counts of every write of a batch are added together before the
	// commit, so the first revocation's tally can carry the deltas.
	tx.Statement.Context = revs[0].txCtx
	toks := map[int64]int{}
	revoked := map[int64]bool{}
	deltas := map[countKey]int64{}
	for rest := ids; len(rest) > 0; {
		n := min(revokeChunk, 1<<(bits.Len(uint(len(rest)))-1))
		chunk := rest[:n]
		rest = rest[n:]
		args := make([]any, 0, n+3)
		args = append(args, now)
		for _, id := range chunk {
			args = append(args, id)
		}
		// Tokens first: their subquery reads grants.revoked_at, which the
		// second statement sets.
		rows, err := s.query(tx, revokeTokensByIDSQL(n), append(args, now, now)...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var gid int64
			var typ string
			var exp any
			if err := rows.Scan(&gid, &typ, &exp); err != nil {
				rows.Close()
				return err
			}
			toks[gid]++
			bucketed(tokenCountKind(TokenType(typ)), timeOf(exp), -1, deltas)
		}
		if err := closeRows(rows); err != nil {
			return err
		}
		rows, err = s.query(tx, revokeGrantsByIDSQL(n), append(args, now)...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var gid int64
			var exp any
			if err := rows.Scan(&gid, &exp); err != nil {
				rows.Close()
				return err
			}
			revoked[gid] = true
			bucketed(countGrant, timeOf(exp), -1, deltas)
		}
		if err := closeRows(rows); err != nil {
			return err
		}
	}
	// What recordRevocation writes for each, but the audit events of the
	// whole batch in a few statements at the end.
	audits := make([]AuditEvent, 0, len(ids))
	err := s.settleTokenRevocations(tx, revs, owner, revoked, toks, deltas, func(r *tokenRevocation) error {
		ev := revocationAudit(r.req, ActionRevokeToken, r.g, r.res, now)
		audits = append(audits, ev)
		return s.revocationEffects(tx, r.req, ev.Action, ev.Reason, []*grantInfo{r.g}, r.res, now)
	})
	if err != nil {
		return err
	}
	return s.insertAudits(tx, audits)
}

// settleTokenRevocations finishes a batch of token revocations
// (revokeTokensTx, revokeTokensPostgresTx): it adds the batch's count
// deltas, and gives each revocation its result. The first revocation
// naming a grant the batch revoked gets the grant and its toks[grant]
// tokens, and record writes what it leaves besides (on SQLite its effects,
// its audit event collected for one INSERT; on PostgreSQL its effects);
// every other one revoked nothing.
func (s *Store) settleTokenRevocations(tx *gorm.DB, revs []*writeOp, owner map[int64]*writeOp, revoked map[int64]bool, toks map[int64]int,
	deltas map[countKey]int64, record func(*tokenRevocation) error) error {
	if err := s.addCounts(tx, func(m map[countKey]int64) {
		for k, d := range deltas {
			m[k] += d
		}
	}); err != nil {
		return err
	}
	for _, op := range revs {
		r := op.rev
		tx.Statement.Context = op.txCtx
		if !revoked[r.g.ID] || owner[r.g.ID] != op {
			noteRevocation(tx, r.req, OutcomeNothing, RevokeResult{})
			continue
		}
		r.res = RevokeResult{Grants: 1, Tokens: toks[r.g.ID]}
		noteRevocation(tx, r.req, OutcomeRevoked, r.res)
		if err := record(r); err != nil {
			return err
		}
	}
	return nil
}

// closeRows closes rows and reports an error met while reading them.
func closeRows(rows rowSource) error {
	err := rows.Err()
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return err
}

// revokeTokensByIDSQL and revokeGrantsByIDSQL are revokeTokensSQL and
// revokeGrantsSQL for n grants named by id, returning which grant each
// revoked row belongs to.
func revokeTokensByIDSQL(n int) string {
	return "UPDATE tokens SET revoked_at = ? WHERE grant_id IN (" + liveGrantsSQL("id IN ("+placeholders(n, 1)+")") + ") AND " + tokenLive +
		" RETURNING grant_id, type, expires_at"
}

func revokeGrantsByIDSQL(n int) string {
	return "UPDATE grants SET revoked_at = ? WHERE id IN (" + placeholders(n, 1) + ") AND " + grantLive + " RETURNING id, expires_at"
}

// revokeByIDStatements are those statements for every chunk size.
var revokeByIDStatements = func() []string {
	var out []string
	for n := 1; n <= revokeChunk; n *= 2 {
		out = append(out, revokeTokensByIDSQL(n), revokeGrantsByIDSQL(n))
	}
	return out
}()

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

// revokeMatchingTx revokes the grants a GrantMatch selects, at one client
// or all (a mass revocation: a leaked scope, a compromised flow,
// everything issued before an incident). The audit event records the
// criteria beside the reason. The event streams get one event per client
// that lost grants, naming the client and no session, as a client-wide
// revocation does: one per grant could be hundreds of thousands of
// events, and a receiver that drops every session of the client and
// checks again errs on the safe side.
func (s *Store) revokeMatchingTx(tx *gorm.DB, req RevokeRequest) (RevokeResult, error) {
	now := s.Now()
	sel, err := s.selectGrants(req)
	if err != nil {
		return RevokeResult{}, err
	}
	res, byClient, err := s.revokeSelectedByClient(tx, sel, now)
	if err != nil {
		return RevokeResult{}, err
	}
	noteRevocation(tx, req, outcomeOf(res), res)
	subject := &grantInfo{ClientID: req.ClientID}
	ids := slices.Sorted(maps.Keys(byClient))
	subjects := make([]*grantInfo, 0, len(ids))
	for _, id := range ids {
		g := &grantInfo{}
		if err := s.clientSubjectTx(tx, id, g); err != nil {
			return RevokeResult{}, err
		}
		subjects = append(subjects, g)
	}
	req.Reason = strings.TrimSpace(req.Reason + " [" + req.Matching.String() + "]")
	return res, s.recordRevocationOf(tx, req, ActionRevokeMatching, subject, subjects, res, now)
}

// grantSelection is which grants a revocation takes: a condition on the
// grants table, with its arguments. It is the one selector: Revoke's
// UPDATEs and RevokePreview's counts are both built from it, so what the
// confirmation promises is what the revocation touches.
type grantSelection struct {
	cond string
	args []any
	// dynamic conditions (a matching selection) are not among the
	// statements prepared once; they run unprepared.
	dynamic bool
}

// The selector conditions. Each is served by an index (grants' primary
// key, grants_user, grants_user_client, grants_client).
const (
	condGrant      = "id = ?"
	condUser       = "user_id = ?"
	condUserClient = "user_id = ? AND client_id = ?"
	condClient     = "client_id = ?"
)

func grantByID(id int64) grantSelection { return grantSelection{cond: condGrant, args: []any{id}} }

func grantsOfUser(userID, clientID int64) grantSelection {
	if clientID != 0 {
		return grantSelection{cond: condUserClient, args: []any{userID, clientID}}
	}
	return grantSelection{cond: condUser, args: []any{userID}}
}

func grantsOfClient(clientID int64) grantSelection {
	return grantSelection{cond: condClient, args: []any{clientID}}
}

// grantsMatching selects grants by what they are: every criterion of m
// must hold, at one client when clientID is set. A scope matches per
// space-separated token, exactly and case-sensitively (RFC 6749 §3.3):
// "read" matches "openid read" but not "readonly" or "READ". Stored scopes
// are single-space separated (ParseScope), so padding both sides with a
// space and looking for " read " is that test; instr and strpos compare
// bytes, where LIKE would be case-insensitive on SQLite and would read "_"
// and "%" (legal in a scope token) as wildcards.
func (s *Store) grantsMatching(clientID int64, m GrantMatch) grantSelection {
	var conds []string
	var args []any
	if clientID != 0 {
		conds, args = append(conds, "client_id = ?"), append(args, clientID)
	}
	if m.Scope != "" {
		find := "instr"
		if s.dialect == DialectPostgres {
			find = "strpos"
		}
		conds, args = append(conds, find+"(' ' || scope || ' ', ?) > 0"), append(args, " "+m.Scope+" ")
	}
	if m.GrantType != "" {
		conds, args = append(conds, "grant_type = ?"), append(args, string(m.GrantType))
	}
	if !m.IssuedBefore.IsZero() {
		conds, args = append(conds, "created_at < ?"), append(args, m.IssuedBefore.UTC())
	}
	return grantSelection{cond: strings.Join(conds, " AND "), args: args, dynamic: true}
}

// selectGrants is the selector of a request that names grants (GrantID,
// UserID with optional ClientID, Matching, or ClientID); a token is
// resolved to its grant by Revoke first.
func (s *Store) selectGrants(req RevokeRequest) (grantSelection, error) {
	switch {
	case req.GrantID != 0:
		return grantByID(req.GrantID), nil
	case req.Matching != nil:
		if err := req.Matching.validate(); err != nil {
			return grantSelection{}, err
		}
		return s.grantsMatching(req.ClientID, *req.Matching), nil
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
	return "UPDATE grants SET revoked_at = ? WHERE " + cond + " AND " + grantLive + " RETURNING expires_at, client_id"
}

// previewSQL counts what revokeTokensSQL and revokeGrantsSQL would revoke,
// and the users whose grants those are.
func previewSQL(cond string) string {
	return "SELECT (SELECT COUNT(*) FROM (" + liveGrantsSQL(cond) + ") x) AS grants, " +
		"(SELECT COUNT(*) FROM tokens WHERE grant_id IN (" + liveGrantsSQL(cond) + ") AND " + tokenLive + ") AS tokens, " +
		"(SELECT COUNT(DISTINCT user_id) FROM grants WHERE " + cond + " AND " + grantLive + ") AS users"
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
	res, _, err := s.revokeSelectedByClient(tx, sel, now)
	return res, err
}

// revokeSelectedByClient is revokeSelected, also saying how many grants it
// revoked at each client.
func (s *Store) revokeSelectedByClient(tx *gorm.DB, sel grantSelection, now time.Time) (RevokeResult, map[int64]int, error) {
	if s.dialect == DialectPostgres {
		return s.revokeSelectedPostgres(tx, sel, now)
	}
	run := s.query
	if sel.dynamic {
		run = func(tx *gorm.DB, q string, args ...any) (rowSource, error) {
			return connOf(tx).QueryContext(context.Background(), s.rebind(q), args...)
		}
	}
	args := append(append([]any{now}, sel.args...), now, now)
	rows, err := run(tx, revokeTokensSQL(sel.cond), args...)
	if err != nil {
		return RevokeResult{}, nil, err
	}
	toks, _, err := s.countReturned(tx, rows, "")
	if err != nil {
		return RevokeResult{}, nil, err
	}
	rows, err = run(tx, revokeGrantsSQL(sel.cond), append(append([]any{now}, sel.args...), now)...)
	if err != nil {
		return RevokeResult{}, nil, err
	}
	grants, clients, err := s.countReturned(tx, rows, countGrant)
	if err != nil {
		return RevokeResult{}, nil, err
	}
	if grants == 0 {
		// Nothing was live (or a concurrent revocation got there first):
		// no token can have been revoked either.
		return RevokeResult{}, nil, nil
	}
	return RevokeResult{Grants: grants, Tokens: toks}, clients, nil
}

// RevokePreview counts what Revoke would revoke for the same selector
// (GrantID, UserID with optional ClientID, or ClientID) right now: the
// number the confirmation asks about. It reads only.
func (s *Store) RevokePreview(ctx context.Context, req RevokeRequest) (RevokeResult, error) {
	sel, err := s.selectGrants(req)
	if err != nil {
		return RevokeResult{}, err
	}
	now := s.Now()
	args := append(append(append(append([]any{}, sel.args...), now), sel.args...), now, now)
	args = append(append(args, sel.args...), now)
	var out RevokeResult
	if err := s.readRow(ctx, previewSQL(sel.cond), args...).Scan(&out.Grants, &out.Tokens, &out.Users); err != nil {
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
// On SQLite the hash is compared with "+?" so that the prepared statement
// is not parsed and planned again on every call (see qActiveTokenFormat).
const qTokenGrantFormat = `SELECT g.id, g.public_id, g.client_id, c.client_id, c.name, g.user_id, u.username
FROM tokens t JOIN grants g ON g.id = t.grant_id JOIN clients c ON c.id = g.client_id LEFT JOIN users u ON u.id = g.user_id
WHERE t.hash = %s`

var qTokenGrant = newByHash(qTokenGrantFormat)

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
	if s.hot == nil {
		return scanGrantInfo(s.readRow(ctx, s.inDialect(qTokenGrant), TokenKey(raw)))
	}
	// On SQLite through the driver directly, as ActiveToken (see
	// hotReaders): the same query and columns as scanGrantInfo's. As
	// through readRow, the wait for a connection does not end with the
	// request: the revocation's write reports a caller that gave up.
	var g grantInfo
	found, err := s.hot.row(context.Background(), hotTokenGrant, TokenKey(raw), func(v []driver.Value) error {
		c := driverRow{what: "token grant"}
		g.ID, g.PublicID, g.ClientID = c.int64(v[0]), c.nullText(v[1]), c.int64(v[2])
		g.ClientPublicID, g.ClientName = c.text(v[3]), c.text(v[4])
		if v[5] != nil {
			id := c.int64(v[5])
			g.UserID = &id
		}
		g.Username = c.nullText(v[6])
		return c.bad
	})
	switch {
	case err != nil:
		return nil, err
	case !found:
		return nil, sql.ErrNoRows
	}
	return &g, nil
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
	return s.recordRevocationOf(tx, req, def, g, []*grantInfo{g}, res, now)
}

// recordRevocationOf is recordRevocation with the audit event naming g
// and one outbox event for each of subjects.
func (s *Store) recordRevocationOf(tx *gorm.DB, req RevokeRequest, def Action, g *grantInfo, subjects []*grantInfo, res RevokeResult, now time.Time) error {
	ev := revocationAudit(req, def, g, res, now)
	if err := s.insertAudit(tx, &ev); err != nil {
		return err
	}
	return s.revocationEffects(tx, req, ev.Action, ev.Reason, subjects, res, now)
}

// revocationAudit is the audit event of a revocation naming g (action
// defaults to def).
func revocationAudit(req RevokeRequest, def Action, g *grantInfo, res RevokeResult, now time.Time) AuditEvent {
	ev := newAuditEvent(req.Actor, req.actionOr(def), req.Reason, req.Remote, req.RequestID, now)
	if g.ID != 0 {
		ev.GrantID = &g.ID
	}
	ev.UserID, ev.ClientID = g.UserID, nonZero(g.ClientID)
	ev.Grants, ev.Tokens = res.Grants, res.Tokens
	return ev
}

// revocationEffects is what a revocation leaves besides its audit event:
// when it revoked at least one grant, the counts of revocations and
// revoked tokens and the outbox events for subjects. reason is the audit
// event's (truncated) reason.
func (s *Store) revocationEffects(tx *gorm.DB, req RevokeRequest, action Action, reason string, subjects []*grantInfo, res RevokeResult, now time.Time) error {
	if res.Grants == 0 {
		return nil
	}
	if err := s.addCounts(tx, func(m map[countKey]int64) {
		bucketed(countRevocations, now, 1, m)
		bucketed(countRevokedTokens, now, int64(res.Tokens), m)
	}); err != nil {
		return err
	}
	for _, g := range subjects {
		out := &Event{Type: EventSessionRevoked, SID: g.PublicID, UserID: g.UserID, Username: g.Username,
			ClientID: nonZero(g.ClientID), ClientPublicID: g.ClientPublicID, Initiating: initiatingEntity(req.Actor, action, g),
			ReasonAdmin: reason, EventTime: now, CreatedAt: now}
		if req.Actor.Type == ActorUser && g.ClientName != "" {
			out.ReasonUser = "You revoked access for " + g.ClientName
		}
		if err := s.queueEventTx(tx, out); err != nil {
			return err
		}
	}
	return nil
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

// GrantMatch selects grants by what they are, for a mass revocation.
// Every criterion that is set must hold; at least one must be set.
type GrantMatch struct {
	Scope        string    // one scope token the grant's scope includes
	GrantType    GrantType // how the grant was obtained
	IssuedBefore time.Time // grants started before this instant
}

// ParseGrantMatch reads a mass revocation's criteria as typed: a scope
// token, a grant type, and a time "2006-01-02T15:04" (or with seconds,
// or RFC 3339) read as UTC. Empty fields do not select.
func ParseGrantMatch(scope, grantType, issuedBefore string) (GrantMatch, error) {
	m := GrantMatch{Scope: strings.TrimSpace(scope), GrantType: GrantType(strings.TrimSpace(grantType))}
	if v := strings.TrimSpace(issuedBefore); v != "" {
		var err error
		for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339Nano, time.DateOnly} {
			if m.IssuedBefore, err = time.ParseInLocation(layout, v, time.UTC); err == nil {
				break
			}
		}
		if err != nil {
			return GrantMatch{}, invalid("issued_before", "Issued before is a UTC time like 2026-03-01T09:30.")
		}
	}
	return m, m.validate()
}

// validate refuses a match that selects nothing in particular or that
// names no real scope token or grant type.
func (m GrantMatch) validate() error {
	if m.Scope == "" && m.GrantType == "" && m.IssuedBefore.IsZero() {
		return invalid("match", "Choose a scope, a grant type or a time: revoking every grant of every client is not a mass revocation but a reset.")
	}
	if m.Scope != "" {
		sc, err := ParseScope(m.Scope)
		if err != nil {
			return err
		}
		if len(sc) != 1 {
			return invalid("scope", "Type one scope token, such as read.")
		}
	}
	switch m.GrantType {
	case "", GrantAuthorizationCode, GrantPassword, GrantClientCredentials:
	default:
		return invalid("grant_type", "Grant type must be authorization_code, password or client_credentials.")
	}
	return nil
}

// String says what m selects, for the audit trail and the confirmation.
func (m GrantMatch) String() string {
	var parts []string
	if m.Scope != "" {
		parts = append(parts, "scope "+m.Scope)
	}
	if m.GrantType != "" {
		parts = append(parts, "grant type "+string(m.GrantType))
	}
	if !m.IssuedBefore.IsZero() {
		parts = append(parts, "issued before "+m.IssuedBefore.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	return strings.Join(parts, ", ")
}

// revokeSQLPostgres revokes the selected live grants and their live
// tokens in one statement, where SQLite takes two (revokeTokensSQL, then
// revokeGrantsSQL): the grants first, and the tokens of exactly the grants
// that statement revoked. It returns a row per revoked grant (”,
// expires_at, client_id) and per revoked token (type, expires_at, 0).
// Both UPDATEs see the same snapshot; a grant revoked meanwhile by another
// transaction is re-checked by PostgreSQL and left out, and its tokens
// with it, as the two statements would.
func revokeSQLPostgres(cond string) string {
	return "WITH g AS (UPDATE grants SET revoked_at = ? WHERE " + cond + " AND " + grantLive + " RETURNING id, expires_at, client_id), " +
		"t AS (UPDATE tokens SET revoked_at = ? WHERE grant_id IN (SELECT id FROM g) AND " + tokenLive + " RETURNING type, expires_at) " +
		"SELECT '', expires_at, client_id FROM g UNION ALL SELECT type, expires_at, 0 FROM t"
}

// revokeSelectedPostgres is revokeSelectedByClient on PostgreSQL: one
// round trip instead of two.
func (s *Store) revokeSelectedPostgres(tx *gorm.DB, sel grantSelection, now time.Time) (RevokeResult, map[int64]int, error) {
	args := append(append([]any{now}, sel.args...), now, now, now)
	rows, err := connOf(tx).QueryContext(context.Background(), s.rebind(revokeSQLPostgres(sel.cond)), args...)
	if err != nil {
		return RevokeResult{}, nil, err
	}
	defer rows.Close()
	var res RevokeResult
	clients := map[int64]int{}
	deltas := map[countKey]int64{}
	for rows.Next() {
		var typ string
		var exp time.Time
		var client int64
		if err := rows.Scan(&typ, &exp, &client); err != nil {
			return RevokeResult{}, nil, err
		}
		if typ == "" {
			res.Grants++
			clients[client]++
			bucketed(countGrant, exp.UTC(), -1, deltas)
		} else {
			res.Tokens++
			bucketed(tokenCountKind(TokenType(typ)), exp.UTC(), -1, deltas)
		}
	}
	if err := rows.Err(); err != nil {
		return RevokeResult{}, nil, err
	}
	if res.Grants == 0 {
		return RevokeResult{}, nil, nil
	}
	return res, clients, s.addCounts(tx, func(m map[countKey]int64) {
		for k, d := range deltas {
			m[k] += d
		}
	})
}

// qRevokeTokensPostgres revokes every grant named by a batch of token
// revocations on PostgreSQL, their live tokens, and writes the audit event
// of each grant it revoked, in one statement and one round trip for the
// whole batch (SQLite's revokeTokensTx takes two statements per chunk of
// grants, then a multi-row INSERT of the audit events: insertAudits).
//
// $1 is the time; $2… are one array element per grant to revoke: its id,
// then the audit event's actor type, actor, action, user (0: none),
// client, reason, remote address and request id. The grants UPDATE (g)
// runs first and the tokens UPDATE (t) takes the tokens of exactly the
// grants it revoked, as in revokeSQLPostgres. Only a revoked grant gets
// an audit row (an expired or already revoked one is RFC 7009 §2.2's
// silent 200), with the number of its tokens t revoked. The statement
// returns a row per revoked grant (id, ”, expires_at) and per revoked
// token (grant_id, type, expires_at), for the counts and the results.
const qRevokeTokensPostgres = "WITH g AS (UPDATE grants SET revoked_at = $1 WHERE id = ANY($2::bigint[]) AND revoked_at IS NULL AND expires_at > $1 " +
	"RETURNING id, expires_at), " +
	"t AS (UPDATE tokens SET revoked_at = $1 WHERE grant_id IN (SELECT id FROM g) AND revoked_at IS NULL AND rotated_at IS NULL AND expires_at > $1 " +
	"RETURNING grant_id, type, expires_at), " +
	"a AS (INSERT INTO audit_events (created_at, actor_type, actor, action, grant_id, user_id, client_id, grants, tokens, reason, remote_addr, request_id) " +
	"SELECT $1, r.actor_type, r.actor, r.action, r.gid, NULLIF(r.uid, 0), r.cid, 1, (SELECT count(*) FROM t WHERE t.grant_id = r.gid), r.reason, r.remote, r.rid " +
	"FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::text[], $9::text[], $10::text[]) " +
	"AS r(gid, actor_type, actor, action, uid, cid, reason, remote, rid) WHERE r.gid IN (SELECT id FROM g)) " +
	"SELECT id, '', expires_at FROM g UNION ALL SELECT grant_id, type, expires_at FROM t"

// revokeTokensPostgresTx is revokeTokensTx on PostgreSQL: the token
// revocations among ops (the others are left alone), as revokeTokenTx
// would run them one after the other, with the revoking UPDATEs and the
// audit events of the whole batch in one statement. The first revocation
// of a grant revokes it; a second one in the same batch finds it revoked
// and writes nothing, as it would have run after the first. The counts and
// the outbox events are each revocation's own, and the writer adds them to
// the transaction once for the batch.
func (s *Store) revokeTokensPostgresTx(tx *gorm.DB, ops []*writeOp) error {
	var revs []*writeOp
	owner := map[int64]*writeOp{} // grant → the first revocation naming it
	var ids, uids, cids []int64
	var actorTypes, actors, actions, reasons, remotes, rids []string
	now := s.Now()
	for _, op := range ops {
		if op.rev == nil {
			continue
		}
		r := op.rev
		r.res = RevokeResult{} // afresh: a batch may run twice
		revs = append(revs, op)
		if _, ok := owner[r.g.ID]; ok {
			continue
		}
		owner[r.g.ID] = op
		ev := newAuditEvent(r.req.Actor, r.req.actionOr(ActionRevokeToken), r.req.Reason, r.req.Remote, r.req.RequestID, now)
		var uid int64
		if r.g.UserID != nil {
			uid = *r.g.UserID
		}
		ids, uids, cids = append(ids, r.g.ID), append(uids, uid), append(cids, r.g.ClientID)
		actorTypes, actors, actions = append(actorTypes, string(ev.ActorType)), append(actors, ev.Actor), append(actions, string(ev.Action))
		reasons, remotes, rids = append(reasons, ev.Reason), append(remotes, ev.RemoteAddr), append(rids, ev.RequestID)
	}
	if len(revs) == 0 {
		return nil
	}
	// The counts of every write of a batch are added together before the
	// commit, so the first revocation's tally can carry the deltas.
	tx.Statement.Context = revs[0].txCtx
	rows, err := s.query(tx, qRevokeTokensPostgres, now, ids, actorTypes, actors, actions, uids, cids, reasons, remotes, rids)
	if err != nil {
		return err
	}
	toks := map[int64]int{}
	revoked := map[int64]bool{}
	deltas := map[countKey]int64{}
	for rows.Next() {
		var gid int64
		var typ string
		var exp time.Time
		if err := rows.Scan(&gid, &typ, &exp); err != nil {
			rows.Close()
			return err
		}
		if typ == "" {
			revoked[gid] = true
			bucketed(countGrant, exp.UTC(), -1, deltas)
		} else {
			toks[gid]++
			bucketed(tokenCountKind(TokenType(typ)), exp.UTC(), -1, deltas)
		}
	}
	if err := closeRows(rows); err != nil {
		return err
	}
	// The statement wrote the audit rows; the rest is each revocation's.
	return s.settleTokenRevocations(tx, revs, owner, revoked, toks, deltas, func(r *tokenRevocation) error {
		return s.revocationEffects(tx, r.req, r.req.actionOr(ActionRevokeToken), truncate(r.req.Reason, 500), []*grantInfo{r.g}, r.res, now)
	})
}
