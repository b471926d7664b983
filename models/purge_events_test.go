package models_test

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// TestPurgeEvents: a delivery row is deleted as soon as it is delivered,
// so the purge has none to delete; it deletes the events older than the
// cutoff that no stream still has to deliver, and retired signing keys
// past their retention. A pending delivery's event never goes, however
// old, even when another stream has delivered it; a young event stays
// though every stream has it; and neither does the key that signs.
func TestPurgeEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	day := 24 * time.Hour
	now := time.Now().UTC().Truncate(time.Second)
	clock := modelstest.NewClock(now.Add(-90 * day))
	st := clockedStore(t, clock)
	f := modelstest.NewFixture(t, st)
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
	// A revocation goes to both streams; a acknowledges it, b does not.
	iss := modelstest.IssuePassword(t, st, f.Confidential, f.Alice)
	if _, err := st.Revoke(ctx, models.RevokeRequest{GrantID: iss.GrantID, Actor: models.Staff(f.Admin)}); err != nil {
		t.Fatal(err)
	}
	pending, err := st.PendingEvents(ctx, a.StreamID, 10)
	if err != nil || len(pending) != 3 {
		t.Fatalf("pending on a: %d, %v", len(pending), err)
	}
	if err := st.MarkDelivered(ctx, a.StreamID, pending[0].DeliveryID); err != nil {
		t.Fatal(err)
	}
	if n, err := st.AckEvents(ctx, a.StreamID, []string{pending[2].Event.JTI}); err != nil || n != 1 {
		t.Fatalf("ack the revocation on a: %d, %v", n, err)
	}
	if n, err := st.TableCounts(ctx); err != nil || n.Events != 4 || n.StreamEvents != 3 {
		t.Fatalf("after delivery: %+v, %v; want 4 events, and only the 3 pending deliveries", n, err)
	}
	if _, err := st.AddSigningKey(ctx, models.StaffAction{}, "old", []byte("der")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddSigningKey(ctx, models.StaffAction{}, "current", []byte("der")); err != nil { // retires "old"
		t.Fatal(err)
	}
	// A young event, delivered: it stays until it is old.
	clock.Set(now.Add(-10 * day))
	if err := st.QueueVerification(ctx, models.AnyOwner, a.StreamID, "young"); err != nil {
		t.Fatal(err)
	}
	young, err := st.PendingEvents(ctx, a.StreamID, 10)
	if err != nil || len(young) != 2 || young[1].Event.State != "young" {
		t.Fatalf("young: %+v, %v", young, err)
	}
	if err := st.MarkDelivered(ctx, a.StreamID, young[1].DeliveryID); err != nil {
		t.Fatal(err)
	}

	clock.Set(now)
	dry, err := st.Purge(ctx, models.PurgeOptions{OlderThan: 30 * day, DryRun: true})
	if err != nil || dry.Events != 1 || dry.SigningKeys != 1 {
		t.Errorf("dry run: %+v, %v; want 1 event, 1 key", dry, err)
	}
	res, err := st.Purge(ctx, models.PurgeOptions{OlderThan: 30 * day})
	if err != nil || res.Events != 1 || res.SigningKeys != 1 {
		t.Errorf("purge: %+v, %v; want 1 event, 1 key", res, err)
	}
	n, err := st.TableCounts(ctx)
	if err != nil || n.Events != 4 || n.StreamEvents != 3 {
		t.Errorf("after purge: %+v, %v; want the 2 pending events, the revocation b has to deliver and the young one", n, err)
	}
	if p, err := st.PendingEvents(ctx, a.StreamID, 10); err != nil || len(p) != 1 || p[0].Event.State != "pending" {
		t.Errorf("stream a still pending: %+v, %v", p, err)
	}
	if p, err := st.PendingEvents(ctx, b.StreamID, 10); err != nil || len(p) != 2 || p[0].Event.State != "pending on b" ||
		p[1].Event.Type != models.EventSessionRevoked {
		t.Errorf("stream b still pending: %+v, %v", p, err)
	}
	keys, err := st.SigningKeys(ctx)
	if err != nil || len(keys) != 1 || keys[0].Kid != "current" {
		t.Errorf("keys after purge: %+v, %v; want only the current one", keys, err)
	}
	// Once b has delivered everything, everything old goes; the young
	// event stays.
	p, _ := st.PendingEvents(ctx, b.StreamID, 10)
	if err := st.MarkDelivered(ctx, b.StreamID, p[0].DeliveryID, p[1].DeliveryID); err != nil {
		t.Fatal(err)
	}
	p, _ = st.PendingEvents(ctx, a.StreamID, 10)
	if err := st.MarkDelivered(ctx, a.StreamID, p[0].DeliveryID); err != nil {
		t.Fatal(err)
	}
	if res, err := st.Purge(ctx, models.PurgeOptions{OlderThan: 30 * day}); err != nil || res.Events != 3 {
		t.Errorf("second purge: %+v, %v; want 3 events", res, err)
	}
	if n, err := st.TableCounts(ctx); err != nil || n.Events != 1 || n.StreamEvents != 0 {
		t.Errorf("after the second purge: %+v, %v; want the young event only", n, err)
	}
}
