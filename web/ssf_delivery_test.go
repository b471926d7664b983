package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/events"
	"github.com/latchkey/latchkey/events/eventstest"
	"golang.org/x/oauth2"
)

// sid is the session a token belongs to: its grant's public id, as
// introspection reports it.
func (es *eventServer) sid(t testing.TB, tok *oauth2.Token) string {
	t.Helper()
	info, err := es.st.ActiveToken(context.Background(), tok.AccessToken)
	if err != nil {
		t.Fatalf("sid: %v", err)
	}
	return info.GrantPublicID
}

// revokeAtEndpoint revokes tok at /o/revoke_token/ as its client (an
// app's logout) and checks the 200.
func (es *eventServer) revokeAtEndpoint(t testing.TB, tok *oauth2.Token) {
	t.Helper()
	resp, _ := postForm(t, es.testServer, "/o/revoke_token/", url.Values{"token": {tok.AccessToken}},
		http.Header{"Authorization": {basicAuth(es.f.Confidential.ClientID, es.f.Secret)}})
	if resp.StatusCode != 200 {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
}

// TestPushRetriesUntilTheReceiverRecovers revokes while the receiver
// answers 503: the push is retried with backoff (each wait at least the
// schedule's, doubling), and once the receiver answers 202 the event
// arrives, once.
func TestPushRetriesUntilTheReceiverRecovers(t *testing.T) {
	t.Parallel()
	es := newEventServer(t)
	rcv := eventstest.NewReceiver(t, es.URL)
	es.pushStream(t, rcv)
	rcv.SetStatus(http.StatusServiceUnavailable)
	tok := es.passwordToken(t, "alice")
	sid := es.sid(t, tok)
	es.revokeAtEndpoint(t, tok)

	deadline := time.Now().Add(5 * time.Second)
	for len(rcv.Tries()) < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	tries := rcv.Tries()
	if len(tries) < 4 {
		t.Fatalf("%d pushes in 5 s, want the first and 3 retries", len(tries))
	}
	for i := 1; i < 4; i++ {
		gap, want := tries[i].Sub(tries[i-1]), events.Backoff(testBackoff, i)
		if gap < want-5*time.Millisecond {
			t.Errorf("retry %d came %v after the previous push, want at least %v", i, gap, want)
		}
	}
	if got := rcv.Received(); len(got) != 0 {
		t.Fatalf("received while answering 503: %s", eventstest.Describe(got))
	}
	rows, _ := es.st.StreamsOverview(context.Background())
	if len(rows) != 1 || rows[0].Backlog != 1 || !strings.Contains(rows[0].LastError, "503") {
		t.Errorf("while failing, the stream shows %+v, want backlog 1 and the 503", rows)
	}

	rcv.SetStatus(0)
	set := rcv.WaitSession(t, 10*time.Second, sid)
	if set.User() != "alice" || set.Client() != es.f.Confidential.ClientID || set.Initiator() != "user" {
		t.Errorf("SET: %s", eventstest.Describe([]eventstest.SET{set}))
	}
	time.Sleep(3 * testBackoff)
	if got := rcv.Received(); len(got) != 1 {
		t.Errorf("received %s, want the one event once", eventstest.Describe(got))
	}
}

// TestPushKeepsOrder revokes several grants while the receiver is
// failing: after it recovers they arrive in the order of the revocations.
func TestPushKeepsOrder(t *testing.T) {
	t.Parallel()
	es := newEventServer(t)
	rcv := eventstest.NewReceiver(t, es.URL)
	es.pushStream(t, rcv)
	rcv.SetStatus(http.StatusInternalServerError)
	var want []string
	for range 5 {
		tok := es.passwordToken(t, "bob")
		want = append(want, es.sid(t, tok))
		es.revokeAtEndpoint(t, tok)
	}
	rcv.SetStatus(0)
	got := rcv.Wait(t, 10*time.Second, "5 events", func(s []eventstest.SET) bool { return len(s) >= 5 })
	var sids []string
	for _, s := range got {
		sids = append(sids, s.Session())
	}
	if !slices.Equal(sids, want) {
		t.Errorf("order: got %v, want %v", sids, want)
	}
}

// TestPollWithAck polls a stream: each SET comes back on every poll until
// it is acknowledged, and never after.
func TestPollWithAck(t *testing.T) {
	t.Parallel()
	es := newEventServer(t)
	s := es.pollStream(t)
	v := eventstest.NewVerifier(es.URL, es.receiver.Client.ClientID)
	var sids []string
	for range 3 {
		tok := es.passwordToken(t, "alice")
		sids = append(sids, es.sid(t, tok))
		es.revokeAtEndpoint(t, tok)
	}
	verify := func(p pollJSON) map[string]string { // jti → sid
		t.Helper()
		out := map[string]string{}
		for jti, raw := range p.Sets {
			set, err := v.Verify(context.Background(), raw)
			if err != nil {
				t.Fatalf("polled SET: %v", err)
			}
			if set.Jti != jti {
				t.Errorf("SET under %q has jti %q", jti, set.Jti)
			}
			out[jti] = set.Session()
		}
		return out
	}
	first := verify(es.poll(t, s.StreamID, map[string]any{"returnImmediately": true}))
	if len(first) != 3 {
		t.Fatalf("first poll: %d SETs, want 3", len(first))
	}
	for _, sid := range sids {
		found := false
		for _, got := range first {
			found = found || got == sid
		}
		if !found {
			t.Errorf("no SET for session %s", sid)
		}
	}
	again := verify(es.poll(t, s.StreamID, map[string]any{"returnImmediately": true}))
	if len(again) != 3 {
		t.Fatalf("unacknowledged SETs must come again: got %d", len(again))
	}
	var jtis []string
	for jti := range first {
		jtis = append(jtis, jti)
		if _, ok := again[jti]; !ok {
			t.Errorf("jti %s changed between polls", jti)
		}
	}
	slices.Sort(jtis)
	// Acknowledge two; ask for at most one: the third comes, with more=false.
	p := es.poll(t, s.StreamID, map[string]any{"returnImmediately": true, "ack": jtis[:2], "maxEvents": 1})
	rest := verify(p)
	if _, ok := rest[jtis[2]]; len(rest) != 1 || !ok || p.MoreAvailable {
		t.Fatalf("after acknowledging two: %v (more %v), want only %s", rest, p.MoreAvailable, jtis[2])
	}
	// An acknowledgement alone (maxEvents 0), then nothing is left.
	if p := es.poll(t, s.StreamID, map[string]any{"ack": jtis[2:], "maxEvents": 0}); len(p.Sets) != 0 {
		t.Errorf("an acknowledgement-only poll returned %d SETs", len(p.Sets))
	}
	tok := es.passwordToken(t, "bob")
	newSid := es.sid(t, tok)
	es.revokeAtEndpoint(t, tok)
	last := verify(es.poll(t, s.StreamID, map[string]any{"returnImmediately": true}))
	if len(last) != 1 {
		t.Fatalf("after acknowledging all and one more revocation: %v, want only the new one", last)
	}
	for jti, sid := range last {
		if sid != newSid || slices.Contains(jtis, jti) {
			t.Errorf("got %s for %s, want the new session %s", jti, sid, newSid)
		}
	}
}

// TestLongPollWakesOnAnEvent starts a long poll with nothing pending and
// revokes: the poll answers at once with the event, well before both its
// 25 s limit and its look at the database every Recheck (200 ms).
func TestLongPollWakesOnAnEvent(t *testing.T) {
	t.Parallel()
	es := newEventServer(t)
	s := es.pollStream(t)
	tok := es.passwordToken(t, "alice")
	sid := es.sid(t, tok)
	type answer struct {
		p  pollJSON
		at time.Time
	}
	got := make(chan answer, 1)
	go func() {
		// Not es.poll: t.Fatal must not be called from this goroutine.
		status, raw, _ := es.call(t, "POST", "/ssf/poll/"+s.StreamID, es.bearer, map[string]any{})
		var p pollJSON
		if status != 200 || json.Unmarshal(raw, &p) != nil {
			t.Errorf("long poll: %d %s", status, raw)
		}
		got <- answer{p, time.Now()}
	}()
	time.Sleep(300 * time.Millisecond) // the poll is waiting
	select {
	case a := <-got:
		t.Fatalf("the long poll answered before any event: %v", a.p)
	default:
	}
	revoked := time.Now()
	es.revokeAtEndpoint(t, tok)
	select {
	case a := <-got:
		if d := a.at.Sub(revoked); d > 500*time.Millisecond {
			t.Errorf("the long poll answered %v after the revocation; it must be woken, not wait for its next look", d)
		}
		if len(a.p.Sets) != 1 {
			t.Fatalf("long poll: %d SETs", len(a.p.Sets))
		}
		for _, raw := range a.p.Sets {
			set, err := eventstest.NewVerifier(es.URL, es.receiver.Client.ClientID).Verify(context.Background(), raw)
			if err != nil || set.Session() != sid {
				t.Errorf("long-polled SET: %v %+v", err, set)
			}
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the long poll did not answer within 5 s of the revocation")
	}
}
