package demo_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey/demo"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

func TestSeedDemo(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, dsn := newStore(t)

	start := time.Now()
	res, err := demo.Seed(ctx, dsn)
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	t.Logf("seeded in %v: %d grants, %d tokens, %d revoked grants, %d audit events", time.Since(start), res.Grants, res.Tokens, res.RevokedGrants, res.AuditEvents)

	counts, err := st.TableCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Users) != 7 || counts.Users != 7 || res.Users[0] != "admin" {
		t.Errorf("users: got %v (%d rows), want 7, admin first", res.Users, counts.Users)
	}
	if len(res.Clients) != 5 || counts.Clients != 5 {
		t.Errorf("clients: got %d (%d rows), want 5", len(res.Clients), counts.Clients)
	}
	for _, c := range res.Clients {
		if (c.Secret == "") != (c.Type == models.ClientPublic) {
			t.Errorf("client %s (%s): secret %v", c.Name, c.Type, c.Secret != "")
		}
		if c.Secret != "" {
			if _, err := st.AuthenticateClient(ctx, c.ClientID, c.Secret, true); err != nil {
				t.Errorf("client %s cannot authenticate with its secret: %v", c.Name, err)
			}
		}
	}
	if res.Tokens < 2500 || res.Tokens > 3500 || int64(res.Tokens) != counts.Tokens {
		t.Errorf("tokens: got %d (%d rows), want about 3000", res.Tokens, counts.Tokens)
	}
	if int64(res.Grants) != counts.Grants {
		t.Errorf("grants: got %d, want %d rows", res.Grants, counts.Grants)
	}
	if share := float64(res.RevokedGrants) / float64(res.Grants); share < 0.05 || share > 0.2 {
		t.Errorf("revoked grants: got %d of %d, want about a tenth", res.RevokedGrants, res.Grants)
	}
	if res.RevokedTokens == 0 || res.RotatedTokens == 0 {
		t.Errorf("revoked tokens %d, rotated tokens %d: want some of each", res.RevokedTokens, res.RotatedTokens)
	}
	if res.ExpiredTokens < res.Tokens/10 || res.ExpiredTokens >= res.Tokens {
		t.Errorf("expired tokens: got %d of %d, want a share", res.ExpiredTokens, res.Tokens)
	}

	events, err := allAuditEvents(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != res.AuditEvents || len(events) < res.RevokedGrants/4 {
		t.Errorf("audit events: got %d (result says %d), want one per revocation", len(events), res.AuditEvents)
	}
	actions := map[models.Action]int{}
	for i, ev := range events {
		actions[ev.Action]++
		if i > 0 && ev.CreatedAt.Before(events[i-1].CreatedAt) {
			t.Errorf("audit event %d is older than the one before it", ev.ID)
		}
		if ev.CreatedAt.After(time.Now()) || ev.CreatedAt.Before(time.Now().Add(-31*24*time.Hour)) {
			t.Errorf("audit event %d at %v: want within the last 30 days", ev.ID, ev.CreatedAt)
		}
	}
	for _, a := range []models.Action{models.ActionRevokeToken, models.ActionRevokeGrant, models.ActionRevokeUserGrants,
		models.ActionRevokeClient, models.ActionRefreshReuse, models.ActionRevokeRefused} {
		if actions[a] == 0 {
			t.Errorf("no %s audit event", a)
		}
	}

	if u, err := st.Authenticate(ctx, "admin", demo.Password); err != nil || u.Role != models.RoleAdmin {
		t.Errorf("demo admin login: %v", err)
	}

	if _, err := demo.Seed(ctx, dsn); !errors.Is(err, models.ErrAlreadyExists) {
		t.Errorf("second seed: got %v, want %v", err, models.ErrAlreadyExists)
	}
	again, err := st.TableCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again != counts {
		t.Errorf("second seed changed the database: got %+v, want %+v", again, counts)
	}
}

func TestSeedDemoRefusesADatabaseWithAUser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, dsn := newStore(t)
	if _, err := st.CreateUser(ctx, "root", models.RoleAdmin, "a long password"); err != nil {
		t.Fatal(err)
	}
	if _, err := demo.Seed(ctx, dsn); !errors.Is(err, models.ErrAlreadyExists) {
		t.Fatalf("got %v, want %v", err, models.ErrAlreadyExists)
	}
	counts, err := st.TableCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts.Users != 1 || counts.Clients != 0 || counts.Tokens != 0 {
		t.Errorf("got %+v, want the database untouched", counts)
	}
}

// newStore returns a migrated store and its DSN, on the test backend.
func newStore(t *testing.T) (*models.Store, string) {
	t.Helper()
	if modelstest.OnPostgres() {
		return modelstest.NewPostgresStore(t)
	}
	dsn := filepath.Join(t.TempDir(), "latchkey.db")
	return modelstest.Open(t, dsn), dsn
}

// allAuditEvents pages through the audit trail, oldest first.
func allAuditEvents(ctx context.Context, st *models.Store) ([]models.AuditEvent, error) {
	var out []models.AuditEvent
	cur := models.Cursor{}
	for {
		p, err := st.AuditEvents(ctx, models.AuditFilter{}, cur, 500)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Rows...)
		if !p.HasNext {
			break
		}
		cur = p.Next
	}
	slices.Reverse(out)
	return out, nil
}
