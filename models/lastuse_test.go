package models_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// TestTouchGrantFromManyGoroutines: uses noted at once from many
// goroutines, over grants that fall in every shard of the throttle, are all
// written by one flush, each grant once, and a later use within the minute
// queues nothing more.
func TestTouchGrantFromManyGoroutines(t *testing.T) {
	t.Parallel()
	st := modelstest.NewStore(t)
	f := modelstest.NewFixture(t, st)
	ctx := context.Background()
	var grants []int64
	for range 40 { // more than the shards, so that several share one
		grants = append(grants, modelstest.IssuePassword(t, st, f.Confidential, f.Alice).GrantID)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i, g := range grants {
				seen := models.Seen{}
				if (i+w)%3 == 0 {
					seen = models.Seen{Addr: "192.0.2.7", UserAgent: "test"}
				}
				st.TouchGrant(g, seen)
			}
		})
	}
	wg.Wait()
	st.FlushLastUse()
	for _, g := range grants {
		gr, err := st.GrantByID(ctx, g)
		if err != nil {
			t.Fatal(err)
		}
		if gr.LastUsedAt == nil {
			t.Fatalf("grant %d: last use not written", g)
		}
	}
}

// TestTouchGrantDuringFlush: uses noted while the throttle flushes, with
// and without an address, are each written by that flush or the next;
// under -race, nothing the flush reads is written by TouchGrant meanwhile.
func TestTouchGrantDuringFlush(t *testing.T) {
	t.Parallel()
	st := modelstest.NewStore(t)
	f := modelstest.NewFixture(t, st)
	var grants []int64
	for range 20 {
		grants = append(grants, modelstest.IssuePassword(t, st, f.Confidential, f.Alice).GrantID)
	}
	stop := make(chan struct{})
	var flushes sync.WaitGroup
	flushes.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				st.FlushLastUse()
			}
		}
	})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for round := range 50 {
				for i, g := range grants {
					seen := models.Seen{}
					if (i+w+round)%2 == 0 {
						seen = models.Seen{Addr: "192.0.2.7", UserAgent: "test"}
					}
					st.TouchGrant(g, seen)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	flushes.Wait()
	st.FlushLastUse()
	for _, g := range grants {
		if got := lastSeen(t, st, g); strings.HasPrefix(got, "- ") {
			t.Errorf("grant %d: last use not written: %q", g, got)
		}
	}
}

// TestLastUseMemoryIsBounded: noting hundreds of thousands of distinct
// grants within one minute does not grow the heap with them; which grants
// were queued is a fixed table, not a map of every grant used in the
// minute. Not parallel: it reads the whole process's heap.
func TestLastUseMemoryIsBounded(t *testing.T) {
	st := modelstest.NewStore(t)
	before := throttleHeap(st)
	const grants = 300_000
	for id := int64(2); id < grants; id++ {
		st.TouchGrant(id, models.Seen{})
		if id%20_000 == 0 {
			st.FlushLastUse()
		}
	}
	st.FlushLastUse()
	if grew := int64(liveHeap()) - int64(before); grew > 3<<20 {
		t.Errorf("noting %d grants grew the heap by %d bytes; want a bound that does not depend on the grants", grants, grew)
	}
}

// throttleHeap writes one use, so that the throttle's flush has run once,
// and returns the live heap then.
func throttleHeap(st *models.Store) uint64 {
	st.TouchGrant(1, models.Seen{})
	st.FlushLastUse()
	return liveHeap()
}

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// aliceGrant is a store (on clock, when given) and a grant in it.
func aliceGrant(t *testing.T, clock *modelstest.Clock) (*models.Store, int64) {
	t.Helper()
	st := modelstest.NewStore(t)
	if clock != nil {
		st = modelstest.NewStoreWithClock(t, clock.Now)
	}
	f := modelstest.NewFixture(t, st)
	return st, modelstest.IssuePassword(t, st, f.Confidential, f.Alice).GrantID
}

// lastSeen is what grant g's row says of its last use: "when addr ua",
// with "-" for what is not set.
func lastSeen(t *testing.T, st *models.Store, g int64) string {
	t.Helper()
	got, err := st.RawForTest(context.Background(), fmt.Sprintf(
		"SELECT COALESCE(CAST(last_used_at AS TEXT), '-') || ' ' || COALESCE(last_seen_addr, '-') || ' ' || COALESCE(last_seen_ua, '-') FROM grants WHERE id = %d", g))
	if err != nil || len(got) != 1 {
		t.Fatalf("grant %d: %q, %v", g, got, err)
	}
	return got[0]
}

// TestTouchGrantKeepsAddressAfterCollision: a grant noted with its
// holder's address, whose slot in the table of queued grants another grant
// then takes, keeps that address when it is noted again without one
// (introspection) before the flush: the write carries the address, as it
// does when no other grant shares the slot.
func TestTouchGrantKeepsAddressAfterCollision(t *testing.T) {
	t.Parallel()
	st, g := aliceGrant(t, nil)
	st.TouchGrant(g, models.Seen{Addr: "192.0.2.7", UserAgent: "app"})
	st.TouchGrant(g+models.LastUseSlotsForTest, models.Seen{}) // same slot, another grant
	st.TouchGrant(g, models.Seen{})                            // introspection
	st.FlushLastUse()
	if got := lastSeen(t, st, g); !strings.HasSuffix(got, " 192.0.2.7 app") {
		t.Errorf("last use %q, want one from 192.0.2.7 app", got)
	}
}

// TestLastUsePendingIsCompact: the uses queued between two flushes cost a
// few bytes each. Introspection notes every token's grant, so a second of
// introspecting many distinct tokens queues that many grants; kept in a
// map of each use, they took about 75 bytes a grant. Not parallel: it
// reads the whole process's heap.
func TestLastUsePendingIsCompact(t *testing.T) {
	st := modelstest.NewStore(t)
	before := throttleHeap(st)
	const grants = 200_000
	for id := int64(2); id < grants; id++ {
		st.TouchGrant(id, models.Seen{}) // no flush: all of them queued at once
	}
	grew := int64(liveHeap()) - int64(before)
	st.FlushLastUse()
	t.Logf("%d queued grants: %d bytes, %.1f a grant", grants, grew, float64(grew)/grants)
	// 8 bytes a grant, and a slice's growth: at most twice that.
	if grew > 16*grants {
		t.Errorf("%d queued grants took %d bytes, %.0f a grant; want at most 16", grants, grew, float64(grew)/grants)
	}
}

// TestTouchGrantAddressJoinsQueuedUse: a grant queued by introspection
// (no address) and then used by its holder (an address) before the flush
// is written once, with the address.
func TestTouchGrantAddressJoinsQueuedUse(t *testing.T) {
	t.Parallel()
	st, g := aliceGrant(t, nil)
	st.TouchGrant(g, models.Seen{})                                    // introspection
	st.TouchGrant(g, models.Seen{Addr: "192.0.2.9", UserAgent: "app"}) // the holder
	st.TouchGrant(g, models.Seen{Addr: "198.51.100.1", UserAgent: "other"})
	st.FlushLastUse()
	if got := lastSeen(t, st, g); strings.HasPrefix(got, "- ") || !strings.HasSuffix(got, " 192.0.2.9 app") {
		t.Errorf("last use %q, want one from the first address noted, 192.0.2.9 app", got)
	}
}

// TestTouchGrantWritesOnceAMinute: a use noted after its grant's last use
// was written, within the minute, writes nothing, with an address or
// without one.
func TestTouchGrantWritesOnceAMinute(t *testing.T) {
	t.Parallel()
	clock := modelstest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	st, g := aliceGrant(t, clock)
	st.TouchGrant(g, models.Seen{})
	st.FlushLastUse()
	first := lastSeen(t, st, g)
	if strings.HasPrefix(first, "- ") {
		t.Fatalf("last use not written: %q", first)
	}
	clock.Set(clock.Now().Add(30 * time.Second))
	st.TouchGrant(g, models.Seen{Addr: "192.0.2.9", UserAgent: "app"})
	st.TouchGrant(g, models.Seen{})
	st.FlushLastUse()
	if got := lastSeen(t, st, g); got != first {
		t.Errorf("30 s later: %q, want it unchanged, %q", got, first)
	}
	clock.Set(clock.Now().Add(31 * time.Second))
	st.TouchGrant(g, models.Seen{Addr: "192.0.2.9", UserAgent: "app"})
	st.FlushLastUse()
	if got := lastSeen(t, st, g); got == first || !strings.HasSuffix(got, " 192.0.2.9 app") {
		t.Errorf("61 s later: %q, want a new last use from 192.0.2.9 app", got)
	}
}
