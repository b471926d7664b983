package main

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/models"
)

func TestListEmpty(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	for _, what := range []string{"user", "client"} {
		if got := c.ok("", what, "list", "--json"); got != "[]\n" {
			t.Errorf("%s list --json on an empty database: got %q, want []", what, got)
		}
		if got := c.ok("", what, "list"); strings.Count(got, "\n") != 1 {
			t.Errorf("%s list on an empty database: got %q, want the header alone", what, got)
		}
	}
}

func TestUserList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newCLI(t)
	c.ok("correct horse battery\n", "user", "create", "--username", "alice", "--role", "admin")
	c.ok("correct horse battery\n", "user", "create", "--username", "bob", "--role", "user")
	st := c.store()
	bob, err := st.UserByUsername(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.DisableUser(ctx, bob.ID, models.StaffAction{}); err != nil {
		t.Fatal(err)
	}

	lines := strings.Split(strings.TrimSuffix(c.ok("", "user", "list"), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("user list: got %q, want a header and 2 lines", lines)
	}
	if got := strings.Fields(lines[0]); !slices.Equal(got, []string{"USERNAME", "ROLE", "STATUS", "CREATED"}) {
		t.Errorf("header: got %q", got)
	}
	// Newest first.
	if got := strings.Fields(lines[1]); len(got) != 4 || got[0] != "bob" || got[1] != "user" || got[2] != "disabled" {
		t.Errorf("bob: got %q", got)
	}
	if got := strings.Fields(lines[2]); len(got) != 4 || got[0] != "alice" || got[1] != "admin" || got[2] != "active" {
		t.Errorf("alice: got %q", got)
	}

	out := c.ok("", "user", "list", "--json")
	if strings.Contains(out, "$2") || strings.Contains(out, "hash") || strings.Contains(out, "correct horse") {
		t.Errorf("user list --json shows a password or its hash: %s", out)
	}
	var users []map[string]any
	if err := json.Unmarshal([]byte(out), &users); err != nil {
		t.Fatalf("user list --json %q: %v", out, err)
	}
	if len(users) != 2 {
		t.Fatalf("users: got %d, want 2", len(users))
	}
	wantKeys := []string{"created_at", "disabled", "disabled_at", "role", "username"}
	for _, u := range users {
		if keys := sortedKeys(u); !slices.Equal(keys, wantKeys) {
			t.Errorf("keys: got %v, want %v", keys, wantKeys)
		}
	}
	if users[0]["username"] != "bob" || users[0]["disabled"] != true || users[0]["disabled_at"] == nil {
		t.Errorf("bob: got %v", users[0])
	}
	if users[1]["username"] != "alice" || users[1]["role"] != "admin" || users[1]["disabled"] != false || users[1]["disabled_at"] != nil {
		t.Errorf("alice: got %v", users[1])
	}
}

func TestClientList(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	var conf struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(c.ok("", "client", "create", "--name", "Web app", "--type", "confidential",
		"--grant", "authorization_code,refresh_token", "--redirect-uri", "https://app.example.com/cb",
		"--redirect-uri", "http://127.0.0.1:9000/cb", "--scope", "read", "--json")), &conf); err != nil {
		t.Fatal(err)
	}
	// A name with a tab and a line break must not break its line.
	c.ok("", "client", "create", "--name", "Resource\tserver\nX", "--type", "confidential", "--grant", "client_credentials", "--introspect")

	text := c.ok("", "client", "list")
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("client list: got %q, want a header and 2 lines", lines)
	}
	if !strings.HasPrefix(lines[0], "CLIENT_ID") || !strings.Contains(lines[1], "Resource?server?X") || !strings.Contains(lines[1], "yes") {
		t.Errorf("client list: got %q", lines)
	}
	if got := lines[2]; !strings.HasPrefix(got, conf.ClientID) || !strings.Contains(got, "authorization_code,refresh_token") ||
		!strings.Contains(got, "https://app.example.com/cb http://127.0.0.1:9000/cb") || !strings.Contains(got, "active") {
		t.Errorf("web app line: got %q", got)
	}

	out := c.ok("", "client", "list", "--json")
	for _, secretish := range []string{conf.ClientSecret, models.PrefixClientSecret, "secret", "hash"} {
		if strings.Contains(out+text, secretish) {
			t.Errorf("client list shows %q: %s%s", secretish, text, out)
		}
	}
	var clients []map[string]any
	if err := json.Unmarshal([]byte(out), &clients); err != nil {
		t.Fatalf("client list --json %q: %v", out, err)
	}
	if len(clients) != 2 {
		t.Fatalf("clients: got %d, want 2", len(clients))
	}
	wantKeys := []string{"allowed_origins", "client_id", "created_at", "disabled", "disabled_at", "grants", "introspect",
		"name", "redirect_uris", "scopes", "type"}
	for _, cl := range clients {
		if keys := sortedKeys(cl); !slices.Equal(keys, wantKeys) {
			t.Errorf("keys: got %v, want %v", keys, wantKeys)
		}
	}
	web := clients[1]
	want := map[string]any{
		"client_id": conf.ClientID, "name": "Web app", "type": "confidential",
		"grants": []any{"authorization_code", "refresh_token"}, "scopes": []any{"read"},
		"redirect_uris": []any{"https://app.example.com/cb", "http://127.0.0.1:9000/cb"}, "allowed_origins": []any{},
		"introspect": false, "disabled": false, "disabled_at": nil,
	}
	for k, v := range want {
		if !reflect.DeepEqual(web[k], v) {
			t.Errorf("%s: got %#v, want %#v", k, web[k], v)
		}
	}
	if clients[0]["introspect"] != true || clients[0]["name"] != "Resource\tserver\nX" {
		t.Errorf("resource server: got %v", clients[0])
	}
}

// TestEachPageWalksEveryPage: the lists read page after page until the
// last, passing each page's cursor on.
func TestEachPageWalksEveryPage(t *testing.T) {
	t.Parallel()
	const total = 2*listPage + 3
	var cursors []int64
	list := func(_ context.Context, _ struct{}, cur models.Cursor, limit int) (models.Page[int64], error) {
		cursors = append(cursors, cur.Before)
		start := int64(total)
		if cur.Before > 0 {
			start = cur.Before - 1
		}
		var p models.Page[int64]
		for id := start; id > 0 && len(p.Rows) < limit; id-- {
			p.Rows = append(p.Rows, id)
		}
		if last := p.Rows[len(p.Rows)-1]; last > 1 {
			p.HasNext, p.Next = true, models.Cursor{Before: last}
		}
		return p, nil
	}
	var got []int64
	if err := eachPage(context.Background(), list, struct{}{}, func(id int64) error { got = append(got, id); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != total || got[0] != total || got[total-1] != 1 {
		t.Errorf("rows: got %d from %d to %d, want %d from %d to 1", len(got), got[0], got[len(got)-1], total, total)
	}
	if want := []int64{0, total - listPage + 1, total - 2*listPage + 1}; !slices.Equal(cursors, want) {
		t.Errorf("cursors: got %v, want %v", cursors, want)
	}
	stop := errors.New("stop")
	if err := eachPage(context.Background(), list, struct{}{}, func(int64) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("an error from a row: got %v, want %v", err, stop)
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
