package models_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// TestEventJTIs: an event's jti is the database's random prefix and the
// event's id; two fresh databases, whose first events both have id 1,
// never give the same jti; an acknowledgement parses the jti back to the
// event, and only the canonical form of one of this database's jtis
// acknowledges anything.
func TestEventJTIs(t *testing.T) {
	t.Parallel()
	for _, b := range modelstest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			var jtis []string
			var stores []*models.Store
			var streams []string
			for range 2 {
				st := b.New(t)
				rx := newReceiver(t, st, "Receiver")
				s, err := st.CreateStream(ctx, rx.ID, models.StreamConfig{Method: models.DeliveryPoll})
				if err != nil {
					t.Fatal(err)
				}
				if err := st.QueueVerification(ctx, models.AnyOwner, s.StreamID, "x"); err != nil {
					t.Fatal(err)
				}
				evs, _, err := st.PollEvents(ctx, s.StreamID, 10)
				if err != nil || len(evs) != 1 {
					t.Fatalf("poll: %+v, %v", evs, err)
				}
				e := evs[0].Event
				if !derivedJTI.MatchString(e.JTI) || !strings.HasSuffix(e.JTI, fmt.Sprintf("-%d", e.ID)) {
					t.Errorf("jti %q of event %d: want the database's prefix and the id", e.JTI, e.ID)
				}
				jtis, stores, streams = append(jtis, e.JTI), append(stores, st), append(streams, s.StreamID)
			}
			if jtis[0] == jtis[1] {
				t.Fatalf("two databases gave the same jti %q", jtis[0])
			}
			st, stream, jti := stores[0], streams[0], jtis[0]
			prefix, id, _ := strings.Cut(jti, "-")
			for _, bad := range []string{jtis[1], prefix + "-0" + id, prefix + "-+" + id, prefix + "-" + id + " ", prefix, prefix + "-", "-" + id, id} {
				if n, err := st.AckEvents(ctx, stream, []string{bad}); err != nil || n != 0 {
					t.Errorf("ack %q: %d, %v; want nothing acknowledged", bad, n, err)
				}
			}
			if n, err := st.AckEvents(ctx, stream, []string{jti}); err != nil || n != 1 {
				t.Fatalf("ack %q: %d, %v; want 1", jti, n, err)
			}
			if evs, _, err := st.PollEvents(ctx, stream, 10); err != nil || len(evs) != 0 {
				t.Errorf("after the ack: %+v, %v; want none", evs, err)
			}
		})
	}
}

// TestOutboxMigration upgrades a database as version 23 left it, with
// deliveries pending on two streams and some delivered: the pending ones
// are kept, in event order, with their attempts and due times and the jti
// they were already sent with (which still acknowledges them); the
// delivered ones are gone; events written after the upgrade get derived
// jtis and queue behind them.
func TestOutboxMigration(t *testing.T) {
	t.Parallel()
	for _, b := range modelstest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := b.New(t)
			rx := newReceiver(t, st, "Receiver")
			poll, err := st.CreateStream(ctx, rx.ID, models.StreamConfig{Method: models.DeliveryPoll})
			if err != nil {
				t.Fatal(err)
			}
			push, err := st.CreateStream(ctx, rx.ID, pushConfig("https://rs.example/events"))
			if err != nil {
				t.Fatal(err)
			}
			if err := st.ExecSchemaForTest(ctx, `
DROP TABLE stream_events;
CREATE TABLE stream_events (
	id {{pk}},
	stream_id BIGINT NOT NULL,
	event_id BIGINT NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	next_attempt_at {{ts}} NOT NULL,
	delivered_at {{ts}},
	created_at {{ts}} NOT NULL
);
CREATE INDEX stream_events_pending ON stream_events (stream_id, event_id) WHERE delivered_at IS NULL;
CREATE INDEX stream_events_delivered ON stream_events (delivered_at) WHERE delivered_at IS NOT NULL;
CREATE INDEX stream_events_event ON stream_events (event_id);
DROP INDEX events_stored_jti;
CREATE UNIQUE INDEX events_jti ON events (jti);
CREATE INDEX events_created ON events (created_at);
DROP TABLE event_jti_prefix;
DELETE FROM schema_migrations WHERE version = 24`); err != nil {
				t.Fatalf("undo migration 24: %v", err)
			}
			now := time.Now().UTC().Truncate(time.Second)
			later := now.Add(time.Hour)
			old := []string{"0190a0b0c0d0e0f00112233445566771", "0190a0b0c0d0e0f00112233445566772", "0190a0b0c0d0e0f00112233445566773",
				"0190a0b0c0d0e0f00112233445566774"}
			for i, j := range old {
				if err := st.ExecArgsForTest(ctx, "INSERT INTO events (id, jti, type, state, event_time, created_at) VALUES (?, ?, ?, ?, ?, ?)",
					i+1, j, models.EventVerification, fmt.Sprintf("e%d", i+1), now, now); err != nil {
					t.Fatal(err)
				}
			}
			if st.Dialect() == models.DialectPostgres { // ids given: move the sequence past them
				if err := st.ExecArgsForTest(ctx, "SELECT setval('events_id_seq', 4)"); err != nil {
					t.Fatal(err)
				}
			}
			// Row ids in another order than the events', to show that the
			// order kept is the events'.
			for _, d := range []struct {
				stream    int64
				event     int
				attempts  int
				due       time.Time
				delivered bool
			}{
				{poll.ID, 3, 0, now, false}, {poll.ID, 1, 0, now, true}, {push.ID, 4, 0, now, false},
				{poll.ID, 2, 1, now, false}, {push.ID, 1, 3, later, false}, {push.ID, 2, 0, now, true},
			} {
				var delivered *time.Time
				if d.delivered {
					delivered = &now
				}
				if err := st.ExecArgsForTest(ctx, "INSERT INTO stream_events (stream_id, event_id, attempts, next_attempt_at, delivered_at, created_at) VALUES (?, ?, ?, ?, ?, ?)",
					d.stream, d.event, d.attempts, d.due, delivered, now); err != nil {
					t.Fatal(err)
				}
			}

			if n, err := st.Migrate(ctx); err != nil || n != 1 {
				t.Fatalf("migrate: applied %d, %v; want 1", n, err)
			}
			if c, err := st.TableCounts(ctx); err != nil || c.StreamEvents != 4 || c.Events != 4 {
				t.Fatalf("after the upgrade: %+v, %v; want the 4 events and the 4 pending deliveries", c, err)
			}
			check := func(stream string, want ...string) []models.PendingEvent {
				t.Helper()
				got, err := st.PendingEvents(ctx, stream, 10)
				if err != nil {
					t.Fatal(err)
				}
				var states []string
				for _, p := range got {
					states = append(states, p.Event.State)
				}
				if strings.Join(states, " ") != strings.Join(want, " ") {
					t.Fatalf("pending on %s: %v, want %v", stream, states, want)
				}
				return got
			}
			p := check(push.StreamID, "e1", "e4")
			if p[0].Attempts != 3 || !p[0].NextAttemptAt.Equal(later) || p[0].Event.JTI != old[0] || p[1].Event.JTI != old[3] {
				t.Errorf("push head: %+v; want 3 attempts, due at %v, its old jti", p[0], later)
			}
			q := check(poll.StreamID, "e2", "e3")
			if q[0].Attempts != 1 || q[0].Event.JTI != old[1] || q[1].Event.JTI != old[2] {
				t.Errorf("poll: %+v; want the old jtis", q)
			}
			// A receiver acknowledges with the jti it was sent before the
			// upgrade.
			if n, err := st.AckEvents(ctx, poll.StreamID, []string{old[1], old[0]}); err != nil || n != 1 {
				t.Errorf("ack by old jtis: %d, %v; want 1 (e1 was delivered on this stream already)", n, err)
			}
			if err := st.QueueVerification(ctx, models.AnyOwner, poll.StreamID, "e5"); err != nil {
				t.Fatal(err)
			}
			q = check(poll.StreamID, "e3", "e5")
			if !derivedJTI.MatchString(q[1].Event.JTI) || q[1].Event.ID != 5 {
				t.Errorf("new event: %+v; want id 5 and a derived jti", q[1].Event)
			}
			if n, err := st.AckEvents(ctx, poll.StreamID, []string{q[0].Event.JTI, q[1].Event.JTI}); err != nil || n != 2 {
				t.Errorf("ack: %d, %v; want 2", n, err)
			}
			check(poll.StreamID)
			if err := st.MarkDelivered(ctx, push.StreamID, p[1].DeliveryID); err != nil {
				t.Fatal(err)
			}
			check(push.StreamID, "e1")
		})
	}
}

// TestLastDeliveryResolution: a stream's last delivery time is rewritten
// at most once a second, so that a stream delivering many batches a
// second does not add its row to every commit; a poll stream's
// acknowledgements set it the same way.
func TestLastDeliveryResolution(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Now().UTC().Truncate(time.Second)
	clock := modelstest.NewClock(t0)
	st := clockedStore(t, clock)
	rx := newReceiver(t, st, "Receiver")
	s, err := st.CreateStream(ctx, rx.ID, models.StreamConfig{Method: models.DeliveryPoll})
	if err != nil {
		t.Fatal(err)
	}
	for i, step := range []struct {
		at   time.Duration
		want time.Duration
	}{{0, 0}, {500 * time.Millisecond, 0}, {time.Second, time.Second}, {1900 * time.Millisecond, time.Second}, {3 * time.Second, 3 * time.Second}} {
		clock.Set(t0.Add(step.at))
		if err := st.QueueVerification(ctx, models.AnyOwner, s.StreamID, "x"); err != nil {
			t.Fatal(err)
		}
		p, err := st.PendingEvents(ctx, s.StreamID, 1)
		if err != nil || len(p) != 1 {
			t.Fatalf("pending: %v, %v", p, err)
		}
		if i%2 == 0 {
			err = st.MarkDelivered(ctx, s.StreamID, p[0].DeliveryID)
		} else {
			_, err = st.AckEvents(ctx, s.StreamID, []string{p[0].Event.JTI})
		}
		if err != nil {
			t.Fatal(err)
		}
		got, err := st.StreamByID(ctx, models.AnyOwner, s.StreamID)
		if err != nil || got.LastDeliveryAt == nil || !got.LastDeliveryAt.Equal(t0.Add(step.want)) {
			t.Errorf("delivered at +%v: last delivery %v (%v), want +%v", step.at, got.LastDeliveryAt, err, step.want)
		}
	}
}
