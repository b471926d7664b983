package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/models"
)

// TestTokensPurgeDryRunAndDays: --dry-run prints per table what a purge
// would delete and deletes nothing; --older-than takes days as well as Go
// durations.
func TestTokensPurgeDryRunAndDays(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newCLI(t)
	var created struct {
		ClientID string `json:"client_id"`
	}
	if err := json.Unmarshal([]byte(c.ok("", "client", "create", "--name", "Svc", "--type", "confidential", "--grant", "client_credentials", "--json")), &created); err != nil {
		t.Fatal(err)
	}
	st := c.store()
	client, err := st.ClientByClientID(ctx, created.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	// Dead for 20 and for 40 days.
	for _, days := range []time.Duration{20, 40} {
		if _, err := c.storeAt(ago(days*24*time.Hour)).IssueGrant(ctx, models.StartGrant{Client: client,
			GrantType: models.GrantClientCredentials, Scope: client.Scope}); err != nil {
			t.Fatal(err)
		}
	}
	counts := func() models.Counts {
		t.Helper()
		n, err := st.TableCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := counts()
	if before.Tokens != 2 || before.Grants != 2 {
		t.Fatalf("before: %+v", before)
	}

	out := c.ok("", "tokens", "purge", "--dry-run", "--older-than", "10d")
	if !strings.HasPrefix(out, "dry run, nothing deleted: would delete 2 tokens, 0 codes, 0 sessions, 0 setup links and 2 grants that expired or were revoked before ") {
		t.Errorf("dry run: got %q", out)
	}
	if after := counts(); after != before {
		t.Errorf("dry run deleted rows: before %+v, after %+v", before, after)
	}

	// 30d is 720h: only the grant dead for 40 days goes.
	out = c.ok("", "tokens", "purge", "--older-than", "30d")
	if !strings.HasPrefix(out, "deleted 1 token, 0 codes, 0 sessions, 0 setup links and 1 grant ") {
		t.Errorf("purge 30d: got %q", out)
	}
	want := time.Now().Add(-720 * time.Hour).UTC()
	first, second, _ := strings.Cut(out, "\n")
	if second != "deleted 0 revocation events older than that, and 0 retired signing keys\n" {
		t.Errorf("purge 30d, second line: got %q", second)
	}
	if i := strings.LastIndex(first, " "); i > 0 {
		got, err := time.Parse(time.RFC3339, strings.TrimSpace(first[i+1:]))
		if err != nil || got.Sub(want).Abs() > time.Minute {
			t.Errorf("cutoff: got %v (%v), want about %v", got, err, want)
		}
	}
	if after := counts(); after.Tokens != 1 || after.Grants != 1 {
		t.Errorf("after purge 30d: %+v, want 1 token and 1 grant", after)
	}
	if out := c.ok("", "tokens", "purge", "--older-than", "240h"); !strings.HasPrefix(out, "deleted 1 token, 0 codes, 0 sessions, 0 setup links and 1 grant ") {
		t.Errorf("purge 240h: got %q", out)
	}
}

// TestTokensPurgeBadAge: a bad --older-than is one line on stderr and exit
// 2, and nothing is deleted.
func TestTokensPurgeBadAge(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"30", "soon", "-1h", "-3d", "1.5d", "d", "30days", "99999999d"} {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			wantOneLine(t, newCLI(t).run("", "tokens", "purge", "--older-than", v), 2, "--older-than")
		})
	}
}
