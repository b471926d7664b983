package models_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// TestActiveTokenRefusesEachInactiveState changes one thing at a time in
// the database, underneath the store, and expects the token to be refused:
// each condition of the introspection read works on its own. The disabled
// client case is a client disabled after its grant was issued without the
// grant being revoked, as a grant issued by a request that authenticated
// the client just before it was disabled (on another replica, within the
// client cache's TTL) is: the grant's revocation does not cover it.
func TestActiveTokenRefusesEachInactiveState(t *testing.T) {
	t.Parallel()
	for _, be := range modelstest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range []struct {
				name string
				sql  string // %d is the access token's grant id
			}{
				{"token revoked", "UPDATE tokens SET revoked_at = '2001-01-01 00:00:00+00:00' WHERE grant_id = %d AND type = 'access_token'"},
				{"token rotated", "UPDATE tokens SET rotated_at = '2001-01-01 00:00:00+00:00' WHERE grant_id = %d AND type = 'access_token'"},
				{"token expired", "UPDATE tokens SET expires_at = '2001-01-01 00:00:00+00:00' WHERE grant_id = %d AND type = 'access_token'"},
				{"grant revoked", "UPDATE grants SET revoked_at = '2001-01-01 00:00:00+00:00' WHERE id = %d"},
				{"client disabled", "UPDATE clients SET disabled_at = '2001-01-01 00:00:00+00:00' WHERE id = (SELECT client_id FROM grants WHERE id = %d)"},
				{"user disabled", "UPDATE users SET disabled_at = '2001-01-01 00:00:00+00:00' WHERE id = (SELECT user_id FROM grants WHERE id = %d)"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					ctx := context.Background()
					st := be.New(t)
					f := modelstest.NewFixture(t, st)
					iss := modelstest.IssuePassword(t, st, f.Confidential, f.Alice)
					if _, err := st.ActiveToken(ctx, iss.AccessToken); err != nil {
						t.Fatalf("before: %v", err)
					}
					if err := st.ExecForTest(ctx, fmt.Sprintf(tc.sql, iss.GrantID)); err != nil {
						t.Fatal(err)
					}
					if info, err := st.ActiveToken(ctx, iss.AccessToken); !errors.Is(err, models.ErrNotFound) {
						t.Errorf("got %+v, %v; want ErrNotFound", info, err)
					}
				})
			}
		})
	}
}

// TestActiveTokenAnswer checks what the introspection read returns for a
// user's token and for a client_credentials token, times included.
func TestActiveTokenAnswer(t *testing.T) {
	t.Parallel()
	for _, be := range modelstest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := be.New(t)
			f := modelstest.NewFixture(t, st)
			iss := modelstest.IssuePassword(t, st, f.Confidential, f.Alice)
			info, err := st.ActiveToken(ctx, iss.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			g, err := st.GrantByID(ctx, iss.GrantID)
			if err != nil {
				t.Fatal(err)
			}
			tok := info.Token
			if info.ClientID != f.Confidential.ClientID || info.Username != "alice" || info.GrantPublicID != g.PublicID ||
				tok.Type != models.TokenTypeAccess || tok.GrantID != iss.GrantID || tok.ClientID != f.Confidential.ID ||
				tok.UserID == nil || *tok.UserID != f.Alice.ID || tok.Scope != iss.Scope || tok.RevokedAt != nil || tok.RotatedAt != nil {
				t.Errorf("got %+v, token %+v", info, tok)
			}
			if !tok.CreatedAt.Equal(g.CreatedAt) || !tok.ExpiresAt.Equal(g.CreatedAt.Add(iss.ExpiresIn)) {
				t.Errorf("times: created %v, expires %v; want %v and %v later", tok.CreatedAt, tok.ExpiresAt, g.CreatedAt, iss.ExpiresIn)
			}
			if stored, err := st.FindTokenByHash(ctx, models.TokenKey(iss.AccessToken)); err != nil || stored.ID != tok.ID || stored.Hint != tok.Hint {
				t.Errorf("id %d, hint %q; stored %+v (%v)", tok.ID, tok.Hint, stored, err)
			}

			cc, err := st.IssueGrant(ctx, models.StartGrant{Client: f.Confidential, GrantType: models.GrantClientCredentials, Scope: f.Confidential.Scope})
			if err != nil {
				t.Fatal(err)
			}
			info, err = st.ActiveToken(ctx, cc.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			if info.Username != "" || info.Token.UserID != nil || info.ClientID != f.Confidential.ClientID {
				t.Errorf("client_credentials: got %+v", info)
			}
		})
	}
}

// TestActiveTokenSeesAnotherProcessRevocation: nothing about a token is
// cached. A revocation committed through another store on the same
// database (another replica, or the CLI in another process) is seen by the
// very next read, even by a store that has just read the token as active.
func TestActiveTokenSeesAnotherProcessRevocation(t *testing.T) {
	t.Parallel()
	for _, be := range []string{"sqlite", "postgres"} {
		t.Run(be, func(t *testing.T) {
			t.Parallel()
			var server, cli *models.Store
			if be == "sqlite" {
				if modelstest.OnPostgres() {
					t.Skip("SQLite")
				}
				path := filepath.Join(t.TempDir(), "latchkey.db")
				server, cli = modelstest.Open(t, path), modelstest.Open(t, path)
			} else {
				var dsn string
				server, dsn = modelstest.NewPostgresStore(t)
				cli = modelstest.Open(t, dsn)
			}
			ctx := context.Background()
			f := modelstest.NewFixture(t, server)
			var user, client []*models.Issued
			for range 3 {
				user = append(user, modelstest.IssuePassword(t, server, f.Confidential, f.Bob))
				client = append(client, modelstest.IssuePassword(t, server, f.Other, f.Alice))
			}
			one := modelstest.IssuePassword(t, server, f.Confidential, f.Alice)
			for _, iss := range append(append([]*models.Issued{one}, user...), client...) {
				if _, err := server.ActiveToken(ctx, iss.AccessToken); err != nil {
					t.Fatalf("before: %v", err)
				}
			}
			by := models.StaffAction{Actor: models.Staff(f.Admin)}
			if _, err := cli.Revoke(ctx, models.RevokeRequest{Token: one.AccessToken, Actor: models.Staff(f.Admin)}); err != nil {
				t.Fatal(err)
			}
			if _, err := cli.DisableUser(ctx, f.Bob.ID, by); err != nil {
				t.Fatal(err)
			}
			if _, err := cli.DisableClient(ctx, f.Other.ID, by); err != nil {
				t.Fatal(err)
			}
			for name, toks := range map[string][]*models.Issued{"revoked": {one}, "disabled user": user, "disabled client": client} {
				for _, iss := range toks {
					for _, raw := range []string{iss.AccessToken, iss.RefreshToken} {
						if _, err := server.ActiveToken(ctx, raw); !errors.Is(err, models.ErrNotFound) {
							t.Errorf("%s: the other store still reads the token as active (%v)", name, err)
						}
					}
				}
			}
		})
	}
}

// TestActiveTokenIsNotPreparedAgainOnEachCall: the introspection read runs
// on a statement prepared once per reader connection. The SQLite driver
// clears a statement's bindings before each call, and SQLite then parses
// and plans again any statement whose plan depends on a bound value (a
// join with "t.hash = ?" did), at four times the cost of the lookup. The
// driver re-reads the statement's column names and types after each
// re-preparation, which allocates, so the allocations per call show it:
// 76 when the statement is prepared again on every call, 34 when it is
// not.
func TestActiveTokenIsNotPreparedAgainOnEachCall(t *testing.T) {
	allocs := allocsPerLookup(t, func(st *models.Store, raw string) error {
		_, err := st.ActiveToken(context.Background(), raw)
		return err
	})
	if allocs > 50 {
		t.Errorf("%.0f allocations per call, want at most 50: is the statement prepared again on every call?", allocs)
	}
}

// TestSQLitePageCachesAreSmall: the writer and every reader have a page
// cache of their own, and with 32 MB each the server's peak RSS was over
// twice the 60 MB goal at a million tokens, for no gain in lookup speed
// (the leaves of the token indexes do not fit in any of them; the file is
// in the operating system's page cache).
func TestSQLitePageCachesAreSmall(t *testing.T) {
	t.Parallel()
	modelstest.SkipOnPostgres(t)
	st := modelstest.NewStore(t)
	w, err := st.WriterPragmaForTest("cache_size")
	if err != nil {
		t.Fatal(err)
	}
	r, err := st.RawForTest(context.Background(), "PRAGMA cache_size")
	if err != nil || len(r) != 1 {
		t.Fatalf("reader cache_size: %v %v", r, err)
	}
	if w != "-4000" || r[0] != "-500" {
		t.Errorf("cache_size: writer %s, reader %s; want -4000 (4 MB) and -500 (500 KiB)", w, r[0])
	}
}

// TestTokenGrantIsNotPreparedAgainOnEachCall is the same for the lookup
// every revocation makes before its write.
func TestTokenGrantIsNotPreparedAgainOnEachCall(t *testing.T) {
	allocs := allocsPerLookup(t, func(st *models.Store, raw string) error {
		return st.TokenGrantForTest(context.Background(), raw)
	})
	if allocs > 40 {
		t.Errorf("%.0f allocations per call, want at most 40: is the statement prepared again on every call?", allocs)
	}
}

// TestTokenGrantAllocations bounds the allocations of the lookup every
// revocation makes before its write, on SQLite through the driver
// directly on the hot reader connections (TestTokenGrantReadsThroughTheDriver
// checks its answers): 15 per call for a token with a user (3 of them
// hashing the token, the rest the driver's row, its strings and the
// answer), 28 through database/sql's pool, Rows and Scan.
func TestTokenGrantAllocations(t *testing.T) {
	allocs := allocsPerLookup(t, func(st *models.Store, raw string) error {
		return st.TokenGrantForTest(context.Background(), raw)
	})
	if allocs > 15 {
		t.Errorf("%.0f allocations per call, want at most 15: does the lookup go through database/sql again?", allocs)
	}
}

// TestActiveTokenReadsThroughTheDriver bounds the introspection read's
// allocations on SQLite, where it goes through the driver directly on
// reader connections kept for it. Through database/sql's pool, Rows and
// Scan it made 36 per call; then 26. Each call here has a context of its
// own that can end, as a request's does (one allocation, the test's), and
// a read that finds a connection free does not ask for its Done channel
// (one more when it did): 27.
func TestActiveTokenReadsThroughTheDriver(t *testing.T) {
	allocs := allocsPerLookup(t, func(st *models.Store, raw string) error {
		// A context that can end, as net/http gives each request.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		_, err := st.ActiveToken(ctx, raw)
		return err
	})
	if allocs > 27 {
		t.Errorf("%.0f allocations per call, want at most 27: does the read go through database/sql again, or wait on the context's channel when a connection is free?", allocs)
	}
}

// TestActiveTokenFromManyGoroutines: more concurrent reads than there are
// reader connections kept for them all get their answer, each its own
// token's.
func TestActiveTokenFromManyGoroutines(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := modelstest.NewStore(t)
	f := modelstest.NewFixture(t, st)
	var raw []string
	var grants []int64
	for range 6 {
		iss := modelstest.IssuePassword(t, st, f.Confidential, f.Alice)
		raw, grants = append(raw, iss.AccessToken), append(grants, iss.GrantID)
	}
	var wg sync.WaitGroup
	for w := range 24 {
		wg.Go(func() {
			for i := range 50 {
				k := (w + i) % len(raw)
				info, err := st.ActiveToken(ctx, raw[k])
				if err != nil || info.Token.GrantID != grants[k] {
					t.Errorf("token %d: %+v, %v", k, info, err)
					return
				}
				if _, err := st.ActiveToken(ctx, raw[k]+"x"); !errors.Is(err, models.ErrNotFound) {
					t.Errorf("unknown token: %v, want ErrNotFound", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestActiveTokenAfterClose: a read on a closed store fails at once, as
// through database/sql, and does not wait for a reader connection.
func TestActiveTokenAfterClose(t *testing.T) {
	t.Parallel()
	modelstest.SkipOnPostgres(t)
	st := modelstest.NewStore(t)
	f := modelstest.NewFixture(t, st)
	raw := modelstest.IssuePassword(t, st, f.Confidential, f.Alice).AccessToken
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := st.ActiveToken(context.Background(), raw); done <- err }()
	select {
	case err := <-done:
		if err == nil || errors.Is(err, models.ErrNotFound) {
			t.Errorf("read on a closed store: %v, want an error other than ErrNotFound", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("read on a closed store still waiting after 5 s")
	}
}

// allocsPerLookup is the allocations of one lookup, on SQLite, of one of
// eight live access tokens in turn.
func allocsPerLookup(t *testing.T, lookup func(st *models.Store, raw string) error) float64 {
	t.Helper()
	modelstest.SkipOnPostgres(t)
	st := modelstest.NewStore(t)
	f := modelstest.NewFixture(t, st)
	var raw []string
	for range 8 {
		raw = append(raw, modelstest.IssuePassword(t, st, f.Confidential, f.Alice).AccessToken)
	}
	i := 0
	return testing.AllocsPerRun(200, func() {
		i++
		if err := lookup(st, raw[i%len(raw)]); err != nil {
			t.Fatal(err)
		}
	})
}
