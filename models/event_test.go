package models_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// newReceiver registers a client created with --ssf: a receiver allowed to
// own event streams.
func newReceiver(t testing.TB, st *models.Store, name string) *models.Client {
	t.Helper()
	cc, err := st.CreateClient(context.Background(), models.NewClient{Name: name, Type: models.ClientConfidential,
		GrantTypes: []models.GrantType{models.GrantClientCredentials}, SSF: true})
	if err != nil {
		t.Fatal(err)
	}
	return cc.Client
}

func pushConfig(url string) models.StreamConfig {
	return models.StreamConfig{Method: models.DeliveryPush, EndpointURL: url, AuthorizationHeader: "Bearer receiver-secret",
		EventsRequested: []string{models.EventSessionRevoked}, Description: "test"}
}

func TestStreamManagement(t *testing.T) {
	t.Parallel()
	for _, be := range modelstest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := be.New(t)
			f := modelstest.NewFixture(t, st)
			rx := newReceiver(t, st, "Receiver")
			other := newReceiver(t, st, "Other receiver")

			if _, err := st.CreateStream(ctx, f.Confidential.ID, pushConfig("https://rs.example/events")); !errors.Is(err, models.ErrInvalid) {
				t.Errorf("a client without --ssf created a stream: got %v, want %v", err, models.ErrInvalid)
			}
			for name, c := range map[string]models.StreamConfig{
				"push without URL":      {Method: models.DeliveryPush},
				"push to a non-URL":     {Method: models.DeliveryPush, EndpointURL: "ftp://x"},
				"poll with a URL":       {Method: models.DeliveryPoll, EndpointURL: "https://rs.example/"},
				"unknown method":        {Method: "carrier-pigeon"},
				"header with newline":   {Method: models.DeliveryPush, EndpointURL: "https://rs.example/", AuthorizationHeader: "a\r\nX-Evil: 1"},
				"event type with space": {Method: models.DeliveryPoll, EventsRequested: []string{"a b"}},
			} {
				if _, err := st.CreateStream(ctx, rx.ID, c); !errors.Is(err, models.ErrInvalid) {
					t.Errorf("%s: got %v, want %v", name, err, models.ErrInvalid)
				}
			}

			push, err := st.CreateStream(ctx, rx.ID, pushConfig("https://rs.example/events"))
			if err != nil {
				t.Fatal(err)
			}
			if push.Status != models.StreamEnabled || push.Aud != rx.ClientID || len(push.StreamID) != 32 || push.ClientID != rx.ID {
				t.Errorf("created: got %+v, want enabled, aud %s, a 32-digit id", push, rx.ClientID)
			}
			poll, err := st.CreateStream(ctx, rx.ID, models.StreamConfig{Method: models.DeliveryPoll})
			if err != nil {
				t.Fatal(err)
			}
			if poll.Aud != rx.ClientID {
				t.Errorf("aud: got %q, want the owner's client_id %q", poll.Aud, rx.ClientID)
			}

			got, err := st.StreamByID(ctx, rx.ID, push.StreamID)
			if err != nil || got.AuthorizationHeader != "Bearer receiver-secret" || got.EndpointURL != "https://rs.example/events" ||
				!slices.Equal(got.EventsRequested, []string{models.EventSessionRevoked}) {
				t.Errorf("read back: got %+v, %v", got, err)
			}
			if _, err := st.StreamByID(ctx, other.ID, push.StreamID); !errors.Is(err, models.ErrNotFound) {
				t.Errorf("another receiver read the stream: got %v, want %v", err, models.ErrNotFound)
			}
			if _, err := st.StreamByID(ctx, models.AnyOwner, push.StreamID); err != nil {
				t.Errorf("staff read: %v", err)
			}
			list, err := st.StreamsByOwner(ctx, rx.ID)
			if err != nil || len(list) != 2 || list[0].StreamID != push.StreamID || list[1].StreamID != poll.StreamID {
				t.Errorf("list: got %d streams, %v; want push then poll", len(list), err)
			}
			if list, _ := st.StreamsByOwner(ctx, other.ID); len(list) != 0 {
				t.Errorf("another receiver lists %d streams, want 0", len(list))
			}

			desc := "changed"
			upd, err := st.UpdateStream(ctx, rx.ID, push.StreamID, models.StreamUpdate{Description: &desc})
			if err != nil || upd.Description != "changed" || upd.EndpointURL != push.EndpointURL || upd.AuthorizationHeader != push.AuthorizationHeader {
				t.Errorf("update: got %+v, %v; want only the description changed", upd, err)
			}
			if _, err := st.UpdateStream(ctx, other.ID, push.StreamID, models.StreamUpdate{Description: &desc}); !errors.Is(err, models.ErrNotFound) {
				t.Errorf("another receiver updated the stream: %v", err)
			}
			bad := "not a url"
			if _, err := st.UpdateStream(ctx, rx.ID, push.StreamID, models.StreamUpdate{EndpointURL: &bad}); !errors.Is(err, models.ErrInvalid) {
				t.Errorf("update to a bad URL: got %v, want %v", err, models.ErrInvalid)
			}
			rep, err := st.ReplaceStream(ctx, rx.ID, push.StreamID, models.StreamConfig{Method: models.DeliveryPush, EndpointURL: "https://rs.example/v2"})
			if err != nil || rep.AuthorizationHeader != "" || rep.Description != "" || rep.Aud != rx.ClientID || rep.EndpointURL != "https://rs.example/v2" {
				t.Errorf("replace: got %+v, %v; want everything replaced, aud kept", rep, err)
			}

			if err := st.DeleteStream(ctx, other.ID, poll.StreamID); !errors.Is(err, models.ErrNotFound) {
				t.Errorf("another receiver deleted the stream: %v", err)
			}
			if err := st.DeleteStream(ctx, rx.ID, poll.StreamID); err != nil {
				t.Fatal(err)
			}
			if _, err := st.StreamByID(ctx, rx.ID, poll.StreamID); !errors.Is(err, models.ErrNotFound) {
				t.Errorf("deleted stream: got %v, want %v", err, models.ErrNotFound)
			}
		})
	}
}

// TestStreamDelivery walks the delivery API: queued events come out oldest
// first, a failure keeps the head with its next attempt, delivery removes
// it from the backlog; a paused stream keeps its events and a disabled one
// drops them.
func TestStreamDelivery(t *testing.T) {
	t.Parallel()
	for _, be := range modelstest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := be.New(t)
			rx := newReceiver(t, st, "Receiver")
			push, err := st.CreateStream(ctx, rx.ID, pushConfig("https://rs.example/events"))
			if err != nil {
				t.Fatal(err)
			}
			for _, state := range []string{"one", "two", "three"} {
				if err := st.QueueVerification(ctx, models.AnyOwner, push.StreamID, state); err != nil {
					t.Fatal(err)
				}
			}
			pend, err := st.PendingEvents(ctx, push.StreamID, 10)
			if err != nil {
				t.Fatal(err)
			}
			if states := statesOf(pend); !slices.Equal(states, []string{"one", "two", "three"}) {
				t.Fatalf("pending: got %v, want oldest first", states)
			}
			if pend[0].Event.Type != models.EventVerification || pend[0].Event.JTI == "" || pend[0].Attempts != 0 {
				t.Errorf("head: got %+v", pend[0])
			}
			due, err := st.PushStreamsDue(ctx)
			if err != nil || len(due) != 1 || due[0].StreamID != push.StreamID {
				t.Errorf("due: got %+v, %v", due, err)
			}

			next := st.Now().Add(time.Minute)
			if err := st.MarkFailed(ctx, push.StreamID, pend[0].DeliveryID, next, "503 Service Unavailable"); err != nil {
				t.Fatal(err)
			}
			pend, _ = st.PendingEvents(ctx, push.StreamID, 1)
			if len(pend) != 1 || pend[0].Event.State != "one" || pend[0].Attempts != 1 || !pend[0].NextAttemptAt.Equal(next) {
				t.Errorf("after a failure: got %+v, want the head again, 1 attempt, due %v", pend, next)
			}
			if due, _ := st.PushStreamsDue(ctx); len(due) != 1 || !due[0].HeadDueAt.Equal(next) {
				t.Errorf("due after a failure: got %+v, want head due %v", due, next)
			}
			if err := st.MarkDelivered(ctx, push.StreamID, pend[0].DeliveryID); err != nil {
				t.Fatal(err)
			}
			rows, err := st.StreamsOverview(ctx)
			if err != nil || len(rows) != 1 {
				t.Fatalf("overview: %+v, %v", rows, err)
			}
			if r := rows[0]; r.Backlog != 2 || r.LastDeliveryAt == nil || r.LastError != "503 Service Unavailable" || r.LastErrorAt == nil ||
				r.ClientName != "Receiver" || r.ClientPublicID != rx.ClientID {
				t.Errorf("overview row: got %+v, want backlog 2, a last delivery and the last error", r)
			}

			// Paused: held, not due, not polled; the backlog stays.
			if _, err := st.SetStreamStatus(ctx, rx.ID, push.StreamID, models.StreamPaused, "maintenance"); err != nil {
				t.Fatal(err)
			}
			if err := st.QueueVerification(ctx, models.AnyOwner, push.StreamID, "four"); err != nil {
				t.Fatal(err)
			}
			if due, _ := st.PushStreamsDue(ctx); len(due) != 0 {
				t.Errorf("a paused stream is due: %+v", due)
			}
			if pend, _ := st.PendingEvents(ctx, push.StreamID, 10); !slices.Equal(statesOf(pend), []string{"two", "three", "four"}) {
				t.Errorf("paused stream holds %v, want two three four", statesOf(pend))
			}
			s, _ := st.StreamByID(ctx, rx.ID, push.StreamID)
			if s.Status != models.StreamPaused || s.StatusReason != "maintenance" {
				t.Errorf("status: got %s (%q)", s.Status, s.StatusReason)
			}
			// Disabled: everything pending is dropped, verification refused.
			if _, err := st.SetStreamStatus(ctx, rx.ID, push.StreamID, models.StreamDisabled, ""); err != nil {
				t.Fatal(err)
			}
			if pend, _ := st.PendingEvents(ctx, push.StreamID, 10); len(pend) != 0 {
				t.Errorf("a disabled stream keeps %d events", len(pend))
			}
			if err := st.QueueVerification(ctx, rx.ID, push.StreamID, "five"); !errors.Is(err, models.ErrInvalid) {
				t.Errorf("verification on a disabled stream: got %v, want %v", err, models.ErrInvalid)
			}
			if _, err := st.SetStreamStatus(ctx, rx.ID, push.StreamID, "sleeping", ""); !errors.Is(err, models.ErrInvalid) {
				t.Errorf("unknown status: got %v", err)
			}
		})
	}
}

func statesOf(p []models.PendingEvent) []string {
	var out []string
	for _, e := range p {
		out = append(out, e.Event.State)
	}
	return out
}

// TestPollAndAck: RFC 8936 poll returns what is not acknowledged, again
// and again, and never what is.
func TestPollAndAck(t *testing.T) {
	t.Parallel()
	for _, be := range modelstest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := be.New(t)
			rx := newReceiver(t, st, "Receiver")
			poll, err := st.CreateStream(ctx, rx.ID, models.StreamConfig{Method: models.DeliveryPoll})
			if err != nil {
				t.Fatal(err)
			}
			for _, state := range []string{"a", "b", "c"} {
				if err := st.QueueVerification(ctx, models.AnyOwner, poll.StreamID, state); err != nil {
					t.Fatal(err)
				}
			}
			evs, more, err := st.PollEvents(ctx, poll.StreamID, 2)
			if err != nil || !more || !slices.Equal(statesOf(evs), []string{"a", "b"}) {
				t.Fatalf("first poll: got %v more=%v %v, want a b and more", statesOf(evs), more, err)
			}
			again, _, _ := st.PollEvents(ctx, poll.StreamID, 2)
			if !slices.Equal(statesOf(again), []string{"a", "b"}) {
				t.Errorf("unacknowledged events: got %v, want a b again", statesOf(again))
			}
			n, err := st.AckEvents(ctx, poll.StreamID, []string{evs[0].Event.JTI, evs[1].Event.JTI, "unknown"})
			if err != nil || n != 2 {
				t.Errorf("ack: got %d, %v; want 2", n, err)
			}
			evs, more, _ = st.PollEvents(ctx, poll.StreamID, 10)
			if more || !slices.Equal(statesOf(evs), []string{"c"}) {
				t.Errorf("after ack: got %v more=%v, want c only", statesOf(evs), more)
			}
			if n, _ := st.AckEvents(ctx, poll.StreamID, []string{evs[0].Event.JTI, evs[0].Event.JTI}); n != 1 {
				t.Errorf("ack c: %d", n)
			}
			if evs, _, _ := st.PollEvents(ctx, poll.StreamID, 10); len(evs) != 0 {
				t.Errorf("everything acknowledged, polled %v", statesOf(evs))
			}
			// Another receiver's stream acknowledges nothing here.
			other := newReceiver(t, st, "Other")
			op, _ := st.CreateStream(ctx, other.ID, models.StreamConfig{Method: models.DeliveryPoll})
			_ = st.QueueVerification(ctx, other.ID, op.StreamID, "x")
			oe, _, _ := st.PollEvents(ctx, op.StreamID, 1)
			if n, _ := st.AckEvents(ctx, poll.StreamID, []string{oe[0].Event.JTI}); n != 0 {
				t.Errorf("acked another stream's event through this one")
			}
		})
	}
}

// TestEventsQueuedWakes: a commit that queues events wakes every waiter at
// once, without a poll.
func TestEventsQueuedWakes(t *testing.T) {
	t.Parallel()
	for _, be := range modelstest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := be.New(t)
			rx := newReceiver(t, st, "Receiver")
			s, err := st.CreateStream(ctx, rx.ID, models.StreamConfig{Method: models.DeliveryPoll})
			if err != nil {
				t.Fatal(err)
			}
			a, b := st.EventsQueued(), st.EventsQueued()
			select {
			case <-a:
				t.Fatal("woken before anything was queued")
			default:
			}
			start := time.Now()
			if err := st.QueueVerification(ctx, rx.ID, s.StreamID, "x"); err != nil {
				t.Fatal(err)
			}
			for _, ch := range []<-chan struct{}{a, b} {
				select {
				case <-ch:
				case <-time.After(time.Second):
					t.Fatal("not woken within a second")
				}
			}
			if d := time.Since(start); d > 200*time.Millisecond {
				t.Errorf("woken after %v", d)
			}
			select {
			case <-st.EventsQueued():
				t.Error("the next channel is already closed")
			default:
			}
			// A revocation wakes the delivery too, once committed.
			f := modelstest.NewFixture(t, st)
			iss := modelstest.IssuePassword(t, st, f.Confidential, f.Alice)
			ch := st.EventsQueued()
			if _, err := st.Revoke(ctx, models.RevokeRequest{GrantID: iss.GrantID, Actor: models.Staff(f.Admin)}); err != nil {
				t.Fatal(err)
			}
			select {
			case <-ch:
			case <-time.After(time.Second):
				t.Fatal("a revocation did not wake the delivery")
			}
		})
	}
}

// TestClaimStream: one claimant at a time per stream — goroutines of one
// process, and on PostgreSQL two replicas on one database.
func TestClaimStream(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	check := func(t *testing.T, a, b *models.Store) {
		rx := newReceiver(t, a, "Receiver")
		s1, _ := a.CreateStream(ctx, rx.ID, pushConfig("https://rs.example/1"))
		s2, _ := a.CreateStream(ctx, rx.ID, pushConfig("https://rs.example/2"))
		inside := make(chan struct{})
		release := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			ok, err := a.ClaimStream(ctx, s1.StreamID, func(context.Context) error {
				close(inside)
				<-release
				return nil
			})
			if !ok || err != nil {
				t.Errorf("first claim: %v %v", ok, err)
			}
		})
		<-inside
		var ran atomic.Bool
		for _, st := range []*models.Store{a, b} {
			ok, err := st.ClaimStream(ctx, s1.StreamID, func(context.Context) error { ran.Store(true); return nil })
			if ok || err != nil || ran.Load() {
				t.Errorf("second claim of a held stream: ok=%v err=%v ran=%v", ok, err, ran.Load())
			}
		}
		if ok, err := b.ClaimStream(ctx, s2.StreamID, func(context.Context) error { return nil }); !ok || err != nil {
			t.Errorf("another stream is free: ok=%v err=%v", ok, err)
		}
		want := errors.New("delivery failed")
		close(release)
		wg.Wait()
		ok, err := b.ClaimStream(ctx, s1.StreamID, func(context.Context) error { return want })
		if !ok || !errors.Is(err, want) {
			t.Errorf("claim after release: ok=%v err=%v, want fn's error", ok, err)
		}
		if _, err := a.ClaimStream(ctx, "nope", func(context.Context) error { return nil }); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("unknown stream: %v", err)
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		st := modelstest.Open(t, t.TempDir()+"/latchkey.db")
		check(t, st, st)
	})
	t.Run("postgres, two replicas", func(t *testing.T) {
		t.Parallel()
		a, dsn := modelstest.NewPostgresStore(t)
		b := modelstest.Open(t, dsn)
		check(t, a, b)
	})
}

func TestSigningKeys(t *testing.T) {
	t.Parallel()
	for _, be := range modelstest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := be.New(t)
			if _, err := st.CurrentSigningKey(ctx); !errors.Is(err, models.ErrNotFound) {
				t.Errorf("no key yet: got %v, want %v", err, models.ErrNotFound)
			}
			k1, added, err := st.AddFirstSigningKey(ctx, "k1", []byte("der-1"))
			if err != nil || !added || k1.Kid != "k1" {
				t.Fatalf("first key: %+v %v %v", k1, added, err)
			}
			k, added, err := st.AddFirstSigningKey(ctx, "k1b", []byte("der-1b"))
			if err != nil || added || k.Kid != "k1" {
				t.Errorf("a second first key: got %+v added=%v %v, want k1 kept", k, added, err)
			}
			if _, err := st.AddSigningKey(ctx, models.StaffAction{Actor: models.CLI("test")}, "k2", []byte("der-2")); err != nil {
				t.Fatal(err)
			}
			cur, err := st.CurrentSigningKey(ctx)
			if err != nil || cur.Kid != "k2" || string(cur.PrivateKey) != "der-2" || cur.RetiredAt != nil {
				t.Errorf("current after rotation: %+v %v", cur, err)
			}
			keys, err := st.SigningKeys(ctx)
			if err != nil || len(keys) != 2 || keys[0].Kid != "k2" || keys[1].Kid != "k1" || keys[1].RetiredAt == nil {
				t.Errorf("published: got %+v %v; want k2 then k1 retired", keys, err)
			}
			if _, err := st.AddSigningKey(ctx, models.StaffAction{Actor: models.CLI("test")}, "k2", []byte("dup")); err == nil {
				t.Error("a duplicate kid was stored")
			}
			if n, err := st.DeleteRetiredSigningKeys(ctx, st.Now().Add(-time.Hour)); err != nil || n != 0 {
				t.Errorf("delete retired an hour ago: %d %v, want none", n, err)
			}
			if n, err := st.DeleteRetiredSigningKeys(ctx, st.Now().Add(time.Second)); err != nil || n != 1 {
				t.Errorf("delete retired: %d %v, want k1", n, err)
			}
		})
	}
}

// TestStreamSecretNotLogged: a stream's Authorization header never reaches
// a log through slog.
func TestStreamSecretNotLogged(t *testing.T) {
	t.Parallel()
	s := models.Stream{StreamID: "s1", AuthorizationHeader: "Bearer receiver-secret"}
	if v := s.LogValue().String(); strings.Contains(v, "receiver-secret") {
		t.Errorf("log value carries the secret: %s", v)
	}
}
