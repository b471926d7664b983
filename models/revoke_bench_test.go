package models_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// BenchmarkRevoke measures the revocation core alone, 64 callers at once,
// each revoking a distinct token's grant with a durable commit.
func BenchmarkRevoke(b *testing.B) { benchRevoke(b, false) }

// BenchmarkRevokeWithStream is BenchmarkRevoke with one live event stream:
// every revocation also writes its outbox event and the stream's delivery
// row, in the same transaction.
func BenchmarkRevokeWithStream(b *testing.B) { benchRevoke(b, true) }

func benchRevoke(b *testing.B, stream bool) {
	st := modelstest.NewStore(b)
	f := modelstest.NewFixture(b, st)
	if stream {
		rx := newReceiver(b, st, "Receiver")
		if _, err := st.CreateStream(context.Background(), rx.ID, pushConfig("https://rs.example/events")); err != nil {
			b.Fatal(err)
		}
	}
	iss, err := st.BulkIssue(context.Background(), f.Confidential, f.Alice.ID, b.N)
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			res, err := st.Revoke(context.Background(), models.RevokeRequest{Token: iss[i].AccessToken, AsClient: f.Confidential,
				Actor: models.AsClient(f.Confidential), Reason: "client request", Remote: "127.0.0.1", RequestID: "bench"})
			if err != nil || res.Tokens != 2 {
				b.Errorf("revoke: %+v %v", res, err)
				return
			}
		}
	})
	b.StopTimer()
	batches, ops := st.BatchStats()
	if batches > 0 {
		b.ReportMetric(float64(ops)/float64(batches), "ops/commit")
	}
}
