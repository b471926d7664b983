package models_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// walBound is the most the WAL file may hold during a sustained revocation
// load. The writer finishes the checkpoint once the log passes 16 MiB, but
// what is committed before it gets to it grows with the rate of writes:
// the checkpointer looks every 100 ms, then copies what the log holds
// before it asks the writer to finish. Here, 32 callers revoking without
// HTTP, 12,000-17,000 revocations a second, about 10 MiB of log per
// 100 ms, the largest WAL was 25-44 MiB in the eighth session's runs
// (docs/benchmarks.md). The bound is SQLite's journal_size_limit here
// (walSizeLimit, 64 MiB), a size the file is cut back to when the log
// restarts; without the checkpointer the log would reach about 160 MB.
const walBound = 64 << 20

func walSize(path string) int64 {
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		return 0
	}
	return fi.Size()
}

// waitEmptyWAL waits for the checkpointer to empty an idle WAL.
func waitEmptyWAL(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for walSize(path) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the WAL of an idle database still holds %d bytes after 10 s; no checkpoint emptied it", walSize(path))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCheckpointerBoundsWAL revokes 20,000 grants from 32 callers and
// watches the WAL file: commits never checkpoint themselves here, so only
// the checkpointer keeps the WAL bounded, and it empties the WAL once the
// load stops. With SQLite's automatic checkpoints the WAL file is never
// emptied while the store is open; with the background PASSIVE checkpoint
// alone it grows for as long as the load lasts.
func TestCheckpointerBoundsWAL(t *testing.T) {
	modelstest.SkipOnPostgres(t)
	if testing.Short() {
		t.Skip("a sustained load")
	}
	path := filepath.Join(t.TempDir(), "wal.db")
	st := modelstest.OpenWith(t, path, models.Options{})
	f := modelstest.NewFixture(t, st)
	ctx := context.Background()
	const n = 20_000
	iss, err := st.BulkIssue(ctx, f.Confidential, f.Alice.ID, n)
	if err != nil {
		t.Fatal(err)
	}
	waitEmptyWAL(t, path) // the seeding's WAL, checkpointed once idle

	var largest atomic.Int64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		for {
			if s := walSize(path); s > largest.Load() {
				largest.Store(s)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	})
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 32 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= n {
					return
				}
				res, err := st.Revoke(ctx, models.RevokeRequest{Token: iss[i].AccessToken, AsClient: f.Confidential,
					Actor: models.AsClient(f.Confidential), Reason: "client request", Remote: "127.0.0.1", RequestID: "wal"})
				if err != nil || res.Tokens != 2 {
					t.Errorf("revoke: %+v %v", res, err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stop)
	sampler.Wait()
	cp := st.Checkpoints()
	t.Logf("%d revocations in %v; largest WAL file %.1f MiB; checkpoints: %+v",
		n, elapsed.Round(time.Millisecond), float64(largest.Load())/(1<<20), cp)
	if largest.Load() > walBound {
		t.Errorf("the WAL file reached %d bytes under load, want at most %d", largest.Load(), walBound)
	}
	if cp.Passive == 0 {
		t.Errorf("no passive checkpoint ran: %+v", cp)
	}
	// The writer finishes a checkpoint once the log passes 4,096 frames
	// (16 MiB); on a slower machine the log may never get that far.
	if cp.MaxFrames > 4096 && cp.Finished == 0 {
		t.Errorf("the log passed 16 MiB but the writer never finished a checkpoint, so it never restarted under load: %+v", cp)
	}
	// The pages a background checkpoint copies are written out by its own
	// fsync, not left for the writer's finishing checkpoint (during which
	// every write waits) to flush.
	if cp.Synced == 0 {
		t.Errorf("the checkpointer never fsynced the database file: %+v", cp)
	}
	waitEmptyWAL(t, path)
	if st.Checkpoints().Truncated == 0 {
		t.Errorf("the WAL emptied without a TRUNCATE checkpoint: %+v", st.Checkpoints())
	}
}

// TestCheckpointsKeepData checks the checkpoints move committed data into
// the database file: after the WAL is emptied, a new store on the file
// alone finds every revocation.
func TestCheckpointsKeepData(t *testing.T) {
	modelstest.SkipOnPostgres(t)
	path := filepath.Join(t.TempDir(), "keep.db")
	st := modelstest.OpenWith(t, path, models.Options{})
	f := modelstest.NewFixture(t, st)
	ctx := context.Background()
	iss, err := st.BulkIssue(ctx, f.Confidential, f.Alice.ID, 200)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range iss[:100] {
		if _, err := st.Revoke(ctx, models.RevokeRequest{Token: it.AccessToken, AsClient: f.Confidential,
			Actor: models.AsClient(f.Confidential), Reason: "client request"}); err != nil {
			t.Fatal(err)
		}
	}
	waitEmptyWAL(t, path)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path + "-wal"); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	again := modelstest.OpenWith(t, path, models.Options{})
	for i, it := range iss {
		_, err := again.ActiveToken(ctx, it.AccessToken)
		if revoked := err != nil; revoked != (i < 100) {
			t.Fatalf("token %d: revoked %v (err %v), want %v", i, revoked, err, i < 100)
		}
	}
}
