package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/events/eventstest"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/web"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"golang.org/x/oauth2/clientcredentials"
)

// ssfCall sends a JSON request with a bearer token.
func ssfCall(t *testing.T, method, url, bearer string, body any) (int, []byte) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// TestKeysRotate runs `latchkey keys rotate` beside a running server: the
// next SET is signed with the new kid, and the old kid stays in /o/jwks/,
// so a SET signed before the rotation still verifies.
func TestKeysRotate(t *testing.T) {
	c := newCLI(t)
	var created struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	out := c.ok("", "client", "create", "--name", "RS", "--type", "confidential", "--grant", "client_credentials", "--ssf", "--json")
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatal(err)
	}
	st := c.store()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	srv.Config.Handler = web.New(web.Config{Issuer: issuer, TTLs: models.DefaultTTLs}, st, nil)
	srv.Start()
	defer srv.Close()

	cc := clientcredentials.Config{ClientID: created.ClientID, ClientSecret: created.ClientSecret, TokenURL: issuer + "/o/token/"}
	tok, err := cc.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	status, raw := ssfCall(t, "POST", issuer+"/ssf/stream", tok.AccessToken, map[string]any{"delivery": map[string]string{"method": "urn:ietf:rfc:8936"}})
	if status != 201 {
		t.Fatalf("create stream: %d %s", status, raw)
	}
	var stream struct {
		StreamID string `json:"stream_id"`
	}
	_ = json.Unmarshal(raw, &stream)
	v := eventstest.NewVerifier(issuer, created.ClientID)
	// verified queues a verification, polls it, acknowledges it and
	// returns it verified.
	// The first goes through /ssf/verify; the next are queued as staff,
	// since a receiver may ask only once per min_verification_interval.
	first := true
	verified := func(state string) eventstest.SET {
		t.Helper()
		if first {
			if status, raw := ssfCall(t, "POST", issuer+"/ssf/verify", tok.AccessToken, map[string]string{"stream_id": stream.StreamID, "state": state}); status != 204 {
				t.Fatalf("verify: %d %s", status, raw)
			}
			first = false
		} else if err := st.QueueVerification(context.Background(), models.AnyOwner, stream.StreamID, state); err != nil {
			t.Fatal(err)
		}
		status, raw := ssfCall(t, "POST", issuer+"/ssf/poll/"+stream.StreamID, tok.AccessToken, map[string]any{"returnImmediately": true})
		var p struct {
			Sets map[string]string `json:"sets"`
		}
		if status != 200 || json.Unmarshal(raw, &p) != nil || len(p.Sets) != 1 {
			t.Fatalf("poll: %d %s", status, raw)
		}
		for jti, set := range p.Sets {
			got, err := v.Verify(context.Background(), set)
			if err != nil {
				t.Fatalf("verify SET: %v", err)
			}
			ssfCall(t, "POST", issuer+"/ssf/poll/"+stream.StreamID, tok.AccessToken, map[string]any{"ack": []string{jti}, "maxEvents": 0})
			return got
		}
		return eventstest.SET{}
	}
	before := verified("before")

	out = c.ok("", "keys", "rotate")
	newKid, ok := strings.CutPrefix(strings.SplitN(out, "\n", 2)[0], "new signing key: ")
	if !ok || newKid == before.Kid || !strings.Contains(out, before.Kid) {
		t.Fatalf("keys rotate printed %q; the old kid was %s", out, before.Kid)
	}

	// The server reads the signing key at most a second old.
	var after eventstest.SET
	for deadline := time.Now().Add(5 * time.Second); ; {
		after = verified("after")
		if after.Kid == newKid || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if after.Kid != newKid {
		t.Fatalf("after the rotation SETs are signed with %s, want %s", after.Kid, newKid)
	}
	set, err := jwk.Fetch(context.Background(), issuer+"/o/jwks/")
	if err != nil {
		t.Fatal(err)
	}
	for _, kid := range []string{newKid, before.Kid} {
		if _, ok := set.LookupKeyID(kid); !ok {
			t.Errorf("kid %s is not in /o/jwks/", kid)
		}
	}
	// A SET signed before the rotation still verifies with a fresh fetch.
	if _, err := eventstest.NewVerifier(issuer, created.ClientID).Verify(context.Background(), before.Raw); err != nil {
		t.Errorf("a SET signed with the retired key: %v", err)
	}
	if r := c.run("", "keys", "rotate", "extra"); r.code != 2 {
		t.Errorf("keys rotate extra: exit %d, want 2", r.code)
	}
	// The rotation is in the audit trail: who ran it, the new key and the
	// key it retired.
	page, err := st.AuditEvents(context.Background(), models.AuditFilter{Action: models.ActionKeyRotate}, models.Cursor{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Rows) != 1 {
		t.Fatalf("signing_key.rotate events: got %d, want 1", len(page.Rows))
	}
	ev := page.Rows[0]
	if ev.Actor != c.actor() || ev.RemoteAddr != "cli" || !strings.Contains(ev.Reason, "new signing key "+newKid) ||
		!strings.Contains(ev.Reason, "retired "+before.Kid) {
		t.Errorf("rotation event: actor %q from %q, reason %q; want %s from cli naming %s and %s",
			ev.Actor, ev.RemoteAddr, ev.Reason, c.actor(), newKid, before.Kid)
	}
}
