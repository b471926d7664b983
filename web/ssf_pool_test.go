package web_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/latchkey/latchkey/events"
	"github.com/latchkey/latchkey/events/eventstest"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
	"github.com/latchkey/latchkey/web"
)

// TestManyPushStreamsSmallPool: twenty push streams, one revocation, on a
// PostgreSQL pool of eight connections. Each stream's claim holds a
// connection while its delivery needs another from the same pool; with
// one claim per due stream the claims took the whole pool and nothing was
// ever delivered. Every receiver gets its event within a few seconds.
func TestManyPushStreamsSmallPool(t *testing.T) {
	t.Parallel()
	var st *models.Store
	if modelstest.OnPostgres() {
		st, _ = modelstest.NewPostgresStoreWith(t, models.Options{MaxConns: 8})
	} else {
		st = modelstest.NewStore(t)
	}
	f := modelstest.NewFixture(t, st)
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	tx := privatePush(events.NewTransmitter(st, issuer))
	srv.Config.Handler = web.New(web.Config{Issuer: issuer, TTLs: models.DefaultTTLs, Events: tx}, st, nil)
	srv.Start()
	t.Cleanup(srv.Close)
	ctx := context.Background()
	var rcvs []*eventstest.Receiver
	for c := range 2 {
		rc, err := st.CreateClient(ctx, models.NewClient{Name: fmt.Sprintf("RS %d", c), Type: models.ClientConfidential,
			GrantTypes: []models.GrantType{models.GrantClientCredentials}, SSF: true})
		if err != nil {
			t.Fatal(err)
		}
		for range 10 {
			rcv := eventstest.NewReceiver(t, issuer)
			rcv.SetAudience(rc.Client.ClientID)
			if _, err := st.CreateStream(ctx, rc.Client.ID, models.StreamConfig{Method: models.DeliveryPush, EndpointURL: rcv.URL()}); err != nil {
				t.Fatal(err)
			}
			rcvs = append(rcvs, rcv)
		}
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		events.NewWorker(tx, events.WorkerOptions{PollInterval: 50 * time.Millisecond}).Run(wctx)
	}()
	t.Cleanup(func() { cancel(); <-done })

	modelstest.IssuePassword(t, st, f.Confidential, f.Alice)
	if _, err := st.Revoke(ctx, models.RevokeRequest{UserID: f.Alice.ID, Actor: models.Staff(f.Admin), Reason: "pool"}); err != nil {
		t.Fatal(err)
	}
	for _, rcv := range rcvs {
		rcv.Wait(t, 10*time.Second, "the revocation", func(s []eventstest.SET) bool { return len(s) >= 1 })
	}
}
