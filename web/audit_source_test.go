package web_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"testing"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
	"github.com/latchkey/latchkey/web"
)

// TestAuditSourceNotForgeable: the remote address and request ID in an
// audit event come from the connection and from Latchkey, not from headers
// a client can send.
func TestAuditSourceNotForgeable(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.passwordToken(t, "alice")
	resp, _ := postForm(t, ts, "/o/revoke_token/", url.Values{"token": {tok.AccessToken},
		"client_id": {ts.f.Confidential.ClientID}, "client_secret": {ts.f.Secret}},
		http.Header{"X-Forwarded-For": {"203.0.113.66"}, "X-Real-Ip": {"203.0.113.67"}, "X-Request-Id": {"forged-id"}})
	if resp.StatusCode != 200 {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if got := resp.Header.Get("X-Request-Id"); got == "forged-id" || got == "" {
		t.Errorf("response request ID %q", got)
	}
	page, err := ts.st.AuditEvents(context.Background(), models.AuditFilter{}, models.Cursor{}, 1)
	if err != nil || len(page.Rows) != 1 {
		t.Fatalf("audit: %v %v", page, err)
	}
	ev := page.Rows[0]
	if ev.RemoteAddr != "127.0.0.1" || ev.RequestID == "forged-id" || ev.RequestID != resp.Header.Get("X-Request-Id") {
		t.Errorf("audit event from %q with request ID %q; want 127.0.0.1 and the server's own ID", ev.RemoteAddr, ev.RequestID)
	}
}

// TestTrustedProxy: behind a load balancer named in TrustedProxies, the
// client address is the one it puts in X-Forwarded-For.
func TestTrustedProxy(t *testing.T) {
	t.Parallel()
	st := modelstest.NewStore(t)
	f := modelstest.NewFixture(t, st)
	_, loopback, _ := net.ParseCIDR("127.0.0.0/8")
	ts := startServer(t, st, f, web.Config{TrustedProxies: []*net.IPNet{loopback}}, nil)
	tok := ts.passwordToken(t, "alice")
	resp, _ := postForm(t, ts, "/o/revoke_token/", url.Values{"token": {tok.AccessToken},
		"client_id": {f.Confidential.ClientID}, "client_secret": {f.Secret}},
		http.Header{"X-Forwarded-For": {"203.0.113.66"}})
	if resp.StatusCode != 200 {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	page, err := st.AuditEvents(context.Background(), models.AuditFilter{}, models.Cursor{}, 1)
	if err != nil || len(page.Rows) != 1 {
		t.Fatalf("audit: %v %v", page, err)
	}
	if got := page.Rows[0].RemoteAddr; got != "203.0.113.66" {
		t.Errorf("audit address %q, want the forwarded 203.0.113.66", got)
	}
}
