package events_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/events"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// BenchmarkWorker measures the push worker's whole cost per SET, the
// database included: b.N revocations are queued on one push stream
// beforehand, then the worker, as serve runs it, reads, signs, pushes
// (to a lean receiver on loopback) and records them until none is left.
// cpu-ns/op is the process's CPU time per SET delivered (the receiver's
// small share included).
func BenchmarkWorker(b *testing.B) {
	ctx := context.Background()
	st := modelstest.NewStore(b)
	f := modelstest.NewFixture(b, st)
	url, _, reqs := leanReceiver(b)
	rx, err := st.CreateClient(ctx, models.NewClient{Name: "Receiver", Type: models.ClientConfidential,
		GrantTypes: []models.GrantType{models.GrantClientCredentials}, SSF: true})
	if err != nil {
		b.Fatal(err)
	}
	s, err := st.CreateStream(ctx, rx.Client.ID, models.StreamConfig{Method: models.DeliveryPush, EndpointURL: url,
		AuthorizationHeader: "Bearer 0123456789abcdef", EventsRequested: []string{models.EventSessionRevoked}})
	if err != nil {
		b.Fatal(err)
	}
	// The stream starts paused so that the queue is whole before the
	// worker starts; the CPU of the revocations is not counted.
	if _, err := st.SetStreamStatus(ctx, models.AnyOwner, s.StreamID, models.StreamPaused, "bench"); err != nil {
		b.Fatal(err)
	}
	iss, err := st.BulkIssue(ctx, f.Confidential, f.Alice.ID, b.N)
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range 32 {
		wg.Go(func() {
			for i := range next {
				if _, err := st.Revoke(ctx, models.RevokeRequest{Token: iss[i].AccessToken, AsClient: f.Confidential,
					Actor: models.AsClient(f.Confidential), Reason: "client request"}); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for i := range b.N {
		next <- i
	}
	close(next)
	wg.Wait()
	before := reqs.Load()
	tx := events.NewTransmitter(st, "http://127.0.0.1:8000")
	tx.AllowPrivatePush = true
	if _, _, err := tx.Keys().Ensure(ctx); err != nil {
		b.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	b.ResetTimer()
	reportCPU(b, func() {
		done := make(chan struct{})
		go func() {
			defer close(done)
			events.NewWorker(tx, events.WorkerOptions{}).Run(wctx)
		}()
		if _, err := st.SetStreamStatus(ctx, models.AnyOwner, s.StreamID, models.StreamEnabled, ""); err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(2 * time.Minute)
		for reqs.Load()-before < int64(b.N) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		stop()
		<-done
	})
	if got := reqs.Load() - before; got < int64(b.N) {
		b.Fatalf("%d SETs received, want %d", got, b.N)
	}
}
