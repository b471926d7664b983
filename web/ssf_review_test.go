package web_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/events"
	"github.com/latchkey/latchkey/models"
)

// TestPushToPrivateAddressRefused: by default a receiver cannot make the
// server POST to loopback, the metadata service or the private network:
// an http URL or a private IP literal is refused at creation, and a name
// that resolves to loopback is refused when connecting — recorded as the
// stream's last error, nothing ever sent.
func TestPushToPrivateAddressRefused(t *testing.T) {
	t.Parallel()
	es := newEventServerOpts(t, true, false)
	for _, u := range []string{"http://rs.example/events", "https://127.0.0.1/events", "https://[::1]/events",
		"https://169.254.169.254/latest/meta-data/", "https://10.1.2.3/events", "https://192.168.0.1/", "https://0.0.0.0/", "https://0.1.2.3/", "https://[::ffff:10.0.0.1]/"} {
		status, raw, _ := es.call(t, "POST", "/ssf/stream", es.bearer, map[string]any{
			"delivery": map[string]string{"method": events.DeliveryPush, "endpoint_url": u}})
		if status != 400 || !strings.Contains(string(raw), "endpoint_url") {
			t.Errorf("%s: got %d %s, want 400 naming endpoint_url", u, status, raw)
		}
	}

	var conns atomic.Int32
	rcv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(202) }))
	rcv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	rcv.StartTLS()
	defer rcv.Close()
	_, port, _ := net.SplitHostPort(rcv.Listener.Addr().String())
	status, raw, _ := es.call(t, "POST", "/ssf/stream", es.bearer, map[string]any{
		"delivery": map[string]string{"method": events.DeliveryPush, "endpoint_url": "https://localhost:" + port + "/events",
			"authorization_header": "Bearer chosen-by-the-receiver"}})
	if status != 201 {
		t.Fatalf("https://localhost: got %d %s, want 201 (a name is checked when connecting)", status, raw)
	}
	s := decode[streamJSON](t, raw)
	if status, raw, _ := es.call(t, "POST", "/ssf/verify", es.bearer, map[string]any{"stream_id": s.StreamID, "state": "x"}); status != 204 {
		t.Fatalf("verify: %d %s", status, raw)
	}
	var got *models.Stream
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var err error
		if got, err = es.st.StreamByID(context.Background(), models.AnyOwner, s.StreamID); err != nil {
			t.Fatal(err)
		}
		if got.LastError != "" || time.Now().After(deadline) {
			break
		}
	}
	if !strings.Contains(got.LastError, "private") {
		t.Errorf("last_error %q, want the private-address refusal", got.LastError)
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("the receiver on loopback got %d connections, want none", n)
	}
}

// TestStreamAudIsTheReceivers: aud is the transmitter's to set — always
// the owning receiver's client_id; a create, replace or update naming
// another audience is 400, naming its own is accepted.
func TestStreamAudIsTheReceivers(t *testing.T) {
	t.Parallel()
	es := newEventServer(t)
	own := es.receiver.Client.ClientID
	poll := map[string]string{"method": events.DeliveryPoll}
	status, raw, _ := es.call(t, "POST", "/ssf/stream", es.bearer, map[string]any{"delivery": poll, "aud": "other-resource-server"})
	if status != 400 {
		t.Errorf("create with another aud: %d %s, want 400", status, raw)
	}
	status, raw, _ = es.call(t, "POST", "/ssf/stream", es.bearer, map[string]any{"delivery": poll, "aud": []string{own}})
	if status != 201 {
		t.Fatalf("create with its own aud: %d %s", status, raw)
	}
	s := decode[streamJSON](t, raw)
	if s.Aud != own {
		t.Errorf("aud %q, want %q", s.Aud, own)
	}
	for _, m := range []string{"PUT", "PATCH"} {
		status, raw, _ := es.call(t, m, "/ssf/stream", es.bearer, map[string]any{"stream_id": s.StreamID, "delivery": poll, "aud": "other-resource-server"})
		if status != 400 {
			t.Errorf("%s with another aud: %d %s, want 400", m, status, raw)
		}
		status, raw, _ = es.call(t, m, "/ssf/stream", es.bearer, map[string]any{"stream_id": s.StreamID, "delivery": poll, "aud": own})
		if got := decode[streamJSON](t, raw); status != 200 || got.Aud != own {
			t.Errorf("%s with its own aud: %d %s", m, status, raw)
		}
	}
	if got, _ := es.st.StreamByID(context.Background(), models.AnyOwner, s.StreamID); got.Aud != own {
		t.Errorf("stored aud %q, want %q", got.Aud, own)
	}
}

// TestDisablingClientDisablesItsStreams: disabling a receiver's client
// disables its streams in the same transaction and drops what they had not
// delivered; the streams stay disabled (by staff) after the client is
// enabled again, and a receiver cannot re-enable a stream staff paused.
func TestDisablingClientDisablesItsStreams(t *testing.T) {
	t.Parallel()
	es := newEventServerWith(t, false)
	ctx := context.Background()
	s := es.pollStream(t)
	if status, raw, _ := es.call(t, "POST", "/ssf/verify", es.bearer, map[string]any{"stream_id": s.StreamID, "state": "x"}); status != 204 {
		t.Fatalf("verify: %d %s", status, raw)
	}
	if _, err := es.st.DisableClient(ctx, es.receiver.Client.ID, models.StaffAction{Actor: models.Staff(es.f.Admin)}); err != nil {
		t.Fatal(err)
	}
	got, err := es.st.StreamByID(ctx, models.AnyOwner, s.StreamID)
	if err != nil || got.Status != models.StreamDisabled || got.StatusBy != models.StatusByStaff {
		t.Fatalf("after disabling the client: %+v, %v; want disabled by staff", got, err)
	}
	rows, _ := es.st.StreamsOverview(ctx)
	for _, r := range rows {
		if r.StreamID == s.StreamID && r.Backlog != 0 {
			t.Errorf("backlog %d, want the pending event dropped", r.Backlog)
		}
	}

	// A stream staff paused: its receiver cannot change its status.
	rc, bearer := es.newReceiverClient(t, "Second RS")
	status, raw, _ := es.call(t, "POST", "/ssf/stream", bearer, map[string]any{"delivery": map[string]string{"method": events.DeliveryPoll}})
	if status != 201 {
		t.Fatalf("create: %d %s", status, raw)
	}
	s2 := decode[streamJSON](t, raw)
	if _, err := es.st.SetStreamStatusAs(ctx, s2.StreamID, models.StreamPaused, models.StaffAction{Actor: models.Staff(es.f.Admin)}); err != nil {
		t.Fatal(err)
	}
	status, raw, _ = es.call(t, "POST", "/ssf/status", bearer, map[string]any{"stream_id": s2.StreamID, "status": "enabled"})
	if status != 403 || !strings.Contains(string(raw), "staff") {
		t.Errorf("receiver re-enabling a stream staff paused: %d %s, want 403 with a description", status, raw)
	}
	if got, _ := es.st.StreamByID(ctx, rc.Client.ID, s2.StreamID); got.Status != models.StreamPaused {
		t.Errorf("status %s, want still paused", got.Status)
	}
	// Once staff enable it, the receiver manages it again.
	if _, err := es.st.SetStreamStatusAs(ctx, s2.StreamID, models.StreamEnabled, models.StaffAction{Actor: models.Staff(es.f.Admin)}); err != nil {
		t.Fatal(err)
	}
	if status, raw, _ := es.call(t, "POST", "/ssf/status", bearer, map[string]any{"stream_id": s2.StreamID, "status": "paused"}); status != 200 {
		t.Errorf("receiver pausing its enabled stream: %d %s", status, raw)
	}
	if status, raw, _ := es.call(t, "POST", "/ssf/status", bearer, map[string]any{"stream_id": s2.StreamID, "status": "enabled"}); status != 200 {
		t.Errorf("receiver enabling the stream it paused: %d %s", status, raw)
	}
}

// TestStreamLimits: a receiver owns at most ten streams (409), and asks
// for verification at most once per min_verification_interval (429 with
// Retry-After), which the stream configuration advertises.
func TestStreamLimits(t *testing.T) {
	t.Parallel()
	es := newEventServerWith(t, false)
	var first streamJSON
	for i := range models.MaxStreamsPerClient {
		s := es.pollStream(t)
		if i == 0 {
			first = s
		}
	}
	status, raw, _ := es.call(t, "POST", "/ssf/stream", es.bearer, map[string]any{"delivery": map[string]string{"method": events.DeliveryPoll}})
	if status != 409 || !strings.Contains(string(raw), "error_description") {
		t.Errorf("stream %d: %d %s, want 409 with a description", models.MaxStreamsPerClient+1, status, raw)
	}
	if first.MinVerificationInterval != 10 {
		t.Errorf("min_verification_interval %d, want 10", first.MinVerificationInterval)
	}
	verify := func() (int, []byte, http.Header) {
		return es.call(t, "POST", "/ssf/verify", es.bearer, map[string]any{"stream_id": first.StreamID, "state": "x"})
	}
	if status, raw, _ := verify(); status != 204 {
		t.Fatalf("first verification: %d %s", status, raw)
	}
	status, raw, hdr := verify()
	if status != 429 || hdr.Get("Retry-After") == "" || hdr.Get("Retry-After") > "10" || !strings.Contains(string(raw), "error_description") {
		t.Errorf("second verification at once: %d Retry-After %q %s, want 429 with Retry-After ≤ 10", status, hdr.Get("Retry-After"), raw)
	}
}
