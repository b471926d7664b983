package models_test

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// TestGrantSeenIsCleaned: the User-Agent a grant records is the client's
// own text; it is stored without control characters (terminal escapes,
// NULs) or invalid UTF-8, and cut to 200 bytes on a character boundary.
func TestGrantSeenIsCleaned(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := modelstest.NewStore(t)
	f := modelstest.NewFixture(t, st)
	ua := "Evil/1.0 \x1b[31mred\x1b[0m\x00\r\nX-Injected: 1\xff " + strings.Repeat("é", 150)
	iss, err := st.IssueGrant(ctx, models.StartGrant{Client: f.Confidential, UserID: f.Alice.ID, GrantType: models.GrantPassword,
		Scope: f.Confidential.Scope, Seen: models.Seen{Addr: " 127.0.0.9\n", UserAgent: ua}})
	if err != nil {
		t.Fatal(err)
	}
	row, err := st.FindTokenRow(ctx, models.TokenKey(iss.AccessToken))
	if err != nil {
		t.Fatal(err)
	}
	if row.IssuedAddr != "127.0.0.9" {
		t.Errorf("address: got %q, want 127.0.0.9", row.IssuedAddr)
	}
	got := row.IssuedUA
	if !strings.HasPrefix(got, "Evil/1.0 [31mred[0mX-Injected: 1 é") {
		t.Errorf("User-Agent: got %q", got)
	}
	if len(got) > 200 || !utf8.ValidString(got) || strings.ContainsAny(got, "\x00\x1b\r\n") {
		t.Errorf("User-Agent not cleaned: %q (%d bytes)", got, len(got))
	}
}
