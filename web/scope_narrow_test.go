package web_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// TestNarrowedClientScopeNarrowsRefresh narrows a client's scopes on the
// dashboard and refreshes a grant issued before the edit through x/oauth2:
// the new tokens carry only what the client may still ask for, at the
// token endpoint, at introspection and at /api/me. Once nothing of the
// grant's scope is left, the refresh is invalid_scope (RFC 6749 §5.2).
func TestNarrowedClientScopeNarrowsRefresh(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	cl := ts.f.Confidential
	cfg := oauth2.Config{ClientID: cl.ClientID, ClientSecret: ts.f.Secret, Endpoint: ts.endpoint()}
	refresh := func(rt string) (*oauth2.Token, error) {
		return cfg.TokenSource(ts.ctx(), &oauth2.Token{RefreshToken: rt, Expiry: time.Now().Add(-time.Hour)}).Token()
	}
	tok := ts.passwordToken(t, "alice")
	if got := tok.Extra("scope"); got != "read write" {
		t.Fatalf("scope before the edit: got %v, want read write", got)
	}
	// A code approved before the edit and exchanged after it.
	ac := &oauth2.Config{ClientID: cl.ClientID, ClientSecret: ts.f.Secret, Endpoint: ts.endpoint(), RedirectURL: "http://127.0.0.1:9999/callback"}
	v := oauth2.GenerateVerifier()
	code := authorize(t, ts, ac, oauth2.S256ChallengeOption(v)).Get("code")

	b := newBrowser(t, ts)
	b.login("admin")
	path := "/admin/clients/" + strconv.FormatInt(cl.ID, 10)
	edit := func(scope string) {
		t.Helper()
		form := editClientForm(t, b, cl)
		form.Set("scope", scope)
		resp, html := b.post(path+"/edit", form)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("save scope %q: got %d, want 303: %s", scope, resp.StatusCode, html)
		}
	}
	edit("read")
	_, html := b.get(path)
	flash := doc(t, html).Find(`[data-testid="flash"]`).Text()
	if !strings.Contains(flash, "lose write at their next refresh") || !strings.Contains(flash, "within 1h") {
		t.Errorf("the save message does not say what happens to existing grants: %q", flash)
	}

	t.Run("a refresh returns the narrowed scope", func(t *testing.T) {
		next, err := refresh(tok.RefreshToken)
		if err != nil {
			t.Fatalf("refresh after narrowing: %v", err)
		}
		if got := next.Extra("scope"); got != "read" {
			t.Errorf("refreshed scope: got %v, want read", got)
		}
		if status, me, _ := ts.me(t, next.AccessToken); status != 200 || me["scope"] != "read" {
			t.Errorf("/api/me with the new access token: got %d %v, want scope read", status, me)
		}
		_, in := postForm(t, ts, "/o/introspect/", url.Values{"token": {next.AccessToken},
			"client_id": {cl.ClientID}, "client_secret": {ts.f.Secret}}, nil)
		if in["active"] != true || in["scope"] != "read" {
			t.Errorf("introspection of the new access token: got %v, want active with scope read", in)
		}
		// Asking for the withdrawn scope explicitly is not a way back.
		resp, body := postForm(t, ts, "/o/token/", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next.RefreshToken},
			"scope": {"write"}, "client_id": {cl.ClientID}, "client_secret": {ts.f.Secret}}, nil)
		if resp.StatusCode != http.StatusBadRequest || body["error"] != "invalid_scope" {
			t.Errorf("refresh asking for the withdrawn scope: got %d %v, want 400 invalid_scope", resp.StatusCode, body)
		}
		tok = next
	})
	t.Run("a code approved before the edit gets the narrowed scope", func(t *testing.T) {
		got, err := ac.Exchange(ts.ctx(), code, oauth2.VerifierOption(v))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		if got.Extra("scope") != "read" {
			t.Errorf("exchanged scope: got %v, want read", got.Extra("scope"))
		}
	})
	t.Run("nothing left is invalid_scope", func(t *testing.T) {
		edit("admin")
		_, err := refresh(tok.RefreshToken)
		assertRetrieveError(t, err, "invalid_scope")
		// The refusal retires nothing: give the scope back and the same
		// refresh token works again.
		edit("read write")
		again, err := refresh(tok.RefreshToken)
		if err != nil {
			t.Fatalf("refresh after widening the client back: %v", err)
		}
		if got := again.Extra("scope"); got != "read" {
			t.Errorf("a refresh widened the grant back: got %v, want read", got)
		}
	})
}
