package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/demo"
	"github.com/latchkey/latchkey/models"
)

func init() { models.UseFastPasswordHashForTests() }

// result is what one run of the command line did.
type result struct {
	code           int
	stdout, stderr string
}

// cli runs latchkey in-process on its own database, with its own
// environment, so tests run in parallel.
type cli struct {
	t   *testing.T
	db  string
	env map[string]string
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	// serve's soft memory limit would apply to this whole test process
	// (every parallel test's heap): tests of their own check it, in a
	// child process (TestServeMemoryLimit).
	return &cli{t: t, db: filepath.Join(t.TempDir(), "latchkey.db"), env: map[string]string{"LATCHKEY_MEMORY_LIMIT": "off"}}
}

func (c *cli) run(stdin string, args ...string) result {
	c.t.Helper()
	var out, errb bytes.Buffer
	args = append([]string{"--db", c.db}, args...)
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb, func(k string) string { return c.env[k] })
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// ok runs a command that must succeed and returns its stdout.
func (c *cli) ok(stdin string, args ...string) string {
	c.t.Helper()
	r := c.run(stdin, args...)
	if r.code != 0 {
		c.t.Fatalf("latchkey %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
	}
	if r.stderr != "" {
		c.t.Errorf("latchkey %s: stderr %q, want nothing", strings.Join(args, " "), r.stderr)
	}
	return r.stdout
}

// store opens the CLI's database directly, to arrange or check what the
// commands cannot show.
func (c *cli) store() *models.Store {
	c.t.Helper()
	return c.storeAt(nil)
}

// storeAt is store with the clock fixed at now (nil: the real clock), to
// issue tokens in the past.
func (c *cli) storeAt(now func() time.Time) *models.Store {
	c.t.Helper()
	st, err := models.Open(c.db, models.Options{Now: now})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(context.Background()); err != nil {
		c.t.Fatal(err)
	}
	return st
}

// actor is the audit actor the CLI records for whoever runs the tests.
func (c *cli) actor() string {
	return models.CLI(osUserName(user.Current, func(k string) string { return c.env[k] }, os.Getuid())).Name
}

// wantOneLine checks that a failed command printed exactly one error line.
func wantOneLine(t *testing.T, r result, code int, contains string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit: got %d, want %d (stderr %q)", r.code, code, r.stderr)
	}
	if !strings.HasPrefix(r.stderr, "latchkey: ") || strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("stderr: got %q, want one line starting with \"latchkey: \"", r.stderr)
	}
	if !strings.Contains(r.stderr, contains) {
		t.Errorf("stderr: got %q, want it to contain %q", r.stderr, contains)
	}
	if r.stdout != "" {
		t.Errorf("stdout: got %q, want nothing", r.stdout)
	}
}

func TestClientCreateJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		wantType   string
		wantGrants []string
		wantSecret bool
	}{
		{"confidential", []string{"--type", "confidential", "--grant", "authorization_code,refresh_token", "--redirect-uri", "http://127.0.0.1:8080/callback"},
			"confidential", []string{"authorization_code", "refresh_token"}, true},
		{"public", []string{"--type", "public", "--grant", "authorization_code", "--grant", "refresh_token", "--redirect-uri", "com.acme.app:/callback"},
			"public", []string{"authorization_code", "refresh_token"}, false},
		{"resource server", []string{"--type", "confidential", "--grant", "client_credentials", "--introspect", "--scope", "reports:read"},
			"confidential", []string{"client_credentials"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newCLI(t)
			out := c.ok("", append([]string{"client", "create", "--name", "App", "--json"}, tc.args...)...)
			if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "}\n") {
				t.Errorf("output: got %q, want one JSON line", out)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("output %q is not JSON: %v", out, err)
			}
			id, _ := got["client_id"].(string)
			if id == "" {
				t.Errorf("client_id: got %v, want one", got["client_id"])
			}
			secret, hasSecret := got["client_secret"].(string)
			if hasSecret != tc.wantSecret || (tc.wantSecret && !strings.HasPrefix(secret, models.PrefixClientSecret)) {
				t.Errorf("client_secret: got %v (present %v), want present %v", got["client_secret"], hasSecret, tc.wantSecret)
			}
			if got["type"] != tc.wantType {
				t.Errorf("type: got %v, want %v", got["type"], tc.wantType)
			}
			grants, _ := json.Marshal(got["grants"])
			want, _ := json.Marshal(tc.wantGrants)
			if string(grants) != string(want) {
				t.Errorf("grants: got %s, want %s", grants, want)
			}
			if len(got) != 3+map[bool]int{true: 1}[tc.wantSecret] {
				t.Errorf("keys: got %v", got)
			}

			// The client exists, and the printed secret is its secret.
			st := c.store()
			if tc.wantSecret {
				if _, err := st.AuthenticateClient(context.Background(), id, secret, true); err != nil {
					t.Errorf("authenticate with the printed secret: %v", err)
				}
			} else if _, err := st.AuthenticateClient(context.Background(), id, "", false); err != nil {
				t.Errorf("authenticate the public client: %v", err)
			}
		})
	}
}

func TestClientCreateReadable(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	out := c.ok("", "client", "create", "--name", "Billing", "--type", "confidential", "--grant", "client_credentials")
	for _, want := range []string{`created confidential client "Billing"`, "client_id:", "client_secret: " + models.PrefixClientSecret, "shown only this once"} {
		if !strings.Contains(out, want) {
			t.Errorf("output %q: want %q in it", out, want)
		}
	}
	out = c.ok("", "client", "create", "--name", "Mobile", "--type", "public", "--grant", "authorization_code", "--redirect-uri", "com.acme.app:/cb")
	if strings.Contains(out, models.PrefixClientSecret) || !strings.Contains(out, "client_id:") {
		t.Errorf("public client output %q: want a client_id and no secret", out)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		stdin    string
		env      map[string]string
		args     []string
		contains string
	}{
		{"unknown command", "", nil, []string{"bogus"}, `unknown command "bogus"`},
		{"unknown subcommand", "", nil, []string{"user", "delete"}, `unknown command "delete" for "latchkey user"`},
		{"unknown flag", "", nil, []string{"user", "create", "--bogus"}, "unknown flag: --bogus"},
		{"missing --username", "secret password\n", nil, []string{"user", "create", "--role", "admin"}, `"username"`},
		{"bad --role", "secret password\n", nil, []string{"user", "create", "--username", "alice", "--role", "boss"}, "--role"},
		{"no password", "", nil, []string{"user", "create", "--username", "alice", "--role", "user"}, "no password"},
		{"short password", "short\n", nil, []string{"user", "create", "--username", "alice", "--role", "user"}, "at least 8"},
		{"bad username", "secret password\n", nil, []string{"user", "create", "--username", "al ice", "--role", "user"}, "username"},
		{"extra argument", "", nil, []string{"migrate", "now"}, `unexpected argument "now"`},
		{"bad --type", "", nil, []string{"client", "create", "--name", "x", "--type", "bogus", "--grant", "password"}, "--type"},
		{"bad --grant", "", nil, []string{"client", "create", "--name", "x", "--type", "public", "--grant", "implicit"}, "implicit"},
		{"missing --grant", "", nil, []string{"client", "create", "--name", "x", "--type", "public"}, `"grant"`},
		{"authorization_code without redirect URI", "", nil, []string{"client", "create", "--name", "x", "--type", "public", "--grant", "authorization_code"}, "--redirect-uri"},
		{"public client_credentials", "", nil, []string{"client", "create", "--name", "x", "--type", "public", "--grant", "client_credentials"}, "public client"},
		{"revoke nothing", "", nil, []string{"revoke"}, "--token -"},
		{"revoke token and user", "lk_at_x\n", nil, []string{"revoke", "--token", "-", "--user", "alice"}, "cannot be combined"},
		{"negative --older-than", "", nil, []string{"tokens", "purge", "--older-than", "-1h"}, "--older-than"},
		{"bad duration", "", nil, []string{"serve", "--access-token-ttl", "soon"}, "--access-token-ttl"},
		{"bad env duration", "", map[string]string{"LATCHKEY_ACCESS_TOKEN_TTL": "soon"}, []string{"serve"}, "LATCHKEY_ACCESS_TOKEN_TTL"},
		{"bad env bool", "", map[string]string{"LATCHKEY_DEMO": "maybe"}, []string{"serve"}, "LATCHKEY_DEMO"},
		{"bad issuer", "", nil, []string{"serve", "--issuer", "auth.example.com"}, "--issuer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newCLI(t)
			for k, v := range tc.env {
				c.env[k] = v
			}
			wantOneLine(t, c.run(tc.stdin, tc.args...), 2, tc.contains)
		})
	}
}

func TestRevokeRefusesATokenInArgv(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	const token = "lk_at_thisIsASecretValueThatMustNotBeEchoed"
	r := c.run("", "revoke", "--token", token)
	wantOneLine(t, r, 2, "never read from the command line")
	if strings.Contains(r.stderr, "thisIsASecret") {
		t.Errorf("stderr %q echoes the token", r.stderr)
	}
}

func TestUserCreate(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	if got, want := c.ok("correct horse battery\r\n", "user", "create", "--username", "alice", "--role", "admin"), "created user alice (admin)\n"; got != want {
		t.Errorf("stdout: got %q, want %q", got, want)
	}
	// The password is the line without its line ending.
	if _, err := c.store().Authenticate(context.Background(), "alice", "correct horse battery"); err != nil {
		t.Errorf("log in with the password from stdin: %v", err)
	}
	r := c.run("another password\n", "user", "create", "--username", "alice", "--role", "user")
	wantOneLine(t, r, 1, `user "alice" already exists`)
	if r.stderr != "latchkey: user \"alice\" already exists\n" {
		t.Errorf("stderr: got %q", r.stderr)
	}
	if strings.Contains(r.stderr, "another password") {
		t.Errorf("stderr %q echoes the password", r.stderr)
	}
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newCLI(t)
	c.ok("correct horse battery\n", "user", "create", "--username", "alice", "--role", "user")
	var created struct {
		ClientID string `json:"client_id"`
	}
	if err := json.Unmarshal([]byte(c.ok("", "client", "create", "--name", "CLI", "--type", "confidential", "--grant", "password,refresh_token", "--json")), &created); err != nil {
		t.Fatal(err)
	}
	st := c.store()
	client, err := st.ClientByClientID(ctx, created.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	alice, err := st.UserByUsername(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	issue := func() *models.Issued {
		t.Helper()
		iss, err := st.IssueGrant(ctx, models.StartGrant{Client: client, UserID: alice.ID, GrantType: models.GrantPassword, Scope: client.Scope, WithRefresh: true})
		if err != nil {
			t.Fatal(err)
		}
		return iss
	}
	a, b, d := issue(), issue(), issue()

	if got, want := c.ok(a.RefreshToken+"\n", "revoke", "--token", "-", "--reason", "leaked in a log"), "revoked 1 grant and 2 tokens\n"; got != want {
		t.Errorf("revoke --token -: got %q, want %q", got, want)
	}
	if _, err := st.ActiveToken(ctx, a.AccessToken); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("revoked access token: got %v, want %v", err, models.ErrNotFound)
	}
	// Again: a known token whose grant is revoked already is a success
	// that says so.
	if got, want := c.ok(a.RefreshToken+"\n", "revoke", "--token", "-"), "revoked 0 grants and 0 tokens (the token was already revoked, at "; !strings.HasPrefix(got, want) {
		t.Errorf("revoke the same token again: got %q, want %q…", got, want)
	}
	if got, want := c.ok("", "revoke", "--user", "alice", "--client", created.ClientID), "revoked 2 grants and 4 tokens\n"; got != want {
		t.Errorf("revoke --user --client: got %q, want %q", got, want)
	}
	for _, iss := range []*models.Issued{b, d} {
		if _, err := st.ActiveToken(ctx, iss.RefreshToken); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("token after revoke --user: got %v, want %v", err, models.ErrNotFound)
		}
	}
	e := issue()
	if got, want := c.ok("", "revoke", "--client", created.ClientID), "revoked 1 grant and 2 tokens\n"; got != want {
		t.Errorf("revoke --client: got %q, want %q", got, want)
	}
	if _, err := st.ActiveToken(ctx, e.AccessToken); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("token after revoke --client: got %v, want %v", err, models.ErrNotFound)
	}

	page, err := st.AuditEvents(ctx, models.AuditFilter{}, models.Cursor{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	var events []models.AuditEvent // newest first
	for _, ev := range page.Rows {
		switch ev.Action {
		case models.ActionUserCreate, models.ActionClientCreate:
			if ev.Actor != c.actor() || ev.RemoteAddr != "cli" {
				t.Errorf("%s event: got actor %q from %q, want %s from cli", ev.Action, ev.Actor, ev.RemoteAddr, c.actor())
			}
		default:
			events = append(events, ev)
		}
	}
	if len(page.Rows) != len(events)+2 {
		t.Errorf("audit events: got %d, want the user and the client created too", len(page.Rows))
	}
	if len(events) != 3 {
		t.Fatalf("audit events: got %d, want 3", len(events))
	}
	if ev := events[2]; ev.Actor != c.actor() || ev.ActorType != models.ActorSystem || ev.Reason != "leaked in a log" {
		t.Errorf("first event: got actor %s/%s reason %q", ev.ActorType, ev.Actor, ev.Reason)
	}
	if ev := events[1]; ev.Reason != "command line" {
		t.Errorf("default reason: got %q, want %q", ev.Reason, "command line")
	}

	wantOneLine(t, c.run("", "revoke", "--user", "nobody"), 1, `user "nobody" not found`)
	wantOneLine(t, c.run("", "revoke", "--client", "nope"), 1, `client "nope" not found`)
	wantOneLine(t, c.run("\n", "revoke", "--token", "-"), 2, "no token on stdin")
}

func TestMigrateTwice(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	var n, v int
	first := c.ok("", "migrate")
	if _, err := fmt.Sscanf(strings.Replace(first, "migration ", "migrations ", 1), "applied %d migrations (schema version %d)\n", &n, &v); err != nil || n == 0 || n > v { // versions may have gaps
		t.Errorf("first migrate: got %q", first)
	}
	if got, want := c.ok("", "migrate"), fmt.Sprintf("applied 0 migrations (schema version %d)\n", v); got != want {
		t.Errorf("second migrate: got %q, want %q", got, want)
	}
}

func TestDatabaseFromEnvironment(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	envDB := filepath.Join(t.TempDir(), "from-env.db")
	c.env["LATCHKEY_DB"] = envDB
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"migrate"}, strings.NewReader(""), &out, &errb, func(k string) string { return c.env[k] })
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if _, err := os.Stat(envDB); err != nil {
		t.Errorf("LATCHKEY_DB was not used: %v", err)
	}
	// --db wins over the environment.
	c.ok("", "migrate")
	if _, err := os.Stat(c.db); err != nil {
		t.Errorf("--db was not used: %v", err)
	}
}

func TestUnreachableDatabase(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.db = filepath.Join(t.TempDir(), "missing", "dir", "latchkey.db")
	wantOneLine(t, c.run("", "migrate"), 1, "latchkey.db")
}

func TestTokensPurge(t *testing.T) {
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
	old, err := c.storeAt(ago(60*24*time.Hour)).IssueGrant(ctx, models.StartGrant{Client: client, GrantType: models.GrantClientCredentials,
		Scope: client.Scope})
	if err != nil {
		t.Fatal(err)
	}
	live, err := st.IssueGrant(ctx, models.StartGrant{Client: client, GrantType: models.GrantClientCredentials, Scope: client.Scope})
	if err != nil {
		t.Fatal(err)
	}
	out := c.ok("", "tokens", "purge")
	if !strings.HasPrefix(out, "deleted 1 token, 0 codes, 0 sessions, 0 setup links and 1 grant that expired or were revoked before ") {
		t.Errorf("purge: got %q", out)
	}
	if _, err := st.FindTokenByHash(ctx, models.TokenKey(old.AccessToken)); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("old token: got %v, want it deleted", err)
	}
	if _, err := st.ActiveToken(ctx, live.AccessToken); err != nil {
		t.Errorf("live token: %v", err)
	}
	if out := c.ok("", "tokens", "purge", "--older-than", "0s"); !strings.HasPrefix(out, "deleted 0 tokens,") {
		t.Errorf("second purge: got %q", out)
	}
}

// syncBuffer is a bytes.Buffer that serve may write while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serveUntilListening starts serve, waits for its listening line, stops it
// as SIGINT would, and returns what it printed.
func serveUntilListening(t *testing.T, c *cli, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		args := append([]string{"--db", c.db, "serve", "--addr", "127.0.0.1:0"}, args...)
		done <- run(ctx, args, strings.NewReader(""), &out, &errb, func(k string) string { return c.env[k] })
	}()
	deadline := time.After(30 * time.Second)
	for !strings.Contains(out.String(), "Latchkey listening on http://127.0.0.1:") {
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d before listening: %s", code, errb.String())
		case <-deadline:
			t.Fatalf("serve is not listening after 30s: %s", errb.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	select {
	case code := <-done:
		return result{code: code, stdout: out.String(), stderr: errb.String()}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
		return result{}
	}
}

func TestServeFirstRunPrintsSetupURL(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.env["LATCHKEY_ISSUER"] = "https://auth.example.com/"
	r := serveUntilListening(t, c)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	const prefix = "No admin yet. Create the first one at: https://auth.example.com/setup?token=lk_su_"
	i := strings.Index(r.stdout, prefix)
	if i < 0 {
		t.Fatalf("stdout %q: want the setup URL", r.stdout)
	}
	token := strings.Fields(r.stdout[i+len("No admin yet. Create the first one at: https://auth.example.com/setup?token="):])[0]
	if strings.Contains(r.stderr, token) {
		t.Errorf("the setup token is in the log")
	}
	ok, err := c.store().SetupTokenValid(context.Background(), token)
	if err != nil || !ok {
		t.Errorf("printed setup token: valid=%v, err=%v", ok, err)
	}
	// Logs are JSON lines.
	for line := range strings.SplitSeq(strings.TrimSpace(r.stderr), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("log line %q is not JSON", line)
		}
	}
}

func TestServeDemo(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.env["LATCHKEY_DEMO"] = "true"
	r := serveUntilListening(t, c)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"Demo data: 7 users, 5 clients", "as admin, password " + demo.Password, "client_secret=" + models.PrefixClientSecret} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout %q: want %q", r.stdout, want)
		}
	}
	if strings.Contains(r.stdout, "No admin yet") {
		t.Errorf("stdout %q: a demo database has an admin", r.stdout)
	}
	if strings.Contains(r.stderr, models.PrefixClientSecret) {
		t.Errorf("a client secret is in the log")
	}
	// A second start leaves the demo data alone.
	r = serveUntilListening(t, c, "--demo")
	if r.code != 0 || !strings.Contains(r.stdout, "nothing was seeded") {
		t.Errorf("second start: exit %d, stdout %q", r.code, r.stdout)
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	for _, args := range [][]string{{}, {"--help"}, {"client", "create", "--help"}, {"user"}} {
		out := c.ok("", args...)
		if !strings.Contains(out, "Usage:") {
			t.Errorf("latchkey %v: got %q, want the help", args, out)
		}
	}
}

// ago is a clock fixed d before now.
func ago(d time.Duration) func() time.Time {
	at := time.Now().Add(-d)
	return func() time.Time { return at }
}

// TestParseIssuer: --issuer comes back in normal form. "HTTPS://…" was
// once taken as written, and every check for "https://" downstream then
// set cookies without Secure and sent no HSTS.
func TestParseIssuer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"https://auth.example.com", "https://auth.example.com"},
		{"https://auth.example.com/", "https://auth.example.com"},
		{"HTTPS://Auth.Example.COM/", "https://auth.example.com"},
		{"Http://127.0.0.1:8000", "http://127.0.0.1:8000"},
		{"https://auth.example.com/Tenant/", "https://auth.example.com/Tenant"},
		{"https://[::1]:8443", "https://[::1]:8443"},
	} {
		got, err := parseIssuer(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseIssuer(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"auth.example.com", "ftp://a", "https://", "https://a/?x=1", "https://a/#f", "https://u:p@a", "https:opaque", "https://a?"} {
		if got, err := parseIssuer(bad); err == nil {
			t.Errorf("parseIssuer(%q) = %q, want an error", bad, got)
		}
	}
}

// TestServeNormalisesTheIssuer: what serve prints and serves is the
// issuer in normal form.
func TestServeNormalisesTheIssuer(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.env["LATCHKEY_ISSUER"] = "HTTPS://Auth.Example.COM/"
	r := serveUntilListening(t, c)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "Create the first one at: https://auth.example.com/setup?token=") {
		t.Errorf("stdout %q: want the setup URL under https://auth.example.com", r.stdout)
	}
}
