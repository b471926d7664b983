package models_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// BenchmarkRevoke measures the revocation core alone, 64 callers at once,
// each revoking a distinct token's grant with a durable commit.
func BenchmarkRevoke(b *testing.B) { benchRevoke(b, false, false) }

// BenchmarkRevokeWithStream is BenchmarkRevoke with one live event stream:
// every revocation also writes its outbox event and the stream's delivery
// row, in the same transaction.
func BenchmarkRevokeWithStream(b *testing.B) { benchRevoke(b, true, false) }

// BenchmarkRevokeWithDelivery is BenchmarkRevokeWithStream with the
// stream's deliveries recorded as they are made, as the push worker
// records its 202s (a batch of up to 256 at a time): what the stream costs
// the single writer, without the signing and the HTTP of a real delivery.
func BenchmarkRevokeWithDelivery(b *testing.B) { benchRevoke(b, true, true) }

func benchRevoke(b *testing.B, stream, deliver bool) {
	st := modelstest.NewStore(b)
	f := modelstest.NewFixture(b, st)
	if stream {
		rx := newReceiver(b, st, "Receiver")
		s, err := st.CreateStream(context.Background(), rx.ID, pushConfig("https://rs.example/events"))
		if err != nil {
			b.Fatal(err)
		}
		if deliver {
			ctx, stop := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				for ctx.Err() == nil {
					wake := st.EventsQueued()
					p, err := st.PendingEvents(ctx, s.StreamID, 256)
					if err != nil {
						return
					}
					if len(p) == 0 {
						select {
						case <-wake:
						case <-ctx.Done():
						}
						continue
					}
					ids := make([]int64, len(p))
					for i := range p {
						ids[i] = p[i].DeliveryID
					}
					if err := st.MarkDelivered(ctx, s.StreamID, ids...); err != nil {
						return
					}
				}
			}()
			b.Cleanup(func() { stop(); <-done })
		}
	}
	iss, err := st.BulkIssue(context.Background(), f.Confidential, f.Alice.ID, b.N)
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	b.SetParallelism(32)
	cpu0, w0 := processCPU(), processWritten()
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
	// Robust to other load on the machine, unlike ns/op: the CPU time the
	// whole process spent (the writer, the callers and the delivery), and
	// the bytes it wrote to files (the WAL and its checkpoints), per
	// revocation.
	b.ReportMetric(float64(processCPU()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
	if w0 >= 0 {
		b.ReportMetric(float64(processWritten()-w0)/float64(b.N), "written-B/op")
	}
	batches, ops := st.BatchStats()
	if batches > 0 {
		b.ReportMetric(float64(ops)/float64(batches), "ops/commit")
	}
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// processWritten is how many bytes this process has passed to write
// system calls (Linux /proc/self/io wchar), or -1 where that is unknown.
func processWritten() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "wchar: "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}
