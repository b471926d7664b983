package main

import (
	"context"
	"encoding/json"
	"errors"
	"os/user"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/models"
)

// TestRevokeTokenNotFound: staff who paste a token Latchkey does not know
// (a typo, a token of another deployment) must not be told it was revoked.
func TestRevokeTokenNotFound(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("", "migrate")
	const typo = "lk_at_typoTypoTypo"
	r := c.run(typo+"\n", "revoke", "--token", "-")
	wantOneLine(t, r, 1, "token not found")
	if strings.Contains(r.stderr, "typoTypo") {
		t.Errorf("stderr %q echoes the token", r.stderr)
	}
	page, err := c.store().AuditEvents(context.Background(), models.AuditFilter{}, models.Cursor{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Rows) != 0 {
		t.Errorf("audit events: got %d, want none for a token that matched nothing", len(page.Rows))
	}
}

// TestRevokeTokenAlreadyDead: a known token whose grant is revoked or
// expired already revokes nothing, exits 0 and says why.
func TestRevokeTokenAlreadyDead(t *testing.T) {
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
	old, err := c.storeAt(ago(48*time.Hour)).IssueGrant(ctx, models.StartGrant{Client: client, GrantType: models.GrantClientCredentials,
		Scope: client.Scope})
	if err != nil {
		t.Fatal(err)
	}
	out := c.ok(old.AccessToken+"\n", "revoke", "--token", "-")
	if want := "revoked 0 grants and 0 tokens (the token had already expired, at "; !strings.HasPrefix(out, want) {
		t.Errorf("expired token: got %q, want %q…", out, want)
	}

	live, err := st.IssueGrant(ctx, models.StartGrant{Client: client, GrantType: models.GrantClientCredentials, Scope: client.Scope})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.ok(live.AccessToken+"\n", "revoke", "--token", "-"), "revoked 1 grant and 1 token\n"; got != want {
		t.Errorf("live token: got %q, want %q", got, want)
	}
	out = c.ok(live.AccessToken+"\n", "revoke", "--token", "-")
	if want := "revoked 0 grants and 0 tokens (the token was already revoked, at "; !strings.HasPrefix(out, want) || !strings.HasSuffix(out, "Z)\n") {
		t.Errorf("revoked token: got %q, want %q…Z)", out, want)
	}
}

// TestCLIAuditActor: every CLI action that writes an audit event names the
// operating-system user who ran it, not a bare "system".
func TestCLIAuditActor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newCLI(t)
	c.ok("correct horse battery\n", "user", "create", "--username", "alice", "--role", "user")
	c.ok("", "client", "create", "--name", "App", "--type", "confidential", "--grant", "client_credentials")
	c.ok("", "revoke", "--user", "alice")
	page, err := c.store().AuditEvents(ctx, models.AuditFilter{}, models.Cursor{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := c.actor()
	if !strings.HasPrefix(want, "cli:") || want == "cli:" {
		t.Fatalf("actor: got %q, want cli:<user>", want)
	}
	if u, err := user.Current(); err == nil && want != "cli:"+u.Username {
		t.Errorf("actor: got %q, want cli:%s", want, u.Username)
	}
	if len(page.Rows) != 3 {
		t.Fatalf("audit events: got %d, want 3", len(page.Rows))
	}
	for _, ev := range page.Rows {
		if ev.Actor != want || ev.ActorType != models.ActorSystem || ev.RemoteAddr != "cli" {
			t.Errorf("%s: got %s %q from %q, want system %q from cli", ev.Action, ev.ActorType, ev.Actor, ev.RemoteAddr, want)
		}
	}
}

func TestOSUserName(t *testing.T) {
	t.Parallel()
	found := func(name string) func() (*user.User, error) {
		return func() (*user.User, error) { return &user.User{Username: name}, nil }
	}
	unknown := func() (*user.User, error) { return nil, errors.New("user: unknown userid 4242") }
	tests := []struct {
		name    string
		current func() (*user.User, error)
		env     map[string]string
		want    string
	}{
		{"account of the uid", found("alice"), map[string]string{"USER": "mallory"}, "alice"},
		{"no passwd entry: $USER", unknown, map[string]string{"USER": "bob", "LOGNAME": "other"}, "bob"},
		{"no passwd entry: $LOGNAME", unknown, map[string]string{"LOGNAME": "carol"}, "carol"},
		{"nothing: the uid", unknown, nil, "uid=4242"},
		{"empty account name", found(""), map[string]string{"USER": "dave"}, "dave"},
		{"a line break cannot split the audit line", found("ev\nil\x00"), nil, "ev_il_"},
		{"at most 64 bytes", found(strings.Repeat("é", 40)), nil, strings.Repeat("é", 32)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := osUserName(tc.current, func(k string) string { return tc.env[k] }, 4242)
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	if a := models.CLI("alice"); a.Name != "cli:alice" || a.Type != models.ActorSystem {
		t.Errorf("models.CLI: got %+v", a)
	}
}
