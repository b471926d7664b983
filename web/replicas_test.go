package web_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
	"github.com/latchkey/latchkey/web"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// TestReplicasOnPostgres runs two Latchkey replicas on one PostgreSQL, as a
// deployment behind a load balancer does: a token issued by one and
// revoked through the other is refused by both on the next request.
func TestReplicasOnPostgres(t *testing.T) {
	t.Parallel()
	st1, dsn := modelstest.NewPostgresStore(t)
	st2 := modelstest.Open(t, dsn)
	f := modelstest.NewFixture(t, st1)
	a, b := startServer(t, st1, f, web.Config{}, nil), startServer(t, st2, f, web.Config{}, nil)

	cfg := oauth2.Config{ClientID: f.Confidential.ClientID, ClientSecret: f.Secret, Endpoint: a.endpoint()}
	tok, err := cfg.PasswordCredentialsToken(a.ctx(), "alice", modelstest.Password)
	if err != nil {
		t.Fatalf("password grant at replica A: %v", err)
	}
	cc, err := (&clientcredentials.Config{ClientID: f.Confidential.ClientID, ClientSecret: f.Secret, TokenURL: b.URL + "/o/token/"}).Token(b.ctx())
	if err != nil {
		t.Fatalf("client credentials at replica B: %v", err)
	}
	for _, r := range []*testServer{a, b} {
		if status, _, _ := r.me(t, tok.AccessToken); status != 200 {
			t.Fatalf("before revocation: /api/me %d", status)
		}
	}
	resp, _ := postForm(t, b, "/o/revoke_token/", url.Values{"token": {tok.RefreshToken}, "client_id": {f.Confidential.ClientID}, "client_secret": {f.Secret}}, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("revoke at replica B: %d", resp.StatusCode)
	}
	for name, r := range map[string]*testServer{"A": a, "B": b} {
		if status, _, _ := r.me(t, tok.AccessToken); status != 401 {
			t.Errorf("replica %s still accepts the revoked token: %d", name, status)
		}
	}
	_, err = cfg.TokenSource(a.ctx(), &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token()
	assertRetrieveError(t, err, "invalid_grant")
	if status, _, _ := a.me(t, cc.AccessToken); status != 200 {
		t.Errorf("an unrelated grant stopped working: %d", status)
	}
	events, err := st1.AuditEvents(context.Background(), models.AuditFilter{}, models.Cursor{}, 10)
	if err != nil || len(events.Rows) != 1 {
		t.Errorf("audit events on PostgreSQL: %+v %v", events, err)
	}
}
