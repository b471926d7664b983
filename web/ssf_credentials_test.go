package web_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/events"
	"github.com/latchkey/latchkey/events/eventstest"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// TestPushEndpointPasswordIsNeverShown: a receiver may put its push
// credential in the endpoint URL (https://user:password@host/…), and
// Latchkey sends it as Basic authentication. It is a secret like
// authorization_header: it must not come back in the stream's
// configuration, nor appear on the dashboard, an auditor's included
// (SPEC: no secret or password ever appears in a page).
func TestPushEndpointPasswordIsNeverShown(t *testing.T) {
	t.Parallel()
	es := newEventServer(t)
	rcv := eventstest.NewReceiver(t, es.URL)
	basic := func(user, pw string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
	}
	withCreds := func(user, pw string) string {
		return strings.Replace(rcv.URL(), "http://", "http://"+user+":"+pw+"@", 1)
	}

	status, raw, _ := es.call(t, "POST", "/ssf/stream", es.bearer, map[string]any{
		"delivery": map[string]string{"method": events.DeliveryPush, "endpoint_url": withCreds("rs", "TopSecretPw")},
	})
	if status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, raw)
	}
	s := decode[streamJSON](t, raw)
	if strings.Contains(string(raw), "TopSecretPw") || s.Delivery.EndpointURL != rcv.URL() {
		t.Errorf("the created stream's configuration: %s, want endpoint_url %s and no password", raw, rcv.URL())
	}
	if _, raw, _ := es.call(t, "GET", "/ssf/stream?stream_id="+s.StreamID, es.bearer, nil); strings.Contains(string(raw), "TopSecretPw") {
		t.Errorf("GET /ssf/stream echoes the password: %s", raw)
	}

	// The pushes still carry it.
	rcv.SetAudience(s.Aud)
	rcv.Authorization = basic("rs", "TopSecretPw")
	tok := es.passwordToken(t, "alice")
	sid := es.sid(t, tok)
	es.revokeAtEndpoint(t, tok)
	rcv.WaitSession(t, 10*time.Second, sid)

	// PATCH with new credentials in the URL replaces them.
	status, raw, _ = es.call(t, "PATCH", "/ssf/stream", es.bearer, map[string]any{"stream_id": s.StreamID,
		"delivery": map[string]string{"method": events.DeliveryPush, "endpoint_url": withCreds("rs", "NewSecretPw")},
	})
	if status != http.StatusOK || strings.Contains(string(raw), "NewSecretPw") {
		t.Fatalf("PATCH: %d %s, want 200 without the password", status, raw)
	}
	rcv.Authorization = basic("rs", "NewSecretPw")
	tok = es.passwordToken(t, "alice")
	sid = es.sid(t, tok)
	es.revokeAtEndpoint(t, tok)
	rcv.WaitSession(t, 10*time.Second, sid)
	if errs := rcv.Errors(); len(errs) != 0 {
		t.Errorf("the receiver refused pushes: %v", errs)
	}

	// Both places at once is ambiguous: 400, nothing changes.
	status, raw, _ = es.call(t, "PATCH", "/ssf/stream", es.bearer, map[string]any{"stream_id": s.StreamID,
		"delivery": map[string]string{"method": events.DeliveryPush, "endpoint_url": withCreds("rs", "Third"), "authorization_header": "Bearer x"},
	})
	if status != http.StatusBadRequest || !strings.Contains(string(raw), "invalid_request") {
		t.Errorf("credentials in the URL and authorization_header: %d %s, want 400", status, raw)
	}

	// A stream stored with a password in its URL (configured before this
	// rule) is shown without it.
	execRaw(t, es.testServer, "UPDATE streams SET endpoint_url = ? WHERE stream_id = '"+s.StreamID+"'", withCreds("rs", "LegacyPw"))
	if _, raw, _ := es.call(t, "GET", "/ssf/stream?stream_id="+s.StreamID, es.bearer, nil); strings.Contains(string(raw), "LegacyPw") {
		t.Errorf("GET /ssf/stream echoes a stored password: %s", raw)
	}
	if _, err := es.st.CreateUser(context.Background(), "auditor", models.RoleAuditor, modelstest.Password); err != nil {
		t.Fatal(err)
	}
	for _, who := range []string{"auditor", "admin"} {
		b := newBrowser(t, es.testServer)
		b.login(who)
		_, html := b.get("/admin/streams")
		if !strings.Contains(html, s.StreamID[:8]) {
			t.Fatalf("%s's /admin/streams does not list the stream", who)
		}
		for _, pw := range []string{"TopSecretPw", "NewSecretPw", "LegacyPw"} {
			if strings.Contains(html, pw) {
				t.Errorf("%s's /admin/streams shows a push endpoint's password (%s)", who, pw)
			}
		}
	}
	st, err := es.st.StreamByID(context.Background(), es.receiver.Client.ID, s.StreamID)
	if err != nil {
		t.Fatal(err)
	}
	if logged := st.LogValue().String(); strings.Contains(logged, "LegacyPw") {
		t.Errorf("a stream's log value carries the password: %s", logged)
	}
}
