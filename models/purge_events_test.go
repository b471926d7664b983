package models_test

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// TestPurgeEvents: the purge deletes deliveries done before the cutoff,
// then the events no stream has a row for any more, and retired signing
// keys past their retention; a pending delivery and its event never go,
// however old, and neither does the key that signs.
func TestPurgeEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	day := 24 * time.Hour
	now := time.Now().UTC().Truncate(time.Second)
	clock := modelstest.NewClock(now.Add(-90 * day))
	st := clockedStore(t, clock)
	rx := newReceiver(t, st, "Receiver")
	a, err := st.CreateStream(ctx, rx.ID, models.StreamConfig{Method: models.DeliveryPoll})
	if err != nil {
		t.Fatal(err)
	}
	b, err := st.CreateStream(ctx, rx.ID, models.StreamConfig{Method: models.DeliveryPoll})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct{ stream, state string }{{a.StreamID, "delivered"}, {a.StreamID, "pending"}, {b.StreamID, "pending on b"}} {
		if err := st.QueueVerification(ctx, models.AnyOwner, q.stream, q.state); err != nil {
			t.Fatal(err)
		}
	}
	pending, err := st.PendingEvents(ctx, a.StreamID, 10)
	if err != nil || len(pending) != 2 {
		t.Fatalf("pending on a: %d, %v", len(pending), err)
	}
	if err := st.MarkDelivered(ctx, a.StreamID, pending[0].DeliveryID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddSigningKey(ctx, "old", []byte("der")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddSigningKey(ctx, "current", []byte("der")); err != nil { // retires "old"
		t.Fatal(err)
	}

	clock.Set(now)
	dry, err := st.Purge(ctx, models.PurgeOptions{OlderThan: 30 * day, DryRun: true})
	if err != nil || dry.Deliveries != 1 || dry.Events != 1 || dry.SigningKeys != 1 {
		t.Errorf("dry run: %+v, %v; want 1 delivery, 1 event, 1 key", dry, err)
	}
	res, err := st.Purge(ctx, models.PurgeOptions{OlderThan: 30 * day})
	if err != nil || res.Deliveries != 1 || res.Events != 1 || res.SigningKeys != 1 {
		t.Errorf("purge: %+v, %v; want 1 delivery, 1 event, 1 key", res, err)
	}
	n, err := st.TableCounts(ctx)
	if err != nil || n.Events != 2 || n.StreamEvents != 2 {
		t.Errorf("after purge: %+v, %v; want the 2 pending events and their deliveries", n, err)
	}
	for _, s := range []string{a.StreamID, b.StreamID} {
		if p, err := st.PendingEvents(ctx, s, 10); err != nil || len(p) != 1 || p[0].Event.State == "delivered" {
			t.Errorf("stream %s still pending: %+v, %v", s, p, err)
		}
	}
	keys, err := st.SigningKeys(ctx)
	if err != nil || len(keys) != 1 || keys[0].Kid != "current" {
		t.Errorf("keys after purge: %+v, %v; want only the current one", keys, err)
	}
}
