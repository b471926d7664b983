package models_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// TestTokenRevocationsOfOneBatch: the writer runs every token revocation
// of a group-commit batch together, on SQLite in multi-row statements
// split into chunks (revokeTokensTx), on PostgreSQL in one statement that
// also writes the audit rows (revokeTokensPostgresTx; one writer loop per
// process, so holding it holds every write). Queued as one batch of 73 beside
// an issuance: 70 grants (more than one chunk), a second revocation of one
// of them (through its refresh token), a grant revoked before and an
// expired one. Each grant is revoked once, by the first request naming it;
// the others revoke nothing, as RFC 7009 §2.2 answers; every token of the
// revoked grants is inactive; there is one audit event per revoked grant;
// and the overview's kept counts equal a recount.
func TestTokenRevocationsOfOneBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := modelstest.NewStore(t)
	u, err := s.CreateUser(ctx, "alice", models.RoleUser, "a long password")
	if err != nil {
		t.Fatal(err)
	}
	cc, err := s.CreateClient(ctx, models.NewClient{Name: "App", Type: models.ClientConfidential,
		GrantTypes: []models.GrantType{models.GrantPassword, models.GrantClientCredentials}})
	if err != nil {
		t.Fatal(err)
	}
	issue := func(ttl models.TTLs) *models.Issued {
		t.Helper()
		iss, err := s.IssueGrant(ctx, models.StartGrant{Client: cc.Client, UserID: u.ID, GrantType: models.GrantPassword, Scope: "read",
			WithRefresh: true, TTLs: ttl})
		if err != nil {
			t.Fatal(err)
		}
		return iss
	}
	const n = 70
	live := make([]*models.Issued, n)
	for i := range live {
		live[i] = issue(models.TTLs{})
	}
	before := issue(models.TTLs{})
	if _, err := s.Revoke(ctx, models.RevokeRequest{GrantID: before.GrantID, Actor: models.System()}); err != nil {
		t.Fatal(err)
	}
	expired := issue(models.TTLs{Access: time.Millisecond, Refresh: time.Millisecond})
	time.Sleep(5 * time.Millisecond)

	// Hold the writer, queue the batch, then let it run.
	commits0, _ := s.BatchStats()
	release, holding := s.HoldWriterForTest(ctx)
	var wg sync.WaitGroup
	tokens := []string{}
	for _, iss := range live {
		tokens = append(tokens, iss.AccessToken)
	}
	tokens = append(tokens, live[0].RefreshToken, before.AccessToken, expired.AccessToken)
	results := make([]models.RevokeResult, len(tokens))
	errs := make([]error, len(tokens))
	for i, tok := range tokens {
		wg.Go(func() {
			results[i], errs[i] = s.Revoke(ctx, models.RevokeRequest{Token: tok, AsClient: cc.Client, Actor: models.AsClient(cc.Client),
				Reason: "client request", RequestID: "batch"})
		})
	}
	var issued *models.Issued
	var issueErr error
	wg.Go(func() {
		for s.QueuedWritesForTest() < len(tokens) {
			time.Sleep(time.Millisecond)
		}
		issued, issueErr = s.IssueGrant(ctx, models.StartGrant{Client: cc.Client, GrantType: models.GrantClientCredentials, Scope: "read"})
	})
	for s.QueuedWritesForTest() < len(tokens)+1 {
		time.Sleep(time.Millisecond)
	}
	release()
	wg.Wait()
	// The held writes' commits, then the batch's.
	if commits, _ := s.BatchStats(); commits-commits0 != int64(holding)+1 {
		t.Fatalf("%d commits, want %d (the held writes, then the batch in one: nothing failed)", commits-commits0, holding+1)
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
		if results[i] != (models.RevokeResult{Grants: 1, Tokens: 2}) {
			t.Errorf("revocation %d: %+v, want 1 grant and 2 tokens", i, results[i])
		}
	}
	for i := n + 1; i < len(tokens); i++ {
		if results[i] != (models.RevokeResult{}) {
			t.Errorf("revocation %d of a dead grant: %+v, want nothing", i, results[i])
		}
	}
	for _, iss := range live {
		for _, tok := range []string{iss.AccessToken, iss.RefreshToken} {
			if _, err := s.ActiveToken(ctx, tok); !errors.Is(err, models.ErrNotFound) {
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
		if ev.Action == models.ActionRevokeToken {
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
	if got := st.Revocations[models.PathEndpoint][models.OutcomeRevoked]; got != n {
		t.Errorf("revoked outcomes counted: %d, want %d", got, n)
	}
	if got := st.Revocations[models.PathEndpoint][models.OutcomeNothing]; got != 3 {
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
