package web_test

import (
	"database/sql"
	"encoding/json"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
	"github.com/latchkey/latchkey/web"
)

// TestUnavailableLogHasCause makes the database refuse writes (another
// process holds SQLite's lock) and checks that the ERROR line of a 503 on
// /o/ endpoints says why — the cause, not only the client's JSON — and
// holds no token or secret.
func TestUnavailableLogHasCause(t *testing.T) {
	t.Parallel()
	modelstest.SkipOnPostgres(t)
	db := t.TempDir() + "/latchkey.db"
	st := modelstest.OpenWith(t, db, models.Options{BusyTimeout: 200 * time.Millisecond})
	f := modelstest.NewFixture(t, st)
	var logs syncBuffer
	ts := startServer(t, st, f, web.Config{}, slog.New(slog.NewJSONHandler(&logs, nil)))
	ts.db = db
	tok := ts.passwordToken(t, "alice")

	other, err := sql.Open("sqlite3", "file:"+db+"?_busy_timeout=1000")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.SetMaxOpenConns(1)
	if _, err := other.Exec("BEGIN EXCLUSIVE"); err != nil {
		t.Fatalf("take the write lock: %v", err)
	}
	defer func() { _, _ = other.Exec("ROLLBACK") }()

	for _, req := range []struct {
		path string
		form url.Values
	}{
		{"/o/token/", url.Values{"grant_type": {"client_credentials"}, "client_id": {f.Confidential.ClientID}, "client_secret": {f.Secret}}},
		{"/o/revoke_token/", url.Values{"token": {tok.AccessToken}, "client_id": {f.Confidential.ClientID}, "client_secret": {f.Secret}}},
	} {
		if resp, body := postForm(t, ts, req.path, req.form, nil); resp.StatusCode != 503 {
			t.Fatalf("%s with the database locked: %d %v, want 503", req.path, resp.StatusCode, body)
		}
	}

	found := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec struct {
			Msg  string `json:"msg"`
			Path string `json:"path"`
			Err  struct {
				Error string `json:"error"`
				Cause string `json:"cause"`
			} `json:"err"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		for _, secret := range []string{f.Secret, tok.AccessToken, tok.RefreshToken} {
			if strings.Contains(line, secret) {
				t.Errorf("a log line holds a secret: %s", line)
			}
		}
		if rec.Msg != "request failed" {
			continue
		}
		found[rec.Path] = true
		if rec.Err.Error != "temporarily_unavailable" || !strings.Contains(rec.Err.Cause, "database unavailable") || !strings.Contains(rec.Err.Cause, "locked") {
			t.Errorf("503 log line without its cause: %s", line)
		}
	}
	for _, p := range []string{"/o/token/", "/o/revoke_token/"} {
		if !found[p] {
			t.Errorf("no ERROR line for %s in:\n%s", p, logs.String())
		}
	}
}
