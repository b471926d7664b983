package models

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestActiveTokenWaitEndsWithTheRequest: while every connection kept for
// the hot reads (introspection's, the revocation's lookup) is busy, a read waits for one, and its wait ends
// when its request's context does; once one is free, reads go on.
func TestActiveTokenWaitEndsWithTheRequest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openPlanStore(t)
	if st.hot == nil || st.hot.n == 0 {
		t.Fatal("no connections kept for the introspection read")
	}
	var busy []*rawReader
	for range st.hot.n {
		busy = append(busy, <-st.hot.ch)
	}
	free := sync.OnceFunc(func() {
		for _, r := range busy {
			st.hot.ch <- r
		}
	})
	defer free() // the store's Close waits for every connection
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := st.ActiveToken(short, "lk_at_nobody"); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("read with every connection busy: %v, want the request's deadline", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the read still waits 5 s after its request ended at 100 ms")
	}
	free()
	if _, err := st.ActiveToken(ctx, "lk_at_nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("read with connections free: %v, want ErrNotFound", err)
	}
}

// TestTokenGrantReadsThroughTheDriver: the read of every revocation at the
// endpoint, the token's grant, goes through the driver directly on the
// kept reader connections, as ActiveToken's does. It answers what the
// same query through database/sql's Scan does, for a grant with a user
// and one without, and sql.ErrNoRows for an unknown token. (Its
// allocations: TestTokenGrantAllocations.)
func TestTokenGrantReadsThroughTheDriver(t *testing.T) {
	ctx := context.Background()
	st := openPlanStore(t)
	u, err := st.CreateUser(ctx, "alice", RoleUser, "a long password")
	if err != nil {
		t.Fatal(err)
	}
	cc, err := st.CreateClient(ctx, NewClient{Name: "App", Type: ClientConfidential,
		GrantTypes: []GrantType{GrantPassword, GrantClientCredentials}})
	if err != nil {
		t.Fatal(err)
	}
	withUser, err := st.IssueGrant(ctx, StartGrant{Client: cc.Client, UserID: u.ID, GrantType: GrantPassword, Scope: "read", WithRefresh: true})
	if err != nil {
		t.Fatal(err)
	}
	noUser, err := st.IssueGrant(ctx, StartGrant{Client: cc.Client, GrantType: GrantClientCredentials, Scope: "read"})
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{withUser.AccessToken, withUser.RefreshToken, noUser.AccessToken} {
		got, err := st.tokenGrant(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		want, err := scanGrantInfo(st.readRow(ctx, st.inDialect(qTokenGrant), TokenKey(raw)))
		if err != nil {
			t.Fatal(err)
		}
		if got.ID == 0 || got.PublicID == "" || got.ClientPublicID != cc.Client.ClientID || got.ClientName != "App" {
			t.Errorf("token grant %+v: want the grant and its client", got)
		}
		if (got.UserID == nil) != (want.UserID == nil) || (got.UserID != nil && *got.UserID != *want.UserID) {
			t.Errorf("user id %v, through database/sql %v", got.UserID, want.UserID)
		}
		got.UserID, want.UserID = nil, nil
		if *got != *want {
			t.Errorf("token grant %+v, through database/sql %+v", got, want)
		}
	}
	if g, err := st.tokenGrant(ctx, "lk_at_nobody"); !errors.Is(err, sql.ErrNoRows) {
		t.Errorf("unknown token: %+v, %v, want sql.ErrNoRows", g, err)
	}
	if g, _ := st.tokenGrant(ctx, withUser.AccessToken); g.UserID == nil || *g.UserID != u.ID || g.Username != "alice" {
		t.Errorf("the user of the grant: %+v", g)
	}
}

// TestHotReadPanicKeepsTheReader: a read whose callback panics fails with
// an error, and every kept connection still reads afterwards. Before, the
// panic left database/sql's Raw, which closed the connection, and the
// reader went back to the others closed: every read it took later failed.
func TestHotReadPanicKeepsTheReader(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openPlanStore(t)
	c, err := st.CreateClient(ctx, NewClient{Name: "App", Type: ClientConfidential, GrantTypes: []GrantType{GrantClientCredentials}})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := st.IssueGrant(ctx, StartGrant{Client: c.Client, GrantType: GrantClientCredentials, Scope: c.Client.Scope, TTLs: DefaultTTLs})
	if err != nil {
		t.Fatal(err)
	}
	for i := range st.hot.n {
		_, err := st.hot.row(ctx, hotActiveToken, TokenKey(iss.AccessToken), func([]driver.Value) error { panic("a bug in a read") })
		if err == nil || !strings.Contains(err.Error(), "panicked") {
			t.Fatalf("read %d whose callback panicked: %v, want an error", i, err)
		}
	}
	for i := range 2 * st.hot.n {
		if _, err := st.ActiveToken(ctx, iss.AccessToken); err != nil {
			t.Fatalf("read %d after the panics: %v", i, err)
		}
	}
}
