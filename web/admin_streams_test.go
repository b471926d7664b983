package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/models"
)

// streamAction confirms and does a stream action the way a browser
// without JavaScript does: the button's GET form opens the confirmation,
// whose POST form acts and redirects back (303).
func streamAction(t *testing.T, b *browser, streamID, action, reason string) string {
	t.Helper()
	path := "/admin/streams/" + streamID + "/" + action
	_, html := b.get("/admin/streams")
	open := formFields(t, html, path)
	resp, html := b.get(path + "?" + open.Encode())
	if resp.StatusCode != 200 {
		t.Fatalf("%s confirmation: %d", action, resp.StatusCode)
	}
	form := formFields(t, html, path)
	form.Set("reason", reason)
	resp, _ = b.post(path, form)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/streams" {
		t.Fatalf("%s: got %d to %q, want 303 to /admin/streams", action, resp.StatusCode, resp.Header.Get("Location"))
	}
	_, html = b.get("/admin/streams")
	return html
}

// TestStreamsPage pauses, enables and deletes a stream from the dashboard
// at the HTTP level: each changes the stream as its receiver sees it and
// writes an audit event naming the staff member.
func TestStreamsPage(t *testing.T) {
	t.Parallel()
	es := newEventServer(t)
	s := es.pollStream(t)
	b := newBrowser(t, es.testServer)
	b.login("admin")
	_, html := b.get("/admin/streams")
	d := doc(t, html)
	row := d.Find(`[data-testid="stream-row"]`)
	if row.Length() != 1 || row.Find(`[data-testid="stream-receiver"]`).Text() != "Resource Server" ||
		strings.TrimSpace(row.Find(`[data-testid="stream-method"]`).Text()) != "poll" ||
		row.Find(`[data-testid="stream-status"]`).Text() != "enabled" || row.Find(`[data-testid="stream-backlog"]`).Text() != "0" {
		t.Fatalf("streams page row: %q", row.Text())
	}
	for id, danger := range map[string]bool{"stream-pause": true, "stream-delete": true} {
		if got := row.Find(`[data-testid="` + id + `"]`).HasClass("danger"); got != danger {
			t.Errorf("%s: danger %v, want %v (pausing holds events, deleting drops them)", id, got, danger)
		}
	}
	if d.Find(`nav a[href="/admin/streams"]`).Length() != 1 {
		t.Error("no Streams link in the navigation")
	}
	status := func() string {
		_, raw, _ := es.call(t, "GET", "/ssf/status?stream_id="+s.StreamID, es.bearer, nil)
		return decode[map[string]any](t, raw)["status"].(string)
	}
	for _, c := range []struct{ action, wantStatus, flash string }{
		{"pause", "paused", "Paused Resource Server's event stream."},
		{"enable", "enabled", "Enabled Resource Server's event stream."},
	} {
		html := streamAction(t, b, s.StreamID, c.action, "incident 42")
		if got := doc(t, html).Find(`[data-testid="flash"]`).Text(); got != c.flash {
			t.Errorf("%s flash: got %q, want %q", c.action, got, c.flash)
		}
		if got := status(); got != c.wantStatus {
			t.Errorf("after %s the receiver sees %q, want %q", c.action, got, c.wantStatus)
		}
		ev := es.lastAudit(t)
		if ev.Action != models.ActionStreamStatus || ev.Actor != "admin" || !strings.Contains(ev.Reason, c.wantStatus) ||
			!strings.Contains(ev.Reason, "incident 42") || ev.ClientID == nil || *ev.ClientID != es.receiver.Client.ID {
			t.Errorf("%s audit event: %+v", c.action, ev)
		}
	}
	html = streamAction(t, b, s.StreamID, "delete", "decommissioned")
	if doc(t, html).Find(`[data-testid="streams-empty"]`).Length() != 1 {
		t.Error("the deleted stream is still listed")
	}
	if st, _, _ := es.call(t, "GET", "/ssf/stream?stream_id="+s.StreamID, es.bearer, nil); st != 404 {
		t.Errorf("the receiver still reads its deleted stream: %d", st)
	}
	if ev := es.lastAudit(t); ev.Action != models.ActionStreamDelete || ev.Actor != "admin" || !strings.Contains(ev.Reason, s.StreamID) {
		t.Errorf("delete audit event: %+v", ev)
	}
	if resp, _ := b.get("/admin/streams/" + s.StreamID + "/pause"); resp.StatusCode != 404 {
		t.Errorf("confirming an action on a deleted stream: %d, want 404", resp.StatusCode)
	}
	if resp, _ := b.get("/admin/streams/nope/explode"); resp.StatusCode != 404 {
		t.Errorf("an unknown action: %d, want 404", resp.StatusCode)
	}
}

// TestStreamsPageAuditorsRead checks that an auditor sees the streams but
// no action, and that the server refuses an auditor's actions.
func TestStreamsPageAuditorsRead(t *testing.T) {
	t.Parallel()
	es := newEventServer(t)
	s := es.pollStream(t)
	admin := newBrowser(t, es.testServer)
	admin.login("admin")
	_, adminHTML := admin.get("/admin/streams")
	form := formFields(t, adminHTML, "/admin/streams/"+s.StreamID+"/pause")
	_, html := admin.get("/admin/streams/" + s.StreamID + "/pause?" + form.Encode())
	post := formFields(t, html, "/admin/streams/"+s.StreamID+"/pause")

	aud := newStaff(t, es.testServer, "audrey", models.RoleAuditor)
	resp, html := aud.get("/admin/streams")
	d := doc(t, html)
	if resp.StatusCode != 200 || d.Find(`[data-testid="stream-row"]`).Length() != 1 {
		t.Fatalf("auditor's streams page: %d", resp.StatusCode)
	}
	if n := d.Find(`[data-testid^="stream-pause"], [data-testid^="stream-delete"], [data-testid^="stream-enable"]`).Length(); n != 0 {
		t.Errorf("the auditor sees %d action buttons", n)
	}
	_, audHTML := aud.get("/admin/")
	post.Set("csrf", doc(t, audHTML).Find(`meta[name="csrf-token"]`).AttrOr("content", ""))
	for _, action := range []string{"pause", "enable", "delete"} {
		if resp, _ := aud.get("/admin/streams/" + s.StreamID + "/" + action); resp.StatusCode != 403 {
			t.Errorf("auditor's %s confirmation: %d, want 403", action, resp.StatusCode)
		}
		if resp, _ := aud.post("/admin/streams/"+s.StreamID+"/"+action, post); resp.StatusCode != 403 {
			t.Errorf("auditor's %s: %d, want 403", action, resp.StatusCode)
		}
	}
	rows, err := es.st.StreamsOverview(context.Background())
	if err != nil || len(rows) != 1 || rows[0].Status != models.StreamEnabled {
		t.Errorf("after the auditor's attempts: %v %+v", err, rows)
	}
}

// TestDisabledClientsStreamStaysDisabled: disabling a client disables its
// streams; staff cannot enable or pause one again, since events would then
// go (or gather) for a client no longer trusted with who was revoked.
func TestDisabledClientsStreamStaysDisabled(t *testing.T) {
	t.Parallel()
	es := newEventServer(t)
	s := es.pollStream(t)
	admin, err := es.st.UserByUsername(context.Background(), "admin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := es.st.DisableClient(context.Background(), es.receiver.Client.ID, models.StaffAction{Actor: models.Staff(admin), Reason: "offboarded"}); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, es.testServer)
	b.login("admin")
	_, html := b.get("/admin/streams")
	row := doc(t, html).Find(`[data-testid="stream-row"]`)
	if row.Find(`[data-testid="stream-enable"]`).Length() != 0 || row.Find(`[data-testid="stream-pause"]`).Length() != 0 ||
		row.Find(`[data-testid="stream-delete"]`).Length() != 1 {
		t.Errorf("a disabled client's stream offers: %q, want Delete only", row.Find("button").Text())
	}
	// A form from before the client was disabled, or made by hand.
	for _, action := range []string{"enable", "pause"} {
		path := "/admin/streams/" + s.StreamID + "/" + action
		resp, html := b.get(path + "?return_to=%2Fadmin%2Fstreams")
		if resp.StatusCode != 200 {
			t.Fatalf("%s confirmation: %d", action, resp.StatusCode)
		}
		resp, body := b.post(path, formFields(t, html, path))
		if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "client is disabled") {
			t.Errorf("%s a disabled client's stream: %d, want 409 saying the client is disabled", action, resp.StatusCode)
		}
		st, err := es.st.StreamByID(context.Background(), models.AnyOwner, s.StreamID)
		if err != nil || st.Status != models.StreamDisabled {
			t.Errorf("after %s the stream is %v (%v), want disabled", action, st.Status, err)
		}
	}
}
