package models_test

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

var publicIDForm = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestGrantPublicIDMigration upgrades a database whose grants predate
// public ids (migration 8 undone) and checks that every grant gets its own
// random public id, that new grants get one too, and that a token's
// lookup carries it.
func TestGrantPublicIDMigration(t *testing.T) {
	t.Parallel()
	for _, b := range modelstest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := b.New(t)
			f := modelstest.NewFixture(t, st)
			var old []*models.Issued
			for range 3 {
				old = append(old, modelstest.IssuePassword(t, st, f.Confidential, f.Alice))
			}
			for _, q := range []string{
				"DROP INDEX grants_public_id",
				"ALTER TABLE grants DROP COLUMN public_id",
				"DELETE FROM schema_migrations WHERE version = 8",
			} {
				if err := st.ExecForTest(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			if n, err := st.Migrate(ctx); err != nil || n != 1 {
				t.Fatalf("migrate: applied %d, %v; want 1", n, err)
			}
			issued := append(old, modelstest.IssuePassword(t, st, f.Confidential, f.Alice))
			seen := map[string]bool{}
			for i, iss := range issued {
				info, err := st.ActiveToken(ctx, iss.AccessToken)
				if err != nil {
					t.Fatal(err)
				}
				if !publicIDForm.MatchString(info.GrantPublicID) || seen[info.GrantPublicID] {
					t.Errorf("grant %d: public id %q, want 32 hex digits, unique", i, info.GrantPublicID)
				}
				seen[info.GrantPublicID] = true
				g, err := st.GrantByID(ctx, iss.GrantID)
				if err != nil || g.PublicID != info.GrantPublicID {
					t.Errorf("GrantByID: public id %q (%v), want %q", g.PublicID, err, info.GrantPublicID)
				}
			}
		})
	}
}

// TestActiveTokenQueryPlan checks that reading a token with its grant's
// public id (every introspection and /api/me call) stays index lookups: the
// token by hash, the grant by primary key.
func TestActiveTokenQueryPlan(t *testing.T) {
	t.Parallel()
	modelstest.SkipOnPostgres(t)
	st := modelstest.NewStore(t)
	rows, err := st.RawForTest(context.Background(), "EXPLAIN QUERY PLAN "+strings.Replace(models.QActiveTokenForTest, "?", "x'00'", 1))
	if err != nil {
		t.Fatal(err)
	}
	plan := strings.Join(rows, "\n")
	for _, want := range []string{"USING INDEX tokens_hash", "SEARCH g USING INTEGER PRIMARY KEY"} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %q:\n%s", want, plan)
		}
	}
	if strings.Contains(plan, "SCAN") {
		t.Errorf("plan scans a table:\n%s", plan)
	}
}

// TestGrantPublicIDsFollowCreationTime checks that a new grant's public id
// starts with its creation time in milliseconds, so that ids sort in the
// order grants were made and the unique index on them grows at its right
// edge, and that grants made in the same millisecond still get ids of
// their own. With 128 random bits, as before, neither held.
func TestGrantPublicIDsFollowCreationTime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock, times := timedGrants()
	st := clockedStore(t, clock)
	f := modelstest.NewFixture(t, st)
	var ids []string
	seen := map[string]bool{}
	for i, at := range times {
		clock.Set(at)
		info, err := st.ActiveToken(ctx, modelstest.IssuePassword(t, st, f.Confidential, f.Alice).AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		id := info.GrantPublicID
		if !publicIDForm.MatchString(id) || seen[id] {
			t.Fatalf("grant %d: public id %q, want 32 hex digits, unique", i, id)
		}
		seen[id] = true
		if ms, err := strconv.ParseInt(id[:12], 16, 64); err != nil || ms != at.UnixMilli() {
			t.Errorf("grant %d made at %d ms: id %q starts with %d ms (%v)", i, at.UnixMilli(), id, ms, err)
		}
		ids = append(ids, id)
	}
	for i := 4; i < len(ids); i++ {
		if ids[i] <= ids[i-4] {
			t.Errorf("grant %d (%s) sorts before grant %d (%s), made 10 ms earlier", i, ids[i], i-4, ids[i-4])
		}
	}
}

// timedGrants returns a test clock and the 40 times at which the
// time-order tests issue a grant each: four in each millisecond, ten
// milliseconds apart, and the last one 40 years on (the 48-bit millisecond
// prefixes last until the year 10889). Grant i+4 is issued 10 ms after
// grant i.
func timedGrants() (*modelstest.Clock, []time.Time) {
	start := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	var times []time.Time
	for i := range 40 {
		times = append(times, start.Add(time.Duration(i/4)*10*time.Millisecond))
	}
	times[39] = start.AddDate(40, 0, 0)
	return modelstest.NewClock(start), times
}
