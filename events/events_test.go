package events_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/events"
	"github.com/latchkey/latchkey/events/eventstest"
)

// transmitter serves an SSF configuration and the JWK Set of keys, as
// the real server does, so the independent verifier can fetch them.
func transmitter(t *testing.T, keys ...events.Key) string {
	t.Helper()
	var issuer string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/ssf-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(events.NewConfiguration(issuer))
	})
	mux.HandleFunc("GET /o/jwks/", func(w http.ResponseWriter, _ *http.Request) {
		var pub []events.PublicKey
		for _, k := range keys {
			pub = append(pub, events.PublicKey{ID: k.ID, Public: &k.Private.PublicKey})
		}
		b, err := events.JWKS(pub)
		if err != nil {
			t.Error(err)
		}
		_, _ = w.Write(b)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	issuer = srv.URL
	return issuer
}

func TestSignedSETVerifiesWithJWX(t *testing.T) {
	key, err := events.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	issuer := transmitter(t, key)
	s, err := events.NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1_700_000_000, 0)
	rev := events.Revocation{Session: "g_abc", User: "alice", Client: "cid", At: at, Initiator: events.EntityAdmin, Reason: "admin"}
	raw, err := s.Sign(events.SessionRevokedClaims(issuer, "rcv", "j1.s1", at, rev))
	if err != nil {
		t.Fatal(err)
	}
	got, err := eventstest.NewVerifier(issuer, "rcv").Verify(context.Background(), raw)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if got.Kid != key.ID || got.Jti != "j1.s1" || got.Session() != "g_abc" || got.User() != "alice" || got.Client() != "cid" ||
		got.Initiator() != "admin" || got.Reason() != "admin" || got.Type != eventstest.SessionRevoked {
		t.Errorf("got %+v", got)
	}
	if _, err := eventstest.NewVerifier(issuer, "someone-else").Verify(context.Background(), raw); err == nil {
		t.Error("a SET for another audience verified")
	}
	// A tampered payload fails.
	parts := strings.Split(raw, ".")
	other, _ := s.Sign(events.SessionRevokedClaims(issuer, "rcv", "j2.s1", at, rev))
	forged := parts[0] + "." + strings.Split(other, ".")[1] + "." + parts[2]
	if _, err := eventstest.NewVerifier(issuer, "rcv").Verify(context.Background(), forged); err == nil {
		t.Error("a SET with a swapped payload verified")
	}
}

func TestSignedSETFailsUnderUnpublishedKey(t *testing.T) {
	published, _ := events.NewKey()
	secret, _ := events.NewKey()
	issuer := transmitter(t, published)
	s, _ := events.NewSigner(secret)
	raw, _ := s.Sign(events.VerificationClaims(issuer, "rcv", "j", "stream", "x", time.Now()))
	if _, err := eventstest.NewVerifier(issuer, "rcv").Verify(context.Background(), raw); err == nil {
		t.Error("a SET signed by an unpublished key verified")
	}
}

func TestKeyRoundTrip(t *testing.T) {
	k, _ := events.NewKey()
	der, err := k.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}
	back, err := events.ParseKey(k.ID, der)
	if err != nil || !back.Private.Equal(k.Private) {
		t.Fatalf("got %v, %v", back, err)
	}
	if _, err := events.ParseKey("x", []byte("junk")); err == nil {
		t.Error("junk parsed as a key")
	}
}

// TestBackoffSchedule checks the real retry schedule: 1 s doubling, at
// most 5 minutes apart.
func TestBackoffSchedule(t *testing.T) {
	want := []time.Duration{1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300}
	for i, w := range want {
		if got := events.Backoff(0, i+1); got != w*time.Second {
			t.Errorf("attempt %d: got %v, want %v", i+1, got, w*time.Second)
		}
	}
	if got := events.Backoff(0, 1000); got != events.MaxBackoff {
		t.Errorf("attempt 1000: got %v, want %v", got, events.MaxBackoff)
	}
	if got := events.Backoff(10*time.Millisecond, 3); got != 40*time.Millisecond {
		t.Errorf("test schedule attempt 3: got %v, want 40ms", got)
	}
}

func TestPushAnswers(t *testing.T) {
	var status int
	var gotCT, gotAuth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotCT, gotAuth = r.Header.Get("Content-Type"), r.Header.Get("Authorization")
		if status == 400 {
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"err":"invalid_key","description":"no such key"}`))
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	p := events.NewPusher(2*time.Second, true)
	ctx := context.Background()
	status = 202
	if err := p.Push(ctx, srv.URL, "Bearer x", "a.b.c"); err != nil {
		t.Errorf("202: %v", err)
	}
	if gotCT != "application/secevent+jwt" || gotAuth != "Bearer x" {
		t.Errorf("headers: %q %q", gotCT, gotAuth)
	}
	// Credentials in the endpoint URL are Basic authentication, unless the
	// stream gives an Authorization header.
	withUser := strings.Replace(srv.URL, "http://", "http://rs:s3cret@", 1)
	if err := p.Push(ctx, withUser, "", "a.b.c"); err != nil || gotAuth != "Basic cnM6czNjcmV0" {
		t.Errorf("credentials in the URL: %v, Authorization %q", err, gotAuth)
	}
	if err := p.Push(ctx, withUser, "Bearer x", "a.b.c"); err != nil || gotAuth != "Bearer x" {
		t.Errorf("credentials in the URL and a header: %v, Authorization %q", err, gotAuth)
	}
	for _, s := range []int{200, 204, 400, 503} {
		status = s
		if err := p.Push(ctx, srv.URL, "", "a.b.c"); err == nil {
			t.Errorf("%d counted as delivered; only 202 is", s)
		} else if s == 400 && !strings.Contains(err.Error(), "invalid_key") {
			t.Errorf("400: %v", err)
		}
	}
	// The default pusher never connects to loopback.
	if err := events.NewPusher(2*time.Second, false).Push(ctx, srv.URL, "", "a.b.c"); err == nil || !strings.Contains(err.Error(), "private") {
		t.Errorf("loopback with the default pusher: %v, want the private-address refusal", err)
	}
	srv.Close()
	p = events.NewPusher(2*time.Second, true) // no kept-alive connection to the closed server
	if err := p.Push(ctx, srv.URL, "", "a.b.c"); err == nil || err.Error() != "receiver refused the connection" {
		t.Errorf("closed receiver: %v, want \"receiver refused the connection\"", err)
	}
	if err := p.Push(ctx, "https://no-such-host.invalid/", "", "a.b.c"); err == nil || err.Error() != "receiver host not found" {
		t.Errorf("unknown host: %v, want \"receiver host not found\"", err)
	}
}
