package web_test

import (
	"context"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/latchkey/latchkey/events"
	"github.com/latchkey/latchkey/events/eventstest"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
	"github.com/latchkey/latchkey/web"
)

// TestStreamDeliveredOnceAcrossReplicas runs two replicas' push workers on
// one PostgreSQL, both woken as events are queued through either: every
// event of the stream reaches the receiver once, in the order queued.
func TestStreamDeliveredOnceAcrossReplicas(t *testing.T) {
	t.Parallel()
	st1, dsn := modelstest.NewPostgresStore(t)
	st2 := modelstest.Open(t, dsn)
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	srv.Config.Handler = web.New(web.Config{Issuer: issuer, TTLs: models.DefaultTTLs}, st1, nil)
	srv.Start()
	t.Cleanup(srv.Close)

	ctx := context.Background()
	rc, err := st1.CreateClient(ctx, models.NewClient{Name: "RS", Type: models.ClientConfidential,
		GrantTypes: []models.GrantType{models.GrantClientCredentials}, SSF: true})
	if err != nil {
		t.Fatal(err)
	}
	rcv := eventstest.NewReceiver(t, issuer)
	rcv.SetAudience(rc.Client.ClientID)
	stream, err := st1.CreateStream(ctx, rc.Client.ID, models.StreamConfig{Method: models.DeliveryPush, EndpointURL: rcv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	var done []chan struct{}
	for _, st := range []*models.Store{st1, st2} {
		d := make(chan struct{})
		done = append(done, d)
		go func() {
			defer close(d)
			events.NewWorker(privatePush(events.NewTransmitter(st, issuer)), events.WorkerOptions{PollInterval: 20 * time.Millisecond}).Run(wctx)
		}()
	}
	t.Cleanup(func() {
		cancel()
		for _, d := range done {
			<-d
		}
	})
	const n = 40
	for i := range n {
		st := st1
		if i%2 == 1 {
			st = st2
		}
		if err := st.QueueVerification(ctx, models.AnyOwner, stream.StreamID, strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	got := rcv.Wait(t, 20*time.Second, "every event", func(s []eventstest.SET) bool { return len(s) >= n })
	for i, s := range got {
		if s.Event["state"] != strconv.Itoa(i) {
			t.Fatalf("SET %d carries state %v: out of order", i, s.Event["state"])
		}
	}
	time.Sleep(200 * time.Millisecond)
	if len(rcv.Received()) != n {
		t.Errorf("received %d SETs, want %d", len(rcv.Received()), n)
	}
}

// privatePush lets tx push to the tests' loopback receivers.
func privatePush(tx *events.Transmitter) *events.Transmitter {
	tx.AllowPrivatePush = true
	return tx
}
