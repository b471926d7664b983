package models

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
)

// TestTokenRevocationsOfOneBatch: the SQLite writer runs every token
// revocation of a group-commit batch together, in multi-row statements
// split into chunks (revokeTokensTx). Queued as one batch of 73 beside
// an issuance: 70 grants (more than one chunk), a second revocation of one
// of them (through its refresh token), a grant revoked before and an
// expired one. Each grant is revoked once, by the first request naming it;
// the others revoke nothing, as RFC 7009 §2.2 answers; every token of the
// revoked grants is inactive; there is one audit event per revoked grant;
// and the overview's kept counts equal a recount.
func TestTokenRevocationsOfOneBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openPlanStore(t)
	if s.Dialect() != DialectSQLite {
		t.Skip("the batcher is SQLite's")
	}
	UseFastPasswordHashForTests()
	u, err := s.CreateUser(ctx, "alice", RoleUser, "a long password")
	if err != nil {
		t.Fatal(err)
	}
	cc, err := s.CreateClient(ctx, NewClient{Name: "App", Type: ClientConfidential,
		GrantTypes: []GrantType{GrantPassword, GrantClientCredentials}})
	if err != nil {
		t.Fatal(err)
	}
	issue := func(ttl TTLs) *Issued {
		t.Helper()
		iss, err := s.IssueGrant(ctx, StartGrant{Client: cc.Client, UserID: u.ID, GrantType: GrantPassword, Scope: "read",
			WithRefresh: true, TTLs: ttl})
		if err != nil {
			t.Fatal(err)
		}
		return iss
	}
	const n = 70
	live := make([]*Issued, n)
	for i := range live {
		live[i] = issue(TTLs{})
	}
	before := issue(TTLs{})
	if _, err := s.Revoke(ctx, RevokeRequest{GrantID: before.GrantID, Actor: System()}); err != nil {
		t.Fatal(err)
	}
	expired := issue(TTLs{Access: time.Millisecond, Refresh: time.Millisecond})
	time.Sleep(5 * time.Millisecond)

	// Hold the writer, queue the batch, then let it run.
	hold, held := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = s.write(ctx, func(*gorm.DB) error { close(held); <-hold; return nil })
	})
	<-held
	commits0, _ := s.BatchStats()
	tokens := []string{}
	for _, iss := range live {
		tokens = append(tokens, iss.AccessToken)
	}
	tokens = append(tokens, live[0].RefreshToken, before.AccessToken, expired.AccessToken)
	results := make([]RevokeResult, len(tokens))
	errs := make([]error, len(tokens))
	for i, tok := range tokens {
		wg.Go(func() {
			results[i], errs[i] = s.Revoke(ctx, RevokeRequest{Token: tok, AsClient: cc.Client, Actor: AsClient(cc.Client),
				Reason: "client request", RequestID: "batch"})
		})
	}
	var issued *Issued
	var issueErr error
	wg.Go(func() {
		for len(s.batch.ops) < len(tokens) {
			time.Sleep(time.Millisecond)
		}
		issued, issueErr = s.IssueGrant(ctx, StartGrant{Client: cc.Client, GrantType: GrantClientCredentials, Scope: "read"})
	})
	for len(s.batch.ops) < len(tokens)+1 {
		time.Sleep(time.Millisecond)
	}
	close(hold)
	wg.Wait()
	// The held write's commit, then the batch's.
	if commits, _ := s.BatchStats(); commits-commits0 != 2 {
		t.Fatalf("%d commits, want 2 (the held write, then the batch in one: nothing failed)", commits-commits0)
	}
	if issueErr != nil {
		t.Fatalf("issuance in the batch: %v", issueErr)
	}
	if _, err := s.ActiveToken(ctx, issued.AccessToken); err != nil {
		t.Fatalf("the token issued in the batch: %v", err)
	}

	for i, err := range errs {
		if err != nil {
			t.Fatalf("revocation %d: %v", i, err)
		}
	}
	// The access token and the refresh token of live[0] raced in one
	// batch: whichever ran first revoked the grant, the other nothing.
	first, second := results[0], results[n]
	if first.Grants+second.Grants != 1 || first.Tokens+second.Tokens != 2 {
		t.Errorf("two revocations of one grant: %+v and %+v, want one revoking 1 grant and 2 tokens, the other nothing", first, second)
	}
	for i := 1; i < n; i++ {
		if results[i] != (RevokeResult{Grants: 1, Tokens: 2}) {
			t.Errorf("revocation %d: %+v, want 1 grant and 2 tokens", i, results[i])
		}
	}
	for i := n + 1; i < len(tokens); i++ {
		if results[i] != (RevokeResult{}) {
			t.Errorf("revocation %d of a dead grant: %+v, want nothing", i, results[i])
		}
	}
	for _, iss := range live {
		for _, tok := range []string{iss.AccessToken, iss.RefreshToken} {
			if _, err := s.ActiveToken(ctx, tok); !errors.Is(err, ErrNotFound) {
				t.Fatalf("a token of a revoked grant: %v, want not found", err)
			}
		}
	}
	evs, err := s.AuditEventsForTest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	perGrant := map[int64]int{}
	for _, ev := range evs {
		if ev.Action == ActionRevokeToken {
			if ev.GrantID == nil || ev.Grants != 1 || ev.Tokens != 2 || ev.RequestID != "batch" {
				t.Errorf("audit event %+v", ev)
				continue
			}
			perGrant[*ev.GrantID]++
		}
	}
	for _, iss := range live {
		if perGrant[iss.GrantID] != 1 {
			t.Errorf("grant %d: %d token.revoke events, want 1", iss.GrantID, perGrant[iss.GrantID])
		}
	}
	if len(perGrant) != n {
		t.Errorf("token.revoke events name %d grants, want %d", len(perGrant), n)
	}
	st := s.Stats()
	if got := st.Revocations[PathEndpoint][OutcomeRevoked]; got != n {
		t.Errorf("revoked outcomes counted: %d, want %d", got, n)
	}
	if got := st.Revocations[PathEndpoint][OutcomeNothing]; got != 3 {
		t.Errorf("nothing outcomes counted: %d, want 3", got)
	}
	got, err := s.Overview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, err := s.OverviewCountsForTest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	type counts struct{ Access, Refresh, Grants, Revocations, RevokedTokens int64 }
	g := counts{got.ActiveAccess, got.ActiveRefresh, got.ActiveGrants, got.Revocations, got.RevokedTokens}
	w := counts{want.ActiveAccess, want.ActiveRefresh, want.ActiveGrants, want.Revocations, want.RevokedTokens}
	if g != w {
		t.Errorf("kept counts %+v, recount %+v", g, w)
	}
}
