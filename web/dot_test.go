package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// requireDOT returns a Python interpreter that can import Django,
// django-oauth-toolkit and gunicorn, skipping the test when there is none —
// or failing it when LATCHKEY_REQUIRE_DOT=1, as in CI. LATCHKEY_DOT_PYTHON
// names the interpreter; otherwise python3 on PATH, then Debian's
// /usr/bin/python3 (where apt installs the packages, whatever PATH says).
func requireDOT(t *testing.T) string {
	t.Helper()
	candidates := []string{"python3", "/usr/bin/python3"}
	if p := os.Getenv("LATCHKEY_DOT_PYTHON"); p != "" {
		candidates = []string{p}
	}
	for _, py := range candidates {
		if exec.Command(py, "-c", "import django, oauth2_provider, gunicorn").Run() == nil {
			return py
		}
	}
	const install = "apt-get install python3-django-oauth-toolkit gunicorn, or set LATCHKEY_DOT_PYTHON"
	if os.Getenv("LATCHKEY_REQUIRE_DOT") == "1" {
		t.Fatalf("LATCHKEY_REQUIRE_DOT=1 but no Python among %v imports django, oauth2_provider and gunicorn (%s)", candidates, install)
	}
	t.Skipf("django-oauth-toolkit tests skipped: no Python among %v imports django, oauth2_provider and gunicorn (%s)", candidates, install)
	return ""
}

// The Django project of a resource server as DOT's documentation sets one
// up ("Separate Resource Server"): DOT's OAuth2 validator in
// RESOURCE_SERVER_INTROSPECTION_URL mode, a view protected by
// ProtectedResourceView, SQLite for DOT's token cache.
const (
	dotSettings = `import os
SECRET_KEY = "dot-test-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "oauth2_provider"]
MIDDLEWARE = []
ROOT_URLCONF = "urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["DOT_DB"]}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True
TIME_ZONE = "UTC"
OAUTH2_PROVIDER = {"RESOURCE_SERVER_INTROSPECTION_URL": os.environ.get("DOT_INTROSPECTION_URL", "")}
if os.environ.get("DOT_AUTH_TOKEN"):
    OAUTH2_PROVIDER["RESOURCE_SERVER_AUTH_TOKEN"] = os.environ["DOT_AUTH_TOKEN"]
else:
    OAUTH2_PROVIDER["RESOURCE_SERVER_INTROSPECTION_CREDENTIALS"] = (
        os.environ.get("DOT_CLIENT_ID", ""), os.environ.get("DOT_CLIENT_SECRET", ""))
LOGGING = {"version": 1, "handlers": {"stderr": {"class": "logging.StreamHandler"}},
           "loggers": {"oauth2_provider": {"handlers": ["stderr"], "level": "WARNING"}}}
`
	dotURLs = `from django.http import JsonResponse
from django.urls import path
from oauth2_provider.views.generic import ProtectedResourceView


class Hello(ProtectedResourceView):
    def get(self, request):
        user = request.resource_owner
        return JsonResponse({"user": user.username if user else None})


urlpatterns = [path("hello", Hello.as_view())]
`
	dotWSGI = `import os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
from django.core.wsgi import get_wsgi_application
application = get_wsgi_application()
`
)

// dotServer is a django-oauth-toolkit resource server run by gunicorn.
type dotServer struct {
	url string
	log *lockedBuffer
}

// writeDOTProject writes the Django project into a temporary directory and
// migrates a template database that each server copies.
func writeDOTProject(t *testing.T, py string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{"settings.py": dotSettings, "urls.py": dotURLs, "wsgi.py": dotWSGI} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	migrate := exec.Command(py, "-m", "django", "migrate", "--noinput", "-v", "0")
	migrate.Dir = dir
	migrate.Env = append(os.Environ(), "DOT_DB="+filepath.Join(dir, "template.sqlite3"), "DJANGO_SETTINGS_MODULE=settings", "PYTHONDONTWRITEBYTECODE=1")
	if out, err := migrate.CombinedOutput(); err != nil {
		t.Fatalf("django migrate: %v\n%s", err, out)
	}
	return dir
}

// startDOT runs the project in dir with env, on a copy of the template
// database (DOT's token cache starts empty) and on a loopback listener that
// gunicorn inherits, so no port can be taken between choosing and binding
// it.
func startDOT(t *testing.T, py, dir string, env []string) *dotServer {
	t.Helper()
	tmpl, err := os.ReadFile(filepath.Join(dir, "template.sqlite3"))
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "dot.sqlite3")
	if err := os.WriteFile(db, tmpl, 0o600); err != nil {
		t.Fatal(err)
	}
	env = append(os.Environ(), append(env, "DOT_DB="+db, "DJANGO_SETTINGS_MODULE=settings", "PYTHONDONTWRITEBYTECODE=1")...)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	ln.Close() // f holds its own descriptor of the socket
	if err != nil {
		t.Fatal(err)
	}
	s := &dotServer{url: "http://" + ln.Addr().String(), log: &lockedBuffer{}}
	cmd := exec.Command(py, "-m", "gunicorn", "--bind", "fd://3", "--workers", "1", "--log-level", "warning", "wsgi:application")
	cmd.Dir, cmd.Env, cmd.ExtraFiles = dir, env, []*os.File{f}
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("gunicorn: %v", err)
	}
	f.Close()
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("gunicorn output:\n%s", s.log.String())
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; {
		if resp, err := http.Get(s.url + "/hello"); err == nil {
			resp.Body.Close()
			return s
		}
		select {
		case <-exited:
			t.Fatalf("gunicorn exited:\n%s", s.log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("gunicorn did not answer within 30 s:\n%s", s.log.String())
		}
	}
}

// get calls the protected view with a bearer token and returns the status
// and the user the view saw.
func (s *dotServer) get(t *testing.T, token string) (int, any) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.url+"/hello", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	return resp.StatusCode, body["user"]
}

// TestDjangoOAuthToolkitResourceServer runs django-oauth-toolkit 1.7 (as
// Debian packages it) as a resource server in front of Latchkey, once with
// each of its ways to authenticate to introspection, and uses it as its
// users would: tokens from golang.org/x/oauth2, presented to a
// ProtectedResourceView.
//
// DOT caches every active introspection answer in its own database until
// the token's exp, at most RESOURCE_SERVER_TOKEN_CACHING_SECONDS (10 h by
// default), and does not ask again. So a token DOT has already accepted
// keeps working there after it is revoked at Latchkey, until that cache
// entry expires; only tokens DOT has not seen yet are refused at once.
// The test asserts the latter and not instant refusal of a cached token.
// Revocation events (or a shorter caching time) are the remedy.
func TestDjangoOAuthToolkitResourceServer(t *testing.T) {
	py := requireDOT(t)
	t.Parallel()
	ts := newTestServer(t)
	ctx := context.Background()
	rs, err := ts.st.CreateClient(ctx, models.NewClient{Name: "Django resource server", Type: models.ClientConfidential,
		GrantTypes: []models.GrantType{models.GrantClientCredentials}, Introspect: true})
	if err != nil {
		t.Fatal(err)
	}
	rsToken, err := (&clientcredentials.Config{ClientID: rs.Client.ClientID, ClientSecret: rs.Secret, TokenURL: ts.URL + "/o/token/"}).Token(ts.ctx())
	if err != nil {
		t.Fatal(err)
	}
	app := oauth2.Config{ClientID: ts.f.Confidential.ClientID, ClientSecret: ts.f.Secret, Endpoint: ts.endpoint()}
	revoke := func(t *testing.T, form url.Values, id, secret string) {
		t.Helper()
		resp, body := postForm(t, ts, "/o/revoke_token/", form, http.Header{"Authorization": {basicAuth(id, secret)}})
		if resp.StatusCode != 200 {
			t.Fatalf("revoke: %d %v", resp.StatusCode, body)
		}
	}

	project := writeDOTProject(t, py)
	introspect := "DOT_INTROSPECTION_URL=" + ts.URL + "/o/introspect/"
	for _, mode := range []struct {
		name   string
		env    []string
		bearer bool
	}{
		{"RESOURCE_SERVER_INTROSPECTION_CREDENTIALS (Basic)", []string{introspect, "DOT_CLIENT_ID=" + rs.Client.ClientID, "DOT_CLIENT_SECRET=" + rs.Secret}, false},
		{"RESOURCE_SERVER_AUTH_TOKEN (Bearer)", []string{introspect, "DOT_AUTH_TOKEN=" + rsToken.AccessToken}, true},
	} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			dot := startDOT(t, py, project, mode.env)
			user, err := app.PasswordCredentialsToken(ts.ctx(), "alice", modelstest.Password)
			if err != nil {
				t.Fatal(err)
			}
			if status, who := dot.get(t, user.AccessToken); status != 200 || who != "alice" {
				t.Errorf("an access token at DOT: got %d %v, want 200 alice", status, who)
			}
			service := ts.clientCredentials(t)
			if status, who := dot.get(t, service.AccessToken); status != 200 || who != nil {
				t.Errorf("a client_credentials token at DOT: got %d %v, want 200 and no user", status, who)
			}
			if status, _ := dot.get(t, user.RefreshToken); status != 403 {
				t.Errorf("a refresh token used as an access token at DOT: got %d, want 403", status)
			}

			// Revoked before DOT ever saw it: refused at once.
			unseen, err := app.PasswordCredentialsToken(ts.ctx(), "bob", modelstest.Password)
			if err != nil {
				t.Fatal(err)
			}
			revoke(t, url.Values{"token": {unseen.RefreshToken}}, ts.f.Confidential.ClientID, ts.f.Secret)
			if status, _ := dot.get(t, unseen.AccessToken); status != 403 {
				t.Errorf("a revoked access token at DOT: got %d, want 403", status)
			}

			if !mode.bearer {
				return
			}
			// The resource server's own token revoked: DOT's introspection
			// calls now answer 401, and DOT refuses what it has not cached.
			revoke(t, url.Values{"token": {rsToken.AccessToken}}, rs.Client.ClientID, rs.Secret)
			if status, _ := dot.get(t, ts.clientCredentials(t).AccessToken); status != 403 {
				t.Errorf("DOT authenticating with a revoked RESOURCE_SERVER_AUTH_TOKEN accepted a token: %d", status)
			}
			// DOT logs the refused introspection; its output arrives through
			// a pipe, so give it a moment.
			for deadline := time.Now().Add(5 * time.Second); !strings.Contains(dot.log.String(), "Status code: 401"); {
				if time.Now().After(deadline) {
					t.Errorf("DOT did not log Latchkey's 401; its output:\n%s", dot.log.String())
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// lockedBuffer collects a child process's output while tests read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
