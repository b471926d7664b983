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
		"https://169.254.169.254/latest/meta-data/", "https://10.1.2.3/events", "https://192.168.0.1/", "https://0.0.0.0/"} {
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
