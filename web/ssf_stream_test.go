package web_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/events"
	"github.com/latchkey/latchkey/events/eventstest"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

func TestSSFConfigurationAndJWKS(t *testing.T) {
	t.Parallel()
	es := newEventServer(t)
	for _, path := range []string{"/.well-known/ssf-configuration", "/.well-known/ssf-configuration/"} {
		status, raw, _ := es.call(t, "GET", path, "", nil)
		if status != 200 {
			t.Fatalf("%s: %d %s", path, status, raw)
		}
		cfg := decode[map[string]any](t, raw)
		want := map[string]any{"spec_version": "1_0", "issuer": es.URL, "jwks_uri": es.URL + "/o/jwks/",
			"configuration_endpoint": es.URL + "/ssf/stream", "status_endpoint": es.URL + "/ssf/status",
			"verification_endpoint": es.URL + "/ssf/verify", "default_subjects": "ALL"}
		for k, v := range want {
			if cfg[k] != v {
				t.Errorf("%s: %s = %v, want %v", path, k, cfg[k], v)
			}
		}
		methods, _ := cfg["delivery_methods_supported"].([]any)
		if len(methods) != 2 || methods[0] != events.DeliveryPush || methods[1] != events.DeliveryPoll {
			t.Errorf("delivery_methods_supported: %v", methods)
		}
	}
	for _, path := range []string{"/o/jwks", "/o/jwks/"} {
		status, raw, hdr := es.call(t, "GET", path, "", nil)
		if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/jwk-set+json") {
			t.Fatalf("%s: %d %s %s", path, status, hdr.Get("Content-Type"), raw)
		}
		set, err := jwk.Parse(raw)
		if err != nil || set.Len() != 1 {
			t.Fatalf("%s: JWK Set: %v, %d keys", path, err, set.Len())
		}
		key, _ := set.Key(0)
		if kid, _ := key.KeyID(); kid == "" {
			t.Error("key without kid")
		}
		if alg, _ := key.Algorithm(); alg.String() != "ES256" {
			t.Errorf("alg %v", alg)
		}
		if strings.Contains(string(raw), `"d"`) {
			t.Error("the JWK Set holds private key material")
		}
	}
	if status, _, hdr := es.call(t, "POST", "/o/jwks/", "", "{}"); status != 405 || hdr.Get("Allow") != "GET" {
		t.Errorf("POST /o/jwks/: %d Allow %q, want 405 GET", status, hdr.Get("Allow"))
	}
}

// TestStreamManagement walks a stream through SSF 1.0's stream management
// API: create, read (one and all), update, replace, status, verification
// and delete.
func TestStreamManagement(t *testing.T) {
	t.Parallel()
	es := newEventServer(t)
	rcv := eventstest.NewReceiver(t, es.URL)
	s := es.pushStream(t, rcv)
	if s.StreamID == "" || s.Iss != es.URL || s.Aud != es.receiver.Client.ClientID || s.Delivery.Method != events.DeliveryPush ||
		s.Delivery.EndpointURL != rcv.URL() || !slices.Contains(s.EventsDelivered, events.SessionRevoked) {
		t.Errorf("created: %+v", s)
	}
	if s.Delivery.AuthorizationHeader != "" {
		t.Error("the stream's authorization_header was echoed back")
	}
	q := "/ssf/stream?stream_id=" + s.StreamID

	status, raw, _ := es.call(t, "GET", q, es.bearer, nil)
	if got := decode[streamJSON](t, raw); status != 200 || got.StreamID != s.StreamID || got.Delivery.EndpointURL != rcv.URL() {
		t.Errorf("read: %d %s", status, raw)
	}
	status, raw, _ = es.call(t, "GET", "/ssf/stream/", es.bearer, nil)
	if all := decode[[]streamJSON](t, raw); status != 200 || len(all) != 1 || all[0].StreamID != s.StreamID {
		t.Errorf("read all: %d %s", status, raw)
	}

	status, raw, _ = es.call(t, "PATCH", "/ssf/stream", es.bearer, map[string]any{"stream_id": s.StreamID, "description": "cache invalidation"})
	if got := decode[streamJSON](t, raw); status != 200 || got.Description != "cache invalidation" || got.Delivery.EndpointURL != rcv.URL() {
		t.Errorf("update: %d %s", status, raw)
	}

	// The verification SET goes out by push, verified by the receiver.
	if status, raw, _ := es.call(t, "POST", "/ssf/verify", es.bearer, map[string]any{"stream_id": s.StreamID, "state": "push-check"}); status != 204 {
		t.Fatalf("verify: %d %s", status, raw)
	}
	got := rcv.Wait(t, 5e9, "verification", func(s []eventstest.SET) bool { return len(s) == 1 })
	if got[0].Type != eventstest.Verification || got[0].Event["state"] != "push-check" || got[0].SubID.ID != s.StreamID {
		t.Errorf("verification SET: %+v", got[0])
	}
	es.waitDelivered(t)

	// Replace with a poll stream: the transmitter gives the endpoint.
	status, raw, _ = es.call(t, "PUT", "/ssf/stream", es.bearer, map[string]any{"stream_id": s.StreamID,
		"delivery": map[string]string{"method": events.DeliveryPoll}, "events_requested": []string{events.SessionRevoked}})
	rep := decode[streamJSON](t, raw)
	if status != 200 || rep.Delivery.Method != events.DeliveryPoll || rep.Delivery.EndpointURL != es.URL+"/ssf/poll/"+s.StreamID ||
		rep.Description != "" || !slices.Equal(rep.EventsRequested, []string{events.SessionRevoked}) {
		t.Errorf("replace: %d %s", status, raw)
	}
	// Sending the configuration back as it was given is accepted.
	status, raw, _ = es.call(t, "PUT", "/ssf/stream", es.bearer, rep)
	if status != 200 {
		t.Errorf("replace with the configuration as read: %d %s", status, raw)
	}

	status, raw, _ = es.call(t, "GET", "/ssf/status?stream_id="+s.StreamID, es.bearer, nil)
	if st := decode[map[string]any](t, raw); status != 200 || st["status"] != "enabled" || st["stream_id"] != s.StreamID {
		t.Errorf("status: %d %s", status, raw)
	}
	status, raw, _ = es.call(t, "POST", "/ssf/status", es.bearer, map[string]any{"stream_id": s.StreamID, "status": "paused", "reason": "maintenance"})
	if st := decode[map[string]any](t, raw); status != 200 || st["status"] != "paused" || st["reason"] != "maintenance" {
		t.Errorf("pause: %d %s", status, raw)
	}
	// Paused: a verification is held, not polled. (Queued as staff: the
	// receiver verified less than min_verification_interval ago.)
	if err := es.st.QueueVerification(context.Background(), models.AnyOwner, s.StreamID, "held"); err != nil {
		t.Fatal(err)
	}
	if p := es.poll(t, s.StreamID, map[string]any{"returnImmediately": true}); len(p.Sets) != 0 {
		t.Errorf("a paused stream answered %d SETs", len(p.Sets))
	}
	es.call(t, "POST", "/ssf/status", es.bearer, map[string]any{"stream_id": s.StreamID, "status": "enabled"})
	p := es.poll(t, s.StreamID, map[string]any{"returnImmediately": true})
	if len(p.Sets) != 1 {
		t.Fatalf("after enabling: %d SETs, want the held verification", len(p.Sets))
	}
	v := eventstest.NewVerifier(es.URL, es.receiver.Client.ClientID)
	for jti, raw := range p.Sets {
		set, err := v.Verify(context.Background(), raw)
		if err != nil || set.Jti != jti || set.Event["state"] != "held" {
			t.Errorf("polled verification: %v %+v", err, set)
		}
	}

	if status, raw, _ := es.call(t, "DELETE", q, es.bearer, nil); status != 204 {
		t.Fatalf("delete: %d %s", status, raw)
	}
	if status, _, _ := es.call(t, "GET", q, es.bearer, nil); status != 404 {
		t.Errorf("read after delete: %d, want 404", status)
	}
}

// TestStreamsAreTheirReceiversOwn checks that a receiver sees and changes
// only its own streams: every operation on another's answers 404.
func TestStreamsAreTheirReceiversOwn(t *testing.T) {
	t.Parallel()
	es := newEventServer(t)
	mine := es.pollStream(t)
	_, other := es.newReceiverClient(t, "Other Resource Server")
	id := mine.StreamID
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/ssf/stream?stream_id=" + id, nil},
		{"PATCH", "/ssf/stream", map[string]any{"stream_id": id, "description": "mine now"}},
		{"PUT", "/ssf/stream", map[string]any{"stream_id": id, "delivery": map[string]string{"method": events.DeliveryPoll}}},
		{"DELETE", "/ssf/stream?stream_id=" + id, nil},
		{"GET", "/ssf/status?stream_id=" + id, nil},
		{"POST", "/ssf/status", map[string]any{"stream_id": id, "status": "disabled"}},
		{"POST", "/ssf/verify", map[string]any{"stream_id": id, "state": "x"}},
		{"POST", "/ssf/poll/" + id, map[string]any{"returnImmediately": true}},
	} {
		status, raw, _ := es.call(t, c.method, c.path, other, c.body)
		if status != 404 || !strings.Contains(string(raw), `"error"`) {
			t.Errorf("%s %s by another receiver: %d %s, want 404", c.method, c.path, status, raw)
		}
	}
	status, raw, _ := es.call(t, "GET", "/ssf/stream", other, nil)
	if status != 200 || strings.TrimSpace(string(raw)) != "[]" {
		t.Errorf("another receiver's list: %d %s, want []", status, raw)
	}
	// The stream is untouched.
	status, raw, _ = es.call(t, "GET", "/ssf/stream?stream_id="+id, es.bearer, nil)
	if got := decode[streamJSON](t, raw); status != 200 || got.Description != "" {
		t.Errorf("owner's read: %d %s", status, raw)
	}
}

func TestSSFAuthentication(t *testing.T) {
	t.Parallel()
	es := newEventServer(t)
	notSSF := es.clientCredentials(t).AccessToken // the fixture's client, created without --ssf
	// A user's token delegated to a --ssf client speaks for the user, not
	// for the receiver.
	rx, err := es.st.ClientByID(t.Context(), es.receiver.Client.ID)
	if err != nil {
		t.Fatal(err)
	}
	asUser := modelstest.IssuePassword(t, es.st, rx, es.f.Alice).AccessToken
	for _, c := range []struct {
		name, bearer, raw string
		want              int
		wantErr           string
	}{
		{"no token", "", "", 401, ""},
		{"unknown token", "not-a-token", "", 401, "invalid_token"},
		{"basic auth", "", "Basic YTpi", 400, "invalid_request"},
		{"client without --ssf", notSSF, "", 403, "insufficient_scope"},
		{"a user's token of a --ssf client", asUser, "", 403, "insufficient_scope"},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", es.URL+"/ssf/stream", nil)
			if c.bearer != "" {
				req.Header.Set("Authorization", "Bearer "+c.bearer)
			}
			if c.raw != "" {
				req.Header.Set("Authorization", c.raw)
			}
			resp, err := es.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			challenge := resp.Header.Get("WWW-Authenticate")
			if resp.StatusCode != c.want || !strings.HasPrefix(challenge, "Bearer") || !strings.Contains(challenge, c.wantErr) {
				t.Errorf("got %d %q, want %d with a Bearer challenge naming %q", resp.StatusCode, challenge, c.want, c.wantErr)
			}
		})
	}
}

// TestSSFBadInput sends malformed requests to every SSF endpoint: each is
// a 4xx with a JSON error and a description, never a 500.
func TestSSFBadInput(t *testing.T) {
	t.Parallel()
	es := newEventServer(t)
	s := es.pollStream(t)
	push := map[string]string{"method": events.DeliveryPush}
	for _, c := range []struct {
		name, method, path string
		body               any
		want               int
	}{
		{"not JSON", "POST", "/ssf/stream", "{nope", 400},
		{"an array", "POST", "/ssf/stream", "[]", 400},
		{"two values", "POST", "/ssf/stream", `{"delivery":{"method":"urn:ietf:rfc:8936"}} {}`, 400},
		// json.Decoder's More is false before a closing delimiter, so
		// these passed as one value and the stream was created.
		{"a stray brace after the value", "POST", "/ssf/stream", `{"delivery":{"method":"urn:ietf:rfc:8936"}}}`, 400},
		{"a stray bracket and more", "POST", "/ssf/stream", `{"delivery":{"method":"urn:ietf:rfc:8936"}}]garbage`, 400},
		{"no delivery", "POST", "/ssf/stream", map[string]any{}, 400},
		{"delivery of the wrong type", "POST", "/ssf/stream", `{"delivery": "push"}`, 400},
		{"unknown method", "POST", "/ssf/stream", map[string]any{"delivery": map[string]string{"method": "smoke-signals"}}, 400},
		{"push without endpoint", "POST", "/ssf/stream", map[string]any{"delivery": push}, 400},
		{"push to a relative URL", "POST", "/ssf/stream", map[string]any{"delivery": map[string]string{"method": events.DeliveryPush, "endpoint_url": "/events"}}, 400},
		{"poll with an endpoint", "POST", "/ssf/stream", map[string]any{"delivery": map[string]string{"method": events.DeliveryPoll, "endpoint_url": "https://x.example/"}}, 400},
		{"header with a newline", "POST", "/ssf/stream", map[string]any{"delivery": map[string]string{"method": events.DeliveryPush, "endpoint_url": "https://x.example/", "authorization_header": "a\r\nb"}}, 400},
		{"events_requested not a list", "POST", "/ssf/stream", `{"delivery":{"method":"urn:ietf:rfc:8936"},"events_requested":"all"}`, 400},
		{"aud a number", "POST", "/ssf/stream", `{"delivery":{"method":"urn:ietf:rfc:8936"},"aud":7}`, 400},
		{"form body", "POST", "/ssf/stream", nil, 400},
		{"update without stream_id", "PATCH", "/ssf/stream", map[string]any{"description": "x"}, 400},
		{"update of an unknown stream", "PATCH", "/ssf/stream", map[string]any{"stream_id": "nope"}, 404},
		{"update changing aud", "PATCH", "/ssf/stream", map[string]any{"stream_id": s.StreamID, "aud": "someone"}, 400},
		{"replace without delivery", "PUT", "/ssf/stream", map[string]any{"stream_id": s.StreamID}, 400},
		{"delete without stream_id", "DELETE", "/ssf/stream", nil, 400},
		{"status without stream_id", "GET", "/ssf/status", nil, 400},
		{"status of an unknown stream", "GET", "/ssf/status?stream_id=nope", nil, 404},
		{"unknown status", "POST", "/ssf/status", map[string]any{"stream_id": s.StreamID, "status": "asleep"}, 400},
		{"verify without stream_id", "POST", "/ssf/verify", map[string]any{"state": "x"}, 400},
		{"verify state not a string", "POST", "/ssf/verify", `{"stream_id":"` + s.StreamID + `","state":1}`, 400},
		{"poll maxEvents negative", "POST", "/ssf/poll/" + s.StreamID, map[string]any{"maxEvents": -1}, 400},
		{"poll maxEvents huge", "POST", "/ssf/poll/" + s.StreamID, map[string]any{"maxEvents": 1 << 40}, 400},
		{"poll ack not a list", "POST", "/ssf/poll/" + s.StreamID, `{"ack": "x"}`, 400},
		{"poll an unknown stream", "POST", "/ssf/poll/nope", map[string]any{}, 404},
		{"a method no endpoint takes", "PATCH", "/ssf/verify", map[string]any{}, 405},
	} {
		t.Run(c.name, func(t *testing.T) {
			var status int
			var raw []byte
			if c.name == "form body" {
				resp, body := postForm(t, es.testServer, c.path, map[string][]string{"delivery": {"push"}}, http.Header{"Authorization": {"Bearer " + es.bearer}})
				status, raw = resp.StatusCode, []byte(body["error_description"].(string))
			} else {
				status, raw, _ = es.call(t, c.method, c.path, es.bearer, c.body)
			}
			if status != c.want {
				t.Fatalf("got %d %s, want %d", status, raw, c.want)
			}
			if c.name != "form body" {
				e := decode[map[string]string](t, raw)
				if e["error"] == "" || e["error_description"] == "" {
					t.Errorf("error body %s, want error and error_description", raw)
				}
			}
		})
	}
}
