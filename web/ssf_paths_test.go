package web_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/latchkey/latchkey/events/eventstest"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// confirmAndPost does a dashboard action the way a browser without
// JavaScript does: from page, the action's GET form opens the
// confirmation, whose POST form acts (303).
func confirmAndPost(t *testing.T, b *browser, page, action, reason string) {
	t.Helper()
	_, html := b.get(page)
	open := formFields(t, html, action)
	_, html = b.get(action + "?" + open.Encode())
	form := formFields(t, html, action)
	if reason != "" {
		form.Set("reason", reason)
	}
	if resp, body := b.post(action, form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST %s: %d\n%s", action, resp.StatusCode, body)
	}
}

// TestEveryRevocationPathSendsSessionRevoked revokes through every path
// (the other one, the command line, is in cmd/latchkey) and checks that
// the independent receiver gets a verified session-revoked whose subject
// names what was revoked, with who caused it.
func TestEveryRevocationPathSendsSessionRevoked(t *testing.T) {
	t.Parallel()
	es := newEventServer(t)
	rcv := eventstest.NewReceiver(t, es.URL)
	es.pushStream(t, rcv)
	admin := newBrowser(t, es.testServer)
	admin.login("admin")
	cid := es.f.Confidential.ClientID
	wait := 10 * time.Second

	// session waits for the SET naming sid and checks its subject.
	session := func(t *testing.T, sid, user, client, initiator string) eventstest.SET {
		t.Helper()
		set := rcv.WaitSession(t, wait, sid)
		if set.User() != user || set.Client() != client || set.Initiator() != initiator {
			t.Errorf("SET for %s: user %q client %q by %q, want %q %q by %q", sid, set.User(), set.Client(), set.Initiator(), user, client, initiator)
		}
		return set
	}
	// whole waits for a SET about all of a user's or a client's grants:
	// no session, the user (or none) and the client (or none).
	whole := func(t *testing.T, user, client, initiator string) eventstest.SET {
		t.Helper()
		match := func(s eventstest.SET) bool {
			return s.Type == eventstest.SessionRevoked && s.Session() == "" && s.User() == user && s.Client() == client
		}
		got := rcv.Wait(t, wait, "a session-revoked for user "+user+" client "+client, func(s []eventstest.SET) bool {
			for _, x := range s {
				if match(x) {
					return true
				}
			}
			return false
		})
		for _, x := range got {
			if match(x) {
				if x.Initiator() != initiator {
					t.Errorf("initiating_entity %q, want %q", x.Initiator(), initiator)
				}
				return x
			}
		}
		return eventstest.SET{}
	}

	t.Run("an app's logout at the endpoint", func(t *testing.T) {
		tok := es.passwordToken(t, "alice")
		sid := es.sid(t, tok)
		es.revokeAtEndpoint(t, tok)
		session(t, sid, "alice", cid, "user")
	})
	t.Run("a client revoking its own client_credentials token at the endpoint", func(t *testing.T) {
		tok := es.clientCredentials(t)
		sid := es.sid(t, tok)
		es.revokeAtEndpoint(t, tok)
		session(t, sid, "", cid, "system")
	})
	t.Run("the dashboard's grant button", func(t *testing.T) {
		tok := es.passwordToken(t, "alice")
		info, _ := es.st.ActiveToken(t.Context(), tok.AccessToken)
		confirmAndPost(t, admin, "/admin/tokens?user=alice", "/admin/grants/"+strconv.FormatInt(info.Token.GrantID, 10)+"/revoke", "laptop stolen")
		if set := session(t, info.GrantPublicID, "alice", cid, "admin"); set.Reason() != "laptop stolen" {
			t.Errorf("reason_admin: %q", set.Reason())
		}
	})
	t.Run("self-service", func(t *testing.T) {
		tok := es.passwordToken(t, "bob")
		sid := es.sid(t, tok)
		bob := newBrowser(t, es.testServer)
		bob.login("bob")
		action := "/o/authorized_tokens/" + strconv.FormatInt(es.f.Confidential.ID, 10) + "/delete/"
		_, html := bob.get("/o/authorized_tokens/")
		open := formFields(t, html, action)
		_, html = bob.get(action + "?" + open.Encode())
		if resp, _ := bob.post(action, formFields(t, html, action)); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("self-service revoke: %d", resp.StatusCode)
		}
		// One event per grant, or one for bob at the client: either names it.
		got := rcv.Wait(t, wait, "bob's self-service revocation", func(s []eventstest.SET) bool {
			for _, x := range s {
				if x.Session() == sid || (x.Session() == "" && x.User() == "bob" && x.Client() == cid) {
					return true
				}
			}
			return false
		})
		for _, x := range got {
			if (x.Session() == sid || (x.Session() == "" && x.User() == "bob")) && x.Initiator() != "user" {
				t.Errorf("initiating_entity %q, want user", x.Initiator())
			}
		}
	})
	t.Run("refresh-token reuse", func(t *testing.T) {
		tok := es.passwordToken(t, "alice")
		sid := es.sid(t, tok)
		cfg := oauth2.Config{ClientID: cid, ClientSecret: es.f.Secret, Endpoint: es.endpoint()}
		stale := &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}
		if _, err := cfg.TokenSource(es.ctx(), stale).Token(); err != nil {
			t.Fatal(err)
		}
		_, err := cfg.TokenSource(es.ctx(), stale).Token() // the same refresh token again
		assertRetrieveError(t, err, "invalid_grant")
		session(t, sid, "alice", cid, "policy")
	})
	t.Run("code reuse", func(t *testing.T) {
		cfg := &oauth2.Config{ClientID: cid, ClientSecret: es.f.Secret, Endpoint: es.endpoint(),
			RedirectURL: "http://127.0.0.1:9999/callback", Scopes: []string{"read"}}
		verifier := oauth2.GenerateVerifier()
		code := authorize(t, es.testServer, cfg, oauth2.S256ChallengeOption(verifier)).Get("code")
		tok, err := cfg.Exchange(es.ctx(), code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		sid := es.sid(t, tok)
		_, err = cfg.Exchange(es.ctx(), code, oauth2.VerifierOption(verifier))
		assertRetrieveError(t, err, "invalid_grant")
		session(t, sid, "alice", cid, "policy")
	})
	t.Run("the dashboard revoking all of a user's grants", func(t *testing.T) {
		es.passwordToken(t, "alice")
		user := "/admin/users/" + strconv.FormatInt(es.f.Alice.ID, 10)
		confirmAndPost(t, admin, user, user+"/revoke", "")
		whole(t, "alice", "", "admin")
	})
	t.Run("the dashboard revoking all of a client's tokens", func(t *testing.T) {
		other := clientcredentials.Config{ClientID: es.f.Other.ClientID, ClientSecret: es.f.OtherSecret, TokenURL: es.URL + "/o/token/"}
		if _, err := other.Token(es.ctx()); err != nil {
			t.Skipf("the fixture's other client cannot use client_credentials: %v", err)
		}
		client := "/admin/clients/" + strconv.FormatInt(es.f.Other.ID, 10)
		confirmAndPost(t, admin, client, client+"/revoke", "")
		whole(t, "", es.f.Other.ClientID, "admin")
	})
	t.Run("disabling a user", func(t *testing.T) {
		es.passwordToken(t, "bob")
		user := "/admin/users/" + strconv.FormatInt(es.f.Bob.ID, 10)
		confirmAndPost(t, admin, user, user+"/disable", "left")
		whole(t, "bob", "", "policy")
	})
	t.Run("disabling a client", func(t *testing.T) {
		es.clientCredentials(t)
		client := "/admin/clients/" + strconv.FormatInt(es.f.Confidential.ID, 10)
		confirmAndPost(t, admin, client, client+"/disable", "retired")
		whole(t, "", cid, "policy")
	})
}
