package admin

import (
	"testing"

	"github.com/latchkey/latchkey/models"
)

// TestWho names every kind of actor for people: never "system system",
// never a bare client_id when the client's name is known.
func TestWho(t *testing.T) {
	t.Parallel()
	ev := func(typ models.ActorType, actor string, action models.Action, clientName string) models.AuditRow {
		return models.AuditRow{AuditEvent: models.AuditEvent{ActorType: typ, Actor: actor, Action: action}, ActorClientName: clientName}
	}
	tests := []struct {
		name       string
		e          models.AuditRow
		who, extra string
	}{
		{"staff", ev(models.ActorStaff, "admin", models.ActionRevokeGrant, ""), "admin", "staff"},
		{"user", ev(models.ActorUser, "alice", models.ActionRevokeUserGrants, ""), "alice", "user"},
		{"client by name", ev(models.ActorClient, "AbC123", models.ActionRevokeToken, "Acme Web"), "Acme Web", "client AbC123"},
		{"client since deleted", ev(models.ActorClient, "AbC123", models.ActionRevokeToken, ""), "AbC123", "client AbC123"},
		{"refresh reuse", ev(models.ActorSystem, "system", models.ActionRefreshReuse, ""), "Latchkey (reuse detection)", ""},
		{"code reuse", ev(models.ActorSystem, "system", models.ActionCodeReuse, ""), "Latchkey (reuse detection)", ""},
		{"other system", ev(models.ActorSystem, "system", models.ActionRevokeGrant, ""), "Latchkey", ""},
		{"command line", ev(models.ActorSystem, "cli:root", models.ActionRevokeClient, ""), "cli:root", "command line"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := who(tc.e); got != tc.who {
				t.Errorf("who: got %q, want %q", got, tc.who)
			}
			if got := whoDetail(tc.e); got != tc.extra {
				t.Errorf("detail: got %q, want %q", got, tc.extra)
			}
		})
	}
}
