package models_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/latchkey/latchkey/models/modelstest"
)

// BenchmarkActiveToken measures the read behind /api/me and introspection.
func BenchmarkActiveToken(b *testing.B) {
	st := modelstest.NewStore(b)
	f := modelstest.NewFixture(b, st)
	iss, err := st.BulkIssue(context.Background(), f.Confidential, f.Alice.ID, 5000)
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) % int64(len(iss))
			if _, err := st.ActiveToken(context.Background(), iss[i].AccessToken); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
