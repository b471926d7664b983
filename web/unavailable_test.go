package web_test

import (
	"database/sql"
	"net/url"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// TestDatabaseUnwritable makes the database refuse writes mid-run — another
// process holds SQLite's exclusive lock, as a backup tool or a stuck
// migration would — and checks that the revocation endpoint answers 503
// with Retry-After, never 200, and that it works again afterwards.
func TestDatabaseUnwritable(t *testing.T) {
	t.Parallel()
	modelstest.SkipOnPostgres(t)
	ts := newTestServerWith(t, models.Options{BusyTimeout: 200 * time.Millisecond})
	tok := ts.passwordToken(t, "alice")
	form := url.Values{"token": {tok.AccessToken}, "client_id": {ts.f.Confidential.ClientID}, "client_secret": {ts.f.Secret}}

	other, err := sql.Open("sqlite3", "file:"+ts.db+"?_busy_timeout=1000")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.SetMaxOpenConns(1)
	if _, err := other.Exec("BEGIN EXCLUSIVE"); err != nil {
		t.Fatalf("take the write lock: %v", err)
	}

	resp, body := postForm(t, ts, "/o/revoke_token/", form, nil)
	if resp.StatusCode != 503 || body["error"] != "temporarily_unavailable" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("revocation with the database locked: got %d %v Retry-After %q, want 503 temporarily_unavailable with Retry-After",
			resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	resp, body = postForm(t, ts, "/o/token/", url.Values{"grant_type": {"client_credentials"},
		"client_id": {ts.f.Confidential.ClientID}, "client_secret": {ts.f.Secret}}, nil)
	if resp.StatusCode != 503 || body["error"] != "temporarily_unavailable" {
		t.Errorf("token request with the database locked: got %d %v", resp.StatusCode, body)
	}

	if _, err := other.Exec("ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := ts.me(t, tok.AccessToken); status != 200 {
		t.Fatalf("the 503 must not have revoked anything: /api/me %d", status)
	}
	resp, _ = postForm(t, ts, "/o/revoke_token/", form, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("after the lock is released: %d", resp.StatusCode)
	}
	if status, _, _ := ts.me(t, tok.AccessToken); status != 401 {
		t.Errorf("after a 200 the token still works")
	}
}
